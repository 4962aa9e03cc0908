"""HTTP-level faults against every backend: one misbehaving answer, one typed error, in time.

A :class:`MisbehavingServer` stands in front of the real backend (its shared test
process) and spoils the answers on the call's own route (everywhere for probes and
health checks); everything else passes through. Each case asserts the typed error
code (with hints) within ``timeout + 2 s``, no leaked thread or socket (``no_leaks``),
and that no request that reached the backend was sent twice. For ComfyUI submits it
also retries with the same ``prompt_id`` once the fault is gone and checks that the
stand-in ran the prompt exactly once.

Expected codes follow what the artist should read:

- nothing comes back in time → ``timeout``; an answer cut short → ``connection_lost``;
- a foreign answer on first contact (probe, a fresh connection's health check) → the
  address is not this service (``wrong_service``; a health check may also say
  ``malformed_response``); on a call to a known service → ``malformed_response``;
- 429 → ``rate_limited`` with the ``Retry-After``, 500 → ``server_error`` with the
  server's own message, whoever asks;
- the right answer under the wrong ``Content-Type`` is still read (``ok``).
"""

from __future__ import annotations

import uuid

import pytest

from movie_director_testing.misbehaving import RATE_LIMIT_MESSAGE, RETRY_AFTER, SERVER_ERROR_MESSAGE, MisbehavingServer

pytestmark = pytest.mark.integration

OPS = (
    "comfyui-probe",
    "comfyui-health",
    "comfyui-submit",
    "litellm-probe",
    "litellm-chat",
    "litellm-models",
    "wan2gp-probe",
    "wan2gp-health",
    "gradio-probe",
    "gradio-health",
)
FAULTS = ("silence", "lost_answer", "truncated", "garbage", "html", "wrong_shape", "wrong_content_type", "rate_limited", "server_error")
#: Drip faults cost a full bound each when a client waits them out: one call per backend, plus the job calls.
SLOW_FAULTS = ("slow_headers", "slow_body")
SLOW_OPS = ("comfyui-probe", "comfyui-submit", "litellm-probe", "litellm-chat", "wan2gp-probe", "gradio-probe")
FOREIGN_ON_FIRST_CONTACT = {"wrong_service", "malformed_response"}
#: Calls to a route of a service already known (the others also find out what answers).
KNOWN_SERVICE_CALLS = ("comfyui-submit", "litellm-chat", "litellm-models")

def expected(op_id: str, fault: str) -> str | set[str]:
    """The outcome the artist should get (see the module doc)."""
    # A ComfyUI prompt whose answer went wrong after it reached the server is found by its id, not lost.
    reached_comfyui = op_id == "comfyui-submit" and fault in ("lost_answer", "truncated", *SLOW_FAULTS)
    if fault == "wrong_content_type" or reached_comfyui:
        return "ok"
    if fault in ("silence", "lost_answer", *SLOW_FAULTS):
        return "timeout"
    if fault == "truncated":
        return "connection_lost"
    if fault in ("rate_limited", "server_error"):
        return fault
    if op_id.endswith("-probe"):
        return "wrong_service"
    return "malformed_response" if op_id in KNOWN_SERVICE_CALLS else FOREIGN_ON_FIRST_CONTACT


def cases(kind: str) -> list[object]:
    """Every (call, fault) pair of one backend."""
    pairs = [(op, fault) for op in OPS for fault in FAULTS] + [(op, fault) for op in SLOW_OPS for fault in SLOW_FAULTS]
    return [pytest.param(op, fault, id=f"{op}-{fault}") for op, fault in pairs if op.startswith(kind + "-")]


@pytest.mark.parametrize(("op_id", "fault"), cases("comfyui"))
def test_comfyui(kit, comfyui_server, op_id: str, fault: str) -> None:
    one_typed_error_in_time(kit, comfyui_server, op_id, fault)


@pytest.mark.parametrize(("op_id", "fault"), cases("litellm"))
def test_litellm(kit, litellm_server, litellm_key: str, op_id: str, fault: str) -> None:
    one_typed_error_in_time(kit, litellm_server, op_id, fault)


@pytest.mark.parametrize(("op_id", "fault"), cases("wan2gp"))
def test_wan2gp_webui(kit, wan2gp_webui_server, op_id: str, fault: str) -> None:
    one_typed_error_in_time(kit, wan2gp_webui_server, op_id, fault)


@pytest.mark.parametrize(("op_id", "fault"), cases("gradio"))
def test_gradio(kit, gradio_server, op_id: str, fault: str) -> None:
    one_typed_error_in_time(kit, gradio_server, op_id, fault)


def one_typed_error_in_time(kit, upstream, op_id: str, fault: str) -> None:
    """Put the misbehaving server in front of ``upstream``, run the call, check outcome and bookkeeping."""
    op = kit.ops[op_id]
    prompt_id = f"md-{fault}-{uuid.uuid4().hex[:8]}"
    with MisbehavingServer(fault, upstream=upstream.url, paths=[op.route] if op.route else [], drip=0.1, drip_for=60) as bad:
        outcome = kit.run(lambda: op.call(op.kind, bad.url, prompt_id=prompt_id), unstick=bad.close)
        outcome.expect(expected(op_id, fault))
        if fault == "rate_limited":
            assert outcome.error.details.get("retry_after") == RETRY_AFTER
            assert RATE_LIMIT_MESSAGE in outcome.error.message
        if fault == "server_error":
            assert SERVER_ERROR_MESSAGE in outcome.error.message
        if op.route:
            method, path = op.route.split(" ")
            assert bad.count(method, path, forwarded=True) <= 1, "a request that reached the backend was sent again"
        if op_id == "comfyui-submit":
            reached = bad.count("POST", "/prompt", forwarded=True)
            assert kit.comfyui_runs(upstream.url, prompt_id) == reached, "ran exactly when the backend got it"
            bad.set("ok")
            kit.assert_ran_once_after_a_retry(upstream.url, bad.url, prompt_id, ok=outcome.code == "ok")
