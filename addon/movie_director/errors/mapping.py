"""Library exceptions (requests, urllib3, websocket-client, the socket layer) and HTTP error answers, turned into our typed errors.

:func:`map_exception` is the one place where that happens; it looks at exception types,
since their messages differ between library versions and operating systems.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from movie_director.errors.types import (
    AuthenticationFailed,
    ConnectionLost,
    ConnectionRefused,
    MalformedResponse,
    MovieDirectorError,
    NameResolutionFailed,
    NotFound,
    PermissionDenied,
    ProxyFailed,
    RateLimited,
    RequestRejected,
    ServiceError,
    Timeout,
    TLSFailed,
    WebSocketClosed,
)
from movie_director.redact import redact


@dataclass
class _Context:
    service: str | None
    start_hint: str | None
    extra_hints: list[str] = field(default_factory=list)

    def make(self, cls: type[MovieDirectorError], message: str | None = None, cause: BaseException | None = None, **kwargs: Any) -> MovieDirectorError:
        hints = list(cls.default_hints)
        if self.start_hint and cls in (ConnectionRefused, Timeout, ConnectionLost):
            hints.insert(0, self.start_hint)
        hints.extend(self.extra_hints)
        return cls(message, service=self.service, hints=hints, cause=cause, **kwargs)


def map_exception(exc: BaseException, service: str | None = None, start_hint: str | None = None) -> MovieDirectorError:
    """Turn any exception met while talking to a service into one of our typed errors.

    Decided by the exception types of the whole chain (``__cause__``/``__context__``,
    urllib3's ``reason``, requests' wrapped first argument), never by their wording.
    ``start_hint`` is the backend's own "how to start me" line, shown first when the
    service cannot be reached.
    """
    if isinstance(exc, MovieDirectorError):
        return exc
    context = _Context(service, start_hint)
    # local: keeps `import movie_director.errors` cheap (the CLI's --help loads it)
    import socket
    import ssl

    import requests
    import urllib3.exceptions
    import websocket

    chain = _chain(exc)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return response_error(exc.response, service=service, cause=exc)
    if _any(chain, requests.exceptions.SSLError, ssl.SSLError, urllib3.exceptions.SSLError):
        return context.make(TLSFailed, cause=exc)
    if _any(chain, requests.exceptions.ProxyError, urllib3.exceptions.ProxyError):
        return context.make(ProxyFailed, cause=exc)
    # urllib3 2 names a failed lookup; 1.26 (Blender 4.2's) leaves the resolver's gaierror in the chain
    if _any(chain, socket.gaierror, *_optional(urllib3.exceptions, "NameResolutionError")):
        return context.make(NameResolutionFailed, cause=exc)
    if _any(chain, ConnectionRefusedError):
        return context.make(ConnectionRefused, cause=exc)
    if _any(chain, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
        return context.make(Timeout, cause=exc)
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return context.make(WebSocketClosed, cause=exc)
    # ProtocolError is urllib3's "Connection aborted." (an established connection broke, e.g. reset mid-answer)
    if _any(chain, requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError, ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return context.make(ConnectionLost, cause=exc)
    if isinstance(exc, requests.ConnectionError):
        return context.make(ConnectionRefused, cause=exc)
    if isinstance(exc, (json.JSONDecodeError, requests.exceptions.InvalidJSONError)):
        return context.make(MalformedResponse, cause=exc)
    return context.make(ServiceError, f"{service or 'The service'} failed: {type(exc).__name__}: {exc}", cause=exc)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception behind it, outermost first (at most 16; a loop is cut)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(found) < 16 and all(current is not seen for seen in found):
        found.append(current)
        reason = getattr(current, "reason", None)
        wrapped = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = current.__cause__ or current.__context__ or (reason if isinstance(reason, BaseException) else None) or wrapped
    return found


def _any(chain: list[BaseException], *types: type[BaseException]) -> bool:
    return any(isinstance(link, types) for link in chain)


def _optional(module: Any, name: str) -> tuple[type[BaseException], ...]:
    """``module.name`` when this version of the library has it (urllib3 1.26 lacks some types)."""
    found = getattr(module, name, None)
    return (found,) if isinstance(found, type) else ()


def response_error(response: Any, service: str | None = None, cause: BaseException | None = None, expected: str = "JSON") -> MovieDirectorError:
    """Map an HTTP error response to a typed error carrying the server's own message."""
    status = int(response.status_code)
    server_message = server_message_of(response)
    context = _Context(service, None)
    details = {"status": status, "url": redact(str(getattr(response, "url", "")))}
    label = service or "The service"
    suffix = f": {server_message}" if server_message else "."
    if status == 401:
        return context.make(AuthenticationFailed, f"{label} refused the credentials (HTTP 401){suffix}", cause, details=details)
    if status == 403:
        return context.make(PermissionDenied, f"{label} does not allow this request (HTTP 403){suffix}", cause, details=details)
    if status == 404:
        return context.make(NotFound, f"{label} does not know {getattr(response.request, 'path_url', 'this route')} (HTTP 404){suffix}", cause, details=details)
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            details["retry_after"] = retry_after
        return context.make(RateLimited, f"{label} is rate limiting requests (HTTP 429){suffix}", cause, details=details)
    if 400 <= status < 500:
        return context.make(RequestRejected, f"{label} rejected the request (HTTP {status}){suffix}", cause, details=details)
    return context.make(ServiceError, f"{label} failed with HTTP {status}{suffix}", cause, details=details)


def server_message_of(response: Any, limit: int = 300) -> str:
    """The server's own error text: a JSON ``error.message``/``detail``/``message``, or short plain text."""
    content_type = response.headers.get("Content-Type", "")
    text = ""
    try:
        text = response.text or ""
    except Exception:  # noqa: BLE001 - a broken body must not hide the status
        return ""
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        message = _message_in(body)
        if message:
            return redact(message[:limit])
    if "html" in content_type.lower() or text.lstrip().lower().startswith("<!doctype") or text.lstrip().lower().startswith("<html"):
        return ""
    return redact(" ".join(text.split())[:limit])


def _message_in(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                inner = _message_in(value)
                if inner:
                    return inner
    return ""


def describe_unexpected(payload: Any, service: str | None, expected: str) -> MalformedResponse:
    """An answer of the wrong shape (HTML page, foreign JSON) where ``expected`` was wanted."""
    if isinstance(payload, (bytes, str)):
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        kind = "a web page" if "<html" in text[:500].lower() or "<!doctype" in text[:500].lower() else "text"
    else:
        kind = "JSON of another shape"
    return MalformedResponse(
        f"{service or 'The service'} answered with {kind} where {expected} was expected.",
        service=service,
        hints=list(MalformedResponse.default_hints),
    )
