"""Gradio app backend (protocol work in progress)."""

from __future__ import annotations

from movie_director.backend import Backend


class GradioBackend(Backend):
    kind = "gradio"
    display_name = "Gradio app"
    default_url = ""
    default_ports = (7863,)
