"""A protocol-faithful ComfyUI 0.3.64 stand-in: same HTTP routes, bodies, WebSocket frames and quirks.

It follows /work/shared/PROTOCOLS.md ("ComfyUI") and, where that is silent, ComfyUI's
own code; it never does real inference. Images are solid-colour PNGs written with
zlib, models are names, and every node takes `node_delay` seconds (progress nodes
take it again per step).

Run it:

    python -m movie_director_testing.comfyui_standin --host 127.0.0.1 --port 8188 \\
        [--node-delay 0.05] [--steps N] [--no-websocket] [--base-dir DIR] [--comfyui-version 0.3.64] [--extra-node NAME]

    with StandIn(port=0, node_delay=0.01) as comfy:   # in-process, own event loop thread
        requests.get(comfy.url + "/system_stats")

    server = launch(node_delay=0.01).start()            # child process (ServerProcess)
    server.kill(); server.restart()

Node classes: EmptyImage, ImageInvert, ImageBlur, SaveImage, PreviewImage, LoadImage,
GetImageSize (binary TEXT frames), SaveImageWebsocket (one preview per image),
CheckpointLoaderSimple (models/checkpoints holds sd15-standin.safetensors),
CLIPTextEncode, EmptyLatentImage, KSampler (`progress` per step), VAEDecode, and the
V3 nodes CreateVideo + SaveVideo (writes a small, unplayable .mp4 stub); `--extra-node NAME`
adds an image-to-image node NAME (a custom node only this stand-in has).

Test controls, outside ComfyUI's routes (no /api twin):

POST /_standin/control  JSON object, any subset of:
    "node_delay": float >= 0        seconds per node and per progress step
    "steps": int >= 1 | null        KSampler progress steps (null: its `steps` input)
    "fail_nodes": [str]             node ids or class types that raise RuntimeError
                                    when they execute (a normal execution_error)
    "refuse_websockets": bool       answer /ws with 403, like a proxy blocking upgrades
    "drop_websockets": true         abort every open socket now (no close frame)
    "send_garbage": true            send every open socket a non-JSON text frame and
                                    a 2-byte binary frame
  Answers like GET /_standin/state, or 400 {"error": ...} (nothing applied).

GET /_standin/state  the settings above plus: websocket (route served), sockets
  (registered clientIds), connections (open sockets, superseded ones included),
  client_id and last_node_id (what reconnects see), running (prompt ids), pending
  (count), cached_outputs, base_dir.
"""

from .standin import StandIn, launch

__all__ = ["StandIn", "launch"]
