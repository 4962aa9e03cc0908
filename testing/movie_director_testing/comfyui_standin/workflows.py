"""API-format workflows the stand-in runs, for tests and benchmarks that need a realistic one."""

from __future__ import annotations

from typing import Any

CHECKPOINT = "sd15-standin.safetensors"


def txt2img(prefix: str = "txt2img", seed: int = 1, steps: int = 2) -> dict[str, dict[str, Any]]:
    """Text to image as ComfyUI's default graph: loaders (cached after a first run), sampler, decode, save.

    With ``node_delay`` d a run takes about (4 + steps) × d the first time and (3 + steps) × d after.
    """
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in the snow", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["4", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
                "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0], "denoise": 1.0,
            },
        },  # fmt: skip
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }


__all__ = ["CHECKPOINT", "txt2img"]
