"""Media bytes without third-party libraries: solid-colour PNGs, image sniffing, a video stub.

The stand-in never needs real pixels, only files that clients can download, hash and
open: a PNG written with zlib and struct is a genuine PNG every viewer accepts.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

RGB = tuple[int, int, int]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(width: int, height: int, rgb: RGB, *, level: int = 4, text: Mapping[str, str] | None = None) -> bytes:
    """An 8-bit RGB PNG filled with one colour; `text` becomes tEXt chunks like ComfyUI's workflow metadata."""
    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1", "replace")))
    chunks.append(_chunk(b"IDAT", zlib.compress(row * height, level)))
    chunks.append(_chunk(b"IEND", b""))
    return PNG_SIGNATURE + b"".join(chunks)


@dataclass(frozen=True)
class Still:
    """One solid-colour frame: what a preview or a saved image of the stand-in contains."""

    width: int
    height: int
    rgb: RGB

    def png(self, level: int = 4, text: Mapping[str, str] | None = None) -> bytes:
        return encode_png(self.width, self.height, self.rgb, level=level, text=text)


_IMAGE_MAGIC = (PNG_SIGNATURE, b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def image_size(data: bytes, fallback: tuple[int, int] = (64, 64)) -> tuple[int, int] | None:
    """(width, height) if `data` looks like an image, None if it does not (PIL would refuse it).

    Only PNG headers are read for their size; other recognised formats get `fallback`.
    """
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if webp or any(data.startswith(magic) for magic in _IMAGE_MAGIC[1:]):
        return fallback
    return None


def video_stub(frames: Iterable[bytes]) -> bytes:
    """An ISO-BMFF file (`ftyp` + `mdat` holding PNG frames): the right magic, not playable."""
    ftyp = b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
    payload = b"".join(frames)
    return struct.pack(">I", 8 + len(ftyp)) + b"ftyp" + ftyp + struct.pack(">I", 8 + len(payload)) + b"mdat" + payload
