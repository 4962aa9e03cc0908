"""Wan2GP backend (protocol work in progress)."""

from __future__ import annotations

from movie_director.backend import Backend


class Wan2GPBackend(Backend):
    kind = "wan2gp"
    display_name = "Wan2GP"
    default_url = "http://127.0.0.1:7860"
    default_ports = (7860,)
