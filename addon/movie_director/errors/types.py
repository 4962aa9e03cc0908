"""Every failure the artist can meet, as typed errors with a plain message and fixes.

Modelled on urllib3's ``exceptions.py``: a small hierarchy whose classes carry their
own stable ``code``; instances carry the ``service`` they concern, a one-sentence
``message``, concrete ``hints`` and the original ``cause``. Where the fix can be
applied for the user, the error carries it as a :class:`Fix` (dream-textures'
``FixItError`` pattern): a button in Blender, a suggested command in the CLI.

:func:`~movie_director.errors.mapping.map_exception` is the one place where library exceptions become these errors.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from movie_director.errors.catalog import hints_for
from movie_director.redact import redact


@dataclass(frozen=True)
class Fix:
    """A change we can apply for the user, e.g. "use port 8189"."""

    label: str
    setting: str
    value: Any
    command: str = ""


class MovieDirectorError(Exception):
    """Base of every error this library raises on purpose."""

    code: ClassVar[str] = "error"
    category: ClassVar[str] = "Runtime"
    title: ClassVar[str] = "Something went wrong"
    default_message: ClassVar[str] = "{service} reported a problem."
    #: Shown with the error unless the raiser gives its own: the catalog's words for the code.
    default_hints: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "default_hints" not in vars(cls):  # a plugin's own error type may bring its own
            cls.default_hints = hints_for(cls)

    def __init__(
        self,
        message: str | None = None,
        *,
        service: str | None = None,
        hints: Sequence[str] | None = None,
        cause: BaseException | None = None,
        fix: Fix | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.service = service
        label = service or "the service"
        text = message or self.default_message.format(service=label)
        self.message = redact(_sentence(text))
        self.hints = [redact(_sentence(hint.format(service=label))) for hint in (hints if hints is not None else self.default_hints)]
        self.cause = cause
        self.fix = fix
        self.details = dict(details or {})
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Every field survives a pickle (a worker process, a queue that pickles).

        The cause goes along when it pickles itself; a library exception that holds a
        socket or a lock travels as a :class:`CauseSummary` with the same text.
        """
        state = dict(self.__dict__)
        state["cause"] = _picklable(self.cause)
        return (_rebuild, (type(self), self.message), state)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for the CLI's ``--json`` and for the add-on's notifications."""
        data: dict[str, Any] = {
            "code": self.code,
            "category": self.category,
            "service": self.service,
            "message": self.message,
            "hints": list(self.hints),
        }
        if self.fix is not None:
            data["fix"] = {"label": self.fix.label, "setting": self.fix.setting, "value": self.fix.value, "command": self.fix.command}
        if self.details:
            data["details"] = json.loads(redact(json.dumps(self.details, default=str)))
        if self.cause is not None:
            data["cause"] = redact(describe_cause(self.cause))
        return data


def _sentence(text: str) -> str:
    """``text`` starting with a capital, as a sentence does (a label such as "the Gradio app at …" may open it)."""
    return text[:1].upper() + text[1:]



class CauseSummary(Exception):
    """What is left of an unpicklable cause after a pickle: its type name and text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)


def describe_cause(cause: BaseException) -> str:
    """The "Type: text" of a cause (a :class:`CauseSummary` already is that)."""
    return str(cause) if isinstance(cause, CauseSummary) else f"{type(cause).__name__}: {cause}"


def _picklable(cause: BaseException | None) -> BaseException | None:
    if cause is None:
        return None
    try:
        pickle.loads(pickle.dumps(cause))  # an exception with a required argument pickles but does not load
    except Exception:  # noqa: BLE001 - anything pickle can raise means "not this one"
        return CauseSummary(describe_cause(cause))
    return cause


def _rebuild(cls: type[MovieDirectorError], message: str) -> MovieDirectorError:
    """An empty instance of ``cls``; pickle then restores every field from the state."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


# -- Connection -------------------------------------------------------------------------


class ConnectionProblem(MovieDirectorError):
    """The service could not be reached or the link broke."""

    category = "Connection"
    code = "connection_error"
    title = "Cannot reach the service"


class ConnectionRefused(ConnectionProblem):
    code = "connection_refused"
    title = "Connection refused"
    default_message = "{service} is not running or not listening on this address."



class Timeout(ConnectionProblem):
    code = "timeout"
    title = "No answer in time"
    default_message = "{service} did not answer in time."



class NameResolutionFailed(ConnectionProblem):
    code = "dns_failure"
    title = "Unknown host name"
    default_message = "The host name of {service} could not be found."



class TLSFailed(ConnectionProblem):
    code = "tls_error"
    title = "Secure connection failed"
    default_message = "A secure (https) connection to {service} could not be set up."



class ConnectionLost(ConnectionProblem):
    code = "connection_lost"
    title = "Connection lost"
    default_message = "The connection to {service} broke while waiting for an answer."



class WebSocketClosed(ConnectionProblem):
    code = "websocket_closed"
    title = "Live connection closed"
    default_message = "The live connection to {service} closed unexpectedly."



class ProxyFailed(ConnectionProblem):
    code = "proxy_error"
    title = "Proxy failed"
    default_message = "The HTTP proxy between you and {service} failed."



# -- Configuration ----------------------------------------------------------------------


class SettingsError(MovieDirectorError):
    category = "Configuration"
    code = "configuration_error"
    title = "Settings problem"


class InvalidConfigError(SettingsError):
    """One or more configuration values are invalid; ``problems`` lists every one."""

    code = "config_invalid"
    title = "Invalid settings"
    default_message = "The Movie Director settings are invalid."

    def __init__(self, message: str | None = None, *, problems: Sequence[ValueProblem] = (), **kwargs: Any) -> None:
        self.problems = list(problems)
        if message is None and self.problems:
            message = "Invalid settings: " + "; ".join(problem.describe() for problem in self.problems)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["problems"] = [problem.to_dict() for problem in self.problems]
        return data



@dataclass(frozen=True)
class ValueProblem:
    """One bad value: where it is, which layer set it, and what is allowed."""

    pointer: str
    layer: str
    problem: str
    value: Any = None
    allowed: str = ""
    source: str = ""

    def describe(self) -> str:
        where = f"{self.layer} {self.source}".strip()
        allowed = f" (allowed: {self.allowed})" if self.allowed else ""
        return f"{self.pointer or '/'} in {where}: {self.problem}{allowed}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pointer": self.pointer,
            "layer": self.layer,
            "source": self.source,
            "problem": self.problem,
            "value": self.value,
            "allowed": self.allowed,
        }


class InvalidSetting(SettingsError):
    """A value the caller chose is outside what the service accepts; caught before sending.

    ``details`` holds ``field``, ``value`` and ``allowed`` so the UI can point at the field.
    """

    code = "invalid_setting"
    title = "Invalid setting"
    default_message = "A setting for {service} is outside the allowed range."



class WrongService(SettingsError):
    code = "wrong_service"
    title = "A different program answers"
    default_message = "Something answers at this address, but it is not {service}."



class NotAllowedOffline(SettingsError):
    code = "online_access_disabled"
    title = "Online access is off"
    default_message = "{service} is on another machine, and Blender's online access is turned off."



# -- Authentication ---------------------------------------------------------------------


class AuthenticationFailed(MovieDirectorError):
    category = "Authentication"
    code = "authentication_failed"
    title = "Access denied"
    default_message = "{service} refused the credentials (or none were sent)."



class PermissionDenied(AuthenticationFailed):
    code = "permission_denied"
    title = "Forbidden"
    default_message = "{service} understood the request but does not allow it."



# -- Runtime ----------------------------------------------------------------------------


class ServiceError(MovieDirectorError):
    """The service answered, but with an error of its own."""

    category = "Runtime"
    code = "server_error"
    title = "The service reported an error"
    default_message = "{service} failed while handling the request."



class RequestRejected(ServiceError):
    code = "request_rejected"
    title = "Request rejected"
    default_message = "{service} rejected the request."



class WorkflowInvalid(RequestRejected):
    """A workflow refused before it ran; ``node_errors`` names each bad node and input.

    ``details["node_errors"]`` keeps ComfyUI's own shape (``{node_id: {"class_type",
    "errors": [{"type", "message", "details", "extra_info"}]}}``), whether the server
    sent it with a 400 or the add-on found the problem before sending.
    """

    code = "workflow_invalid"
    title = "Workflow not accepted"
    default_message = "{service} cannot run this workflow."

    @property
    def node_errors(self) -> dict[str, Any]:
        return dict(self.details.get("node_errors") or {})



class NotFound(ServiceError):
    code = "not_found"
    title = "Not found"
    default_message = "{service} does not know this route or item."



class RateLimited(ServiceError):
    code = "rate_limited"
    title = "Too many requests"
    default_message = "{service} asks us to slow down."



class MalformedResponse(ServiceError):
    code = "malformed_response"
    title = "Unexpected answer"
    default_message = "{service} sent an answer we could not understand."



class JobFailed(ServiceError):
    code = "job_failed"
    title = "Generation failed"
    default_message = "{service} could not finish the job."



class JobCancelled(ServiceError):
    code = "job_cancelled"
    title = "Job cancelled"
    default_message = "The job on {service} was cancelled."



class JobLost(ServiceError):
    code = "job_lost"
    title = "Job lost by the service"
    default_message = "{service} restarted and no longer knows this job."



class OperationTimeout(ServiceError):
    code = "operation_timeout"
    title = "Job took too long"
    default_message = "The job on {service} did not finish within the time allowed."



class QueueFull(ServiceError):
    code = "queue_full"
    title = "Too much waiting work"
    default_message = "Too many operations are waiting for {service} to come back."



class PoolTimeout(ServiceError):
    code = "pool_timeout"
    title = "All connections busy"
    default_message = "All connections to {service} stayed busy for too long."



# -- Version ----------------------------------------------------------------------------


class VersionProblem(MovieDirectorError):
    category = "Version"
    code = "version_mismatch"
    title = "Version not supported"
    default_message = "This version of {service} is not supported."



class UnsupportedVersion(VersionProblem):
    code = "unsupported_version"
    default_message = "This version of {service} lacks something the add-on needs."



ALL_ERRORS: tuple[type[MovieDirectorError], ...] = (
    ConnectionRefused,
    Timeout,
    NameResolutionFailed,
    TLSFailed,
    ConnectionLost,
    WebSocketClosed,
    ProxyFailed,
    InvalidConfigError,
    InvalidSetting,
    WrongService,
    NotAllowedOffline,
    AuthenticationFailed,
    PermissionDenied,
    ServiceError,
    RequestRejected,
    WorkflowInvalid,
    NotFound,
    RateLimited,
    MalformedResponse,
    JobFailed,
    JobCancelled,
    JobLost,
    OperationTimeout,
    QueueFull,
    PoolTimeout,
    VersionProblem,
    UnsupportedVersion,
)


def says_nothing_about_kind(error: MovieDirectorError) -> bool:
    """True when ``error`` leaves open which program answers: unreachable, too slow, busy (429) or broken (5xx).

    A probe raises these instead of saying "not mine", so that a ComfyUI loading a model
    is reported as busy with its own message, not as "a different program answers".
    """
    return isinstance(error, (ConnectionProblem, RateLimited)) or error.code == ServiceError.code
