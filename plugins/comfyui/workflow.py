"""Workflows: load the API format, refuse the UI format, check a graph against /object_info.

ComfyUI runs only the *API format* (``{node_id: {"class_type", "inputs"}}``); the UI
saves another shape (``nodes`` + ``links``) that it would refuse with a puzzling 400.
Checking against ``/object_info`` before sending catches missing node packs and
unconnected inputs with a message that names the node. Every problem is a
:class:`~movie_director.errors.WorkflowInvalid` whose ``node_errors`` has ComfyUI's shape,
so callers treat a local refusal and a server 400 the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from movie_director.errors import WorkflowInvalid
from movie_director.textfile import describe, read_json

Graph = dict[str, dict[str, Any]]
ObjectInfo = Mapping[str, Mapping[str, Any]]

UI_FORMAT_HINTS = (
    "In ComfyUI, open the workflow and choose Workflow → Export (API); use the file it saves.",
    "Older ComfyUI versions: turn on Dev mode in the settings, then use 'Save (API Format)'.",
)
_SHOWN_PROBLEMS = 3


def load_workflow(source: Mapping[str, Any] | str | os.PathLike[str], service: str = "ComfyUI") -> Graph:
    """The API-format graph in ``source``: a mapping, a JSON text, or the path of a JSON file."""
    if isinstance(source, Mapping):
        data: Any = source
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        data = _parse_json(source, "the workflow text", service)
    else:
        data = read_json(source, "The workflow file", lambda message, cause: _unreadable(message, cause, service))
        try:
            return check_api_format(data, service)
        except WorkflowInvalid as error:  # name the file: the artist may have passed the wrong one
            raise WorkflowInvalid(f"{describe(source)}: {error.message}", service=service, hints=error.hints, details=error.details) from error
    return check_api_format(data, service)


def check_api_format(data: Any, service: str = "ComfyUI") -> Graph:
    """``data`` as an API-format graph, or a WorkflowInvalid saying what it is instead."""
    if is_ui_format(data):
        raise WorkflowInvalid(
            f"This is a {service} UI workflow (it has 'nodes' and 'links'); {service} runs only the API format.",
            service=service,
            hints=list(UI_FORMAT_HINTS),
            details={"format": "ui"},
        )
    if not isinstance(data, Mapping) or not data:
        raise WorkflowInvalid(
            f"The workflow is not an API-format graph: expected an object of nodes, got {_shape(data)}.",
            service=service,
            hints=list(UI_FORMAT_HINTS),
        )
    graph: Graph = {}
    problems: dict[str, dict[str, Any]] = {}
    for node_id, node in data.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str) or not node.get("class_type"):
            problems[str(node_id)] = node_error("", "missing_class_type", "The node has no class_type")
            continue
        inputs = node.get("inputs", {})
        if not isinstance(inputs, Mapping):
            problems[str(node_id)] = node_error(node["class_type"], "invalid_inputs", "The node's inputs are not an object")
            continue
        graph[str(node_id)] = {**node, "inputs": dict(inputs)}
    if problems:
        raise _invalid(f"The workflow is not in {service}'s API format", problems, service, hints=list(UI_FORMAT_HINTS))
    return graph


def is_ui_format(data: Any) -> bool:
    """True for the UI's save format (``nodes`` list + ``links``), which /prompt refuses."""
    return isinstance(data, Mapping) and isinstance(data.get("nodes"), list) and ("links" in data or "last_node_id" in data)


def is_link(value: Any) -> bool:
    """ComfyUI treats any two-item list as ``[source_node_id, output_index]``."""
    return isinstance(value, list) and len(value) == 2


def validate(graph: Graph, object_info: ObjectInfo, service: str = "ComfyUI") -> None:
    """Refuse, before sending, what ComfyUI would refuse: unknown nodes, missing inputs, bad links, no output."""
    problems: dict[str, dict[str, Any]] = {}

    def add(node_id: str, class_type: str, kind: str, message: str, details: str = "", **extra: Any) -> None:
        entry = problems.setdefault(node_id, node_error(class_type))
        entry["errors"].append(_problem(kind, message, details, extra))

    for node_id, node in graph.items():
        class_type = node["class_type"]
        info = object_info.get(class_type)
        if info is None:
            add(node_id, class_type, "missing_node_type", f"{class_type} is not installed on this {service}", class_type)
            continue
        inputs = node["inputs"]
        for name in _required_inputs(info):
            if name not in inputs:
                add(node_id, class_type, "required_input_missing", "Required input is missing", name, input_name=name)
        for name, value in inputs.items():
            if not is_link(value):
                continue
            source = graph.get(str(value[0]))
            if source is None:
                add(node_id, class_type, "link_to_missing_node", f"Input '{name}' is linked to node {value[0]}, which is not in the workflow", name, input_name=name)
                continue
            outputs = object_info.get(source["class_type"], {}).get("output")
            if isinstance(outputs, list) and (not isinstance(value[1], int) or not 0 <= value[1] < len(outputs)):
                add(node_id, class_type, "bad_output_slot", f"Input '{name}' uses output {value[1]} of node {value[0]}, which has {len(outputs)}", name, input_name=name)
    if problems:
        raise _invalid(f"{service} cannot run this workflow", problems, service)
    if not output_nodes(graph, object_info):
        raise WorkflowInvalid(
            f"The workflow has no output node (such as Save Image), so {service} would not run anything.",
            service=service,
            hints=["Add a Save Image, Preview Image or Save Video node at the end of the workflow."],
            details={"error_type": "prompt_no_outputs", "node_errors": {}},
        )


def output_nodes(graph: Graph, object_info: ObjectInfo | None) -> list[str]:
    """Ids of the nodes ComfyUI starts from (``output_node`` classes); all nodes when unknown."""
    if object_info is None:
        return list(graph)
    return [node_id for node_id, node in graph.items() if object_info.get(str(node.get("class_type")), {}).get("output_node")]


def nodes_to_run(graph: Graph, object_info: ObjectInfo | None) -> frozenset[str]:
    """The output nodes and everything they depend on: what a full run executes."""
    pending = output_nodes(graph, object_info)
    seen: set[str] = set()
    for _ in range(len(graph) * 4 + 4):
        if not pending:
            break
        node_id = pending.pop()
        if node_id in seen or node_id not in graph:
            continue
        seen.add(node_id)
        inputs = graph[node_id].get("inputs")
        pending.extend(str(value[0]) for value in (inputs.values() if isinstance(inputs, Mapping) else ()) if is_link(value))
    return frozenset(seen)


def rejection(body: Any, service: str = "ComfyUI") -> WorkflowInvalid:
    """The typed error for a 400 from ``POST /prompt``: ComfyUI's message plus its node_errors."""
    body = body if isinstance(body, Mapping) else {}
    error = body.get("error")
    error = error if isinstance(error, Mapping) else {"message": str(error or "")}
    node_errors = found if isinstance(found := body.get("node_errors"), Mapping) else {}
    message = str(error.get("message") or "the workflow was refused")
    details = str(error.get("details") or "")
    headline = f"{service} rejected the workflow: {message.rstrip('.')}"
    if details and details not in message:
        headline += f" ({details})"
    return _invalid(
        headline,
        dict(node_errors),
        service,
        details={"status": 400, "error_type": error.get("type"), "error": dict(error)},
    )


def node_error(class_type: str, kind: str = "", message: str = "", details: str = "", **extra: Any) -> dict[str, Any]:
    """One node's entry in ComfyUI's ``node_errors`` shape (with one problem when ``kind`` is given)."""
    problems = [_problem(kind, message, details, extra)] if kind else []
    return {"class_type": class_type, "errors": problems, "dependent_outputs": []}


def _problem(kind: str, message: str, details: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": dict(extra)}


def describe_node_errors(node_errors: Mapping[str, Any]) -> list[str]:
    """One short line per problem: "node 3 (KSampler): Required input is missing: model"."""
    lines = []
    for node_id, entry in node_errors.items():
        entry = entry if isinstance(entry, Mapping) else {}
        label = f"node {node_id}" + (f" ({entry['class_type']})" if entry.get("class_type") else "")
        for problem in entry.get("errors") or [{}]:
            problem = problem if isinstance(problem, Mapping) else {}
            text = str(problem.get("message") or "invalid")
            if problem.get("details") and str(problem["details"]) not in text:
                text += f": {problem['details']}"
            lines.append(f"{label}: {text}")
    return lines


def _invalid(headline: str, node_errors: dict[str, Any], service: str, hints: list[str] | None = None, details: Mapping[str, Any] | None = None) -> WorkflowInvalid:
    lines = describe_node_errors(node_errors)
    shown = "; ".join(lines[:_SHOWN_PROBLEMS])
    more = f"; and {len(lines) - _SHOWN_PROBLEMS} more" if len(lines) > _SHOWN_PROBLEMS else ""
    message = f"{headline}: {shown}{more}." if lines else f"{headline}."
    return WorkflowInvalid(message, service=service, hints=hints, details={**(details or {}), "node_errors": node_errors})


def _required_inputs(info: Mapping[str, Any]) -> Iterable[str]:
    inputs = info.get("input")
    required = inputs.get("required") if isinstance(inputs, Mapping) else None
    return list(required) if isinstance(required, Mapping) else []


def _unreadable(message: str, cause: BaseException | None, service: str) -> WorkflowInvalid:
    """A workflow file that cannot be read (check the path) or parsed (export it again)."""
    hint = "Check the path and that the file is readable." if isinstance(cause, OSError) else "Export the workflow again from ComfyUI with Workflow → Export (API)."
    return WorkflowInvalid(message, service=service, hints=[hint], cause=cause)


def _parse_json(text: str, what: str, service: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise WorkflowInvalid(
            f"{what[:1].upper() + what[1:]} is not valid JSON: {exc}.",
            service=service,
            hints=["Export the workflow again from ComfyUI with Workflow → Export (API)."],
            cause=exc,
        ) from exc


def _shape(data: Any) -> str:
    if isinstance(data, Mapping):
        return "an empty object"
    return f"a JSON {type(data).__name__}" if data is not None else "nothing"


__all__ = [
    "Graph",
    "check_api_format",
    "describe_node_errors",
    "is_link",
    "is_ui_format",
    "load_workflow",
    "node_error",
    "nodes_to_run",
    "output_nodes",
    "rejection",
    "validate",
]
