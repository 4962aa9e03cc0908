"""The wan2gp backend picks its transport from the config, or asks the address (auto)."""

from __future__ import annotations

from typing import Any

import pytest

from movie_director.backend import HealthSample, ProbeResult
from movie_director.check import adhoc_service
from movie_director.errors import ConnectionRefused, InvalidConfigError, ServiceError, WrongService
from movie_director_plugins.wan2gp import backend as wan2gp_backend
from movie_director_plugins.wan2gp.backend import Wan2GPBackend, transport_module

URL = "http://127.0.0.1:7860"


class FakeModule:
    def __init__(self, name: str, found: ProbeResult | None = None, error: Exception | None = None) -> None:
        self.name, self.found, self.error = name, found, error
        self.connected: list[Any] = []

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        if self.error is not None:
            raise self.error
        return self.found

    def connect(self, service: Any) -> str:
        self.connected.append(service)
        return f"{self.name} transport"


def use(monkeypatch: pytest.MonkeyPatch, *modules: FakeModule) -> None:
    by_name = {module.name: module for module in modules}
    monkeypatch.setattr(wan2gp_backend, "transport_module", lambda name: by_name[name])
    monkeypatch.setattr(wan2gp_backend, "_available_modules", lambda: list(modules))


def test_the_configured_transport_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    webui, mcp = FakeModule("webui"), FakeModule("mcp")
    use(monkeypatch, webui, mcp)
    assert Wan2GPBackend().connect(adhoc_service(URL, "wan2gp", transport="mcp")) == "mcp transport"
    assert not webui.connected


def test_auto_asks_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    found = ProbeResult(kind="wan2gp", url=URL, transport="mcp")
    use(monkeypatch, FakeModule("webui"), FakeModule("mcp", found))
    assert Wan2GPBackend().probe(URL, 1) is found
    assert Wan2GPBackend().connect(adhoc_service(URL, "wan2gp")) == "mcp transport"


def test_auto_refuses_something_else(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, FakeModule("webui"), FakeModule("mcp"))
    with pytest.raises(WrongService, match="neither"):
        Wan2GPBackend().connect(adhoc_service(URL, "wan2gp"))


def test_probe_raises_when_a_transport_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unreachable, busy or broken is no proof of "not Wan2GP": the first such error ends the probe."""
    busy = ServiceError("Wan2GP failed with HTTP 503: loading.", service="Wan2GP")
    mcp = FakeModule("mcp", ProbeResult(kind="wan2gp", url=URL, transport="mcp"))
    use(monkeypatch, FakeModule("webui", error=busy), mcp)
    with pytest.raises(ServiceError, match="503"):
        Wan2GPBackend().probe(URL, 1)
    use(monkeypatch, FakeModule("webui", error=ConnectionRefused(service="Wan2GP")), FakeModule("mcp"))
    with pytest.raises(ConnectionRefused):
        Wan2GPBackend().probe(URL, 1)
    use(monkeypatch, FakeModule("webui"), mcp)
    assert Wan2GPBackend().probe(URL, 1) is mcp.found


def test_unknown_transport_name() -> None:
    with pytest.raises(InvalidConfigError, match="no transport named 'grpc'"):
        transport_module("grpc")
    assert transport_module("webui").NAME == "webui"


def test_health_failure_is_a_sample_not_an_exception() -> None:
    class Down:
        name = "webui"

        def health(self) -> HealthSample:
            raise ConnectionRefused(service="Wan2GP")

    sample = Wan2GPBackend().health(Down())  # type: ignore[arg-type]
    assert not sample.ok and sample.error is not None and sample.error["code"] == "connection_refused"


def test_capabilities_from_models_when_the_transport_has_none_of_its_own() -> None:
    class Plain:
        name = "webui"

        def models(self) -> list[str]:
            return ["t2v", "i2v"]

    capabilities = Wan2GPBackend().capabilities(Plain())  # type: ignore[arg-type]
    assert [(c.name, c.id) for c in capabilities] == [("video.generate", "t2v"), ("video.generate", "i2v")]
    assert capabilities[0].limits["video_length"] == (5, 257)
