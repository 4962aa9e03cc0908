"""Every failure the artist can meet, as typed errors with a plain message and fixes.

:mod:`~movie_director.errors.types` holds the classes (code, title, message, hints,
cause; picklable), :mod:`~movie_director.errors.catalog` what the artist reads about
each code (hints, likely causes, the command that checks them),
:mod:`~movie_director.errors.mapping` turns library exceptions and HTTP error answers
into them. ``from movie_director.errors import X`` gives every name.
"""

from movie_director.errors.catalog import (
    CATALOG as CATALOG,
)
from movie_director.errors.catalog import (
    Entry as Entry,
)
from movie_director.errors.catalog import (
    entry_for as entry_for,
)
from movie_director.errors.catalog import (
    hints_for as hints_for,
)
from movie_director.errors.mapping import (
    describe_unexpected as describe_unexpected,
)
from movie_director.errors.mapping import (
    map_exception as map_exception,
)
from movie_director.errors.mapping import (
    response_error as response_error,
)
from movie_director.errors.mapping import (
    server_message_of as server_message_of,
)
from movie_director.errors.types import (
    ALL_ERRORS as ALL_ERRORS,
)
from movie_director.errors.types import (
    AuthenticationFailed as AuthenticationFailed,
)
from movie_director.errors.types import (
    CauseSummary as CauseSummary,
)
from movie_director.errors.types import (
    ConnectionLost as ConnectionLost,
)
from movie_director.errors.types import (
    ConnectionProblem as ConnectionProblem,
)
from movie_director.errors.types import (
    ConnectionRefused as ConnectionRefused,
)
from movie_director.errors.types import (
    Fix as Fix,
)
from movie_director.errors.types import (
    InvalidConfigError as InvalidConfigError,
)
from movie_director.errors.types import (
    InvalidSetting as InvalidSetting,
)
from movie_director.errors.types import (
    JobCancelled as JobCancelled,
)
from movie_director.errors.types import (
    JobFailed as JobFailed,
)
from movie_director.errors.types import (
    JobLost as JobLost,
)
from movie_director.errors.types import (
    MalformedResponse as MalformedResponse,
)
from movie_director.errors.types import (
    MovieDirectorError as MovieDirectorError,
)
from movie_director.errors.types import (
    NameResolutionFailed as NameResolutionFailed,
)
from movie_director.errors.types import (
    NotAllowedOffline as NotAllowedOffline,
)
from movie_director.errors.types import (
    NotFound as NotFound,
)
from movie_director.errors.types import (
    OperationTimeout as OperationTimeout,
)
from movie_director.errors.types import (
    PermissionDenied as PermissionDenied,
)
from movie_director.errors.types import (
    PoolTimeout as PoolTimeout,
)
from movie_director.errors.types import (
    ProxyFailed as ProxyFailed,
)
from movie_director.errors.types import (
    QueueFull as QueueFull,
)
from movie_director.errors.types import (
    RateLimited as RateLimited,
)
from movie_director.errors.types import (
    RequestRejected as RequestRejected,
)
from movie_director.errors.types import (
    ServiceError as ServiceError,
)
from movie_director.errors.types import (
    SettingsError as SettingsError,
)
from movie_director.errors.types import (
    Timeout as Timeout,
)
from movie_director.errors.types import (
    TLSFailed as TLSFailed,
)
from movie_director.errors.types import (
    UnsupportedVersion as UnsupportedVersion,
)
from movie_director.errors.types import (
    ValueProblem as ValueProblem,
)
from movie_director.errors.types import (
    VersionProblem as VersionProblem,
)
from movie_director.errors.types import (
    WebSocketClosed as WebSocketClosed,
)
from movie_director.errors.types import (
    WorkflowInvalid as WorkflowInvalid,
)
from movie_director.errors.types import (
    WrongService as WrongService,
)
from movie_director.errors.types import (
    describe_cause as describe_cause,
)
from movie_director.errors.types import (
    says_nothing_about_kind as says_nothing_about_kind,
)
