# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The relay server: PanDA's ``relay_idds_command`` on 127.0.0.1.

A Flask application served by waitress, bound to the loopback interface
only.  ``POST /server/panda/relay_idds_command`` takes what the unmodified
``pandaclient.idds_api`` sends, checks the bearer token before anything
else (missing: HTTP 401; wrong: HTTP 403), decodes the call with the
restricted iDDS-JSON loader and replies ``[true, <return value>]``;
``[true, [false, "msg"]]`` for errors inside a call (unknown request,
bad arguments, forbidden class) and ``[false, "msg"]`` when the relay
itself cannot serve (undecodable body, unknown command).
"""

from __future__ import annotations

import hmac
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import waitress
from flask import Flask, Response, request
from idds.common.constants import RequestStatus

from ..identity import token_identity
from .builds import BuildRefusedError, idds_error_text
from .cache import cache_blueprint
from .codec import BadRequestBodyError, ForbiddenClassError, decode_body, encode_reply
from .early_auth import channel_class_for
from .engine import LocalPanda
from .intake import IntakeError
from .jobstates import TERMINAL_REQUEST_STATES as TERMINAL_REQUESTS
from .monitor import monitor_blueprint
from .records import group_contents, new_request_record, request_record, task_record
from .retry import RetryRefusedError
from .statedir import StateDir, local_url
from .store import UnknownRequestError

__all__ = ["RELAY_PATH", "LocalPandaServer", "Verbs", "create_app"]

_LOG = logging.getLogger(__name__)

RELAY_PATH = "/server/panda/relay_idds_command"
"""Where the PanDA client posts iDDS commands (``$PANDA_URL_SSL/relay_idds_command``)."""

COMMAND_REGISTERED = [[0, {"status": 0, "message": "Command registered successfully"}]]
"""What iDDS answers to ``abort`` and ``retry``."""

NO_MATCH_REQUESTS = [[-1, {"status": -1, "message": "No match requests"}]]
"""What iDDS answers to ``abort`` and ``retry`` of an unknown request (``get_requests``: ``[]``,
``get_contents_output_ext``: ``{}``)."""


class CallError(Exception):
    """An error inside a call: replied as ``[true, [false, message]]``."""


def _request_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CallError(f"request_id must be an integer, got {value!r}") from None


class Verbs:
    """The ``ClientManager`` methods the local PanDA serves.

    Parameters
    ----------
    engine : `LocalPanda`
        The engine behind them.
    caller : `str`, optional
        The identity requests are recorded under: like the real relay, the server names the
        owner from the caller's credential (here the ``sub`` of its own token), whatever
        ``username`` the client passes.
    """

    def __init__(self, engine: LocalPanda, caller: str | None = None) -> None:
        self.engine = engine
        self.store = engine.store
        self.caller = caller

    def ping(self) -> dict[str, str]:
        """Answer like iDDS's ping."""
        return {"Status": "OK"}

    def submit(
        self,
        workflow: Any,
        username: str | None = None,
        userdn: str | None = None,
        use_dataset_name: bool = False,
    ) -> int:
        """Create a request (or keep a workflow step, returning 0)."""
        if not hasattr(workflow, "get_internal_id"):
            raise CallError(f"submit expects an iDDS Workflow, got {type(workflow).__name__}")
        try:
            return self.engine.submit(workflow, username=self.caller or username)
        except IntakeError as exc:
            raise CallError(str(exc)) from None

    def submit_build(
        self,
        workflow: Any,
        username: str | None = None,
        userdn: str | None = None,
        use_dataset_name: bool = True,
    ) -> int:
        """Create a build request (remote build): its one job builds the workflow on the worker."""
        if not hasattr(workflow, "get_internal_id"):
            raise CallError(f"submit_build expects an iDDS Workflow, got {type(workflow).__name__}")
        try:
            return self.engine.submit_build(workflow, username=self.caller or username)
        except IntakeError as exc:
            raise CallError(str(exc)) from None

    def update_build_request(self, request_id: Any, signature: Any, workflow: Any) -> dict[str, str]:
        """Take the workflow a build job made; the build request runs it (same id)."""
        found = _request_id(request_id)
        if found is None or not hasattr(workflow, "get_internal_id"):
            raise CallError("signature and workflow are required")
        try:
            self.engine.update_build(found, str(signature), workflow)
        except UnknownRequestError:
            raise CallError(idds_error_text(f"Request {found} is not found")) from None
        except (BuildRefusedError, IntakeError) as exc:
            raise CallError(str(exc)) from None
        return {"request_id": str(found)}

    def _resolve(self, request_id: Any, workload_id: Any) -> int:
        found = _request_id(request_id)
        if found is None and workload_id not in (None, ""):
            found = self.store.request_for_workload(int(workload_id))
            if found is None:
                raise CallError(f"No request has a task with workload_id {workload_id}")
        if found is None:
            raise CallError("Both request_id and workload_id are None. One of them should not be None")
        self.store.request(found)
        return found

    def get_requests(
        self,
        request_id: Any = None,
        workload_id: Any = None,
        with_detail: bool = False,
        with_metadata: bool = False,
    ) -> list[dict[str, Any]]:
        """Return request records, or one record per task with ``with_detail``."""
        if request_id in (None, "") and workload_id in (None, ""):
            requests = self.store.requests()
        else:
            try:
                requests = [self.store.request(self._resolve(request_id, workload_id))]
            except UnknownRequestError:
                return []
        if not with_detail:
            return self._with_fault([request_record(row) for row in requests])
        new = [row for row in requests if row["status"] == RequestStatus.New.value]
        taken = [row["request_id"] for row in requests if row["status"] != RequestStatus.New.value]
        tasks = self.store.tasks(taken)
        counts = self.store.job_counts([task["task_id"] for task in tasks])
        by_id = {row["request_id"]: row for row in requests}
        records = [new_request_record(row) for row in new]
        records += [task_record(by_id[task["request_id"]], task, counts[task["task_id"]]) for task in tasks]
        return self._with_fault(records)

    def _with_fault(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Put the engine's fault (disk full...) in the errors of the requests still running."""
        fault = self.engine.fault
        if fault:
            for record in records:
                if record["status"] not in TERMINAL_REQUESTS:
                    record["errors"] = fault
        return records

    def local_status(self) -> dict[str, Any]:
        """Return the engine's condition (``panda_local status``; not an iDDS command)."""
        return self.engine.health()

    def get_contents_output_ext(
        self,
        request_id: Any = None,
        workload_id: Any = None,
        transform_id: Any = None,
        group_by_jedi_task_id: bool = False,
    ) -> dict[int, list[dict[str, Any]]]:
        """Return one record per job (content and PanDA job), keyed by transform id."""
        try:
            found = self._resolve(request_id, workload_id)
        except UnknownRequestError:
            return {}
        tasks = self.store.tasks([found])
        if workload_id not in (None, ""):
            tasks = [task for task in tasks if task["workload_id"] == int(workload_id)]
        if transform_id not in (None, ""):
            tasks = [task for task in tasks if task["task_id"] == int(transform_id)]
        return group_contents(tasks, self.store.jobs_with_last_attempt, bool(group_by_jedi_task_id))

    def abort(self, request_id: Any = None, workload_id: Any = None) -> list:
        """Cancel a request; running attempts are killed before the reply."""
        try:
            found = self._resolve(request_id, workload_id)
        except UnknownRequestError:
            return NO_MATCH_REQUESTS
        self.engine.abort(found)
        return COMMAND_REGISTERED

    def retry(self, request_id: Any = None, workload_id: Any = None) -> list:
        """Run the failed and missing jobs of an ended request again."""
        try:
            found = self._resolve(request_id, workload_id)
        except UnknownRequestError:
            return NO_MATCH_REQUESTS
        try:
            self.engine.retry(found)
        except RetryRefusedError as exc:
            raise CallError(str(exc)) from None
        return COMMAND_REGISTERED

    def call(self, name: str) -> Callable[..., Any] | None:
        """Return the verb called ``name`` (`None` if it is not one)."""
        if name.startswith("_") or name in ("call",):
            return None
        method = getattr(self, name, None)
        return method if callable(method) else None


def _reply(ok: bool, value: Any, status: int = 200) -> Response:
    return Response(encode_reply(ok, value), status=status, mimetype="application/json")


def _denied(status: int, message: str) -> Response:
    return Response(message, status=status, mimetype="text/plain")


def create_app(verbs: Verbs, token: str) -> Flask:
    """Return the WSGI application of the relay.

    Parameters
    ----------
    verbs : `Verbs`
        What the relay calls.
    token : `str`
        The bearer token every request must carry.
    """
    app = Flask("panda_local")
    expected = f"Bearer {token}".encode()

    @app.post(RELAY_PATH)
    def relay_idds_command() -> Response:
        authorization = request.headers.get("Authorization")
        if not authorization or not authorization.startswith("Bearer "):
            return _denied(
                401, "Missing bearer token: set PANDA_AUTH=oidc and PANDA_AUTH_ID_TOKEN (panda_local env)"
            )
        if not hmac.compare_digest(authorization.encode(), expected):
            return _denied(403, "Wrong bearer token for this local PanDA (see: panda_local env)")
        try:
            call = decode_body(request.get_data(cache=False))
        except BadRequestBodyError as exc:
            return _reply(False, f"Bad request: {exc}")
        method = verbs.call(call.command)
        if method is None:
            return _reply(False, f"{call.command} is not a command of the local PanDA (iDDS ClientManager)")
        try:
            args, kwargs = call.arguments()
            inspect.signature(method).bind(*args, **kwargs)
        except (ForbiddenClassError, BadRequestBodyError) as exc:
            _LOG.warning("Rejected %s: %s", call.command, exc)
            return _reply(True, [False, str(exc)])
        except TypeError as exc:
            return _reply(True, [False, f"Bad arguments for {call.command}: {exc}"])
        try:
            return _reply(True, method(*args, **kwargs))
        except (CallError, UnknownRequestError) as exc:
            return _reply(True, [False, str(exc)])
        except Exception as exc:
            _LOG.exception("%s failed", call.command)
            return _reply(True, [False, f"{call.command} failed: {exc}"])

    app.register_blueprint(monitor_blueprint(verbs, token, verbs.engine.state.work_dir))  # monitor pages
    app.register_blueprint(cache_blueprint(verbs.engine.state.root / "cache", token))  # putFile / getFile
    return app


class LocalPandaServer:
    """A local PanDA: engine plus relay, on 127.0.0.1.

    Parameters
    ----------
    state : `StateDir`
        Its state directory (one server per directory).
    port : `int`, optional
        TCP port; 0 takes the last port of this state directory if free,
        else any free port.
    threads : `int`, optional
        HTTP worker threads.
    **engine_options
        Passed to `LocalPanda` (``max_cores``, ``memory_mb``, ``queue_slots``).
    """

    HOST = "127.0.0.1"

    def __init__(self, state: StateDir, port: int = 0, threads: int = 4, **engine_options: Any) -> None:
        self.state = state
        self._port = port
        self._threads = threads
        self._engine_options = engine_options
        self.engine: LocalPanda | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.token = ""

    @property
    def port(self) -> int:
        """The port served."""
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        """``PANDA_URL`` of this server."""
        return local_url(self.port)

    def open(self) -> None:
        """Take the state directory, resume the engine and bind the socket.

        Raises
        ------
        AlreadyServedError
            Raised if another server holds the state directory.
        OSError
            Raised if the port cannot be bound.
        """
        self.state.acquire()
        try:
            self.token = self.state.token()
            self.engine = LocalPanda(self.state, **self._engine_options)
            self.engine.start()
            app = create_app(Verbs(self.engine, caller=token_identity(self.token)), self.token)
            port = self._port or self._reusable_port()
            self._server = waitress.create_server(
                app,
                host=self.HOST,
                port=port,
                threads=self._threads,
                ident="panda_local",
                max_request_body_size=2 * 1024**3,
                channel_timeout=600,
            )
            self._server.channel_class = channel_class_for(self.token)
            self.state.write_record(self.port)
            self.state.remember_port(self.port)
        except BaseException:
            self.close()
            raise
        _LOG.info("Local PanDA serving %s at %s", self.state.root, self.url)

    def _reusable_port(self) -> int:
        import socket

        port = self.state.last_port()
        if port:
            with socket.socket() as probe:
                # As waitress binds: a port left in TIME_WAIT by the last server is free to take.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.HOST, port))
                    return port
                except OSError:
                    pass
        return 0

    def serve_forever(self) -> None:
        """Serve until `close` (from a signal handler or another thread)."""
        try:
            self._server.run()
        except (KeyboardInterrupt, SystemExit):
            pass
        except OSError:
            # The socket map is closed under the loop on shutdown.
            if self._server is not None:
                raise

    def start_in_thread(self) -> None:
        """`open` and serve from a daemon thread (tests, notebooks)."""
        self.open()
        self._thread = threading.Thread(target=self.serve_forever, name="panda-local-http", daemon=True)
        self._thread.start()

    def close(self, kill_running: bool = False) -> None:
        """Stop serving, stop the engine and free the directory.

        Running attempts go on and the next start adopts them; with ``kill_running`` they are
        killed and run again at the next start.
        """
        server, self._server = self._server, None
        if server is not None:
            # Let requests in flight finish first: a worker thread still answering would otherwise
            # poke the server's trigger after it is closed.
            server.task_dispatcher.shutdown(timeout=5)
            server.close()
            # Open client connections keep waitress's loop alive: close them too.
            for channel in list(server._map.values()):
                channel.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.engine is not None:
            self.engine.stop(kill_running)
            self.engine = None
        self.state.release()
