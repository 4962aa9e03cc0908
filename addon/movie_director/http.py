"""HTTP sessions built the same way for every backend.

- Loopback URLs never go through a system proxy (a VPN or corporate proxy breaking
  ``127.0.0.1`` calls is a top complaint in peer add-ons); remote hosts use the
  configured proxy or the system's.
- Every request carries an explicit (connect, read) timeout.
- Retries are urllib3's ``Retry``: connect errors always, and 429/502/503/504 with
  backoff and ``Retry-After`` only for idempotent methods, so a POST that reached the
  server is never sent twice.
- Auth headers come from an environment reference and are masked in every message.
- A downloaded file appears under its name only when it is whole (:func:`save_body`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from movie_director import __version__
from movie_director.config import ServiceConfig, is_loopback_host
from movie_director.errors import ConnectionLost, MovieDirectorError, ServiceError, describe_unexpected, map_exception, response_error

USER_AGENT = f"movie-director-connect/{__version__}"
RETRY_STATUSES = (429, 502, 503, 504)
#: A server asking us to come back later than this gets a typed ``rate_limited``
#: error instead of a frozen call (urllib3's own cap is six hours).
RETRY_AFTER_MAX_S = 30.0
CHUNK_SIZE = 1 << 16
#: How much of a body's start :func:`save_body` hands to its ``check`` (to sniff an HTML page).
HEAD_BYTES = 512


class TimeoutSession(requests.Session):
    """A ``requests.Session`` that always sends a timeout and never uses a proxy for loopback."""

    def __init__(self, timeout: tuple[float, float], loopback: bool, proxy: str | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.loopback = loopback
        # trust_env=False stops requests from reading HTTP(S)_PROXY / NO_PROXY / .netrc
        self.trust_env = not loopback and proxy is None
        if proxy and not loopback:
            self.proxies = {"http": proxy, "https": proxy}
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)

    def __repr__(self) -> str:  # headers may hold a bearer token: never show them
        return f"<TimeoutSession loopback={self.loopback} timeout={self.default_timeout}>"


def retry_policy(retries: int, backoff: float, methods: frozenset[str] | None = None) -> Retry:
    """Our retry policy as data (urllib3 ``Retry``): idempotent methods only, honouring Retry-After."""
    return Retry(
        total=retries,
        connect=retries,
        read=0,
        status=retries,
        other=0,
        backoff_factor=backoff,
        backoff_max=30.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=methods if methods is not None else Retry.DEFAULT_ALLOWED_METHODS,
        respect_retry_after_header=True,
        retry_after_max=RETRY_AFTER_MAX_S,
        raise_on_status=False,
    )


def build_session(
    service: ServiceConfig,
    pool_size: int = 10,
    retry_methods: frozenset[str] | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> TimeoutSession:
    """A pooled session for ``service`` with its timeouts, retries, TLS and auth."""
    session = TimeoutSession(service.timeouts, service.is_loopback, service.proxy)
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=retry_policy(service.retries, service.backoff, retry_methods))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = service.ca_bundle or service.verify_tls
    if service.auth is not None:
        session.headers.update(service.auth.headers())
    if extra_headers:
        session.headers.update(extra_headers)
    return session


def probe_session(url: str, timeout: float) -> TimeoutSession:
    """A throw-away session for discovery probes: no retries, no proxy for loopback."""
    from urllib.parse import urlsplit

    session = TimeoutSession((min(timeout, 2.0), timeout), is_loopback_host(urlsplit(url).hostname or ""))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=Retry(total=0, read=False, redirect=3))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def call(
    session: requests.Session,
    method: str,
    url: str,
    service: str | None = None,
    start_hint: str | None = None,
    **kwargs: Any,
) -> requests.Response:
    """Send a request; network failures and HTTP errors come back as our typed errors."""
    try:
        response = session.request(method, url, **kwargs)
    except Exception as exc:  # noqa: BLE001 - map_exception is the one place that sorts them
        raise map_exception(exc, service=service, start_hint=start_hint) from exc
    if response.status_code >= 400:
        raise response_error(response, service=service)
    return response


def json_of(response: requests.Response, service: str | None = None, expected: str = "JSON") -> Any:
    """The JSON body, or a ``malformed_response`` error that says what came instead."""
    try:
        return response.json()
    except ValueError:
        raise describe_unexpected(response.content[:2048], service, expected) from None


def save_body(
    response: requests.Response,
    target: Path,
    part: Path,
    *,
    name: str,
    service: str | None = None,
    max_bytes: int | None = None,
    check: Callable[[int, bytes], None] | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Stream a (``stream=True``) response's body into ``part``, renamed to ``target`` only when whole; returns its size.

    Whole means as long as its ``Content-Length`` (unless re-encoded), within ``max_bytes``
    and accepted by ``check(size, first_bytes)``, which raises otherwise. A stream cut
    mid-file becomes our typed error; ``part`` never stays behind, Ctrl-C included.
    """
    label = service or "the server"
    expected = response.headers.get("Content-Length")
    check_length = expected is not None and expected.isdigit() and not response.headers.get("Content-Encoding")
    size, head, complete = 0, b"", False
    try:
        with part.open("wb") as handle:
            for chunk in response.iter_content(CHUNK_SIZE):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ServiceError(
                        f"The file {name} from {label} is larger than the {max_bytes} bytes allowed; it was not kept.",
                        service=service,
                        hints=["Raise the download size limit if this file is expected."],
                        details=dict(details or {}),
                    )
                head = head or chunk[:HEAD_BYTES]
                handle.write(chunk)
        if check_length and size != int(expected or 0):
            raise ConnectionLost(f"The download of {name} from {label} stopped after {size} of {expected} bytes.", service=service, details=dict(details or {}))
        if check is not None:
            check(size, head)
        os.replace(part, target)
        complete = True
    except MovieDirectorError:
        raise
    except Exception as exc:  # noqa: BLE001 - a stream cut mid-file; map_exception sorts it
        raise map_exception(exc, service=service) from exc
    finally:
        if not complete:
            part.unlink(missing_ok=True)
    return size


__all__ = ["MovieDirectorError", "TimeoutSession", "build_session", "call", "json_of", "probe_session", "retry_policy", "save_body"]
