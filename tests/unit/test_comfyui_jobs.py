"""Job handles fed by the event sequences of PROTOCOLS.md, and reconciled from /queue + /history."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from movie_director.errors import ConnectionLost, JobCancelled, JobFailed, JobLost, OperationTimeout
from movie_director.progress import Phase
from movie_director_plugins.comfyui import jobs as jobs_module
from movie_director_plugins.comfyui.client import QueueItem, QueueSnapshot
from movie_director_plugins.comfyui.events import ComfyUIEvent, decode_binary, parse_text
from movie_director_plugins.comfyui.jobs import Job, JobState, JobTracker, Location
from movie_director_plugins.comfyui.outputs import OutputFile

PID = "748a8d76-aaaa-4000-8000-000000000001"
GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}},
}
IMAGES = {"images": [{"filename": "probe_ws_00002_.png", "subfolder": "", "type": "output"}]}


class FakeApi:
    """What the tracker needs from the client: /queue, /history, interrupt, delete, download."""

    def __init__(self) -> None:
        self.running: list[str] = []
        self.pending: list[tuple[float, str]] = []
        self.entries: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, Any]] = []

    def queue(self) -> QueueSnapshot:
        self.calls.append(("queue", None))
        pending = sorted((QueueItem(number, pid) for number, pid in self.pending), key=lambda item: item.number)
        return QueueSnapshot(tuple(QueueItem(0, pid) for pid in self.running), tuple(pending))

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        self.calls.append(("history", prompt_id))
        return self.entries.get(prompt_id)

    def interrupt(self, prompt_id: str | None = None) -> None:
        self.calls.append(("interrupt", prompt_id))

    def delete_queued(self, prompt_ids: list[str]) -> None:
        self.calls.append(("delete", list(prompt_ids)))
        self.pending = [(n, pid) for n, pid in self.pending if pid not in prompt_ids]

    def download(self, files: list[OutputFile], directory: str, max_bytes: int | None = None) -> list[str]:
        return [f"{directory}/{file.filename}" for file in files]


class Harness:
    def __init__(self, live: bool = True) -> None:
        self.api = FakeApi()
        self.live = live
        self.missed = 0
        self.tracker = JobTracker(self.api, "ComfyUI", 0.02, 60.0, events_live=lambda: self.live, on_missed_events=self._missed)  # type: ignore[arg-type]

    def _missed(self) -> None:
        self.missed += 1

    def job(self, prompt_id: str = PID, bound: bool = True) -> Job:
        job = self.tracker.track(prompt_id, GRAPH, frozenset(GRAPH), bound=bound)
        job.submitted(7)
        return job

    def send(self, kind: str, **data: Any) -> None:
        self.tracker.on_event(parse_text(json.dumps({"type": kind, "data": data})))


def success_entry(outputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "prompt": [0, PID, GRAPH, {"client_id": "other"}, ["3"]],
        "outputs": dict(outputs if outputs is not None else {"3": IMAGES}),
        "status": {"status_str": "success", "completed": True, "messages": [["execution_start", {"prompt_id": PID}], ["execution_success", {"prompt_id": PID}]]},
    }


def error_entry(last: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"prompt": [0, PID, GRAPH, {}, ["3"]], "outputs": {}, "status": {"status_str": "error", "completed": False, "messages": [["execution_start", {}], [last, dict(data)]]}}


def fresh_run(h: Harness) -> None:
    """The fresh-run sequence of PROTOCOLS.md (EmptyImage → ImageInvert → SaveImage)."""
    h.send("status", status={"exec_info": {"queue_remaining": 1}})
    h.send("execution_start", prompt_id=PID, timestamp=1)
    h.send("execution_cached", nodes=[], prompt_id=PID, timestamp=1)
    h.send("progress_state", prompt_id=PID, nodes={"1": {"value": 0.0, "max": 1.0, "state": "running"}})
    for node in ("1", "2", "3"):
        h.send("executing", node=node, display_node=node, prompt_id=PID)
    h.send("executed", node="3", display_node="3", output=IMAGES, prompt_id=PID)
    h.send("execution_success", prompt_id=PID, timestamp=2)
    h.send("status", status={"exec_info": {"queue_remaining": 0}})


def test_fresh_run_succeeds_at_its_last_frame() -> None:
    h = Harness()
    job = h.job()
    assert job.status is JobState.QUEUED and job.number == 7
    fresh_run(h)
    assert job.status is JobState.RUNNING, "history is written only after execution_success"
    assert h.tracker.queue_remaining == 0
    h.send("executing", node=None, prompt_id=PID)
    assert job.wait(1) is job
    assert job.status is JobState.SUCCEEDED and job.progress.fraction == 1.0
    h.api.entries[PID] = success_entry()
    assert job.outputs() == [OutputFile("3", "probe_ws_00002_.png")]


def test_outputs_fall_back_to_what_ran_when_history_is_gone() -> None:
    h = Harness()
    job = h.job()
    fresh_run(h)
    h.send("executing", node=None, prompt_id=PID)
    assert job.outputs() == [OutputFile("3", "probe_ws_00002_.png")]
    assert job.download("/out") == ["/out/probe_ws_00002_.png"]


def test_progress_reports_node_steps_and_overall_fraction() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_start", prompt_id=PID)
    h.send("executing", node="1", prompt_id=PID)
    h.send("executing", node="2", prompt_id=PID)
    h.send("executing", node="3", prompt_id=PID)
    h.send("progress", value=5, max=10, prompt_id=PID, node="3")
    progress = job.progress
    assert (progress.state, progress.node, progress.node_type, progress.value, progress.max) == (JobState.RUNNING, "3", "SaveImage", 5, 10)
    assert progress.nodes_done == 2 and progress.nodes_total == 3
    assert progress.fraction == pytest.approx(2.5 / 3)
    core = progress.as_progress()
    assert (core.phase, core.step, core.total, core.unit) == (Phase.RUNNING, 5, 10, "steps")
    assert "SaveImage" in core.message


def test_a_step_of_another_node_is_not_shown_as_this_nodes() -> None:
    h = Harness()
    job = h.job()
    h.send("executing", node="2", prompt_id=PID)
    h.send("progress", value=5, max=10, prompt_id=PID, node="9")
    assert (job.progress.value, job.progress.max) == (0, 0)


def test_queued_progress_and_core_phase() -> None:
    h = Harness()
    job = h.job()
    h.api.pending = [(9.0, "other"), (8.0, PID)]
    h.tracker.reconcile()
    assert job.progress.queue_position == 0
    h.api.pending = [(3.0, "other"), (8.0, PID)]
    h.tracker.reconcile()
    assert job.progress.queue_position == 1
    assert job.progress.as_progress().phase is Phase.QUEUED


def test_identical_prompt_again_is_all_cached() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_start", prompt_id=PID)
    h.send("execution_cached", nodes=["1", "2", "3"], prompt_id=PID)
    assert job.progress.nodes_done == 3
    h.send("executed", node="3", output=IMAGES, prompt_id=PID)
    h.send("execution_success", prompt_id=PID)
    h.send("executing", node=None, prompt_id=PID)
    assert job.wait(1).outputs() == [OutputFile("3", "probe_ws_00002_.png")]


def test_runtime_failure_is_a_typed_error_naming_node_and_exception() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_start", prompt_id=PID)
    h.send("executing", node="1", prompt_id=PID)
    h.send(
        "execution_error",
        prompt_id=PID,
        node_id="1",
        node_type="LoadImage",
        executed=[],
        exception_message="cannot identify image file '/input/corrupt.png'\n",
        exception_type="PIL.UnidentifiedImageError",
        traceback=["line"] * 30,
        current_inputs={},
        current_outputs=[],
    )
    assert job.status is JobState.FAILED
    with pytest.raises(JobFailed) as caught:
        job.wait(1)
    error = caught.value
    assert error.message == "ComfyUI failed in node 1 (LoadImage): cannot identify image file '/input/corrupt.png'"
    assert error.details["node_type"] == "LoadImage" and error.details["exception_type"] == "PIL.UnidentifiedImageError"
    assert len(error.details["traceback"]) == 20


def test_out_of_memory_gets_a_specific_hint() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_error", prompt_id=PID, node_id="5", node_type="KSampler", exception_message="CUDA out of memory.", exception_type="torch.OutOfMemoryError")
    assert "Lower the resolution" in job.error.hints[0]  # type: ignore[union-attr]


def test_interrupt_ends_as_cancelled() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_interrupted", prompt_id=PID, node_id="12", node_type="ImageBlur", executed=["10", "1", "11"])
    with pytest.raises(JobCancelled, match="interrupted at node 12 \\(ImageBlur\\)"):
        job.wait(1)


def test_events_after_the_end_change_nothing() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_interrupted", prompt_id=PID, node_id="3")
    h.send("execution_success", prompt_id=PID)
    h.send("executing", node=None, prompt_id=PID)
    assert job.status is JobState.CANCELLED


def test_a_missed_outcome_is_read_from_history() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_start", prompt_id=PID)
    h.send("executing", node=None, prompt_id=PID)  # the end, without execution_success (lost while reconnecting)
    assert job.status is JobState.RUNNING
    h.api.entries[PID] = success_entry()
    h.tracker.reconcile()
    assert job.status is JobState.SUCCEEDED


def test_executing_without_prompt_id_after_reconnect_goes_to_the_running_prompt() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_start", prompt_id=PID)
    h.send("executing", node="12")
    assert job.progress.node == "12"
    h.send("executing", node=None)  # no prompt id: not an end we can trust
    assert job.status is JobState.RUNNING


def test_running_prompt_is_learnt_from_the_queue_for_id_less_events() -> None:
    h = Harness()
    job = h.job()
    h.api.running = [PID]
    h.tracker.reconcile()
    h.send("executing", node="2")
    assert job.progress.node == "2" and job.status is JobState.RUNNING


def test_previews_and_node_text_are_kept_for_the_running_job() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_start", prompt_id=PID)
    h.tracker.on_event(decode_binary(struct.pack(">II", 1, 2) + b"PNG"))
    h.tracker.on_event(decode_binary(struct.pack(">II", 3, 1) + b"4" + b"width: 48"))
    assert job.preview == ("image/png", b"PNG")
    assert job.progress.text == "width: 48"


def test_unknown_types_and_other_prompts_are_ignored() -> None:
    h = Harness()
    job = h.job()
    version = job.version
    h.send("brand_new", prompt_id=PID)
    h.send("execution_success", prompt_id="someone-else")
    h.tracker.on_event(ComfyUIEvent("malformed", {"reason": "x"}))
    h.tracker.on_event(decode_binary(b"\x00"))
    assert job.version == version and job.status is JobState.QUEUED


@pytest.mark.parametrize(
    ("entry", "state", "error"),
    [
        (success_entry(), JobState.SUCCEEDED, None),
        (error_entry("execution_error", {"node_id": "1", "node_type": "LoadImage", "exception_message": "boom"}), JobState.FAILED, JobFailed),
        (error_entry("execution_interrupted", {"node_id": "3", "node_type": "SaveImageWebsocket"}), JobState.CANCELLED, JobCancelled),
        ({"status": {"status_str": "error", "completed": False, "messages": []}, "outputs": {}}, JobState.FAILED, JobFailed),
        ({"outputs": {"3": IMAGES}}, JobState.SUCCEEDED, None),
    ],
)
def test_history_entries_settle_polled_jobs(entry: dict[str, Any], state: JobState, error: type[Exception] | None) -> None:
    h = Harness(live=False)
    job = h.job(bound=False)
    h.api.entries[PID] = entry
    h.tracker.reconcile()
    assert job.status is state
    assert (type(job.error) if job.error else None) is error


def test_a_prompt_the_server_forgot_is_lost_not_waited_for() -> None:
    h = Harness()
    job = h.job()
    h.tracker.reconcile()
    with pytest.raises(JobLost, match="no longer knows the job"):
        job.wait(1)
    assert job.error.details["prompt_id"] == PID  # type: ignore[union-attr]


def test_a_success_seen_but_then_forgotten_still_succeeds() -> None:
    h = Harness()
    job = h.job()
    h.send("execution_success", prompt_id=PID)
    h.tracker.reconcile()
    assert job.status is JobState.SUCCEEDED


def test_jobs_still_being_posted_are_not_reconciled() -> None:
    h = Harness()
    job = h.tracker.track(PID, GRAPH, frozenset(GRAPH))
    h.tracker.reconcile()
    assert job.status is JobState.SUBMITTING and h.api.calls == []


def test_cancel_deletes_then_interrupts_and_a_deleted_pending_job_ends_cancelled() -> None:
    h = Harness()
    job = h.job()
    h.api.pending = [(7.0, PID)]
    job.cancel()
    assert h.api.calls[:2] == [("delete", [PID]), ("interrupt", PID)]
    with pytest.raises(JobCancelled, match="removed from the ComfyUI queue"):
        job.wait(1)
    calls = len(h.api.calls)
    job.cancel()
    assert len(h.api.calls) == calls, "cancelling a finished job sends nothing"


def test_cancel_of_a_running_job_waits_for_the_interrupted_event() -> None:
    h = Harness()
    job = h.job()
    h.api.running = [PID]
    job.cancel()
    assert job.status is JobState.RUNNING
    h.send("execution_interrupted", prompt_id=PID, node_id="3", node_type="KSampler")
    assert job.status is JobState.CANCELLED


def test_wait_times_out_with_a_typed_error() -> None:
    job = Harness().job()
    with pytest.raises(OperationTimeout, match="did not finish within 0.05 s") as caught:
        job.wait(0.05)
    assert caught.value.details == {"prompt_id": PID, "state": "queued"}


def test_closing_the_tracker_releases_waiters() -> None:
    h = Harness()
    job = h.job()
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            job.wait(10)
        except ConnectionLost as error:
            errors.append(error)

    thread = threading.Thread(target=waiter)
    thread.start()
    h.tracker.close()
    thread.join(5)
    assert not thread.is_alive()
    assert errors and "may still run" in errors[0].message


def test_wait_for_change_returns_on_state_changes() -> None:
    h = Harness()
    job = h.job()
    version = job.version
    h.send("execution_start", prompt_id=PID)
    assert job.wait_for_change(version, 1) != version
    assert job.wait_for_change(job.version, 0.01) == job.version


def test_a_job_that_ended_unseen_on_a_quiet_socket_recycles_it() -> None:
    h = Harness()
    job = h.job()
    h.api.running = [PID]
    h.tracker.reconcile(periodic=True)
    h.api.running = []
    h.api.entries[PID] = success_entry()
    h.tracker.reconcile(periodic=True)
    assert job.status is JobState.SUCCEEDED
    assert h.missed == 1


def test_events_flowing_mean_no_recycle() -> None:
    h = Harness()
    job = h.job()
    h.api.running = [PID]
    h.tracker.reconcile(periodic=True)
    h.send("status", status={"exec_info": {"queue_remaining": 1}})
    h.api.running = []
    h.api.entries[PID] = success_entry()
    h.tracker.reconcile(periodic=True)
    assert job.status is JobState.SUCCEEDED and h.missed == 0


def test_the_watcher_polls_when_events_do_not_flow() -> None:
    h = Harness(live=False)
    job = h.job()
    h.api.running = [PID]
    h.tracker.start_watching()
    h.api.running = []
    h.api.entries[PID] = success_entry()
    assert job.wait(5).status is JobState.SUCCEEDED
    h.tracker.close()


def test_the_watcher_survives_a_server_that_is_down() -> None:
    from movie_director.errors import ConnectionRefused

    h = Harness(live=False)
    job = h.job()
    failures = [0]
    real_queue = h.api.queue

    def flaky_queue() -> QueueSnapshot:
        if failures[0] < 3:
            failures[0] += 1
            raise ConnectionRefused(service="ComfyUI")
        return real_queue()

    h.api.queue = flaky_queue  # type: ignore[method-assign]
    h.api.entries[PID] = success_entry()
    h.tracker.start_watching()
    assert job.wait(5).status is JobState.SUCCEEDED
    assert failures[0] == 3
    h.tracker.close()


def test_finished_jobs_are_forgotten_beyond_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_module, "KEEP_FINISHED", 2)
    h = Harness()
    for number in range(4):
        job = h.job(f"p{number}")
        h.send("execution_interrupted", prompt_id=f"p{number}")
        assert job.done
    assert h.tracker.get("p0") is None and h.tracker.get("p1") is None and h.tracker.get("p3") is not None


def test_observe_locations_directly() -> None:
    job = Harness().job()
    assert job.observe(Location("running")) is False
    assert job.status is JobState.RUNNING
    assert job.observe(Location("absent")) is True
    assert job.status is JobState.LOST
    assert job.observe(Location("running")) is False and job.status is JobState.LOST
