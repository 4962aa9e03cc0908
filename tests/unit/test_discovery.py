"""Discovery against loopback fakes: candidates, the sniff, probe order, dedup, background runs, adopt."""

from __future__ import annotations

import http.server
import json
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from movie_director import discovery, plugins
from movie_director.backend import Backend, Capability, HealthSample, ProbeResult
from movie_director.capabilities import IMAGE_GENERATE, standard
from movie_director.check import adhoc_service
from movie_director.cli import main
from movie_director.config import load_config, validate_file
from movie_director.configdata import AuthRef, auth_by_kind
from movie_director.discovery import (
    UNKNOWN,
    Candidate,
    DiscoveryResult,
    DiscoveryRun,
    Sniff,
    adopt,
    connect_scan,
    discover,
    parse_ports,
    service_entry,
    sniff,
    start_discovery,
)
from movie_director.errors import InvalidConfigError
from movie_director.http import probe_session
from movie_director.plugins import PluginManager
from movie_director_testing.processes import free_port, wait_until


class _Connection:
    def close(self) -> None:
        pass


class _HeaderBackend(Backend):
    """Claims a port whose ``GET /`` carries ``X-Service: <service>``."""

    service = ""
    connected: ClassVar[list[Any]] = []

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        with probe_session(url, timeout) as session:
            response = session.get(url + "/")
        if response.headers.get("X-Service") == self.service:
            return ProbeResult(self.kind, url, version=response.headers.get("X-Version", ""), latency_ms=1.5, transport="http")
        return None

    def connect(self, service: Any) -> _Connection:
        self.connected.append(service)
        return _Connection()

    def health(self, connection: Any) -> HealthSample:
        return HealthSample(True, 2.0, metrics={"queue_depth": 2})

    def capabilities(self, connection: Any) -> list[Capability]:
        return [standard(IMAGE_GENERATE, id="model-a"), Capability("alpha.node", "A"), Capability("alpha.node", "B")]


class Alpha(_HeaderBackend):
    kind = "alpha"
    service = "alpha"
    probe_priority = 10


class Generic(Backend):
    """Claims anything with an X-Service header: asked last, like the generic Gradio backend."""

    kind = "generic"
    probe_priority = -10

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        with probe_session(url, timeout) as session:
            response = session.get(url + "/")
        return ProbeResult("generic", url) if "X-Service" in response.headers else None

    def connect(self, service: Any) -> _Connection:
        raise ConnectionRefusedError("capabilities unavailable")


class Raising(Backend):
    """A broken third-party probe: asked first, must not stop the others."""

    kind = "raising"
    probe_priority = 100

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        raise RuntimeError("plugin bug")


def make_manager(*backends: type[Backend]) -> PluginManager:
    manager = PluginManager(entry_points=[])
    manager.backends.update({backend.kind: backend() for backend in backends})
    return manager


def handler_for(headers: dict[str, str], body: bytes = b"<html><head><title>Hello &amp; welcome</title></head></html>") -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "FakeServer/1.0"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class _Servers:
    """Loopback servers started by one test and closed after it."""

    def __init__(self) -> None:
        self._closers: list[Any] = []

    def http(self, headers: dict[str, str], host: str = "127.0.0.1", port: int = 0) -> int:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("Server", (http.server.ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
        server = server_class((host, port), handler_for(headers))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self._closers += [server.server_close, server.shutdown]
        return int(server.server_address[1])

    def silent(self, host: str = "127.0.0.1") -> int:
        """Accepts connections (the kernel does) and never answers."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.bind((host, 0))
        sock.listen(8)
        self._closers.append(sock.close)
        return int(sock.getsockname()[1])

    def banner(self, text: bytes) -> int:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.sendall(text)
                self.request.recv(1024)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self._closers += [server.server_close, server.shutdown]
        return int(server.server_address[1])

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for closer in reversed(closers):
            closer()


@pytest.fixture
def servers() -> Iterator[_Servers]:
    started = _Servers()
    try:
        yield started
    finally:
        started.close()


def by_url(results: list[DiscoveryResult]) -> dict[str, DiscoveryResult]:
    return {result.url: result for result in results}


# -- candidates ------------------------------------------------------------------------


def test_port_specs() -> None:
    assert parse_ports("7000-7002, 8188,7001") == [7000, 7001, 7002, 8188]
    assert parse_ports("") == []
    for bad in ("80-70", "0", "65536", "http", "1-2-3"):
        with pytest.raises(ValueError, match="port"):
            parse_ports(bad)


def test_candidates_are_every_backends_ports_plus_the_callers_on_both_loopbacks() -> None:
    Alpha.default_ports = (8188, 8189)
    Generic.default_ports = (7863,)
    try:
        run = DiscoveryRun(["localhost", "[::1]"], [9000], manager=make_manager(Alpha, Generic))
    finally:
        Alpha.default_ports = Generic.default_ports = ()
    assert run.ports == [7863, 8188, 8189, 9000]
    assert run.hosts == ["127.0.0.1", "::1", "localhost"]
    assert Candidate("::1", 8188) in run.candidates and Candidate("127.0.0.1", 9000) in run.candidates
    assert Candidate("::1", 8188).url == "http://[::1]:8188"


def test_other_hosts_are_scanned_only_when_network_access_is_allowed() -> None:
    manager = make_manager(Alpha)
    offline = DiscoveryRun(["192.0.2.10"], [8188], manager=manager)  # TEST-NET: never contacted here
    assert offline.skipped_hosts == ["192.0.2.10"]
    assert all(candidate.loopback for candidate in offline.candidates)
    online = DiscoveryRun(["192.0.2.10"], [8188], manager=manager, allow_network=True)
    assert Candidate("192.0.2.10", 8188) in online.candidates and online.skipped_hosts == []


def test_connect_scan_finds_listeners_on_both_families(servers: _Servers) -> None:
    v4 = servers.silent("127.0.0.1")
    v6 = servers.silent("::1")
    closed = free_port()
    found = connect_scan([Candidate("127.0.0.1", v4), Candidate("::1", v6), Candidate("127.0.0.1", closed)], 0.5)
    assert Candidate("127.0.0.1", v4) in found and Candidate("::1", v6) in found
    assert Candidate("127.0.0.1", closed) not in found


# -- the sniff ------------------------------------------------------------------------------


def test_sniff_reports_status_server_and_title(servers: _Servers) -> None:
    port = servers.http({})
    seen = sniff("127.0.0.1", port, 2.0)
    assert (seen.silent, seen.status, seen.title) == (False, 200, "Hello & welcome")
    assert seen.server.startswith("FakeServer/1.0")
    assert seen.describe(2.0) == f"HTTP 200, server {seen.server}, title “Hello & welcome”"


def test_sniff_of_a_silent_port_and_of_a_non_http_banner(servers: _Servers) -> None:
    assert sniff("127.0.0.1", servers.silent(), 0.2).describe(0.2) == "no answer within 0.2 s"
    banner = sniff("127.0.0.1", servers.banner(b"SSH-2.0-OpenSSH_9.6\r\n"), 2.0)
    assert banner.describe(2.0) == "not HTTP: SSH-2.0-OpenSSH_9.6.."


# -- identification ---------------------------------------------------------------------


def test_each_open_port_gets_one_answer_most_specific_probe_first(servers: _Servers) -> None:
    alpha = servers.http({"X-Service": "alpha", "X-Version": "2.1"})
    beta = servers.http({"X-Service": "beta"})
    unrelated = servers.http({})
    silent = servers.silent()
    named: list[DiscoveryResult] = []
    read: list[DiscoveryResult] = []
    results = discover(
        ports=[alpha, beta, unrelated, silent],
        timeout=0.5,
        manager=make_manager(Raising, Alpha, Generic),
        include_default_ports=False,
        on_result=named.append,
        on_capabilities=read.append,
    )
    found = by_url(results)
    # named first (without capabilities), then the named services again with them
    assert len(results) == 4 and [result.url for result in named] == [result.url for result in results]
    assert all(result.capabilities is None for result in named)
    assert sorted(read, key=lambda result: result.url) == sorted((result for result in results if result.recognized), key=lambda result: result.url)
    assert found[f"http://127.0.0.1:{alpha}"].capabilities
    assert found[f"http://127.0.0.1:{alpha}"].kind == "alpha"  # Generic would claim it too, but is asked last
    assert found[f"http://127.0.0.1:{alpha}"].version == "2.1"
    assert found[f"http://127.0.0.1:{beta}"].kind == "generic"
    assert found[f"http://127.0.0.1:{unrelated}"].kind == UNKNOWN
    assert "title “Hello & welcome”" in found[f"http://127.0.0.1:{unrelated}"].seen
    assert found[f"http://127.0.0.1:{silent}"].seen == "no answer within 0.5 s"


def test_only_a_port_no_backend_names_is_sniffed(servers: _Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """A web UI rendering a huge index page for ``GET /`` would cost the scan that for nothing."""
    alpha, unrelated = servers.http({"X-Service": "alpha"}), servers.http({})
    sniffed: list[int] = []

    def recording_sniff(host: str, port: int, timeout: float, stop: Any = None) -> Sniff:
        sniffed.append(port)
        return sniff(host, port, timeout, stop)

    monkeypatch.setattr(discovery, "sniff", recording_sniff)
    found = by_url(discover(ports=[alpha, unrelated], timeout=1.0, manager=make_manager(Alpha), include_default_ports=False, with_capabilities=False))
    assert sniffed == [unrelated]
    assert found[f"http://127.0.0.1:{alpha}"].kind == "alpha"
    assert "title “Hello & welcome”" in found[f"http://127.0.0.1:{unrelated}"].seen


def test_capabilities_are_read_after_naming_and_timed_apart(servers: _Servers) -> None:
    alpha = servers.http({"X-Service": "alpha"})
    order: list[tuple[str, bool]] = []
    run = DiscoveryRun(
        ports=[alpha],
        timeout=1.0,
        manager=make_manager(Alpha),
        include_default_ports=False,
        on_result=lambda result: order.append(("named", result.capabilities is not None)),
        on_capabilities=lambda result: order.append(("read", result.capabilities is not None)),
    )
    assert [len(result.capabilities or ()) for result in run.run()] == [3]
    assert order == [("named", False), ("read", True)]
    assert 0 < run.scan_elapsed < run.elapsed and run.capabilities_elapsed > 0
    quick = DiscoveryRun(ports=[alpha], timeout=1.0, manager=make_manager(Alpha), include_default_ports=False, with_capabilities=False, on_capabilities=order.append)
    assert quick.run()[0].capabilities is None and len(order) == 2 and quick.capabilities_elapsed == 0


def test_results_carry_capabilities_and_their_summary(servers: _Servers) -> None:
    alpha = servers.http({"X-Service": "alpha"})
    beta = servers.http({"X-Service": "beta"})
    found = by_url(discover(ports=[alpha, beta], timeout=1.0, manager=make_manager(Alpha, Generic), include_default_ports=False))
    row = found[f"http://127.0.0.1:{alpha}"].to_row()
    assert row == {
        "kind": "alpha",
        "url": f"http://127.0.0.1:{alpha}",
        "version": "",
        "latency_ms": 1.5,
        "capabilities": [capability.to_dict() for capability in found[f"http://127.0.0.1:{alpha}"].capabilities],
        "capability_counts": {"alpha.node": 2, "image.generate": 1},
        "capabilities_read": True,
        "transport": "http",
        "seen": "",
    }
    assert len(row["capabilities"]) == 3
    generic = found[f"http://127.0.0.1:{beta}"]
    assert generic.capabilities is None  # connect failed: recognised all the same, with the reason
    assert "not running" in generic.details["capabilities_error"]
    quick = discover(ports=[alpha], timeout=1.0, manager=make_manager(Alpha), include_default_ports=False, with_capabilities=False)
    row = quick[0].to_row()
    assert quick[0].capabilities is None and row["capabilities"] == [] and not row["capabilities_read"]


def test_ipv6_only_services_are_found_and_dual_stack_ones_reported_once(servers: _Servers) -> None:
    only_v6 = servers.http({"X-Service": "alpha"}, host="::1")
    both = wait_until(lambda: _dual_stack(servers), timeout=10, message="a port free on both loopbacks")
    results = discover(ports=[only_v6, both], timeout=1.0, manager=make_manager(Alpha), include_default_ports=False, with_capabilities=False)
    urls = sorted(result.url for result in results)
    assert f"http://[::1]:{only_v6}" in urls
    assert [url for url in urls if url.endswith(f":{both}")] == [f"http://127.0.0.1:{both}"]  # IPv4's row wins


def _dual_stack(servers: _Servers) -> int:
    port = servers.http({"X-Service": "alpha"})
    try:
        servers.http({"X-Service": "alpha"}, host="::1", port=port)
    except OSError:
        return 0  # taken on ::1: try another port
    return port


def test_background_run_is_polled_and_can_be_cancelled(servers: _Servers) -> None:
    alpha = servers.http({"X-Service": "alpha"})
    run = start_discovery(ports=[alpha], timeout=1.0, manager=make_manager(Alpha), include_default_ports=False)
    wait_until(lambda: run.done, timeout=10, message="discovery done")
    assert [result.kind for result in run.results()] == ["alpha"]
    assert run.error is None and run.elapsed > 0
    silent_ports = [servers.silent() for _ in range(3)]
    slow = start_discovery(ports=silent_ports, timeout=1.0, manager=make_manager(Alpha), include_default_ports=False)
    slow.cancel()
    assert slow.wait(timeout=10) == slow.results()
    assert slow.done and slow.error is None


def test_a_failing_run_keeps_its_error_for_the_poller(servers: _Servers) -> None:
    def explode(result: DiscoveryResult) -> None:
        raise RuntimeError("listener bug")

    run = start_discovery(ports=[servers.http({})], timeout=0.5, manager=make_manager(Alpha), include_default_ports=False, on_result=explode)
    with pytest.raises(RuntimeError, match="listener bug"):
        run.wait(timeout=10)
    assert run.done


# -- adopt ------------------------------------------------------------------------------


FOUND = DiscoveryResult("comfyui", "http://127.0.0.1:8189", "0.3.64", 3.0, transport="websocket")


def test_adopt_writes_a_valid_entry_into_the_active_profile(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("active_profile: Studio\nservices:\n  comfyui:\n    url: http://127.0.0.1:8188\n", encoding="utf-8")
    adopted = adopt(FOUND, path=path, environ={})
    assert (adopted.name, adopted.profile) == ("comfyui-8189", "Studio")
    assert adopted.entry == {"kind": "comfyui", "url": "http://127.0.0.1:8189", "enabled": True, "transport": "websocket"}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["services"] == {"comfyui": {"url": "http://127.0.0.1:8188"}}  # the rest of the file is kept
    assert data["profiles"]["Studio"]["services"]["comfyui-8189"] == adopted.entry
    assert validate_file(path) == []
    kinds = {"comfyui": Backend}
    config = load_config(file=path, environ={}, kinds=kinds)
    assert config.service("comfyui-8189").url == "http://127.0.0.1:8189"
    again = adopt(FOUND, path=path, environ={})
    assert again.name == "comfyui-8189"  # adopting twice changes nothing
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["config.yaml"]  # written atomically, no temp left


def test_adopt_keeps_the_users_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    mine = (
        "# Studio machines: ask Sam before changing.\n"
        "active_profile: Studio   # the render farm\n"
        "\n"
        "services:\n"
        "  comfyui:\n"
        "    url: 'http://127.0.0.1:8188'  # the old box\n"
        "    timeout: 60\n"
    )
    path.write_text(mine, encoding="utf-8")
    adopted = adopt(FOUND, path=path, environ={})
    text = path.read_text(encoding="utf-8")
    assert text.startswith(mine), "everything the user wrote stays as written, comments and quotes included"
    assert yaml.safe_load(text)["profiles"]["Studio"]["services"][adopted.name] == adopted.entry
    assert validate_file(path) == []


def test_adopt_finds_the_file_in_force_and_keeps_a_json_file_json(tmp_path: Path) -> None:
    path = tmp_path / "movie-director.json"
    path.write_text(json.dumps({"services": {"studio": {"kind": "comfyui", "url": "http://127.0.0.1:8189", "timeout": 60}}}), encoding="utf-8")
    adopted = adopt(FOUND, environ={"MOVIE_DIRECTOR_CONFIG": str(path)})
    assert (adopted.name, adopted.path, adopted.profile) == ("studio", path, "Local")  # same URL: its name is kept
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["profiles"]["Local"]["services"]["studio"]["url"] == FOUND.url
    assert "auth" not in json.dumps(data)


def test_a_second_server_of_a_configured_kind_joins_its_instances(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("services:\n  comfyui:\n    url: http://127.0.0.1:8188  # the first box\n    timeout: 60\n", encoding="utf-8")
    adopted = adopt(FOUND, path=path, environ={}, as_instance=True)
    assert adopted.name == "comfyui"
    assert adopted.entry["instances"] == [{"url": "http://127.0.0.1:8188"}, {"url": "http://127.0.0.1:8189"}] and "url" not in adopted.entry
    assert "# the first box" in path.read_text(encoding="utf-8") and validate_file(path) == []
    comfy = load_config(file=path, environ={}, kinds={"comfyui": Backend}).service("comfyui")
    assert [instance.url for instance in comfy.instances] == ["http://127.0.0.1:8188", "http://127.0.0.1:8189"] and comfy.timeout == 60
    again = adopt(FOUND, path=path, environ={}, as_instance=True)
    assert again.entry == adopted.entry  # already one of its instances: nothing added twice


def test_only_recognised_services_can_be_adopted(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match="Nothing the add-on knows"):
        adopt(DiscoveryResult(UNKNOWN, "http://127.0.0.1:9000", seen="HTTP 200"), path=tmp_path / "c.yaml", environ={})
    assert not (tmp_path / "c.yaml").exists()


SECOND = DiscoveryResult("comfyui", "http://127.0.0.1:8190", "0.3.64", 3.0, transport="websocket")


def test_a_found_server_joins_the_instances_where_the_service_url_stood(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    mine = (
        "# the studio's boxes\n"
        "services:\n"
        "  comfyui:\n"
        "    url: http://127.0.0.1:8189\n"
        "    timeout: 60  # slow models\n"
    )
    path.write_text(mine, encoding="utf-8")
    added = adopt(SECOND, path=path, environ={}, as_instance=True)
    assert (added.name, added.profile) == ("comfyui", "Local")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# the studio's boxes\nservices:\n  comfyui:\n    instances:\n"), text  # where url stood
    assert "timeout: 60  # slow models" in text
    assert yaml.safe_load(text) == {
        "services": {"comfyui": {"instances": [{"url": "http://127.0.0.1:8189"}, {"url": "http://127.0.0.1:8190"}], "timeout": 60}}
    }
    assert validate_file(path) == []
    config = load_config(file=path, environ={}, kinds={"comfyui": Backend})
    assert [instance.url for instance in config.service("comfyui").instances] == ["http://127.0.0.1:8189", "http://127.0.0.1:8190"]
    for again in (FOUND, SECOND):
        adopt(again, path=path, environ={}, as_instance=True)
        adopt(again, path=path, environ={})
    assert path.read_text(encoding="utf-8") == text  # one of its servers found again: no copy of it, still one service


def test_an_instance_is_added_where_the_profile_gives_the_service_its_address(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"profiles": {"Studio": {"services": {"gpu": {"kind": "comfyui", "instances": [{"url": FOUND.url, "weight": 2}]}}}}}), encoding="utf-8")
    adopted = adopt(SECOND, path=path, environ={"MOVIE_DIRECTOR_PROFILE": "Studio"}, as_instance=True)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert adopted.name == "gpu"
    assert data["profiles"]["Studio"]["services"]["gpu"]["instances"] == [{"url": FOUND.url, "weight": 2}, {"url": SECOND.url}]
    assert "services" not in data


def test_only_a_server_of_the_same_kind_joins_a_service(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"services:\n  comfyui:\n    url: {FOUND.url}\n", encoding="utf-8")
    adopted = adopt(DiscoveryResult("litellm", "http://127.0.0.1:4000", "1.0", 1.0), path=path, environ={}, as_instance=True)
    assert adopted.name == "litellm"
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["services"] == {"comfyui": {"url": FOUND.url}}


def test_service_entry_keeps_only_transports_the_schema_knows() -> None:
    assert "transport" not in service_entry(DiscoveryResult("gradio", "http://127.0.0.1:7863", transport="sse_v3"))
    assert service_entry(DiscoveryResult("wan2gp", "http://127.0.0.1:8000", transport="mcp"))["transport"] == "mcp"


# -- credentials and the command line -------------------------------------------------


def test_capabilities_are_read_with_the_credentials_configured_for_the_kind(servers: _Servers) -> None:
    alpha = servers.http({"X-Service": "alpha"})
    manager = make_manager(Alpha, Generic)
    configured = [
        adhoc_service("http://127.0.0.1:1", "alpha", manager, auth=AuthRef("ALPHA_KEY")),
        adhoc_service("http://127.0.0.1:2", "alpha", manager, auth=AuthRef("OTHER_KEY")),
        adhoc_service("http://127.0.0.1:3", "generic", manager),
    ]
    assert auth_by_kind(configured) == {"alpha": AuthRef("ALPHA_KEY")}
    Alpha.connected.clear()
    discover(ports=[alpha], timeout=1.0, manager=manager, include_default_ports=False, auth=auth_by_kind(configured))
    assert [service.auth for service in Alpha.connected] == [AuthRef("ALPHA_KEY")]
    assert Alpha.connected[0].retries == 0  # one-shot: no retry loop inside discovery


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI in this process with the fake backends, an empty config file and a private data dir."""
    config = tmp_path / "config.yaml"
    config.write_text("{}\n", encoding="utf-8")
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(config))
    monkeypatch.setenv("MOVIE_DIRECTOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(plugins, "_manager", make_manager(Alpha, Generic))
    return tmp_path / "data" / "registry.json"


def test_discover_command_prints_rows_and_remembers_services(servers: _Servers, cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alpha, unrelated = servers.http({"X-Service": "alpha", "X-Version": "2.1"}), servers.http({})
    assert main(["discover", "--ports", f"{alpha},{unrelated}", "--timeout", "1", "--json"]) == 0
    rows = {row["url"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[f"http://127.0.0.1:{alpha}"]["kind"] == "alpha"
    assert rows[f"http://127.0.0.1:{unrelated}"]["kind"] == UNKNOWN
    assert {"kind", "url", "version", "latency_ms", "capabilities"} <= set(rows[f"http://127.0.0.1:{alpha}"])
    # the run's two timings ride on every row, so the document stays a list
    timings = {(row["scan_s"], row["capabilities_s"]) for row in rows.values()}
    assert len(timings) == 1
    scan_s, capabilities_s = timings.pop()
    assert scan_s > 0 and capabilities_s >= 0  # reading one in-process fake can round to 0.000 s
    saved = json.loads(cli.read_text(encoding="utf-8"))
    assert [(entry["name"], entry["url"]) for entry in saved["instances"]] == [("alpha", f"http://127.0.0.1:{alpha}")]
    assert main(["discover", "--ports", str(alpha), "--timeout", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the named row first, then its capabilities on their own line, then both timings
    assert lines[0].startswith(f"✓ alpha      http://127.0.0.1:{alpha}") and "×" not in lines[0]
    assert lines[1] == f"  alpha      http://127.0.0.1:{alpha}".ljust(41) + " capabilities: alpha.node×2, image.generate×1"
    assert re.fullmatch(r"1 service\(s\) and 0 unknown port\(s\) found in \d+\.\d\d s \(.*\); capabilities read in \d+\.\d\d s\.", lines[2])


def test_services_command_checks_what_discovery_registered(servers: _Servers, cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alpha = servers.http({"X-Service": "alpha", "X-Version": "2.1"})
    main(["discover", "--ports", str(alpha), "--timeout", "1", "--json"])
    capsys.readouterr()
    assert main(["services", "--json", "--timeout", "2"]) == 0
    [service] = json.loads(capsys.readouterr().out)
    [instance] = service["instances"]
    assert (service["kind"], instance["status"], instance["queue_depth"], instance["version"]) == ("alpha", "online", 2, "2.1")
    assert instance["error"] is None and len(instance["capabilities"]) == 3
    assert main(["services"]) == 0
    assert f"  alpha  http://127.0.0.1:{alpha}  online" in capsys.readouterr().out
    servers.close()
    assert main(["services", "--timeout", "1"]) == 0
    out = capsys.readouterr().out
    assert "offline" in out and "✗ alpha: " in out


def test_discover_command_scans_configured_services_and_survives_bad_files(
    servers: _Servers, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alpha = servers.http({"X-Service": "alpha"})
    config = cli.parent.parent / "config.yaml"
    config.write_text(f"services:\n  mine:\n    kind: alpha\n    url: http://127.0.0.1:{alpha}\n", encoding="utf-8")
    assert main(["discover", "--json"]) == 0  # no --ports: the configured port is scanned
    assert [row["kind"] for row in json.loads(capsys.readouterr().out)] == ["alpha"]
    assert [entry["name"] for entry in json.loads(cli.read_text(encoding="utf-8"))["instances"]] == ["mine"]
    cli.write_text(json.dumps({"version": "9.9", "instances": []}), encoding="utf-8")
    assert main(["discover", "--json"]) == 0
    assert "Not updating the service registry" in capsys.readouterr().err
    assert json.loads(cli.read_text(encoding="utf-8"))["version"] == "9.9"  # a newer file is left alone
    config.write_text("services:\n  mine:\n    kind: alpha\n    timeout: -1\n", encoding="utf-8")
    assert main(["discover", "--ports", str(alpha), "--json"]) == 0
    captured = capsys.readouterr()
    assert "configuration is invalid" in captured.err
    assert [row["kind"] for row in json.loads(captured.out)] == ["alpha"]


@pytest.mark.parametrize(("option", "message"), [("--ports=9-1", "not a range of ports"), ("--timeout=0", "from 0.05 to 60"), ("--timeout=x", "invalid")])
def test_discover_command_refuses_bad_options(cli: Path, option: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["discover", option]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 2  # the message naming the value, and where to look


def test_check_accepts_the_names_services_lists(servers: _Servers, cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alpha = servers.http({"X-Service": "alpha", "X-Version": "2.1"})
    main(["discover", "--ports", str(alpha), "--timeout", "1", "--json"])
    capsys.readouterr()
    assert main(["services", "--json", "--no-check"]) == 0
    [name] = [instance["name"] for service in json.loads(capsys.readouterr().out) for instance in service["instances"]]
    assert main(["check", name, "--json", "--timeout", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["kind"], report["url"], report["status"]) == ("alpha", f"http://127.0.0.1:{alpha}", "online")


def test_services_command_without_any_service(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services", "--no-check"]) == 0
    assert "No services are registered" in capsys.readouterr().out
