"""ComfyUI backend (protocol work in progress)."""

from __future__ import annotations

from movie_director.backend import Backend


class ComfyUIBackend(Backend):
    kind = "comfyui"
    display_name = "ComfyUI"
    default_url = "http://127.0.0.1:8188"
    default_ports = (8188,)
