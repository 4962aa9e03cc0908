"""Find the backends running on this machine (or, when allowed, on others).

Two stages on one bounded thread pool:

1. **TCP scan** of every candidate (host, port): each backend's ``default_ports`` (so a
   third-party plugin's ports are scanned too) plus the caller's hosts and port ranges,
   on IPv4 and IPv6 loopback. Each task connects a chunk of candidates at once with
   non-blocking sockets, so a dropped port costs one short connect timeout, not one each.
2. **Naming** of every open port: each backend's ``probe``, most specific first, sharing
   the probe timeout (so a port that accepts and never answers costs at most that). The
   first that says yes names the port; if none does, a small raw-socket sniff (``GET /``,
   with the time left) says what answered (status, ``Server`` header, ``<title>``, a
   banner, or silence) and the port is ``unknown``. Sniffing only then spares a busy web
   UI rendering its index page for nothing.

Stages 1 and 2 are the scan (:attr:`DiscoveryRun.scan_elapsed`); results are emitted as
soon as a port is named (``on_result``). Then, when asked for, the named services'
capabilities are read in parallel (a catalogue can take many calls) and each result is
emitted again with them (``on_capabilities``; :attr:`DiscoveryRun.capabilities_elapsed`).
A :class:`DiscoveryRun` can also run in the background, to be polled from a UI timer.
Hosts that are not loopback are scanned only when the caller allows network access.
A found service becomes a config entry with :func:`adopt`.
"""

from __future__ import annotations

import errno
import html
import logging
import os
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from movie_director import __version__
from movie_director.backend import Backend, Capability, ProbeResult
from movie_director.capabilities import collect, summary
from movie_director.config import load_schema, schema_problems
from movie_director.configdata import DEFAULT_PROFILE, LAYER_FILE, PROFILE_ENV, AuthRef, ServiceConfig, is_loopback_host
from movie_director.configfile import config_file_candidates, editing, find_config_file
from movie_director.errors import InvalidConfigError, map_exception
from movie_director.plugins import PluginManager, get_plugin_manager
from movie_director.registry import service_name

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1")
DEFAULT_TIMEOUT = 2.0
DEFAULT_CONNECT_TIMEOUT = 0.5
DEFAULT_WORKERS = 8
#: Sockets one scan task opens at once; with DEFAULT_WORKERS this keeps the scan under
#: 256 open files (macOS's default limit for GUI apps such as Blender).
CHUNK_SOCKETS = 32
#: Bytes of an answer the sniff reads at most (enough for headers and a <title>).
SNIFF_LIMIT = 32 * 1024
#: How often a waiting sniff looks whether its run was cancelled (seconds).
_STOP_CHECK = 0.1

_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY}
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_STATUS_LINE = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")


@dataclass(frozen=True)
class Candidate:
    """One address to try."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)


@dataclass(frozen=True)
class DiscoveryResult:
    """One open port and what answers there (``kind`` is ``"unknown"`` when no backend claims it).

    ``capabilities`` is ``None`` when they were not asked for or could not be read;
    ``seen`` says what an unknown port showed.
    """

    kind: str
    url: str
    version: str = ""
    latency_ms: float = 0.0
    capabilities: tuple[Capability, ...] | None = None
    transport: str = ""
    seen: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def recognized(self) -> bool:
        return self.kind != UNKNOWN

    def to_row(self) -> dict[str, Any]:
        """The ``discover --json`` row."""
        return {
            "kind": self.kind,
            "url": self.url,
            "version": self.version,
            "latency_ms": round(self.latency_ms, 1),
            "capabilities": [capability.to_dict() for capability in self.capabilities or ()],
            "capability_counts": summary(self.capabilities or ()),
            "capabilities_read": self.capabilities is not None,
            "transport": self.transport,
            "seen": self.seen,
        }


# -- candidates ------------------------------------------------------------------------


def parse_ports(spec: str) -> list[int]:
    """``"7000-9000,8188"`` → sorted ports; a ValueError names the bad part."""
    ports: set[int] = set()
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        low_text, _, high_text = part.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if high_text else low
        except ValueError:
            raise ValueError(f"{part!r} is not a port or a range such as 7000-9000") from None
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"{part!r} is not a range of ports between 1 and 65535")
        ports.update(range(low, high + 1))
    return sorted(ports)


def default_ports(manager: PluginManager) -> list[int]:
    """Every registered backend's default and alternative ports."""
    return sorted({port for backend in manager.backends.values() for port in backend.default_ports})


def _host_literal(host: str) -> str:
    return host.strip().strip("[]")


# -- stage 1: TCP --------------------------------------------------------------------------


def connect_scan(candidates: Sequence[Candidate], timeout: float, stop: threading.Event | None = None) -> list[Candidate]:
    """The candidates that accept a TCP connection within ``timeout`` (all tried at once)."""
    selector = selectors.DefaultSelector()
    accepted: list[Candidate] = []
    sockets: list[socket.socket] = []
    addresses: dict[str, tuple[int, tuple[Any, ...]] | None] = {}
    try:
        for candidate in candidates:
            if stop is not None and stop.is_set():
                break
            if candidate.host not in addresses:
                addresses[candidate.host] = _address(candidate.host)
            address = addresses[candidate.host]
            if address is None:
                continue
            family, sockaddr = address
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setblocking(False)
            code = sock.connect_ex((sockaddr[0], candidate.port, *sockaddr[2:]))
            if code == 0:
                accepted.append(candidate)
            elif code in _IN_PROGRESS:
                selector.register(sock, selectors.EVENT_WRITE, candidate)
        deadline = time.monotonic() + timeout
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                break
            for key, _ in selector.select(remaining):
                selector.unregister(key.fileobj)
                if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:  # type: ignore[union-attr]
                    accepted.append(key.data)
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
    return accepted


def _address(host: str) -> tuple[int, tuple[Any, ...]] | None:
    """The family and socket address of ``host`` (its first address), once per host and chunk."""
    try:
        infos = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
    except OSError as exc:
        log.info("discovery: cannot resolve %s: %s", host, exc)
        return None
    family, _, _, _, sockaddr = infos[0]
    return family, tuple(sockaddr)


# -- stage 2: what answers ---------------------------------------------------------------


@dataclass(frozen=True)
class Sniff:
    """What one ``GET /`` on a port showed within the time allowed."""

    silent: bool
    status: int | None = None
    server: str = ""
    title: str = ""
    banner: str = ""
    latency_ms: float = 0.0

    def describe(self, timeout: float) -> str:
        if self.silent:
            return f"no answer within {timeout:g} s"
        if self.status is None:
            return f"not HTTP: {self.banner}" if self.banner else "closed the connection without answering"
        parts = [f"HTTP {self.status}"]
        if self.server:
            parts.append(f"server {self.server}")
        if self.title:
            parts.append(f"title “{self.title}”")
        return ", ".join(parts)


def sniff(host: str, port: int, timeout: float, stop: threading.Event | None = None) -> Sniff:
    """Send ``GET /`` and read the start of the answer, all within ``timeout`` seconds.

    A raw socket rather than requests: requests bounds each read, not the whole answer,
    so a server trickling bytes could hold it far past the timeout. Reads wait in short
    slices so that ``stop`` (a cancelled run) is noticed soon.
    """
    deadline = time.monotonic() + timeout
    started = time.perf_counter()
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"GET / HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: movie-director-connect/{__version__} (discovery)\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    data = b""
    first_byte = 0.0
    closed = False
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request.encode("ascii"))
            while len(data) < SNIFF_LIMIT and not _enough(data):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop is not None and stop.is_set()):
                    break
                sock.settimeout(min(remaining, _STOP_CHECK))
                try:
                    chunk = sock.recv(8192)
                except TimeoutError:
                    continue
                if not chunk:
                    closed = True
                    break
                first_byte = first_byte or time.perf_counter()
                data += chunk
    except TimeoutError:
        pass
    except OSError:
        closed = True
    latency = ((first_byte or time.perf_counter()) - started) * 1000
    return _parse_answer(data, closed, latency)


def _enough(data: bytes) -> bool:
    if data and not data.startswith(b"HTTP/"[: len(data)]):
        return True  # not HTTP: the first bytes are the banner
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    if b"html" not in head.lower():
        return True
    return _TITLE.search(body) is not None


def _parse_answer(data: bytes, closed: bool, latency_ms: float) -> Sniff:
    if not data:
        return Sniff(silent=not closed, latency_ms=latency_ms)
    status = _STATUS_LINE.match(data)
    if status is None:
        banner = "".join(char if char.isprintable() else "." for char in data[:60].decode("latin-1")).strip()
        return Sniff(silent=False, banner=banner, latency_ms=latency_ms)
    head, _, body = data.partition(b"\r\n\r\n")
    server = ""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"server":
            server = value.strip().decode("latin-1")[:80]
    match = _TITLE.search(body)
    title = " ".join(html.unescape(match.group(1).decode("utf-8", "replace")).split())[:80] if match else ""
    return Sniff(silent=False, status=int(status.group(1)), server=server, title=title, latency_ms=latency_ms)


# -- the run -------------------------------------------------------------------------------


class DiscoveryRun:
    """One discovery: :meth:`run` it here, or :meth:`start` it in the background and poll.

    ``on_result`` is called with each result as soon as its port is named (without
    capabilities); ``on_capabilities`` with each named service again once its capabilities
    were read (or failed: see ``details["capabilities_error"]``). Both run in the threads
    of the discovery (never a Blender thread: the add-on polls :meth:`results` from a timer).
    """

    def __init__(
        self,
        hosts: Iterable[str] = (),
        ports: Iterable[int] = (),
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        allow_network: bool = False,
        include_default_ports: bool = True,
        with_capabilities: bool = True,
        on_result: Callable[[DiscoveryResult], None] | None = None,
        on_capabilities: Callable[[DiscoveryResult], None] | None = None,
        manager: PluginManager | None = None,
        workers: int = DEFAULT_WORKERS,
        auth: Mapping[str, AuthRef] | None = None,
    ) -> None:
        self.manager = manager or get_plugin_manager()
        #: Credentials (env references) by kind, for reading a found service's capabilities.
        self.auth = dict(auth or {})
        self.timeout = timeout
        self.connect_timeout = min(timeout, DEFAULT_CONNECT_TIMEOUT) if connect_timeout is None else connect_timeout
        self.with_capabilities = with_capabilities
        self.workers = max(1, workers)
        self._on_result = on_result
        self._on_capabilities = on_capabilities
        wanted_hosts = list(dict.fromkeys([*LOOPBACK_HOSTS, *(_host_literal(host) for host in hosts)]))
        self.hosts = [host for host in wanted_hosts if allow_network or is_loopback_host(host)]
        #: Hosts left out because network access is not allowed.
        self.skipped_hosts = [host for host in wanted_hosts if host not in self.hosts]
        self.ports = sorted({*(default_ports(self.manager) if include_default_ports else ()), *ports})
        self.candidates = [Candidate(host, port) for port in self.ports for host in self.hosts]
        self.error: BaseException | None = None
        #: Seconds the whole run took.
        self.elapsed = 0.0
        #: Seconds the scan took: connecting and naming every open port.
        self.scan_elapsed = 0.0
        #: Seconds reading the named services' capabilities took (0 when not asked for).
        self.capabilities_elapsed = 0.0
        self._backends = self.manager.backends_by_specificity()
        self._results: list[DiscoveryResult] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._loopback_seen: set[tuple[int, str, str]] = set()
        self._parked: dict[int, list[tuple[Candidate, DiscoveryResult]]] = {}
        #: The backend that reads each named service's capabilities, by (kind, url).
        self._owners: dict[tuple[str, str], Backend[Any]] = {}
        if self.skipped_hosts:
            log.warning("discovery: network access is off, not scanning %s", ", ".join(self.skipped_hosts))

    # -- control -------------------------------------------------------------------------

    def start(self) -> DiscoveryRun:
        """Run in a background thread and return at once."""
        threading.Thread(target=self._run_quietly, name="md-discovery", daemon=True).start()
        return self

    def run(self) -> list[DiscoveryResult]:
        """Run in this thread; returns every result (raises what went wrong)."""
        started = time.perf_counter()
        try:
            self._scan()
            self.scan_elapsed = time.perf_counter() - started
            if self.with_capabilities:
                self._read_capabilities()
                self.capabilities_elapsed = time.perf_counter() - started - self.scan_elapsed
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.elapsed = time.perf_counter() - started
            self._done.set()
        return self.results()

    def _run_quietly(self) -> None:
        try:
            self.run()
        except Exception:  # kept in self.error for the poller
            log.exception("discovery failed")

    def cancel(self) -> None:
        """Stop soon: no new connection or probe starts; running probes end within the timeout."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> list[DiscoveryResult]:
        """Block until done (or ``timeout``); raise the run's error if it failed."""
        self._done.wait(timeout)
        if self.error is not None:
            raise self.error
        return self.results()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def results(self) -> list[DiscoveryResult]:
        """The results found so far (a copy; safe from any thread)."""
        with self._lock:
            return list(self._results)

    # -- work ------------------------------------------------------------------------------

    def _chunks(self) -> list[list[Candidate]]:
        """Chunks hold every host of their ports, so both loopback twins of a port scan together."""
        ports_per_chunk = max(1, CHUNK_SOCKETS // max(1, len(self.hosts)))
        return [
            [Candidate(host, port) for port in self.ports[start : start + ports_per_chunk] for host in self.hosts]
            for start in range(0, len(self.ports), ports_per_chunk)
        ]

    def _scan(self) -> None:
        chunks = iter(self._chunks())
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="md-discovery") as pool:
            # Scans are fed a few at a time (the pool runs no more anyway), so that a
            # probe queued behind them waits for a few chunks, not for the whole range.
            scans: set[Future[list[Candidate]]] = set()
            probes: dict[Future[DiscoveryResult], Candidate] = {}
            while not self._stop.is_set():
                while len(scans) < self.workers and (chunk := next(chunks, None)) is not None:
                    scans.add(pool.submit(connect_scan, chunk, self.connect_timeout, self._stop))
                if not (scans or probes):
                    break
                running: list[Future[Any]] = [*scans, *probes]
                done, _ = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in done:
                    if future in scans:
                        scans.remove(future)
                        for candidate in future.result():
                            probes[pool.submit(self._identify, candidate)] = candidate
                    else:
                        candidate = probes.pop(future)
                        self._publish(candidate, future.result(), in_flight=probes.values())
            leftover: list[Future[Any]] = [*scans, *probes]
            for future in leftover:
                future.cancel()

    def _identify(self, candidate: Candidate) -> DiscoveryResult:
        """Probe first; sniff only a port no backend claims, with the time the probes left."""
        deadline = time.monotonic() + self.timeout
        for backend in self._backends:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            started = time.perf_counter()
            try:
                probe = backend.probe(candidate.url, remaining)
            except Exception as exc:  # noqa: BLE001 - a plugin's probe failing means "not mine"
                log.debug("discovery: %s probe of %s failed: %s", backend.kind, candidate.url, exc)
                continue
            if probe is not None:
                return self._recognized(backend, probe, candidate, (time.perf_counter() - started) * 1000)
        remaining = deadline - time.monotonic()
        # The probes used up the time only if the port kept them waiting: it did not answer.
        seen = sniff(candidate.host, candidate.port, remaining, self._stop) if remaining > 0 else Sniff(silent=True, latency_ms=self.timeout * 1000)
        return DiscoveryResult(UNKNOWN, candidate.url, latency_ms=seen.latency_ms, seen=seen.describe(self.timeout))

    def _recognized(self, backend: Backend[Any], probe: ProbeResult, candidate: Candidate, elapsed_ms: float) -> DiscoveryResult:
        kind = probe.kind or backend.kind
        url = probe.url or candidate.url
        self._owners[(kind, url)] = self.manager.backends.get(kind, backend)
        return DiscoveryResult(
            kind=kind,
            url=url,
            version=probe.version,
            latency_ms=probe.latency_ms or elapsed_ms,
            transport=probe.transport,
            details=dict(probe.details),
        )

    def _read_capabilities(self) -> None:
        """Read every named service's capabilities at once; each result is replaced as they arrive."""
        named = [result for result in self.results() if result.recognized]
        if not named or self._stop.is_set():
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(named)), thread_name_prefix="md-capabilities") as pool:
            reads = {pool.submit(self._with_capabilities, result): result for result in named}
            for future in as_completed(reads):
                read = future.result()
                with self._lock:
                    self._results[self._results.index(reads[future])] = read
                if self._on_capabilities is not None:
                    self._on_capabilities(read)

    def _with_capabilities(self, result: DiscoveryResult) -> DiscoveryResult:
        owner = self._owners[(result.kind, result.url)]
        if self._stop.is_set():
            return result
        try:
            service = _one_shot_service(result.url, result.kind, result.transport, self.timeout, self.manager, self.auth.get(result.kind))
            return replace(result, capabilities=collect(owner, service))
        except Exception as exc:  # noqa: BLE001 - plugin code; the port is still recognised
            error = map_exception(exc, service=owner.display_name or result.kind)
            return replace(result, details={**result.details, "capabilities_error": error.message})

    def _publish(self, candidate: Candidate, result: DiscoveryResult, in_flight: Iterable[Candidate]) -> None:
        """Emit ``result``, once per service: a loopback port answering on both IPv4 and IPv6 is one row (IPv4's)."""
        is_ipv6_loopback = candidate.loopback and ":" in candidate.host
        if is_ipv6_loopback and any(other.port == candidate.port and other.loopback and ":" not in other.host for other in in_flight):
            self._parked.setdefault(candidate.port, []).append((candidate, result))
            return
        self._emit(candidate, result)
        for parked_candidate, parked_result in self._parked.pop(candidate.port, []):
            self._emit(parked_candidate, parked_result)

    def _emit(self, candidate: Candidate, result: DiscoveryResult) -> None:
        if candidate.loopback:
            key = (candidate.port, result.kind, result.version)
            if key in self._loopback_seen:
                return
            self._loopback_seen.add(key)
        with self._lock:
            self._results.append(result)
        if self._on_result is not None:
            self._on_result(result)


def _one_shot_service(url: str, kind: str, transport: str, timeout: float, manager: PluginManager, auth: AuthRef | None) -> ServiceConfig:
    from movie_director.check import adhoc_service

    overrides: dict[str, Any] = {"timeout": max(timeout, 1.0), "connect_timeout": min(timeout, 2.0), "retries": 0, "auth": auth}
    if transport in _transports():
        overrides["transport"] = transport
    return adhoc_service(url, kind, manager, **overrides)


def _transports() -> list[str]:
    return list(load_schema("service")["properties"]["transport"]["enum"])


def discover(hosts: Iterable[str] = (), ports: Iterable[int] = (), **options: Any) -> list[DiscoveryResult]:
    """Scan and identify; blocks until done (see :class:`DiscoveryRun` for the options)."""
    return DiscoveryRun(hosts, ports, **options).run()


def start_discovery(hosts: Iterable[str] = (), ports: Iterable[int] = (), **options: Any) -> DiscoveryRun:
    """Start a discovery in the background; poll ``results()`` and ``done``, or ``cancel()``."""
    return DiscoveryRun(hosts, ports, **options).start()


# -- adopting a found service ----------------------------------------------------------


@dataclass(frozen=True)
class Adopted:
    """Where a found service was written: the service name, the file, the profile, the entry."""

    name: str
    path: Path
    profile: str
    entry: Mapping[str, Any]


def service_entry(result: DiscoveryResult) -> dict[str, Any]:
    """The config-file entry for a found service (no secrets: a key is set up separately)."""
    entry: dict[str, Any] = {"kind": result.kind, "url": result.url, "enabled": True}
    if result.transport in _transports():
        entry["transport"] = result.transport
    return entry


def adopt(
    result: DiscoveryResult,
    path: Path | str | None = None,
    name: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    as_instance: bool = False,
) -> Adopted:
    """Write ``result`` as a service of the active profile into the config file, atomically.

    ``as_instance``: a server of a kind the file already configures at another address
    joins that service's ``instances`` (a second GPU box for the same ``comfyui``)
    instead of becoming a service of its own: its ``url`` becomes an ``instances`` list
    where it stood (in the profile or at the top), so the rest of the file reads as
    the user wrote it.

    The file is ``path``, else the one in force (``MOVIE_DIRECTOR_CONFIG`` or the first
    that exists), else a new ``~/.movie-director/config.yaml``. A service already
    configured at the same URL and kind (its ``url`` or one of its ``instances``; the
    kind may be the service's name) keeps its name and settings (a lone URL and the
    transport are refreshed; an instance list is left as it is); otherwise the entry
    gets the first name the file does not use yet (``comfyui``, ``comfyui-8189``…): so
    the first ComfyUI adopted replaces the built-in default ``comfyui`` entry, which
    only guessed the default port.
    """
    if not result.recognized:
        raise InvalidConfigError(
            f"Nothing the add-on knows answers at {result.url} ({result.seen}), so it cannot be added as a service.",
            hints=["Start the service, then run discovery again."],
        )
    environ = os.environ if environ is None else environ
    target = Path(path) if path is not None else (find_config_file(environ) or config_file_candidates()[0])
    with editing(target) as data:
        profile = profile or environ.get(PROFILE_ENV) or data.get("active_profile") or DEFAULT_PROFILE
        top = data.get("services") or {}
        services = ((data.get("profiles") or {}).get(profile) or {}).get("services") or {}
        configured = {**top, **services}
        entry = service_entry(result)
        existing = name or next((key for key, value in configured.items() if _same_service(key, value, entry)), None)
        sibling = None if existing or not as_instance else next((key for key, value in configured.items() if _same_kind(key, value, result.kind)), None)
        merged: dict[str, Any]
        if sibling is not None:  # another server of a configured service: add it where that service's address is
            section = services if _servers(services.get(sibling)) else top
            merged = section[sibling]
            _set_servers(merged, [*(_servers(merged) or []), {"url": result.url}])
            base = f"/profiles/{profile}/services/{sibling}" if section is services else f"/services/{sibling}"
            chosen = sibling
        elif existing is not None and isinstance(configured.get(existing), Mapping) and configured[existing].get("instances"):
            return Adopted(existing, target, profile, dict(configured[existing]))  # already one of its servers
        else:
            chosen = existing or service_name(result.kind, result.url, list(configured))
            merged = services[chosen] = {**(services.get(chosen) or {}), **entry}
            base = f"/profiles/{profile}/services/{chosen}"
        problems = schema_problems(merged, LAYER_FILE, str(target), schema="service", base=base)
        if problems:
            raise InvalidConfigError(problems=problems)
        if services:  # the profile's sections are written only when they hold something
            profiles = data["profiles"] = data.get("profiles") or {}
            profile_body = profiles[profile] = profiles.get(profile) or {}
            profile_body["services"] = services
    log.info("adopted %s at %s as %r into profile %s of %s", result.kind, result.url, chosen, profile, target)
    return Adopted(chosen, target, profile, dict(merged))


def _servers(entry: Any) -> list[Any] | None:
    """An entry's servers as ``instances`` items (a lone ``url`` is one), or None when it gives no address."""
    if not isinstance(entry, Mapping):
        return None
    if entry.get("instances"):
        return list(entry["instances"])
    return [{"url": entry["url"]}] if entry.get("url") else None


def _set_servers(entry: dict[str, Any], instances: list[Any]) -> None:
    """Replace ``url`` by ``instances`` where it stood, so the entry reads in the order the user wrote it.

    In a YAML file (ruamel's round-trip map) the comment after the url moves with it to
    the first instance.
    """
    if "url" in entry and "instances" not in entry and hasattr(entry, "insert"):
        comment = entry.ca.items.pop("url", None)  # type: ignore[attr-defined]
        if comment is not None:
            instances[0] = type(entry)(instances[0])  # a round-trip map of its own, to carry the comment
            instances[0].ca.items["url"] = comment
        entry.insert(list(entry).index("url"), "instances", instances)
    else:
        entry["instances"] = instances
    entry.pop("url", None)


def _same_kind(name: str, existing: Any, kind: str) -> bool:
    """Is ``existing`` a service of ``kind`` (its ``kind``, or its name when it has none) with an address?"""
    return _servers(existing) is not None and (existing.get("kind") or name) == kind


def _same_service(name: str, existing: Any, entry: Mapping[str, Any]) -> bool:
    """The same kind at the same address (its url, or one of its instances)."""
    return _same_kind(name, existing, entry["kind"]) and entry["url"] in (str(server.get("url", "")).rstrip("/") for server in _servers(existing) or [])


__all__ = [
    "UNKNOWN",
    "Adopted",
    "Candidate",
    "DiscoveryResult",
    "DiscoveryRun",
    "Sniff",
    "adopt",
    "connect_scan",
    "default_ports",
    "discover",
    "parse_ports",
    "service_entry",
    "sniff",
    "start_discovery",
]
