# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Exceptions raised by the PanDA plugin and its local PanDA, all under `PandaPluginError`.

Grouped by meaning.  A class also derives from a builtin only where it is that kind of error and
callers may catch it as such: `ValueError` for an invalid value (a configuration key, a job, a
submitted workflow, a request body), `KeyError` for an unknown request id, and the builtins the
published 30.x plugin raised where its callers catch them: `RuntimeError` (iDDS calls, staging, an
unknown ``<FILE:key>``), `OSError` (an environment that does not select OIDC).  The published
token errors (`PandaAuthError` and its subclasses) are defined here and re-exported by
``panda_exceptions``.  Catch
`PandaPluginError` for any failure of this package, or a group (`StagingError`, `IddsError`,
`SubmissionError`, `LocalPandaError`, ...) for one kind.

The worker-side decoders (``edgenode``) and the scripts of the servers' virtualenv
(``local/idds/scripts``) keep their own exceptions: they import only the standard library.
"""

from typing import Any

__all__ = [
    "AlreadyServedError",
    "AlreadySubmittedError",
    "AuthConfigError",
    "AuthEnvironmentError",
    "AuthError",
    "BadRequestBodyError",
    "BadTaskParametersError",
    "BuildRefusedError",
    "CacheUploadError",
    "ForbiddenClassError",
    "GraphTablesError",
    "GraphUnavailableError",
    "IddsCallError",
    "IddsError",
    "IddsOutageError",
    "IddsStackError",
    "IddsTransientError",
    "IddsUnknownRequestError",
    "IntakeError",
    "LocalPandaError",
    "NotPreparedError",
    "PandaAuthError",
    "PandaConfigError",
    "PandaEnvironmentError",
    "PandaPluginError",
    "PandaPrepareError",
    "PandaRunError",
    "PandaStagingError",
    "PandaUnreachableError",
    "PilotApiError",
    "PostgresError",
    "RequestNotRecordedError",
    "RealPandaError",
    "RetryRefusedError",
    "RunIdError",
    "SchemaError",
    "SchemaTooNewError",
    "StagedFileError",
    "StagingConflictError",
    "StagingError",
    "SubmissionError",
    "SubmissionRefusedError",
    "TaskTooLargeError",
    "TokenExpiredError",
    "TokenNotFoundError",
    "TokenRefreshError",
    "TokenRejectedError",
    "TokenTooEarlyError",
    "UnknownEngineError",
    "UnknownFileKeyError",
    "UnknownRequestError",
    "UnsafeTokenError",
    "VerbCallError",
    "WireCodecError",
]


class PandaPluginError(Exception):
    """Base of every exception this package raises (except the worker-side decoders')."""


# --- Configuration and environment ---------------------------------------------------------------


class PandaConfigError(PandaPluginError, ValueError):
    """A configuration value is missing or invalid (the message names the key)."""


class PandaEnvironmentError(PandaPluginError):
    """The environment lacks what the PanDA client needs (the message says what to set).

    Raised by ``run_submission_checks`` before ``bps submit`` prepares anything.
    """


# --- Prepare: GenericWorkflow to iDDS workflow ---------------------------------------------------


class PandaPrepareError(PandaPluginError, ValueError):
    """A job cannot be converted into a PanDA task (the message names the job)."""


class UnknownFileKeyError(PandaPrepareError, RuntimeError):
    """A command line names ``<FILE:key>`` for a file the job does not have.

    A `RuntimeError` as well: the published ``CommandLineEmbedder`` raised one.
    """


class UnsafeTokenError(PandaPrepareError):
    """A name or value outside the safe set, in a published pseudo-input format.

    Raised while naming a job's pseudo input; the converter turns it into a
    `PandaPrepareError` naming the job and the value.
    """


class GraphTablesError(PandaPluginError):
    """The installed ctrl_bps or networkx no longer keep the tables this plugin reads."""


class GraphUnavailableError(PandaPluginError):
    """The task-graph picture cannot be drawn: pydot or Graphviz's ``dot`` is not installed."""


# --- Staging files to fileDistributionEndPoint -----------------------------------------------------


class StagingError(PandaPluginError):
    """Base of the failures to stage files to ``fileDistributionEndPoint``."""


class PandaStagingError(StagingError, RuntimeError):
    """Files could not be staged to ``fileDistributionEndPoint``.

    A `RuntimeError` as well: the published ``copy_files_for_distribution`` raised one.

    Parameters
    ----------
    message : `str`
        Summary naming every file that failed and why.
    failures : `dict` [`str`, `str`]
        Reason of the failure by name at the end point.
    staged : `tuple` [`str`, ...]
        Names verified to be at the end point despite the failures.
    """

    def __init__(self, message: str, failures: dict[str, str], staged: tuple[str, ...]) -> None:
        super().__init__(message)
        self.failures = failures
        self.staged = staged


class StagedFileError(StagingError):
    """One file did not arrive whole: a directory was not created, or a copy is missing or short.

    Raised for one transfer; `PandaStagingError` then reports it with the other failures.
    """


class StagingConflictError(StagedFileError):
    """The target exists with content different from the source (and overwrite is off)."""


# --- iDDS through the PanDA relay ------------------------------------------------------------------


class IddsError(PandaPluginError, RuntimeError):
    """A call to iDDS through the PanDA relay failed.

    A `RuntimeError` as well: the published ``idds_call_with_check`` raised one.

    Parameters
    ----------
    call : `str`
        Name of the iDDS call.
    request_id : `int` or `str` or `None`
        The request concerned, if any.
    message : `str`
        What the server (or the network) said.
    """

    def __init__(self, call: str, request_id: Any, message: str) -> None:
        self.call = call
        self.request_id = request_id
        self.server_message = message
        about = f" for request {request_id}" if request_id is not None else ""
        super().__init__(f"iDDS {call}{about} failed: {message}")


class IddsCallError(IddsError):
    """The server answered and refused the call (not retried)."""


class IddsUnknownRequestError(IddsCallError):
    """The request id is unknown to iDDS."""


class IddsTransientError(IddsError):
    """The server could not be reached or failed temporarily (retried, then raised).

    Parameters
    ----------
    call : `str`
        Name of the iDDS call.
    request_id : `int` or `str` or `None`
        The request concerned, if any.
    message : `str`
        What the server (or the network) said.
    sent : `bool`, optional
        Whether the call may have reached the server (a submit may then exist).
    """

    def __init__(self, call: str, request_id: Any, message: str, *, sent: bool = True) -> None:
        super().__init__(call, request_id, message)
        self.sent = sent


class IddsOutageError(IddsTransientError):
    """The PanDA relay answered, but iDDS behind it did not (retried within a time budget)."""


class PandaUnreachableError(PandaPluginError):
    """PanDA (or iDDS behind it) does not answer the ping of ``run_submission_checks``."""


# --- Submission ------------------------------------------------------------------------------------


class SubmissionError(PandaPluginError):
    """Base of the failures to submit a workflow (or a remote build) as an iDDS request."""


class AlreadySubmittedError(SubmissionError):
    """The prepared workflow was submitted before (its submit directory records the request)."""


class NotPreparedError(SubmissionError, ValueError):
    """A workflow handed to submit has no iDDS workflow: it was not prepared."""


class TaskTooLargeError(SubmissionError, ValueError):
    """A task's dependency map is larger than one request step (``maxRequestLength``)."""


class RunIdError(PandaPluginError, ValueError):
    """A run id (``--id``) is neither a PanDA request id nor a submitted run's directory."""


class SubmissionRefusedError(SubmissionError):
    """The submission got no request id from iDDS, or a workflow step got a non-zero code."""


class RequestNotRecordedError(SubmissionError):
    """The request was submitted, but recording its id in the submit directory failed.

    The message names the request id, to use with ``--id`` instead of submitting again.
    """


# --- Remote build, notebook, panda_auth ------------------------------------------------------------


class CacheUploadError(PandaPluginError):
    """The remote build's archive could not be put in the PanDA cache; nothing was submitted."""


class PandaRunError(PandaPluginError):
    """PanDA refused or could not answer a notebook's request about a run (`PandaRun`)."""


class AuthError(PandaPluginError):
    """A failure ``panda_auth`` reports in one line, with its exit code.

    Parameters
    ----------
    code : `int`
        The exit code, an `~lsst.ctrl.bps.panda.auth.oidc_token.AuthExit`.
    message : `str`
        What the user reads, with what to do.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AuthEnvironmentError(AuthError, OSError):
    """The environment does not select OIDC (``PANDA_AUTH``, ``PANDA_AUTH_VO``, ``PANDA_URL_SSL``).

    An `OSError` as well: the published ``panda_auth_utils`` raised one for a missing variable.
    """

    def __str__(self) -> str:
        return self.message


class PandaAuthError(AuthError):
    """A token failure, under the published plugin's name (``panda_exceptions``); base of the ones below.

    Parameters
    ----------
    message : `str`
        What the user reads, with what to do.
    code : `int`, optional
        The exit code of ``panda_auth``; the class's `default_code` when not given.
    """

    default_code = 1
    """Exit code when none is given (``AuthExit.USAGE``)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(self.default_code if code is None else code, message)


class TokenNotFoundError(PandaAuthError):
    """There is no token file, or it holds no readable token."""

    default_code = 2


class TokenExpiredError(PandaAuthError):
    """The ID token expired, or the identity provider refused its refresh token as expired."""

    default_code = 3


class TokenTooEarlyError(PandaAuthError):
    """``panda_auth_refresh`` was asked to renew a token that expires after the ``days`` it was given."""


class AuthConfigError(PandaAuthError):
    """The PanDA server's auth configuration or the identity provider's endpoints cannot be read."""

    default_code = 4


class TokenRefreshError(PandaAuthError):
    """The identity provider did not renew the token."""

    default_code = 6


# --- The local PanDA -------------------------------------------------------------------------------


class LocalPandaError(PandaPluginError):
    """Base of the failures of the local PanDA (its server, state, engines and iDDS stack)."""


class AlreadyServedError(LocalPandaError):
    """Another server holds the state directory."""


class UnknownEngineError(LocalPandaError, ValueError):
    """An engine name that is not one of ``panda_local``'s engines (``--engine`` or ``<state>/engine``)."""


class SchemaError(LocalPandaError):
    """The database of a state directory is not in a layout this code can use."""


class SchemaTooNewError(SchemaError):
    """The database was written by a newer ctrl_bps_panda than this one."""


class UnknownRequestError(LocalPandaError, KeyError):
    """The local PanDA's store has no request with this id.

    A `KeyError` (a failed look-up by id); the message is the sentence, not the quoted key.
    """

    def __str__(self) -> str:
        return f"Request {self.args[0]} does not exist in the local PanDA"


class RetryRefusedError(LocalPandaError):
    """A retry was asked for a request that still runs."""


class BuildRefusedError(LocalPandaError):
    """``update_build_request`` refused, with the text the real relay answers (iDDS's REST error)."""


class IntakeError(LocalPandaError, ValueError):
    """A submitted workflow cannot run in the local PanDA (message says why)."""


class BadTaskParametersError(LocalPandaError, ValueError):
    """Task parameters the local PanDA cannot run (the message names the key)."""


class WireCodecError(LocalPandaError, ValueError):
    """Base of the refusals of a relay call's body by the local PanDA's wire codec."""


class BadRequestBodyError(WireCodecError):
    """The body is not a relay call (undecodable, or no command name)."""


class ForbiddenClassError(WireCodecError):
    """The iDDS-JSON names a class outside ``ALLOWED_CLASSES``."""


class VerbCallError(LocalPandaError):
    """An error inside an embedded iDDS verb: replied as ``[true, [false, message]]``."""


class TokenRejectedError(LocalPandaError):
    """A token this local PanDA does not accept.

    Parameters
    ----------
    status : `int`
        The HTTP status of the refusal (401 expired, 403 not ours).
    message : `str`
        What the user reads, with what to do.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class IddsStackError(LocalPandaError):
    """The local iDDS stack could not be found or started, or is not running."""


class RealPandaError(LocalPandaError):
    """The real PanDA stack (panda-server, JEDI, their PostgreSQL) could not be set up, started or reached."""


class PilotApiError(LocalPandaError):
    """A call of the real PanDA server's pilot API failed or was refused (the message names the call)."""


class PostgresError(IddsStackError):
    """PostgreSQL, under the local iDDS stack, could not be found, initialised, started or stopped."""
