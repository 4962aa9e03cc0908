"""The persisted operation queue: order, bounds, atomic claims across processes, orphans, handles."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from movie_director.clock import FakeClock
from movie_director.errors import ConnectionLost, ConnectionRefused, JobCancelled, OperationTimeout, QueueFull, RequestRejected
from movie_director.operations import OpState
from movie_director.opqueue import OperationQueue, error_from_dict
from movie_director.store import SCHEMA_VERSION, Database, database_path, owner_alive


@pytest.fixture
def database(tmp_path):
    with Database(database_path(tmp_path)) as db:
        yield db


def make_queue(database, tmp_path, **options) -> OperationQueue:
    return OperationQueue(database, tmp_path, **options)


def test_operations_are_claimed_in_submission_order(database, tmp_path):
    queue = make_queue(database, tmp_path)
    ids = [queue.enqueue("comfyui", "fake.echo", {"n": n}).id for n in range(5)]
    claimed = []
    for _ in range(5):
        operation = queue.claim_next("comfyui")
        assert operation.state is OpState.RUNNING and operation.attempts == 1 and operation.owner == queue.owner
        claimed.append(operation.id)
        queue.complete(operation.id, {"ok": True})
    assert claimed == ids
    assert queue.claim_next("comfyui") is None
    queue.close()


def test_one_service_runs_one_operation_at_a_time(database, tmp_path):
    queue = make_queue(database, tmp_path)
    queue.enqueue("comfyui", "fake.echo", {})
    queue.enqueue("comfyui", "fake.echo", {})
    queue.enqueue("llm", "fake.echo", {})
    first = queue.claim_next("comfyui")
    assert queue.claim_next("comfyui") is None  # order: the second waits for the first
    assert queue.claim_next("llm") is not None  # other services are independent
    queue.complete(first.id, None)
    assert queue.claim_next("comfyui") is not None
    queue.close()


def test_the_queue_is_bounded_per_service(database, tmp_path):
    queue = make_queue(database, tmp_path, max_size=3)
    for _ in range(3):
        queue.enqueue("comfyui", "fake.echo", {})
    with pytest.raises(QueueFull) as caught:
        queue.enqueue("comfyui", "fake.echo", {}, label="ComfyUI")
    assert caught.value.service == "ComfyUI" and caught.value.details["limit"] == 3
    queue.enqueue("llm", "fake.echo", {})
    queue.close()


def test_submitting_one_idempotency_key_twice_gives_one_operation(database, tmp_path):
    queue = make_queue(database, tmp_path)
    first = queue.enqueue("comfyui", "fake.echo", {"a": 1}, idempotency_key="shot-010")
    second = queue.enqueue("comfyui", "fake.echo", {"a": 2}, idempotency_key="shot-010")
    assert first.id == second.id and second.payload == {"a": 1}
    assert queue.depth("comfyui") == 1
    queue.close()


def test_payloads_round_trip_as_json(database, tmp_path):
    queue = make_queue(database, tmp_path)
    payload = {"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 64}}}, "title": "Ça tourne ✓"}
    operation = queue.enqueue("comfyui", "http.request", payload)
    assert queue.get(operation.id).payload == payload
    assert operation.to_dict()["idempotency_key"] == operation.idempotency_key
    queue.close()


def test_a_requeued_operation_stays_at_the_head(database, tmp_path):
    queue = make_queue(database, tmp_path)
    first = queue.enqueue("comfyui", "fake.echo", {}).id
    queue.enqueue("comfyui", "fake.echo", {})
    claimed = queue.claim_next("comfyui")
    queue.requeue(claimed.id, ConnectionRefused(service="ComfyUI"))
    again = queue.claim_next("comfyui")
    assert again.id == first and again.attempts == 2
    assert again.error["code"] == "connection_refused"
    queue.close()


def test_two_processes_never_claim_the_same_operation(database, tmp_path):
    blender = make_queue(database, tmp_path)
    with Database(database_path(tmp_path)) as other_connection:
        cli = OperationQueue(other_connection, tmp_path)
        for n in range(20):
            blender.enqueue(f"service-{n % 4}", "fake.echo", {"n": n})
        claimed: list[int] = []
        lock = threading.Lock()

        def drain(queue: OperationQueue) -> None:
            for _ in range(40):
                for service in (f"service-{n}" for n in range(4)):
                    operation = queue.claim_next(service)
                    if operation is not None:
                        with lock:
                            claimed.append(operation.id)
                        queue.complete(operation.id, None)

        threads = [threading.Thread(target=drain, args=(queue,)) for queue in (blender, cli)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20
        cli.close()
    blender.close()


def test_operations_of_a_dead_process_are_put_back(database, tmp_path):
    crashed = make_queue(database, tmp_path)
    crashed.enqueue("comfyui", "fake.echo", {})
    claimed = crashed.claim_next("comfyui")
    survivor = make_queue(database, tmp_path)
    assert survivor.claim_next("comfyui") is None  # the owner is alive: wait for it
    assert owner_alive(tmp_path, crashed.owner)
    crashed.close()  # the OS drops its lock when a process dies, as here
    assert not owner_alive(tmp_path, crashed.owner)
    again = survivor.claim_next("comfyui")
    assert again.id == claimed.id and again.attempts == 2 and again.owner == survivor.owner
    survivor.close()


def test_recover_orphans_reports_how_many(database, tmp_path):
    crashed = make_queue(database, tmp_path)
    crashed.enqueue("a", "fake.echo", {})
    crashed.enqueue("b", "fake.echo", {})
    crashed.claim_next("a")
    crashed.claim_next("b")
    crashed.close()
    (tmp_path / "owners" / "4242-deadbeef0000.lock").touch()  # a process that died holding nothing
    survivor = make_queue(database, tmp_path)
    assert survivor.recover_orphans() == 2
    assert [op.state for op in survivor.pending()] == [OpState.QUEUED, OpState.QUEUED]
    assert [path.name for path in (tmp_path / "owners").iterdir()] == [f"{survivor.owner}.lock"]
    survivor.close()


def test_cancel_only_while_queued(database, tmp_path):
    queue = make_queue(database, tmp_path)
    queued = queue.handle(queue.enqueue("comfyui", "fake.echo", {}).id)
    running_id = queue.enqueue("llm", "fake.echo", {}).id
    queue.claim_next("llm")
    assert queued.cancel()
    assert not queue.cancel(running_id)
    with pytest.raises(JobCancelled):
        queued.wait(1)
    queue.close()


def test_expired_operations_are_not_run_and_their_handle_says_so(database, tmp_path):
    clock = FakeClock()
    queue = make_queue(database, tmp_path, clock=clock)
    handle = queue.handle(queue.enqueue("comfyui", "fake.echo", {}, ttl=60).id)
    keep = queue.enqueue("comfyui", "fake.echo", {}).id
    clock.advance(61)
    assert [op.id for op in queue.expire()] == [handle.id]
    assert queue.claim_next("comfyui").id == keep
    with pytest.raises(OperationTimeout):
        handle.wait(0)
    queue.close()


def test_handles_return_results_and_raise_typed_errors(database, tmp_path):
    queue = make_queue(database, tmp_path)
    good = queue.handle(queue.enqueue("comfyui", "fake.echo", {}).id)
    bad = queue.handle(queue.enqueue("llm", "fake.echo", {}).id)
    queue.complete(queue.claim_next("comfyui").id, {"prompt_id": "x"})
    queue.fail(queue.claim_next("llm").id, RequestRejected("LiteLLM rejected the request (HTTP 400).", service="LiteLLM"))
    assert good.done() and good.wait(0) == {"prompt_id": "x"}
    with pytest.raises(RequestRejected) as caught:
        bad.wait(0)
    assert caught.value.service == "LiteLLM" and "HTTP 400" in caught.value.message
    queue.close()


def test_waiting_is_woken_by_completion_and_times_out_otherwise(database, tmp_path):
    queue = make_queue(database, tmp_path)
    handle = queue.handle(queue.enqueue("comfyui", "fake.echo", {}).id)
    with pytest.raises(OperationTimeout) as caught:
        handle.wait(0.01)
    assert caught.value.details["state"] == "queued"
    operation = queue.claim_next("comfyui")
    finisher = threading.Timer(0.05, queue.complete, args=(operation.id, 7))
    finisher.start()
    assert handle.wait(10) == 7
    finisher.join()
    queue.close()


def test_unknown_error_codes_become_service_errors():
    error = error_from_dict({"code": "from_the_future", "message": "Odd.", "hints": []}, "ComfyUI")
    assert error.code == "server_error" and error.service == "ComfyUI" and error.message == "Odd."


def test_old_finished_operations_are_purged(database, tmp_path):
    clock = FakeClock()
    queue = make_queue(database, tmp_path, clock=clock)
    queue.enqueue("x", "fake.echo", {})
    queue.complete(queue.claim_next("x").id, None)
    clock.advance(8 * 24 * 3600)
    assert queue.purge() == 1
    queue.close()


def test_the_schema_is_versioned_and_a_newer_one_is_refused(tmp_path):
    path = database_path(tmp_path)
    with Database(path):
        pass
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(RuntimeError, match="newer"):
        Database(path)


def test_an_operation_that_may_have_reached_its_server_waits_for_that_server(database, tmp_path):
    queue = make_queue(database, tmp_path)
    held_id = queue.enqueue("comfyui", "fake.echo", {}).id
    moved_id = queue.enqueue("comfyui", "fake.echo", {}).id
    claimed = queue.assign(queue.claim_next("comfyui", ["http://a", "http://b"]).id, "http://a")
    assert claimed.instance == "http://a" and claimed.summary()["instance"] == "http://a"
    queue.requeue(held_id, ConnectionLost(service="ComfyUI"))  # may have been sent: held for http://a
    assert queue.claim_next("comfyui", ["http://b"]).id == moved_id  # b passes over it and takes the next
    queue.requeue(moved_id, ConnectionRefused(service="ComfyUI"), held=False)  # never left: anyone may take it
    assert queue.claim_next("comfyui", ["http://b"]).id == moved_id
    queue.complete(moved_id, {})
    assert queue.claim_next("comfyui", ["http://b"]) is None  # only the held one is left
    back = queue.claim_next("comfyui", ["http://a"])
    assert back.id == held_id and back.instance == "http://a" and back.attempts == 2
    queue.close()


def test_a_database_of_the_first_schema_gains_the_instance_column(tmp_path):
    path = database_path(tmp_path)
    conn = sqlite3.connect(path)
    conn.executescript(_FIRST_SCHEMA)
    conn.execute("INSERT INTO operations (service, op_type, payload, idempotency_key, created_at, state, updated_at) VALUES ('comfyui', 'fake.echo', '{}', 'k', 0, 'queued', 0)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Database(path) as database:
        queue = make_queue(database, tmp_path)
        operation = queue.claim_next("comfyui")
        assert operation.idempotency_key == "k" and operation.instance is None
        queue.close()


_FIRST_SCHEMA = """
CREATE TABLE operations (id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL, op_type TEXT NOT NULL, payload TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, expires_at REAL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, updated_at REAL NOT NULL, result TEXT, error TEXT);
CREATE TABLE health_minutes (service TEXT NOT NULL, minute REAL NOT NULL, checks INTEGER NOT NULL, ok INTEGER NOT NULL,
    requests INTEGER NOT NULL, latency_sum REAL NOT NULL, latency_max REAL NOT NULL, status TEXT NOT NULL, metrics TEXT,
    PRIMARY KEY (service, minute));
"""
