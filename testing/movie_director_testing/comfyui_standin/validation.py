"""POST /prompt validation: ComfyUI's error bodies and node_errors, quirks included.

Behaviour mirrored on purpose:
- nodes are checked in prompt order; the first missing class_type or unknown class wins;
- literals are converted in place (the queued prompt holds `64`, not `"64"`);
- a link to a missing node raises inside the *linked* node's check, so the error is
  `exception_during_inner_validation` filed under that node; an output node's own bad
  link is `exception_during_validation`;
- every failing output is appended to the `dependent_outputs` of every failing node seen
  so far, related or not;
- some good outputs make the prompt valid: it runs those and still returns node_errors;
- anything else that blows up (a list as the prompt, a node that is not an object)
  propagates, and aiohttp answers 500 like the real server.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .folders import Folders
from .nodes import CATALOGUE

CONVERTERS: dict[str, Callable[[Any], Any]] = {"INT": int, "FLOAT": float, "STRING": str}


@dataclass
class Verdict:
    """The outcome: `error` and `node_errors` go into the 400 body; `outputs` are the nodes to execute."""

    ok: bool
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)


class _Checked(NamedTuple):
    valid: bool
    errors: list[dict[str, Any]]


def type_name(kind: type) -> str:
    """An exception type as ComfyUI reports it: `KeyError`, `PIL.UnidentifiedImageError`."""
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _error(kind: str, message: str, details: str, **extra_info: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def _invalid(kind: str, message: str, details: str) -> Verdict:
    return Verdict(False, _error(kind, message, details))


def _types_match(received: str, expected: str | list[Any]) -> bool:
    if received == expected or "*" in (received, expected):
        return True
    if isinstance(expected, str):
        return bool(set(received.split(",")) & set(expected.split(",")))
    return received == "COMBO"


class _Checker:
    """Checks nodes recursively through their links, remembering every verdict like ComfyUI does."""

    def __init__(self, prompt: dict[str, Any], folders: Folders) -> None:
        self.prompt = prompt
        self.folders = folders
        self.validated: dict[str, _Checked] = {}

    def check(self, node_id: str) -> _Checked:
        if node_id in self.validated:
            return self.validated[node_id]
        node = self.prompt[node_id]
        inputs = node["inputs"]
        spec = CATALOGUE[node["class_type"]]
        declared = spec.input_types(self.folders)
        errors: list[dict[str, Any]] = []
        valid = True
        for category in ("required", "optional"):
            for name, declaration in declared.get(category, {}).items():
                if name not in inputs:
                    if category == "required":
                        errors.append(_error("required_input_missing", "Required input is missing", name, input_name=name))
                    continue
                kind = declaration[0]
                config = [kind, declaration[1] if len(declaration) > 1 else {}]
                if isinstance(inputs[name], list):
                    valid = self._check_link(name, inputs[name], config, errors) and valid
                else:
                    self._check_literal(name, inputs, config, spec.validated_inputs, errors)
        if spec.validated_inputs:
            literals = [name for name in spec.validated_inputs if name in inputs and not isinstance(inputs[name], list)]
            present = {name: inputs[name] for name in literals}
            verdict = spec.validate(self.folders, **present)
            if verdict is not True:
                for name in present:
                    details = name if verdict is False else f"{name} - {verdict}"
                    errors.append(_error("custom_validation_failed", "Custom validation failed for node", details, input_name=name))
        checked = _Checked(valid and not errors, errors)
        self.validated[node_id] = checked
        return checked

    def _check_link(self, name: str, link: list[Any], config: list[Any], errors: list[dict[str, Any]]) -> bool:
        """False when the linked node is invalid; its own errors are filed under it, not here."""
        if len(link) != 2:
            message = "Bad linked input, must be a length-2 list of [node_id, slot_index]"
            errors.append(_error("bad_linked_input", message, name, input_name=name, input_config=config, received_value=link))
            return True
        source_id = link[0]
        received = CATALOGUE[self.prompt[source_id]["class_type"]].outputs[link[1]]
        if not _types_match(received, config[0]):
            details = f"{name}, {received} != {config[0]}"
            errors.append(
                _error("return_type_mismatch", "Return type mismatch between linked nodes", details,
                       input_name=name, input_config=config, received_type=received, linked_node=link)
            )  # fmt: skip
            return True
        try:
            return self.check(source_id).valid
        except Exception as ex:  # noqa: BLE001 - ComfyUI turns any error into a validation reason
            reason = _error(
                "exception_during_inner_validation", "Exception when validating inner node", str(ex),
                input_name=name, input_config=config, exception_message=str(ex), exception_type=type_name(type(ex)),
                traceback=traceback.format_tb(ex.__traceback__), linked_node=link,
            )  # fmt: skip
            self.validated[source_id] = _Checked(False, [reason])
            return False

    @staticmethod
    def _check_literal(
        name: str, inputs: dict[str, Any], config: list[Any], custom: tuple[str, ...], errors: list[dict[str, Any]]
    ) -> None:
        kind, options = config
        value = inputs[name]
        if isinstance(value, dict) and "__value__" in value:
            value = inputs[name] = value["__value__"]
        if isinstance(kind, str) and kind in CONVERTERS:
            try:
                value = inputs[name] = CONVERTERS[kind](value)
            except Exception as ex:  # noqa: BLE001 - whatever int()/float() raise, as in ComfyUI
                errors.append(
                    _error("invalid_input_type", f"Failed to convert an input value to a {kind} value", f"{name}, {value}, {ex}",
                           input_name=name, input_config=config, received_value=value, exception_message=str(ex))
                )  # fmt: skip
                return
        if name in custom:
            return
        bounds = (("min", "value_smaller_than_min", "smaller than min"), ("max", "value_bigger_than_max", "bigger than max"))
        for key, error_type, words in bounds:
            if key in options and (value < options[key] if key == "min" else value > options[key]):
                message = f"Value {value} {words} of {options[key]}"
                errors.append(_error(error_type, message, name, input_name=name, input_config=config, received_value=value))
                return
        choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
        if choices is not None and value not in choices:
            listed = f"(list of length {len(choices)})" if len(choices) > 20 else str(choices)
            shown = None if len(choices) > 20 else config
            details = f"{name}: '{value}' not in {listed}"
            errors.append(
                _error("value_not_in_list", "Value not in list", details,
                       input_name=name, input_config=shown, received_value=value)
            )  # fmt: skip


def validate_prompt(prompt: Any, targets: list[str] | None, folders: Folders) -> Verdict:
    """Validate an API-format prompt; `targets` is partial_execution_targets (None = every output)."""
    outputs: list[str] = []
    for node_id in prompt:
        node = prompt[node_id]
        if "class_type" not in node:
            message = "Cannot execute because a node is missing the class_type property."
            return _invalid("invalid_prompt", message, f"Node ID '#{node_id}'")
        class_type = node["class_type"]
        spec = CATALOGUE.get(class_type)
        if spec is None:
            return _invalid("invalid_prompt", f"Cannot execute because node {class_type} does not exist.", f"Node ID '#{node_id}'")
        if spec.output_node and (targets is None or node_id in targets):
            outputs.append(node_id)
    if not outputs:
        return _invalid("prompt_no_outputs", "Prompt has no outputs", "")

    checker = _Checker(prompt, folders)
    good: list[str] = []
    failed_reasons: list[dict[str, Any]] = []
    node_errors: dict[str, Any] = {}
    for output in outputs:
        try:
            checked = checker.check(output)
        except Exception as ex:  # noqa: BLE001 - ComfyUI turns any error into a validation reason
            reason = _error("exception_during_validation", "Exception when validating node", str(ex),
                            exception_type=type_name(type(ex)), traceback=traceback.format_tb(ex.__traceback__))  # fmt: skip
            checked = checker.validated[output] = _Checked(False, [reason])
        if checked.valid:
            good.append(output)
            continue
        failed_reasons.extend(checked.errors)
        for node_id, result in checker.validated.items():
            if not result.valid and result.errors:
                entry = node_errors.setdefault(
                    node_id, {"errors": result.errors, "dependent_outputs": [], "class_type": prompt[node_id]["class_type"]}
                )
                entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(f"{reason['message']}: {reason['details']}" for reason in failed_reasons)
        error = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
        return Verdict(False, error, [], node_errors)
    return Verdict(True, None, good, node_errors)
