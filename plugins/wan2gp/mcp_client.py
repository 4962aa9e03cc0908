"""A small synchronous MCP client: JSON-RPC 2.0 over streamable HTTP, on ``requests``.

Why not the ``mcp`` SDK: it is asyncio-only and pins its own pydantic, and our library
is thread-based. Wan2GP's headless server (FastMCP, ``stateless_http``, JSON responses)
needs no more than one POST per call, so this client is that POST, done carefully:

- ``initialize`` only when the server wants it: a stateless server answers
  ``tools/list`` straight away; a stateful one refuses a call without a session
  (HTTP 400 "Missing session ID", or 404 once its session is gone), and then we
  initialize and send the refused call again — safe, because it never ran.
- Answers come as one JSON body or as a short SSE stream (LiteLLM's MCP gateway); both
  are read, bounded by the read timeout.
- Two sessions: calls that are safe to repeat get urllib3's status retries; the rest
  (``wangp_generate``, one-use transfer URLs) are retried only when the connection was
  refused, i.e. when the request never reached the server.
- JSON-RPC ``error`` objects and tool errors (``isError``) become our typed errors,
  carrying the server's own message.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Self
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from movie_director import __version__
from movie_director.configdata import ServiceConfig
from movie_director.errors import (
    MalformedResponse,
    MovieDirectorError,
    NotFound,
    RequestRejected,
    ServiceError,
    UnsupportedVersion,
    WrongService,
    describe_unexpected,
    map_exception,
)
from movie_director.http import build_session, call
from movie_director.sse import iter_events

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "2025-03-26"
ACCEPT = "application/json, text/event-stream"
SESSION_HEADER = "Mcp-Session-Id"
#: SSE messages read at most while waiting for the answer (servers may send notifications first).
MAX_STREAM_MESSAGES = 1000
#: Methods whose 429/502/503/504 answers urllib3 retries. Never empty: urllib3 2 reads an
#: empty set as "every method". POST and PUT are missing from the one-shot set on purpose.
_RETRY_REPEATABLE = frozenset({"POST", "GET", "HEAD"})
_RETRY_ONE_SHOT = frozenset({"GET", "HEAD"})
_TOOL_PREFIX = "Error executing tool "


def endpoint_of(url: str) -> str:
    """The MCP endpoint for a server URL: ``http://h:p`` and ``http://h:p/mcp`` → ``http://h:p/mcp/``.

    FastMCP mounts its endpoint at ``/mcp/`` and redirects ``/mcp`` there (307); going
    straight to the slash saves a round trip per call. Another path is kept as given.
    """
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if not path:
        path = "/mcp"
    return urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))


class MCPClient:
    """One MCP server, called synchronously from any thread.

    ``session`` sends calls that must not be repeated; ``retrying_session`` (default: the
    same) sends the ones that may be. :meth:`for_service` builds both for a configured
    service; probes pass one throw-away session.
    """

    def __init__(
        self,
        endpoint: str,
        session: requests.Session,
        retrying_session: requests.Session | None = None,
        *,
        service: str = "the MCP server",
        start_hint: str | None = None,
        client_name: str = "movie-director-connect",
    ) -> None:
        self.endpoint = endpoint
        self.service = service
        self.start_hint = start_hint
        self.server_info: dict[str, Any] = {}
        self.protocol_version = ""
        self._once = session
        self._retrying = retrying_session or session
        self._client_name = client_name
        self._ids = itertools.count(1)
        self._session_id: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_service(cls, service: ServiceConfig, endpoint: str, label: str, start_hint: str | None = None) -> MCPClient:
        """A client with the service's timeouts, auth, TLS and proxy, and its two retry policies."""
        return cls(
            endpoint,
            build_session(service, pool_size=4, retry_methods=_RETRY_ONE_SHOT),
            build_session(service, pool_size=4, retry_methods=_RETRY_REPEATABLE),
            service=label,
            start_hint=start_hint,
        )

    # -- MCP methods ---------------------------------------------------------------------

    def initialize(self) -> dict[str, Any]:
        """Open an MCP session (only stateful servers need one); remembers the server's info."""
        with self._lock:
            self._session_id = None
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": self._client_name, "version": __version__},
        }
        result, response = self._post(self._message("initialize", params), self._retrying, None)
        if not isinstance(result, Mapping):
            raise describe_unexpected(result, self.service, "an MCP initialize answer")
        session_id = response.headers.get(SESSION_HEADER)
        with self._lock:
            self._session_id = session_id
            self.server_info = dict(result.get("serverInfo") or {})
            self.protocol_version = str(result.get("protocolVersion") or "")
        self.notify("notifications/initialized")
        return dict(result)

    def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        """A JSON-RPC notification (no answer expected; servers reply 202)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = dict(params)
        response = call(self._retrying, "POST", self.endpoint, service=self.service, start_hint=self.start_hint, json=message, headers=self._headers())
        response.close()

    def ping(self, timeout: float | tuple[float, float] | None = None) -> None:
        """The cheapest round trip MCP has (for health checks)."""
        self.request("ping", timeout=timeout)

    def list_tools(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Every tool the server offers (follows ``nextCursor`` pages, at most 50)."""
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(50):
            result = self.request("tools/list", {"cursor": cursor} if cursor else None, timeout=timeout)
            page = result.get("tools") if isinstance(result, Mapping) else None
            if not isinstance(page, list):
                raise describe_unexpected(result, self.service, "a list of MCP tools")
            tools.extend(dict(tool) for tool in page if isinstance(tool, Mapping) and isinstance(tool.get("name"), str))
            cursor = result.get("nextCursor")
            if not cursor:
                break
        return tools

    def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        repeatable: bool = True,
        timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        """Call tool ``name`` and return its value (see :func:`tool_value`).

        ``repeatable=False`` for calls that must never be sent twice (they start work).
        """
        result = self.request("tools/call", {"name": name, "arguments": dict(arguments or {})}, repeatable=repeatable, timeout=timeout)
        return tool_value(result, name, self.service)

    def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        repeatable: bool = True,
        timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        """Send one JSON-RPC request and return its ``result``; initializes first if the server insists."""
        message = self._message(method, params)
        session = self._retrying if repeatable else self._once
        try:
            result, _ = self._post(message, session, timeout)
        except (RequestRejected, NotFound) as error:
            if not self._wants_session(error) or method == "initialize":
                raise
            log.debug("%s wants an MCP session (%s); initializing", self.service, error)
            self.initialize()
            result, _ = self._post(self._message(method, params), session, timeout)
        return result

    # -- transfers -----------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """A transfer URL the server gave (usually an absolute path) as a full URL on this server.

        Refuses another origin: our credentials go to the server we were configured for only.
        """
        url = urljoin(self.endpoint, path_or_url)
        mine, theirs = urlsplit(self.endpoint), urlsplit(url)
        if (theirs.scheme, theirs.hostname, theirs.port) != (mine.scheme, mine.hostname, mine.port):
            raise MalformedResponse(
                f"{self.service} pointed a file transfer at another server ({theirs.scheme}://{theirs.netloc}); it was refused.",
                service=self.service,
                hints=["Check that the URL points at a trusted Wan2GP server.", *MalformedResponse.default_hints],
            )
        return url

    @property
    def transfer_session(self) -> requests.Session:
        """The session for one-use transfer URLs: never retried once the request was sent."""
        return self._once

    def close(self) -> None:
        self._once.close()
        if self._retrying is not self._once:
            self._retrying.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MCPClient {self.endpoint}>"

    # -- wire ----------------------------------------------------------------------------

    def _message(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = dict(params)
        return message

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        with self._lock:
            if self._session_id:
                headers[SESSION_HEADER] = self._session_id
            if self.protocol_version:
                headers["MCP-Protocol-Version"] = self.protocol_version
        return headers

    def _post(
        self, message: dict[str, Any], session: requests.Session, timeout: float | tuple[float, float] | None
    ) -> tuple[Any, requests.Response]:
        extra = {"timeout": timeout} if timeout is not None else {}
        try:
            response = call(session, "POST", self.endpoint, service=self.service, start_hint=self.start_hint,
                            json=message, headers=self._headers(), stream=True, **extra)
        except NotFound as error:
            if self._wants_session(error):
                raise
            raise WrongService(
                f"There is no MCP server at {self.endpoint} (HTTP 404).",
                service=self.service,
                hints=[hint for hint in (self.start_hint, "Use the URL the server prints when it starts, ending in /mcp.") if hint],
                cause=error,
                details=error.details,
            ) from error
        with response:
            answer = self._answer(response, message["id"])
        if not isinstance(answer, Mapping) or answer.get("jsonrpc") != "2.0" or ("result" not in answer and "error" not in answer):
            raise describe_unexpected(answer, self.service, "a JSON-RPC answer")
        if "error" in answer:
            raise rpc_error(answer["error"], str(message["method"]), self.service)
        return answer["result"], response

    def _answer(self, response: requests.Response, request_id: int) -> Any:
        content_type = response.headers.get("Content-Type", "").lower()
        try:
            if content_type.startswith("text/event-stream"):
                for data in _sse_messages(response):
                    if isinstance(data, Mapping) and data.get("id") == request_id and ("result" in data or "error" in data):
                        return data
                    log.debug("%s sent %s while we waited", self.service, str(data)[:200])
                raise MalformedResponse(f"{self.service} closed its event stream without answering.", service=self.service)
            body = response.content
        except MovieDirectorError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream broke while reading
            raise map_exception(exc, service=self.service, start_hint=self.start_hint) from exc
        try:
            return json.loads(body)
        except ValueError:
            raise describe_unexpected(body[:2048], self.service, "a JSON-RPC answer") from None

    def _wants_session(self, error: MovieDirectorError) -> bool:
        """A stateful server refusing a call for want of a (still valid) session."""
        status = error.details.get("status")
        if status == 400:
            return "session" in error.message.lower()
        with self._lock:
            had_session = self._session_id is not None
        return status == 404 and had_session


def _sse_messages(response: requests.Response) -> Iterator[Any]:
    """JSON payloads of an SSE stream's events (bounded); lines end only at CR/LF, never inside JSON."""
    for seen, event in enumerate(iter_events(response.iter_content(chunk_size=None)), start=1):
        try:
            yield json.loads(event.data)
        except ValueError:
            log.debug("ignoring a non-JSON SSE event")
        if seen >= MAX_STREAM_MESSAGES:
            return


def rpc_error(error: Any, method: str, service: str) -> MovieDirectorError:
    """A JSON-RPC ``error`` object as our typed error, with the server's message."""
    code = error.get("code") if isinstance(error, Mapping) else None
    text = str(error.get("message") or "") if isinstance(error, Mapping) else str(error)
    details = {"jsonrpc_code": code, "method": method}
    if code == -32601:
        return UnsupportedVersion(
            f"{service} does not support the MCP method {method}: {text}",
            service=service,
            hints=[f"Update {service} to a version with this method.", *UnsupportedVersion.default_hints],
            details=details,
        )
    if code in (-32700, -32600, -32602):
        return RequestRejected(f"{service} rejected the {method} request: {text}", service=service, details=details)
    return ServiceError(f"{service} failed while handling {method}: {text}", service=service, details=details)


def tool_value(result: Any, tool: str, service: str) -> Any:
    """The value a ``tools/call`` result carries, or the typed error it reports.

    FastMCP sends ``structuredContent``: the returned dict itself, or ``{"result": …}``
    wrapping any other value (lists, ``dict | None``). Without it, the text items are
    the value as JSON (one item per list element). ``isError`` results become
    :class:`RequestRejected` (or :class:`UnsupportedVersion` for an unknown tool).
    """
    if not isinstance(result, Mapping):
        raise describe_unexpected(result, service, f"the result of {tool}")
    texts = [str(item.get("text", "")) for item in result.get("content") or () if isinstance(item, Mapping) and item.get("type") == "text"]
    if result.get("isError"):
        raise tool_error(tool, " ".join(texts).strip(), service)
    structured = result.get("structuredContent")
    if isinstance(structured, Mapping):
        return structured["result"] if set(structured) == {"result"} else dict(structured)
    values = [_json_or_text(text) for text in texts]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def tool_error(tool: str, text: str, service: str) -> MovieDirectorError:
    """A tool's own error message (``Error executing tool X: …``) as a typed error."""
    message = text.removeprefix(f"{_TOOL_PREFIX}{tool}:").strip() or "no reason given"
    details = {"tool": tool, "server_message": message}
    if message.startswith("Unknown tool"):
        return UnsupportedVersion(
            f"{service} has no tool named {tool}.",
            service=service,
            hints=[f"Update {service} to a version that offers {tool}.", *UnsupportedVersion.default_hints],
            details=details,
        )
    return RequestRejected(f"{service} refused {tool}: {message}", service=service, details=details)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


__all__ = ["MCPClient", "endpoint_of", "rpc_error", "tool_error", "tool_value"]
