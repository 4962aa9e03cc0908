"""``wan2gp generate`` with several instances: the least-loaded ready one gets the job, the others are closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from movie_director.backend import HealthSample
from movie_director.check import adhoc_service
from movie_director.errors import ConnectionRefused
from movie_director_plugins.wan2gp import cli


@dataclass
class FakeTransport:
    url: str
    sample: HealthSample
    closed: bool = False

    def health(self) -> HealthSample:
        return self.sample

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeBackend:
    """Instances by URL: the health sample each answers, or None for one that refuses connections."""

    samples: dict[str, HealthSample | None]
    opened: list[FakeTransport] = field(default_factory=list)

    def connect(self, service: Any) -> FakeTransport:
        sample = self.samples[service.url]
        if sample is None:
            raise ConnectionRefused(service="Wan2GP")
        self.opened.append(FakeTransport(service.url, sample))
        return self.opened[-1]


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    fake = FakeBackend({})

    class Manager:
        def backend(self, kind: str) -> FakeBackend:
            return fake

    monkeypatch.setattr(cli, "get_plugin_manager", Manager)
    return fake


def instances(*urls: str) -> list[tuple[Any, float]]:
    return [(adhoc_service(url, "wan2gp"), 1.0) for url in urls]


def test_the_instance_with_the_shortest_queue_is_chosen_and_the_others_closed(backend: FakeBackend) -> None:
    backend.samples = {
        "http://busy:7860": HealthSample(ok=True, latency_ms=1.0, metrics={"queue_size": 3.0}),
        "http://idle:7860": HealthSample(ok=True, latency_ms=9.0, metrics={"active_jobs": 0.0}),
        "http://broken:7860": HealthSample(ok=False, latency_ms=1.0, error={"code": "server_error"}),
    }
    chosen = cli.least_loaded(instances(*backend.samples))
    assert chosen.url == "http://idle:7860" and not chosen.closed
    assert all(transport.closed for transport in backend.opened if transport is not chosen)


def test_a_down_instance_is_skipped_and_none_up_raises_its_error(backend: FakeBackend, capsys: pytest.CaptureFixture[str]) -> None:
    backend.samples = {"http://down:7860": None, "http://up:7860": HealthSample(ok=True, latency_ms=1.0)}
    assert cli.least_loaded(instances(*backend.samples)).url == "http://up:7860"
    assert "Skipping http://down:7860" in capsys.readouterr().err
    backend.samples = {"http://down:7860": None, "http://gone:7860": None}
    with pytest.raises(ConnectionRefused):
        cli.least_loaded(instances(*backend.samples))
