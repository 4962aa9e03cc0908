"""LiteLLM backend (protocol work in progress)."""

from __future__ import annotations

from movie_director.backend import Backend


class LiteLLMBackend(Backend):
    kind = "litellm"
    display_name = "LiteLLM"
    default_url = "http://127.0.0.1:4000"
    default_ports = (4000,)
