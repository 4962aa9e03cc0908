"""The single worker thread: takes prompts off the queue and plays them like ComfyUI's executor.

Event order per node follows the real server: `progress_state` (running) is broadcast,
then `executing` goes to the prompt's client, then the interrupt flag is checked, then
the node works; output nodes send `executed`; a final `progress_state` marks it finished.
Nodes whose outputs are cached are not even visited unless they are outputs, which then
get `executed` from the cache and no `executing`. A prompt without client_id sends none
of the execution_*/executing/executed events, but `progress_state`, `progress`, previews
and TEXT frames still go to everybody (they are addressed to client None: a broadcast).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import traceback
from typing import Any

from .cache import Entry, OutputCache, is_link, signatures
from .controls import Controls
from .folders import Folders
from .hub import BinaryEvent, Hub
from .media import Still
from .nodes import CATALOGUE, Node
from .prompt_queue import PromptQueue, QueueItem
from .validation import type_name

log = logging.getLogger("comfyui_standin")


class Interrupted(Exception):
    """ComfyUI's InterruptProcessingException."""


class InterruptFlag:
    """/interrupt sets it; the next check (node start or progress step) raises and clears it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raised = False
        self._halted = False

    def set(self, raised: bool = True) -> None:
        with self._lock:
            self._raised = raised

    def halt(self) -> None:
        """Make every future check raise: the server is stopping."""
        with self._lock:
            self._halted = True

    def check(self) -> None:
        with self._lock:
            if self._halted or self._raised:
                self._raised = False
                raise Interrupted()


class NodeFailure(Exception):
    """Ends a prompt: `error` is the execution_error detail, None for an interrupt."""

    def __init__(self, node_id: str, error: dict[str, Any] | None) -> None:
        super().__init__(node_id)
        self.node_id = node_id
        self.error = error


def format_value(value: Any) -> Any:
    """How current_inputs shows a value: JSON scalars as they are, anything else as text."""
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    return str(value)


class ProgressState:
    """Per-prompt node states; each change broadcasts the whole non-pending set as `progress_state`."""

    def __init__(self, hub: Hub, prompt_id: str) -> None:
        self._hub = hub
        self._prompt_id = prompt_id
        self._nodes: dict[str, dict[str, Any]] = {}

    def _entry(self, node_id: str) -> dict[str, Any]:
        return self._nodes.setdefault(node_id, {"state": "pending", "value": 0, "max": 1})

    def start(self, node_id: str) -> None:
        self._entry(node_id).update(state="running", value=0.0, max=1.0)
        self._publish()

    def update(self, node_id: str, value: float, total: float) -> None:
        self._entry(node_id).update(state="running", value=value, max=total)
        self._publish()

    def finish(self, node_id: str) -> None:
        entry = self._entry(node_id)
        entry.update(state="finished", value=entry["max"])
        self._publish()

    def _publish(self) -> None:
        nodes = {
            node_id: {
                "value": entry["value"],
                "max": entry["max"],
                "state": entry["state"],
                "node_id": node_id,
                "prompt_id": self._prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, entry in self._nodes.items()
            if entry["state"] != "pending"
        }
        self._hub.send_sync("progress_state", {"prompt_id": self._prompt_id, "nodes": nodes})


class Executor:
    """Owns the worker thread, the output cache and the interrupt flag."""

    def __init__(self, hub: Hub, queue: PromptQueue, folders: Folders, controls: Controls) -> None:
        self.hub = hub
        self.queue = queue
        self.folders = folders
        self.controls = controls
        self.cache = OutputCache()
        self.interrupt = InterruptFlag()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="comfyui-standin-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.interrupt.halt()
        self.queue.wake()
        self._thread.join(timeout)

    def _work(self) -> None:
        while not self._stopping.is_set():
            item = self.queue.get(timeout=0.25)
            if item is not None and not self._stopping.is_set():
                self._process(item)
            if self.queue.take_flags().get("free_memory"):
                self.cache.clear()

    def _process(self, item: QueueItem) -> None:
        _, prompt_id, prompt, extra_data, outputs = item
        started = time.perf_counter()
        run = PromptRun(self, prompt_id, prompt, extra_data)
        try:
            success = run.execute(outputs)
        except Exception:  # e.g. a dependency cycle: log it, the worker must survive
            log.exception("stand-in could not execute prompt %s", prompt_id)
            success = False
        status = {"status_str": "success" if success else "error", "completed": success, "messages": run.messages}
        self.queue.task_done(prompt_id, run.history_result(), status)
        if self.hub.client_id is not None:
            self.hub.send_sync("executing", {"node": None, "prompt_id": prompt_id}, self.hub.client_id)
        log.info("Prompt executed in %.2f seconds", time.perf_counter() - started)


class PromptRun:
    """One prompt's execution: plan, run or reuse nodes, report the outcome."""

    def __init__(self, executor: Executor, prompt_id: str, prompt: dict[str, Any], extra_data: dict[str, Any]) -> None:
        self.executor = executor
        self.hub = executor.hub
        self.cache = executor.cache
        self.prompt_id = prompt_id
        self.prompt = prompt
        self.extra_data = extra_data
        self.client_id: str | None = extra_data.get("client_id")
        self.messages: list[list[Any]] = []
        self.executed: list[str] = []
        self.progress = ProgressState(self.hub, prompt_id)
        self.signatures: dict[str, str] = {}

    def add_message(self, event: str, data: dict[str, Any], broadcast: bool) -> None:
        """Record for the history; send to the client (or to everybody if `broadcast` and no client)."""
        data = {**data, "timestamp": int(time.time() * 1000)}
        self.messages.append([event, data])
        if self.client_id is not None or broadcast:
            self.hub.send_sync(event, data, self.client_id)

    def execute(self, outputs: list[str]) -> bool:
        self.executor.interrupt.set(False)
        self.hub.client_id = self.client_id
        self.add_message("execution_start", {"prompt_id": self.prompt_id}, broadcast=False)
        try:
            self.signatures = signatures(self.prompt, self._fingerprint)
            self.cache.retain(set(self.signatures.values()))
            cached = [node_id for node_id in self.prompt if self.cache.get(self.signatures[node_id]) is not None]
            self.add_message("execution_cached", {"nodes": cached, "prompt_id": self.prompt_id}, broadcast=False)
            for node_id in self._plan(outputs):
                self._execute_node(node_id)
        except NodeFailure as failure:
            self._report(failure)
            return False
        else:
            self.add_message("execution_success", {"prompt_id": self.prompt_id}, broadcast=False)
            return True
        finally:
            self.hub.last_node_id = None

    def history_result(self) -> dict[str, Any]:
        """`outputs` and `meta` for every node of the prompt that has a cached UI dict."""
        outputs: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for node_id in self.prompt:
            entry = self.cache.get(self.signatures[node_id]) if node_id in self.signatures else None
            if entry is not None and entry.ui:
                outputs[node_id] = entry.ui
                meta[node_id] = {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
        return {"outputs": outputs, "meta": meta}

    def _spec(self, node_id: str) -> Node:
        return CATALOGUE[self.prompt[node_id]["class_type"]]

    def _fingerprint(self, node_id: str) -> object:
        return self._spec(node_id).fingerprint(self.executor.folders, self.prompt[node_id]["inputs"])

    def _links(self, node_id: str) -> list[list[Any]]:
        values = self.prompt[node_id]["inputs"].values()
        return [value for value in values if is_link(value) and value[0] in self.prompt]

    def _plan(self, outputs: list[str]) -> list[str]:
        """Dependencies first; a cached input is not visited (nor anything behind it)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(node_id: str) -> None:
            if node_id in seen:
                return
            seen.add(node_id)
            for source, _ in self._links(node_id):
                if self.cache.get(self.signatures[source]) is None:
                    visit(source)
            order.append(node_id)

        for output in outputs:
            visit(output)
        return order

    def _execute_node(self, node_id: str) -> None:
        class_type = self.prompt[node_id]["class_type"]
        signature = self.signatures[node_id]
        hit = self.cache.get(signature)
        if hit is not None:
            self._send_executed(node_id, hit.ui)
            self.progress.finish(node_id)
            return
        inputs: dict[str, Any] | None = None
        try:
            self.progress.start(node_id)
            inputs = self._inputs(node_id)
            if self.client_id is not None:
                self.hub.last_node_id = node_id
                executing = {"node": node_id, "display_node": node_id, "prompt_id": self.prompt_id}
                self.hub.send_sync("executing", executing, self.client_id)
            self.executor.interrupt.check()
            fail_nodes = self.executor.controls.fail_nodes
            if node_id in fail_nodes or class_type in fail_nodes:
                raise RuntimeError(f"stand-in: injected failure in node {node_id} ({class_type})")
            context = RunningNode(self, node_id)
            context.compute()
            result = self._spec(node_id).run(context, **inputs)
            if result.ui:
                self._send_executed(node_id, result.ui)
            self.cache.put(signature, Entry(result.values, result.ui or None))
        except Interrupted:
            log.info("Processing interrupted")
            raise NodeFailure(node_id, None) from None
        except Exception as ex:  # noqa: BLE001 - any node failure is an execution_error, as in ComfyUI
            log.error("!!! Exception during processing !!! %s", ex)
            shown = {name: [format_value(value)] for name, value in (inputs or {}).items()}
            error = {
                "exception_message": f"{ex}\n",
                "exception_type": type_name(type(ex)),
                "traceback": traceback.format_tb(ex.__traceback__),
                "current_inputs": shown,
            }
            raise NodeFailure(node_id, error) from None
        self.progress.finish(node_id)
        self.executed.append(node_id)

    def _send_executed(self, node_id: str, output: dict[str, Any] | None) -> None:
        if self.client_id is not None:
            executed = {"node": node_id, "display_node": node_id, "output": output, "prompt_id": self.prompt_id}
            self.hub.send_sync("executed", executed, self.client_id)

    def _inputs(self, node_id: str) -> dict[str, Any]:
        """Declared inputs only: literals as sent, links resolved from the cache."""
        declared = self._spec(node_id).input_types(self.executor.folders)
        given = self.prompt[node_id]["inputs"]
        values: dict[str, Any] = {}
        for category in ("required", "optional"):
            for name in declared.get(category, {}):
                if name not in given:
                    continue
                value = given[name]
                if is_link(value) and value[0] in self.prompt:
                    entry = self.cache.get(self.signatures[value[0]])
                    assert entry is not None, f"input {name} of node {node_id} ran before its source"
                    value = entry.values[value[1]]
                values[name] = value
        return values

    def _report(self, failure: NodeFailure) -> None:
        details = {
            "prompt_id": self.prompt_id,
            "node_id": failure.node_id,
            "node_type": self.prompt[failure.node_id]["class_type"],
            "executed": list(self.executed),
        }
        if failure.error is None:
            self.add_message("execution_interrupted", details, broadcast=True)
        else:
            current = {**failure.error, "current_outputs": list(self.prompt)}
            self.add_message("execution_error", {**details, **current}, broadcast=False)


class RunningNode:
    """The NodeContext handed to a node while it runs."""

    def __init__(self, run: PromptRun, node_id: str) -> None:
        self._run = run
        self.node_id = node_id
        self.folders = run.executor.folders
        self.prompt = run.prompt
        self.extra_pnginfo: dict[str, Any] | None = run.extra_data.get("extra_pnginfo")
        self.steps_override = run.executor.controls.steps

    def compute(self) -> None:
        """Pretend to work for `node_delay` seconds (not interruptible, like real compute)."""
        time.sleep(self._run.executor.controls.node_delay)

    def progress(self, value: int, total: int, preview: Still | None = None) -> None:
        """ComfyUI's progress hook: interrupt check, progress_state, then the preview and `progress`.

        A client that negotiated supports_preview_metadata gets binary type 4 before
        `progress`; any other gets binary type 1 after it.
        """
        run, hub = self._run, self._run.hub
        run.executor.interrupt.check()
        run.progress.update(self.node_id, value, total)
        client = run.client_id
        modern = preview is not None and hub.supports_preview_metadata(client)
        if modern:
            metadata = {
                "node_id": self.node_id,
                "prompt_id": run.prompt_id,
                "display_node_id": self.node_id,
                "parent_node_id": None,
                "real_node_id": self.node_id,
            }
            hub.send_sync(BinaryEvent.PREVIEW_IMAGE_WITH_METADATA, (preview, metadata), client)
        hub.send_sync("progress", {"value": value, "max": total, "prompt_id": run.prompt_id, "node": self.node_id}, client)
        if preview is not None and not modern:
            hub.send_sync(BinaryEvent.UNENCODED_PREVIEW_IMAGE, preview, client)

    def text(self, message: str) -> None:
        """A binary TEXT frame for this node, broadcast to every socket."""
        node = self.node_id.encode()
        self._run.hub.send_sync(BinaryEvent.TEXT, struct.pack(">I", len(node)) + node + message.encode(), None)
