"""`python -m movie_director_testing.comfyui_standin --host 127.0.0.1 --port 8188 ...`

Logs to stderr like ComfyUI (including "To see the GUI go to: ..."), runs until SIGINT
or SIGTERM, then drops its sockets without close frames, as the real server does.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .nodes import add_custom_nodes
from .standin import DEFAULT_VERSION, StandIn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movie_director_testing.comfyui_standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--node-delay", type=float, default=0.05, help="seconds per executed node and per progress step")
    parser.add_argument("--steps", type=int, default=None, help="KSampler progress steps instead of its steps input")
    parser.add_argument("--no-websocket", action="store_true", help="serve no /ws route at all (404)")
    parser.add_argument("--base-dir", default=None, help="folder for input/, output/, temp/, models/ (default: a temp dir)")
    parser.add_argument("--comfyui-version", default=DEFAULT_VERSION)
    parser.add_argument("--extra-node", action="append", default=[], metavar="NAME", help="also offer an image-to-image node NAME (a custom node the others lack)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    add_custom_nodes(args.extra_node)
    standin = StandIn(
        args.host,
        args.port,
        node_delay=args.node_delay,
        steps=args.steps,
        websocket=not args.no_websocket,
        base_dir=args.base_dir,
        comfyui_version=args.comfyui_version,
    ).start()
    while not stop.wait(0.5):
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
