"""Network-level faults against every backend: refused, DNS, TLS, and what a bad link does.

The link faults come from a :class:`FaultProxy` in front of the backend's real test
process: a blackhole (accepted, never answered), a half-open link (the answer stops
mid-way without a FIN), a reset inside the status line, latency above the read timeout, and
a slow but working link (latency and a bandwidth limit the call must live with). The
others need no helper: a free port refuses, a host under ``.invalid`` (RFC 2606) never
resolves, and ``https://`` to a plain-HTTP port fails its handshake.

Every case: the typed code with hints within ``timeout + 2 s``, no leak. ComfyUI
submits also retry with the same ``prompt_id`` over a clean link and must run once.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from movie_director_testing.faultproxy import FaultProxy
from movie_director_testing.processes import free_port

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
#: Fault → (proxy settings, or how to spoil the URL) and the code the artist should get.
PROXY_FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "blackhole": ({"blackhole": True}, "timeout"),
    "half_open": ({"half_open_after": 60}, "timeout"),
    # Inside the status line: cut later in the head, http.client may take an early EOF for its end.
    "reset": ({"reset_after": 10}, "connection_lost"),
    "latency_over_timeout": ({"latency": 0.6}, "timeout"),
    "slow_link": ({"latency": 0.05, "bandwidth": 5_000_000}, "ok"),
}
URL_FAULTS = {"refused": "connection_refused", "dns": "dns_failure", "tls_to_plain_http": "tls_error"}


def cases(kind: str) -> list[object]:
    return [pytest.param(op, fault, id=f"{op}-{fault}") for op in OPS if op.startswith(kind + "-") for fault in (*URL_FAULTS, *PROXY_FAULTS)]


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


def one_typed_error_in_time(kit, server, op_id: str, fault: str) -> None:
    op = kit.ops[op_id]
    prompt_id = f"md-{fault}-{uuid.uuid4().hex[:8]}"
    with FaultProxy(server.port) as proxy:
        if fault in URL_FAULTS:
            url, code = spoiled_url(server, op.kind, fault), URL_FAULTS[fault]
        else:
            settings, code = PROXY_FAULTS[fault]
            proxy.set(**settings)
            url = proxy.url
        outcome = kit.run(lambda: op.call(op.kind, url, prompt_id=prompt_id), unstick=proxy.close)
        outcome.expect(code)
        if op_id == "comfyui-submit":
            proxy.clear()
            kit.assert_ran_once_after_a_retry(server.url, proxy.url, prompt_id, ok=outcome.code == "ok")


def spoiled_url(server, kind: str, fault: str) -> str:
    if fault == "refused":
        return f"http://127.0.0.1:{free_port()}"
    if fault == "dns":
        return f"http://{kind}.invalid:{server.port}"
    return f"https://127.0.0.1:{server.port}"
