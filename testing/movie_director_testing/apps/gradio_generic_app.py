"""A plain Gradio 6 app with a few named endpoints: the generic `gradio` backend's test server.

- `/generate(prompt, seed, steps)`: `steps` progress ticks ("denoising"), then a small MP4
  file and a JSON echo of the inputs; a prompt containing "boom" raises `gr.Error`;
- `/echo(text)`: the text back;
- `/caption(text, words)`: the first `words` words in capitals. `words` is a plain
  `gr.Number` (no precision: the API calls it a float) used as an int, as real apps do, so
  a `2.0` sent for `2` fails with Python's own "slice indices must be integers";
- `/invert(image)`: the uploaded image with its colours inverted, as a PNG file.

Runs in the gradio6 server venv (gradio and its dependencies only).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageOps

SAMPLE_VIDEO = Path(__file__).with_name("tiny.mp4")
OUTPUT_DIR = Path(tempfile.gettempdir())
STEP_SECONDS = 0.05


def generate(
    prompt: str,
    seed: int,
    steps: int,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects it
) -> tuple[str, dict[str, Any]]:
    if "boom" in prompt:
        raise gr.Error("boom: bad prompt")
    for _ in progress.tqdm(range(int(steps)), desc="denoising"):
        time.sleep(STEP_SECONDS)
    path = OUTPUT_DIR / f"vid_{seed}_{uuid.uuid4().hex[:8]}.mp4"
    shutil.copyfile(SAMPLE_VIDEO, path)
    return str(path), {"prompt": prompt, "seed": seed, "steps": steps}


def echo(text: str) -> str:
    return text


def caption(text: str, words: int) -> str:
    """`words` arrives as sent (the API calls it a float): a 2.0 fails the slice, as in real apps."""
    return " ".join(text.split()[:words]).upper()


def invert(image: str) -> str:
    path = OUTPUT_DIR / f"inverted_{uuid.uuid4().hex[:8]}.png"
    with Image.open(image) as source:
        ImageOps.invert(source.convert("RGB")).save(path)
    return str(path)


def build_ui() -> gr.Blocks:
    with gr.Blocks(title="Gradio generic test app") as demo:
        gr.Markdown("# Generic Gradio test app")
        with gr.Row():
            prompt = gr.Textbox(label="prompt")
            seed = gr.Number(42, precision=0, label="seed")
            steps = gr.Number(6, precision=0, label="steps")
        video, echoed = gr.File(label="video"), gr.JSON(label="inputs")
        gr.Button("Generate").click(generate, [prompt, seed, steps], [video, echoed], api_name="generate")
        text_in, text_out = gr.Textbox(label="text"), gr.Textbox(label="echo")
        gr.Button("Echo").click(echo, [text_in], [text_out], api_name="echo")
        words, captioned = gr.Number(3, label="words"), gr.Textbox(label="caption")
        gr.Button("Caption").click(caption, [text_in, words], [captioned], api_name="caption")
        image, inverted = gr.Image(type="filepath", label="image"), gr.File(label="inverted")
        gr.Button("Invert").click(invert, [image], [inverted], api_name="invert")
    return demo


def main(argv: list[str] | None = None) -> None:
    global OUTPUT_DIR, STEP_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--step-seconds", type=float, default=STEP_SECONDS)
    parser.add_argument("--output-dir", default=None, help="where results are written (default: a new temp dir)")
    args = parser.parse_args(argv)
    STEP_SECONDS = args.step_seconds
    OUTPUT_DIR = Path(args.output_dir or tempfile.mkdtemp(prefix="gradio-generic-")).resolve()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    demo = build_ui().queue(default_concurrency_limit=1)
    demo.launch(server_name="127.0.0.1", server_port=args.port, show_error=True, allowed_paths=[str(OUTPUT_DIR)])


if __name__ == "__main__":
    main()
