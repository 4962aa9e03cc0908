"""The node classes the stand-in knows: their /object_info entries and what running them does.

Input declarations follow ComfyUI's own INPUT_TYPES (V1 nodes from nodes.py and
comfy_extras, V3 nodes from comfy_extras.nodes_video), so /object_info, validation
errors and `input_config` echoes have the real shapes. Running a node is cheap
make-believe: images are batches of solid colours, models are named handles.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from .folders import Folders
from .media import RGB, Still, image_size, video_stub

MAX_RESOLUTION = 16384
SAMPLERS = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
    "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep",
    "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
    "gradient_estimation", "er_sde", "seeds_2", "seeds_3", "ddim", "uni_pc", "uni_pc_bh2",
)  # fmt: skip
SCHEDULERS = ("simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic", "kl_optimal")
PREFIX_TOOLTIP = (
    "The prefix for the file to save. This may include formatting information such as "
    "%date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."
)
V1_HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
V3_HIDDEN = {"prompt": ["PROMPT"], "extra_pnginfo": ["EXTRA_PNGINFO"]}


@dataclass(frozen=True)
class Frames:
    """IMAGE: a batch of solid-colour frames."""

    width: int
    height: int
    colors: tuple[RGB, ...]

    def stills(self) -> list[Still]:
        return [Still(self.width, self.height, rgb) for rgb in self.colors]


@dataclass(frozen=True)
class Mask:
    width: int
    height: int
    batch: int


@dataclass(frozen=True)
class Latent:
    """LATENT, sized in pixels; `tint` is the colour VAEDecode will produce."""

    width: int
    height: int
    batch: int
    tint: RGB


@dataclass(frozen=True)
class Handle:
    """MODEL, CLIP or VAE: a loaded model is just its kind and file name here."""

    kind: str
    name: str


@dataclass(frozen=True)
class Conditioning:
    text: str


@dataclass(frozen=True)
class Video:
    frames: Frames
    fps: float


@dataclass(frozen=True)
class NodeOutput:
    """A node's output values (by slot) and the UI dict that becomes `executed.output`."""

    values: tuple[Any, ...] = ()
    ui: dict[str, Any] | None = None


class UnidentifiedImageError(OSError):
    """What Pillow raises for a file that is not an image; the wire shows `PIL.UnidentifiedImageError`."""


UnidentifiedImageError.__module__ = "PIL"


class NodeContext(Protocol):
    """What a running node may use: the executor implements it."""

    folders: Folders
    prompt: dict[str, Any]
    extra_pnginfo: dict[str, Any] | None
    steps_override: int | None

    def compute(self) -> None: ...

    def progress(self, value: int, total: int, preview: Still | None = None) -> None: ...

    def text(self, message: str) -> None: ...


class Node:
    """One node class. Subclasses declare INPUT_TYPES-like inputs and a `run`."""

    name: ClassVar[str]
    display_name: ClassVar[str | None] = None
    category: ClassVar[str]
    description: ClassVar[str] = ""
    python_module: ClassVar[str] = "nodes"
    outputs: ClassVar[tuple[str, ...]] = ()
    output_names: ClassVar[tuple[str, ...] | None] = None
    output_tooltips: ClassVar[tuple[str | None, ...] | None] = None
    output_node: ClassVar[bool] = False
    v3: ClassVar[bool] = False
    validated_inputs: ClassVar[tuple[str, ...]] = ()
    """Inputs checked by `validate` instead of by range and combo rules (ComfyUI's VALIDATE_INPUTS)."""

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    run: Callable[..., NodeOutput]
    """``run(ctx, **inputs)``: each node declares its own named inputs, as ComfyUI's FUNCTION does."""

    def validate(self, folders: Folders, **inputs: Any) -> bool | str:
        return True

    def fingerprint(self, folders: Folders, inputs: dict[str, Any]) -> object:
        """ComfyUI's IS_CHANGED: part of the cache key, so a new value forces a re-run."""
        return None

    def info(self, folders: Folders) -> dict[str, Any]:
        """The /object_info entry, in the key order of the real server (V1 or V3 flavour)."""
        inputs = self.input_types(folders)
        common = {
            "input": inputs,
            "input_order": {category: list(entries) for category, entries in inputs.items()},
            "output": list(self.outputs),
            "output_is_list": [False] * len(self.outputs),
            "output_name": list(self.output_names or self.outputs),
        }
        described = {
            "name": self.name,
            "display_name": self.display_name or self.name,
            "description": self.description,
            "python_module": self.python_module,
            "category": self.category,
            "output_node": self.output_node,
        }
        if self.v3:
            tooltips = list(self.output_tooltips or [None] * len(self.outputs))
            flags = {"deprecated": False, "experimental": False, "api_node": False}
            return {**common, "output_tooltips": tooltips, **described, **flags}
        extra = {"output_tooltips": list(self.output_tooltips)} if self.output_tooltips else {}
        return {**common, **described, **extra}


def _int(default: int, low: int, high: int, step: int | None = None, **extra: Any) -> list[Any]:
    options: dict[str, Any] = {"default": default, "min": low, "max": high}
    if step is not None:
        options["step"] = step
    return ["INT", {**options, **extra}]


def _metadata(ctx: NodeContext) -> dict[str, str]:
    """PNG text chunks as ComfyUI writes them: the API prompt and each extra_pnginfo entry as JSON."""
    text = {"prompt": json.dumps(ctx.prompt)}
    for key, value in (ctx.extra_pnginfo or {}).items():
        text[key] = json.dumps(value)
    return text


def _save_frames(ctx: NodeContext, frames: Frames, prefix: str, kind: str, level: int) -> dict[str, Any]:
    root = ctx.folders.directory_by_type(kind)
    assert root is not None
    target = ctx.folders.save_path(prefix, root)
    saved = []
    for index, still in enumerate(frames.stills()):
        name, path = target.file(target.counter + index, "png")
        Path(path).write_bytes(still.png(level, _metadata(ctx)))
        saved.append({"filename": name, "subfolder": target.subfolder, "type": kind})
    return {"images": saved}


class EmptyImage(Node):
    name = "EmptyImage"
    category = "image"
    outputs = ("IMAGE",)

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {
            "required": {
                "width": _int(512, 1, MAX_RESOLUTION, 1),
                "height": _int(512, 1, MAX_RESOLUTION, 1),
                "batch_size": _int(1, 1, 4096),
                "color": _int(0, 0, 0xFFFFFF, 1, display="color"),
            }
        }

    def run(self, ctx: NodeContext, width: int, height: int, batch_size: int, color: int) -> NodeOutput:
        rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
        return NodeOutput((Frames(width, height, (rgb,) * batch_size),))


class ImageInvert(Node):
    name = "ImageInvert"
    display_name = "Invert Image"
    category = "image"
    outputs = ("IMAGE",)

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {"required": {"image": ["IMAGE"]}}

    def run(self, ctx: NodeContext, image: Frames) -> NodeOutput:
        inverted = tuple((255 - r, 255 - g, 255 - b) for r, g, b in image.colors)
        return NodeOutput((Frames(image.width, image.height, inverted),))


class CustomImageNode(ImageInvert):
    """An image-to-image node under any name: one stand-in "has a custom node pack" the others lack."""

    category = "custom"
    python_module = "custom_nodes.standin_pack"

    def __init__(self, name: str) -> None:
        self.name = name  # type: ignore[misc]  # a per-instance name, unlike the built-in classes


class ImageBlur(Node):
    """No progress hooks, like the real one: an interrupt lands at the next node's start."""

    name = "ImageBlur"
    display_name = "Image Blur"
    category = "image/postprocessing"
    python_module = "comfy_extras.nodes_post_processing"
    outputs = ("IMAGE",)

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {
            "required": {
                "image": ["IMAGE"],
                "blur_radius": _int(1, 1, 31, 1),
                "sigma": ["FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.1}],
            }
        }

    def run(self, ctx: NodeContext, image: Frames, blur_radius: int, sigma: float) -> NodeOutput:
        return NodeOutput((image,))  # a blurred flat colour is the same flat colour


class SaveImage(Node):
    name = "SaveImage"
    display_name = "Save Image"
    category = "image"
    description = "Saves the input images to your ComfyUI output directory."
    output_node = True

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {
            "required": {
                "images": ["IMAGE", {"tooltip": "The images to save."}],
                "filename_prefix": ["STRING", {"default": "ComfyUI", "tooltip": PREFIX_TOOLTIP}],
            },
            "hidden": dict(V1_HIDDEN),
        }

    def run(self, ctx: NodeContext, images: Frames, filename_prefix: str) -> NodeOutput:
        return NodeOutput(ui=_save_frames(ctx, images, filename_prefix, "output", level=4))


class PreviewImage(Node):
    name = "PreviewImage"
    display_name = "Preview Image"
    category = "image"
    description = SaveImage.description
    output_node = True

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {"required": {"images": ["IMAGE"]}, "hidden": dict(V1_HIDDEN)}

    def run(self, ctx: NodeContext, images: Frames) -> NodeOutput:
        suffix = "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
        return NodeOutput(ui=_save_frames(ctx, images, f"ComfyUI_temp_{suffix}", "temp", level=1))


class LoadImage(Node):
    name = "LoadImage"
    display_name = "Load Image"
    category = "image"
    outputs = ("IMAGE", "MASK")
    validated_inputs = ("image",)

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {"required": {"image": [folders.input_images(), {"image_upload": True}]}}

    def validate(self, folders: Folders, **inputs: Any) -> bool | str:
        image = inputs["image"]
        return True if os.path.exists(folders.input_path(image)) else f"Invalid image file: {image}"

    def fingerprint(self, folders: Folders, inputs: dict[str, Any]) -> object:
        path = folders.input_path(str(inputs.get("image")))
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else path

    def run(self, ctx: NodeContext, image: str) -> NodeOutput:
        path = ctx.folders.input_path(image)
        size = image_size(Path(path).read_bytes())
        if size is None:
            raise UnidentifiedImageError(f"cannot identify image file {path!r}")
        width, height = size
        return NodeOutput((Frames(width, height, ((128, 128, 128),)), Mask(width, height, 1)))


class GetImageSize(Node):
    """Shows the size on the node: a binary TEXT frame, broadcast to every socket."""

    name = "GetImageSize"
    display_name = "Get Image Size"
    category = "image"
    description = "Returns width and height of the image, and passes it through unchanged."
    python_module = "comfy_extras.nodes_images"
    outputs = ("INT", "INT", "INT")
    output_names = ("width", "height", "batch_size")

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {"required": {"image": ["IMAGE"]}, "hidden": {"unique_id": "UNIQUE_ID"}}

    def run(self, ctx: NodeContext, image: Frames) -> NodeOutput:
        batch = len(image.colors)
        ctx.text(f"width: {image.width}, height: {image.height}\n batch size: {batch}")
        return NodeOutput((image.width, image.height, batch))


class SaveImageWebsocket(Node):
    """ComfyUI's bundled custom node: each image goes out as a progress preview, nothing is saved."""

    name = "SaveImageWebsocket"
    category = "api node/image"
    python_module = "custom_nodes.websocket_image_save"
    output_node = True

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {"required": {"images": ["IMAGE"]}}

    def fingerprint(self, folders: Folders, inputs: dict[str, Any]) -> object:
        return time.time()  # IS_CHANGED returns the time: never cached

    def run(self, ctx: NodeContext, images: Frames) -> NodeOutput:
        stills = images.stills()
        for step, still in enumerate(stills):
            ctx.compute()
            ctx.progress(step, len(stills), still)
        return NodeOutput()


class CheckpointLoaderSimple(Node):
    name = "CheckpointLoaderSimple"
    display_name = "Load Checkpoint"
    category = "loaders"
    description = "Loads a diffusion model checkpoint, diffusion models are used to denoise latents."
    outputs = ("MODEL", "CLIP", "VAE")
    output_tooltips = (
        "The model used for denoising latents.",
        "The CLIP model used for encoding text prompts.",
        "The VAE model used for encoding and decoding images to and from latent space.",
    )

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        checkpoints = folders.model_files("checkpoints") or []
        return {"required": {"ckpt_name": [checkpoints, {"tooltip": "The name of the checkpoint (model) to load."}]}}

    def run(self, ctx: NodeContext, ckpt_name: str) -> NodeOutput:
        return NodeOutput(tuple(Handle(kind, ckpt_name) for kind in self.outputs))


class CLIPTextEncode(Node):
    name = "CLIPTextEncode"
    display_name = "CLIP Text Encode (Prompt)"
    category = "conditioning"
    description = (
        "Encodes a text prompt using a CLIP model into an embedding that can be used to guide "
        "the diffusion model towards generating specific images."
    )
    outputs = ("CONDITIONING",)
    output_tooltips = ("A conditioning containing the embedded text used to guide the diffusion model.",)

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {
            "required": {
                "text": ["STRING", {"multiline": True, "dynamicPrompts": True, "tooltip": "The text to be encoded."}],
                "clip": ["CLIP", {"tooltip": "The CLIP model used for encoding the text."}],
            }
        }

    def run(self, ctx: NodeContext, text: str, clip: Handle) -> NodeOutput:
        return NodeOutput((Conditioning(text),))


class EmptyLatentImage(Node):
    name = "EmptyLatentImage"
    display_name = "Empty Latent Image"
    category = "latent"
    description = "Create a new batch of empty latent images to be denoised via sampling."
    outputs = ("LATENT",)
    output_tooltips = ("The empty latent image batch.",)

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {
            "required": {
                "width": _int(512, 16, MAX_RESOLUTION, 8, tooltip="The width of the latent images in pixels."),
                "height": _int(512, 16, MAX_RESOLUTION, 8, tooltip="The height of the latent images in pixels."),
                "batch_size": _int(1, 1, 4096, tooltip="The number of latent images in the batch."),
            }
        }

    def run(self, ctx: NodeContext, width: int, height: int, batch_size: int) -> NodeOutput:
        return NodeOutput((Latent(width, height, batch_size, (0, 0, 0)),))


class KSampler(Node):
    """Reports `progress` 1..steps (the stand-in's `steps` setting may shorten that)."""

    name = "KSampler"
    category = "sampling"
    description = "Uses the provided model, positive and negative conditioning to denoise the latent image."
    outputs = ("LATENT",)
    output_tooltips = ("The denoised latent.",)

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {
            "required": {
                "model": ["MODEL", {"tooltip": "The model used for denoising the input latent."}],
                "seed": _int(0, 0, 0xFFFFFFFFFFFFFFFF, control_after_generate=True, tooltip="The random seed used for creating the noise."),
                "steps": _int(20, 1, 10000, tooltip="The number of steps used in the denoising process."),
                "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01, "tooltip": "The Classifier-Free Guidance scale."}],
                "sampler_name": [list(SAMPLERS), {"tooltip": "The algorithm used when sampling."}],
                "scheduler": [list(SCHEDULERS), {"tooltip": "The scheduler controls how noise is gradually removed to form the image."}],
                "positive": ["CONDITIONING", {"tooltip": "The conditioning describing the attributes you want to include in the image."}],
                "negative": ["CONDITIONING", {"tooltip": "The conditioning describing the attributes you want to exclude from the image."}],
                "latent_image": ["LATENT", {"tooltip": "The latent image to denoise."}],
                "denoise": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "The amount of denoising applied."}],
            }
        }  # fmt: skip

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeOutput:
        total = ctx.steps_override or inputs["steps"]
        for step in range(1, total + 1):
            ctx.compute()
            ctx.progress(step, total)
        latent: Latent = inputs["latent_image"]
        tint_source = f"{inputs['seed']}:{inputs['positive'].text}".encode()
        tint = zlib.crc32(tint_source).to_bytes(4, "big")[1:]
        return NodeOutput((Latent(latent.width, latent.height, latent.batch, (tint[0], tint[1], tint[2])),))


class VAEDecode(Node):
    name = "VAEDecode"
    display_name = "VAE Decode"
    category = "latent"
    description = "Decodes latent images back into pixel space images."
    outputs = ("IMAGE",)
    output_tooltips = ("The decoded image.",)

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {
            "required": {
                "samples": ["LATENT", {"tooltip": "The latent to be decoded."}],
                "vae": ["VAE", {"tooltip": "The VAE model used for decoding the latent."}],
            }
        }

    def run(self, ctx: NodeContext, samples: Latent, vae: Handle) -> NodeOutput:
        return NodeOutput((Frames(samples.width, samples.height, (samples.tint,) * samples.batch),))


class CreateVideo(Node):
    name = "CreateVideo"
    display_name = "Create Video"
    category = "image/video"
    description = "Create a video from images."
    python_module = "comfy_extras.nodes_video"
    outputs = ("VIDEO",)
    v3 = True

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        return {
            "required": {
                "images": ["IMAGE", {"tooltip": "The images to create a video from."}],
                "fps": ["FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0}],
            },
            "optional": {"audio": ["AUDIO", {"tooltip": "The audio to add to the video."}]},
        }

    def run(self, ctx: NodeContext, images: Frames, fps: float, audio: object = None) -> NodeOutput:
        return NodeOutput((Video(images, fps),))


class SaveVideo(Node):
    """Writes an ISO-BMFF stub with the frames inside: downloadable, not playable."""

    name = "SaveVideo"
    display_name = "Save Video"
    category = "image/video"
    description = "Saves the input images to your ComfyUI output directory."
    python_module = "comfy_extras.nodes_video"
    output_node = True
    v3 = True

    def input_types(self, folders: Folders) -> dict[str, dict[str, Any]]:
        def combo(tooltip: str, options: list[str]) -> list[Any]:
            return ["COMBO", {"tooltip": tooltip, "default": "auto", "multiselect": False, "options": options}]

        return {
            "required": {
                "video": ["VIDEO", {"tooltip": "The video to save."}],
                "filename_prefix": ["STRING", {"tooltip": PREFIX_TOOLTIP, "default": "video/ComfyUI", "multiline": False}],
                "format": combo("The format to save the video as.", ["auto", "mp4"]),
                "codec": combo("The codec to use for the video.", ["auto", "h264"]),
            },
            "hidden": dict(V3_HIDDEN),
        }

    def run(self, ctx: NodeContext, video: Video, filename_prefix: str, format: str, codec: str) -> NodeOutput:
        target = ctx.folders.save_path(filename_prefix, ctx.folders.output)
        name, path = target.file(target.counter, "mp4")
        Path(path).write_bytes(video_stub(still.png(level=1) for still in video.frames.stills()))
        saved = {"filename": name, "subfolder": target.subfolder, "type": "output"}
        return NodeOutput(ui={"images": [saved], "animated": [True]})


CATALOGUE: dict[str, Node] = {
    node.name: node
    for node in (
        EmptyImage(), ImageInvert(), ImageBlur(), SaveImage(), PreviewImage(), LoadImage(), GetImageSize(),
        SaveImageWebsocket(), CheckpointLoaderSimple(), CLIPTextEncode(), EmptyLatentImage(), KSampler(),
        VAEDecode(), CreateVideo(), SaveVideo(),
    )
}  # fmt: skip


def add_custom_nodes(names: list[str]) -> None:
    """Install image-to-image nodes named ``names`` in this process (``--extra-node``)."""
    for name in names:
        CATALOGUE.setdefault(name, CustomImageNode(name))
