"""What the artist reads about each error code: the hints shown with the error, its likely
causes and the command that checks them.

The error types (:mod:`~movie_director.errors.types`) take their default hints from here,
so the Blender panels, the CLI and ``doctor`` show the same words, and
docs/troubleshooting.md is generated from it (:mod:`movie_director.troubleshooting`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One code's text. ``hints`` None: the parent type's hints apply."""

    hints: tuple[str, ...] | None = None
    causes: tuple[str, ...] = ()
    check: str = "movie-director doctor"


CATALOG: dict[str, Entry] = {
    "connection_refused": Entry(  # ConnectionRefused
        hints=(
            "Start {service} and wait until it says it is ready.",
            "Check the URL and port in Preferences → Add-ons → Movie Director (or your config file).",
            "Run `movie-director discover` to find services on other ports.",
        ),
        causes=(
            'The service is not started, or has crashed.',
            'It listens on another port or only on another address (e.g. started without `--listen`).',
            'A firewall blocks the port.',
        ),
        check='movie-director check URL',
    ),
    "timeout": Entry(  # Timeout
        hints=(
            "{service} may be busy loading a model: wait and try again.",
            "Raise the timeout for {service} in Preferences (1–300 s).",
            "If {service} is on another machine, check that the network and any VPN allow the connection.",
        ),
        causes=(
            'The service is busy (loading a model, a long job) and answers late.',
            'A network or VPN problem drops packets on the way.',
            'The port accepts connections but the program behind it hangs.',
        ),
        check='movie-director check URL --timeout 30',
    ),
    "dns_failure": Entry(  # NameResolutionFailed
        hints=(
            "Check the spelling of the host in the URL.",
            "Use the machine's IP address instead of its name.",
            "If the name only works on a VPN, connect the VPN first.",
        ),
        causes=(
            'A typo in the host name.',
            'The name only exists on a VPN or in a hosts file of another machine.',
        ),
        check='movie-director doctor',
    ),
    "tls_error": Entry(  # TLSFailed
        hints=(
            "If {service} serves plain HTTP, use an http:// URL instead of https://.",
            "For a self-signed certificate, point `ca_bundle` in the service settings at its CA file.",
        ),
        causes=(
            'An https:// URL for a service that speaks plain HTTP.',
            'A self-signed or expired certificate.',
        ),
        check='movie-director check URL',
    ),
    "connection_lost": Entry(  # ConnectionLost
        hints=(
            "{service} may have stopped or restarted: check its console window.",
            "Work submitted while it was down is queued and sent again when it is back.",
        ),
        causes=(
            'The service stopped or restarted while answering.',
            'A proxy or VPN cut the connection.',
        ),
        check='movie-director status',
    ),
    "websocket_closed": Entry(  # WebSocketClosed
        hints=(
            "{service} may have restarted; the add-on reconnects by itself.",
            "A reverse proxy in front of {service} must allow WebSocket upgrades on /ws.",
        ),
        causes=(
            'The service restarted.',
            'A reverse proxy does not forward WebSocket upgrades or closes idle ones.',
        ),
        check='movie-director status --watch',
    ),
    "proxy_error": Entry(  # ProxyFailed
        hints=(
            "Check the HTTP_PROXY / HTTPS_PROXY environment variables.",
            "Local services (127.0.0.1) bypass proxies; for remote ones add the host to NO_PROXY if it needs no proxy.",
        ),
        causes=(
            'HTTP_PROXY/HTTPS_PROXY point at a proxy that is down or refuses the host.',
        ),
        check='movie-director doctor',
    ),
    "config_invalid": Entry(  # InvalidConfigError
        hints=("Fix the values listed, or run `movie-director config validate FILE` to see all problems.",),
        causes=(
            'A value of the wrong type or outside its range in the config file, the .blend or an environment variable.',
            'An unknown key (often a typo).',
            'A literal secret in a file.',
        ),
        check='movie-director config validate FILE',
    ),
    "invalid_setting": Entry(  # InvalidSetting
        hints=("Change the value named above to one inside the allowed range.",),
        causes=(
            'A job setting (size, frames, steps…) outside what the model or service accepts.',
        ),
        check='movie-director services --json',
    ),
    "wrong_service": Entry(  # WrongService
        hints=(
            "Another program uses this port: check the port {service} prints when it starts.",
            "Run `movie-director discover` to see what runs on which port.",
        ),
        causes=(
            'Another program (another web app, another AI tool) uses the configured port.',
            'The URL points at a web page or a proxy, not at the service.',
        ),
        check='movie-director discover',
    ),
    "online_access_disabled": Entry(  # NotAllowedOffline
        hints=("Allow online access in Edit → Preferences → System → Network, or use a service on this machine.",),
        causes=(
            "Blender's online access is off and the service is on another machine.",
        ),
        check='movie-director doctor',
    ),
    "authentication_failed": Entry(  # AuthenticationFailed
        hints=(
            "Set the API key in the environment variable named in the service settings (never in the .blend).",
            "Check that the key is still valid on the server.",
        ),
        causes=(
            'No API key was sent: the environment variable named in the settings is not set.',
            'The key is wrong or was revoked.',
        ),
        check='movie-director check SERVICE',
    ),
    "permission_denied": Entry(  # PermissionDenied
        hints=(
            "The key may lack access to this model or route: check its permissions on the server.",
            "A reverse proxy may block this client: check its allow-list and auth header.",
        ),
        causes=(
            'The key has no access to this model or route.',
            'A reverse proxy blocks the request (e.g. a cross-origin check).',
        ),
        check='movie-director check SERVICE',
    ),
    "server_error": Entry(  # ServiceError
        hints=("Look at the console window of {service} for the full error.", "Try again; if it repeats, restart {service}."),
        causes=(
            'The service raised an error of its own (a bug, out of memory, a missing file).',
        ),
        check='movie-director status',
    ),
    "request_rejected": Entry(  # RequestRejected
        hints=("Check the values sent; the message above says which one is wrong.",),
        causes=(
            'A value in the request is not accepted by the service (its message says which).',
        ),
        check='movie-director check SERVICE --json',
    ),
    "workflow_invalid": Entry(  # WorkflowInvalid
        hints=(
            "Fix the nodes and inputs listed above, or open the workflow in {service} to see them highlighted.",
            "Install any missing custom nodes and models, then restart {service}.",
        ),
        causes=(
            'A node type from a custom node pack that is not installed.',
            'A required input left unconnected, or a value outside its allowed range.',
            'A workflow saved in the UI format instead of the API format.',
        ),
        check='movie-director check SERVICE --json',
    ),
    "not_found": Entry(  # NotFound
        hints=("{service} may be an older or newer version: run `movie-director check` to see its version.",),
        causes=(
            'The service is a version without this route.',
            'The item (job, file, model) does not exist on the service.',
        ),
        check='movie-director check SERVICE --json',
    ),
    "rate_limited": Entry(  # RateLimited
        hints=("Wait a moment and try again.", "Configure a fallback model for busy times."),
        causes=(
            "Too many requests in a short time, or an upstream provider's quota is used up.",
        ),
        check='movie-director llm models',
    ),
    "malformed_response": Entry(  # MalformedResponse
        hints=(
            "Check that the URL points at {service} itself, not at a web page or another program.",
            "Update {service} and the add-on to versions that work together.",
        ),
        causes=(
            'The URL points at a web page or another program.',
            'A proxy returned its own error page.',
            'Incompatible versions of the service and the add-on.',
        ),
        check='movie-director check URL --json',
    ),
    "job_failed": Entry(  # JobFailed
        hints=("Read the message above: it is the service's own reason.", "Check the inputs and models the job uses."),
        causes=(
            "The job's inputs are wrong for the model, or a model or custom node is missing.",
            'The GPU ran out of memory.',
        ),
        check='movie-director status',
    ),
    "job_cancelled": Entry(  # JobCancelled
        hints=("Submit it again if the cancel was not intended.",),
        causes=(
            'Someone pressed cancel, or the service was interrupted.',
        ),
        check='movie-director status',
    ),
    "job_lost": Entry(  # JobLost
        hints=("Submit the job again.", "{service} keeps no history across restarts."),
        causes=(
            'The service restarted while the job was queued or running; it keeps no history across restarts.',
        ),
        check='movie-director status',
    ),
    "operation_timeout": Entry(  # OperationTimeout
        hints=("Raise the wait timeout, or check {service}'s console for a stuck job.",),
        causes=(
            'The job is longer than the wait allowed.',
            'The job is stuck on the service.',
        ),
        check='movie-director status',
    ),
    "queue_full": Entry(  # QueueFull
        hints=("Wait until {service} is back and the waiting work is sent, or cancel some of it.",),
        causes=(
            'The service has been down for long while work kept coming.',
        ),
        check='movie-director status',
    ),
    "pool_timeout": Entry(  # PoolTimeout
        hints=("Wait for running requests to finish, or raise the pool size for {service}.",),
        causes=(
            'Many requests run at once and all connections stay busy.',
        ),
        check='movie-director status --json',
    ),
    "version_mismatch": Entry(  # VersionProblem
        hints=("Update {service} to a supported version.", "Update the Movie Director add-on."),
        causes=(
            'The service is older or newer than the versions the add-on knows.',
        ),
        check='movie-director check URL --json',
    ),
    "unsupported_version": Entry(  # UnsupportedVersion
        causes=(
            'The running version lacks an endpoint, node or parameter the add-on uses.',
        ),
        check='movie-director check URL --json',
    ),
}


def entry_for(error_type: type) -> Entry:
    """The catalog entry of an error type's own code (an empty one for the abstract bases)."""
    return CATALOG.get(getattr(error_type, "code", ""), Entry())


def hints_for(error_type: type) -> tuple[str, ...]:
    """The hints shown with an error of this type: its own code's, else the nearest parent type's."""
    for klass in error_type.__mro__:
        entry = CATALOG.get(getattr(klass, "code", ""))
        if entry is not None and entry.hints is not None:
            return entry.hints
    return ()
