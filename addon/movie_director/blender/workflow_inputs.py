"""Write the artist's prompt and seed into a ComfyUI API-format workflow.

The artist maps each once, by node id or by the node's title (``_meta.title``, what the
ComfyUI canvas shows); the Generate panel remembers the mapping per workflow. Without a
mapping a well-known shape is used: the text encoder feeding a sampler's ``positive``
input, and the sampler's ``seed``/``noise_seed``. A mapping that names no node is a
:class:`~movie_director.errors.WorkflowInvalid` naming it and listing what is there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from movie_director.errors import WorkflowInvalid

PROMPT_INPUTS = ("text", "prompt", "positive", "text_g")
SEED_INPUTS = ("seed", "noise_seed")

Graph = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class InputMapping:
    """Which nodes take the prompt and the seed (ids or titles; "" = find them)."""

    prompt_node: str = ""
    seed_node: str = ""


def title_of(node: Mapping[str, Any]) -> str:
    meta = node.get("_meta")
    return str(meta.get("title") or "") if isinstance(meta, Mapping) else ""


def find_node(graph: Graph, reference: str, what: str) -> str:
    """The id of the node ``reference`` names (an id, or a title, case-insensitively)."""
    if reference in graph:
        return reference
    wanted = reference.strip().casefold()
    for node_id, node in graph.items():
        if title_of(node).casefold() == wanted:
            return node_id
    known = ", ".join(f"{node_id} {title_of(node) or node['class_type']}" for node_id, node in list(graph.items())[:12])
    raise WorkflowInvalid(
        f"The workflow has no node {reference!r} for the {what}.",
        hints=[f"Pick the node by its id or its title in ComfyUI. Nodes in this workflow: {known}.", f"Clear the {what} node field to let the add-on find it."],
        details={"node": reference, "input": what},
    )


def _first_input(node: Mapping[str, Any], names: tuple[str, ...], kind: type) -> str | None:
    inputs = node.get("inputs", {})
    return next((name for name in names if isinstance(inputs.get(name), kind) and not isinstance(inputs.get(name), bool)), None)


def guess_prompt_node(graph: Graph) -> str | None:
    """The text encoder linked to a sampler's ``positive`` input, else a node titled like a prompt."""
    for node in graph.values():
        link = node.get("inputs", {}).get("positive")
        if isinstance(link, list) and len(link) == 2 and str(link[0]) in graph and _first_input(graph[str(link[0])], PROMPT_INPUTS, str):
            return str(link[0])
    for node_id, node in graph.items():
        title = title_of(node).casefold()
        if ("prompt" in title or "positive" in title) and _first_input(node, PROMPT_INPUTS, str):
            return node_id
    return None


def guess_seed_node(graph: Graph) -> str | None:
    return next((node_id for node_id, node in graph.items() if _first_input(node, SEED_INPUTS, int)), None)


def apply_inputs(graph: Graph, mapping: InputMapping, prompt: str = "", seed: int | None = None) -> Graph:
    """A copy of ``graph`` with ``prompt`` and ``seed`` written in (unchanged where not given)."""
    graph = copy.deepcopy(graph)
    if prompt:
        _write(graph, "prompt", mapping.prompt_node, guess_prompt_node, PROMPT_INPUTS, prompt, "Set 'Prompt node' to the id or title of the text node (e.g. CLIPTextEncode) in ComfyUI.")
    if seed is not None:
        _write(graph, "seed", mapping.seed_node, guess_seed_node, SEED_INPUTS, seed, "Set 'Seed node' to the id or title of the sampler in ComfyUI, or leave the seed at -1.")
    return graph


def _write(graph: Graph, what: str, reference: str, guess: Callable[[Graph], str | None], names: tuple[str, ...], value: Any, hint: str) -> None:
    """Put ``value`` into the first of ``names`` on the node ``reference`` names (or ``guess`` finds)."""
    node_id = find_node(graph, reference, what) if reference else guess(graph)
    name = _first_input(graph[node_id], names, type(value)) if node_id else None
    if node_id is None or name is None:
        raise WorkflowInvalid(
            f"The add-on cannot tell which node of this workflow takes the {what}." if node_id is None else f"Node {node_id} has no {what} input.",
            hints=[hint],
            details={"node": node_id or "", "input": what},
        )
    graph[node_id]["inputs"][name] = value


__all__ = ["InputMapping", "apply_inputs", "find_node", "guess_prompt_node", "guess_seed_node", "title_of"]
