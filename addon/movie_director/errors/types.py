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
    default_hints: ClassVar[tuple[str, ...]] = ()
    #: Likely causes and the command that checks them, for docs/troubleshooting.md.
    causes: ClassVar[tuple[str, ...]] = ()
    check: ClassVar[str] = "movie-director doctor"

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
    default_hints = (
        "Start {service} and wait until it says it is ready.",
        "Check the URL and port in Preferences → Add-ons → Movie Director (or your config file).",
        "Run `movie-director discover` to find services on other ports.",
    )
    causes = (
        'The service is not started, or has crashed.',
        'It listens on another port or only on another address (e.g. started without `--listen`).',
        'A firewall blocks the port.',
    )
    check = 'movie-director check URL'



class Timeout(ConnectionProblem):
    code = "timeout"
    title = "No answer in time"
    default_message = "{service} did not answer in time."
    default_hints = (
        "{service} may be busy loading a model: wait and try again.",
        "Raise the timeout for {service} in Preferences (1–300 s).",
        "If {service} is on another machine, check that the network and any VPN allow the connection.",
    )
    causes = (
        'The service is busy (loading a model, a long job) and answers late.',
        'A network or VPN problem drops packets on the way.',
        'The port accepts connections but the program behind it hangs.',
    )
    check = 'movie-director check URL --timeout 30'



class NameResolutionFailed(ConnectionProblem):
    code = "dns_failure"
    title = "Unknown host name"
    default_message = "The host name of {service} could not be found."
    default_hints = (
        "Check the spelling of the host in the URL.",
        "Use the machine's IP address instead of its name.",
        "If the name only works on a VPN, connect the VPN first.",
    )
    causes = (
        'A typo in the host name.',
        'The name only exists on a VPN or in a hosts file of another machine.',
    )
    check = 'movie-director doctor'



class TLSFailed(ConnectionProblem):
    code = "tls_error"
    title = "Secure connection failed"
    default_message = "A secure (https) connection to {service} could not be set up."
    default_hints = (
        "If {service} serves plain HTTP, use an http:// URL instead of https://.",
        "For a self-signed certificate, point `ca_bundle` in the service settings at its CA file.",
    )
    causes = (
        'An https:// URL for a service that speaks plain HTTP.',
        'A self-signed or expired certificate.',
    )
    check = 'movie-director check URL'



class ConnectionLost(ConnectionProblem):
    code = "connection_lost"
    title = "Connection lost"
    default_message = "The connection to {service} broke while waiting for an answer."
    default_hints = (
        "{service} may have stopped or restarted: check its console window.",
        "Work submitted while it was down is queued and sent again when it is back.",
    )
    causes = (
        'The service stopped or restarted while answering.',
        'A proxy or VPN cut the connection.',
    )
    check = 'movie-director status'



class WebSocketClosed(ConnectionProblem):
    code = "websocket_closed"
    title = "Live connection closed"
    default_message = "The live connection to {service} closed unexpectedly."
    default_hints = (
        "{service} may have restarted; the add-on reconnects by itself.",
        "A reverse proxy in front of {service} must allow WebSocket upgrades on /ws.",
    )
    causes = (
        'The service restarted.',
        'A reverse proxy does not forward WebSocket upgrades or closes idle ones.',
    )
    check = 'movie-director status --watch'



class ProxyFailed(ConnectionProblem):
    code = "proxy_error"
    title = "Proxy failed"
    default_message = "The HTTP proxy between you and {service} failed."
    default_hints = (
        "Check the HTTP_PROXY / HTTPS_PROXY environment variables.",
        "Local services (127.0.0.1) bypass proxies; for remote ones add the host to NO_PROXY if it needs no proxy.",
    )
    causes = (
        'HTTP_PROXY/HTTPS_PROXY point at a proxy that is down or refuses the host.',
    )
    check = 'movie-director doctor'



# -- Configuration ----------------------------------------------------------------------


class ConfigurationProblem(MovieDirectorError):
    category = "Configuration"
    code = "configuration_error"
    title = "Settings problem"


class ConfigError(ConfigurationProblem):
    """One or more configuration values are invalid; ``problems`` lists every one."""

    code = "config_invalid"
    title = "Invalid settings"
    default_message = "The Movie Director settings are invalid."
    default_hints = ("Fix the values listed, or run `movie-director config validate FILE` to see all problems.",)

    def __init__(self, message: str | None = None, *, problems: Sequence[ConfigProblem] = (), **kwargs: Any) -> None:
        self.problems = list(problems)
        if message is None and self.problems:
            message = "Invalid settings: " + "; ".join(problem.describe() for problem in self.problems)
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["problems"] = [problem.to_dict() for problem in self.problems]
        return data
    causes = (
        'A value of the wrong type or outside its range in the config file, the .blend or an environment variable.',
        'An unknown key (often a typo).',
        'A literal secret in a file.',
    )
    check = 'movie-director config validate FILE'



@dataclass(frozen=True)
class ConfigProblem:
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


class InvalidSetting(ConfigurationProblem):
    """A value the caller chose is outside what the service accepts; caught before sending.

    ``details`` holds ``field``, ``value`` and ``allowed`` so the UI can point at the field.
    """

    code = "invalid_setting"
    title = "Invalid setting"
    default_message = "A setting for {service} is outside the allowed range."
    default_hints = ("Change the value named above to one inside the allowed range.",)
    causes = (
        'A job setting (size, frames, steps…) outside what the model or service accepts.',
    )
    check = 'movie-director services --json'



class WrongService(ConfigurationProblem):
    code = "wrong_service"
    title = "A different program answers"
    default_message = "Something answers at this address, but it is not {service}."
    default_hints = (
        "Another program uses this port: check the port {service} prints when it starts.",
        "Run `movie-director discover` to see what runs on which port.",
    )
    causes = (
        'Another program (another web app, another AI tool) uses the configured port.',
        'The URL points at a web page or a proxy, not at the service.',
    )
    check = 'movie-director discover'



class NotAllowedOffline(ConfigurationProblem):
    code = "online_access_disabled"
    title = "Online access is off"
    default_message = "{service} is on another machine, and Blender's online access is turned off."
    default_hints = ("Allow online access in Edit → Preferences → System → Network, or use a service on this machine.",)
    causes = (
        "Blender's online access is off and the service is on another machine.",
    )
    check = 'movie-director doctor'



# -- Authentication ---------------------------------------------------------------------


class AuthenticationFailed(MovieDirectorError):
    category = "Authentication"
    code = "authentication_failed"
    title = "Access denied"
    default_message = "{service} refused the credentials (or none were sent)."
    default_hints = (
        "Set the API key in the environment variable named in the service settings (never in the .blend).",
        "Check that the key is still valid on the server.",
    )
    causes = (
        'No API key was sent: the environment variable named in the settings is not set.',
        'The key is wrong or was revoked.',
    )
    check = 'movie-director check SERVICE'



class PermissionDenied(AuthenticationFailed):
    code = "permission_denied"
    title = "Forbidden"
    default_message = "{service} understood the request but does not allow it."
    default_hints = (
        "The key may lack access to this model or route: check its permissions on the server.",
        "A reverse proxy may block this client: check its allow-list and auth header.",
    )
    causes = (
        'The key has no access to this model or route.',
        'A reverse proxy blocks the request (e.g. a cross-origin check).',
    )
    check = 'movie-director check SERVICE'



# -- Runtime ----------------------------------------------------------------------------


class ServiceError(MovieDirectorError):
    """The service answered, but with an error of its own."""

    category = "Runtime"
    code = "server_error"
    title = "The service reported an error"
    default_message = "{service} failed while handling the request."
    default_hints: ClassVar[tuple[str, ...]] = ("Look at the console window of {service} for the full error.", "Try again; if it repeats, restart {service}.")
    causes: ClassVar[tuple[str, ...]] = (
        'The service raised an error of its own (a bug, out of memory, a missing file).',
    )
    check = 'movie-director status'



class RequestRejected(ServiceError):
    code = "request_rejected"
    title = "Request rejected"
    default_message = "{service} rejected the request."
    default_hints: ClassVar[tuple[str, ...]] = ("Check the values sent; the message above says which one is wrong.",)
    causes: ClassVar[tuple[str, ...]] = (
        'A value in the request is not accepted by the service (its message says which).',
    )
    check = 'movie-director check SERVICE --json'



class WorkflowInvalid(RequestRejected):
    """A workflow refused before it ran; ``node_errors`` names each bad node and input.

    ``details["node_errors"]`` keeps ComfyUI's own shape (``{node_id: {"class_type",
    "errors": [{"type", "message", "details", "extra_info"}]}}``), whether the server
    sent it with a 400 or the add-on found the problem before sending.
    """

    code = "workflow_invalid"
    title = "Workflow not accepted"
    default_message = "{service} cannot run this workflow."
    default_hints = (
        "Fix the nodes and inputs listed above, or open the workflow in {service} to see them highlighted.",
        "Install any missing custom nodes and models, then restart {service}.",
    )
    causes = (
        'A node type from a custom node pack that is not installed.',
        'A required input left unconnected, or a value outside its allowed range.',
        'A workflow saved in the UI format instead of the API format.',
    )
    check = 'movie-director check SERVICE --json'

    @property
    def node_errors(self) -> dict[str, Any]:
        return dict(self.details.get("node_errors") or {})



class NotFound(ServiceError):
    code = "not_found"
    title = "Not found"
    default_message = "{service} does not know this route or item."
    default_hints = ("{service} may be an older or newer version: run `movie-director check` to see its version.",)
    causes = (
        'The service is a version without this route.',
        'The item (job, file, model) does not exist on the service.',
    )
    check = 'movie-director check SERVICE --json'



class RateLimited(ServiceError):
    code = "rate_limited"
    title = "Too many requests"
    default_message = "{service} asks us to slow down."
    default_hints = ("Wait a moment and try again.", "Configure a fallback model for busy times.")
    causes = (
        "Too many requests in a short time, or an upstream provider's quota is used up.",
    )
    check = 'movie-director llm models'



class MalformedResponse(ServiceError):
    code = "malformed_response"
    title = "Unexpected answer"
    default_message = "{service} sent an answer we could not understand."
    default_hints = (
        "Check that the URL points at {service} itself, not at a web page or another program.",
        "Update {service} and the add-on to versions that work together.",
    )
    causes = (
        'The URL points at a web page or another program.',
        'A proxy returned its own error page.',
        'Incompatible versions of the service and the add-on.',
    )
    check = 'movie-director check URL --json'



class JobFailed(ServiceError):
    code = "job_failed"
    title = "Generation failed"
    default_message = "{service} could not finish the job."
    default_hints = ("Read the message above: it is the service's own reason.", "Check the inputs and models the job uses.")
    causes = (
        "The job's inputs are wrong for the model, or a model or custom node is missing.",
        'The GPU ran out of memory.',
    )
    check = 'movie-director status'



class JobCancelled(ServiceError):
    code = "job_cancelled"
    title = "Job cancelled"
    default_message = "The job on {service} was cancelled."
    default_hints = ("Submit it again if the cancel was not intended.",)
    causes = (
        'Someone pressed cancel, or the service was interrupted.',
    )
    check = 'movie-director status'



class JobLost(ServiceError):
    code = "job_lost"
    title = "Job lost by the service"
    default_message = "{service} restarted and no longer knows this job."
    default_hints = ("Submit the job again.", "{service} keeps no history across restarts.")
    causes = (
        'The service restarted while the job was queued or running; it keeps no history across restarts.',
    )
    check = 'movie-director status'



class OperationTimeout(ServiceError):
    code = "operation_timeout"
    title = "Job took too long"
    default_message = "The job on {service} did not finish within the time allowed."
    default_hints = ("Raise the wait timeout, or check {service}'s console for a stuck job.",)
    causes = (
        'The job is longer than the wait allowed.',
        'The job is stuck on the service.',
    )
    check = 'movie-director status'



class QueueFull(ServiceError):
    code = "queue_full"
    title = "Too much waiting work"
    default_message = "Too many operations are waiting for {service} to come back."
    default_hints = ("Wait until {service} is back and the waiting work is sent, or cancel some of it.",)
    causes = (
        'The service has been down for long while work kept coming.',
    )
    check = 'movie-director status'



class PoolTimeout(ServiceError):
    code = "pool_timeout"
    title = "All connections busy"
    default_message = "All connections to {service} stayed busy for too long."
    default_hints = ("Wait for running requests to finish, or raise the pool size for {service}.",)
    causes = (
        'Many requests run at once and all connections stay busy.',
    )
    check = 'movie-director status --json'



# -- Version ----------------------------------------------------------------------------


class VersionProblem(MovieDirectorError):
    category = "Version"
    code = "version_mismatch"
    title = "Version not supported"
    default_message = "This version of {service} is not supported."
    default_hints = ("Update {service} to a supported version.", "Update the Movie Director add-on.")
    causes = (
        'The service is older or newer than the versions the add-on knows.',
    )
    check = 'movie-director check URL --json'



class UnsupportedVersion(VersionProblem):
    code = "unsupported_version"
    default_message = "This version of {service} lacks something the add-on needs."
    causes = (
        'The running version lacks an endpoint, node or parameter the add-on uses.',
    )
    check = 'movie-director check URL --json'



ALL_ERRORS: tuple[type[MovieDirectorError], ...] = (
    ConnectionRefused,
    Timeout,
    NameResolutionFailed,
    TLSFailed,
    ConnectionLost,
    WebSocketClosed,
    ProxyFailed,
    ConfigError,
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
