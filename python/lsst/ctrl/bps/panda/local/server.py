# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The relay server: PanDA's ``relay_idds_command`` on 127.0.0.1.

A Flask application served by waitress, bound to the loopback interface
only.  ``POST /server/panda/relay_idds_command`` takes what the unmodified
``pandaclient.idds_api`` sends, checks the bearer token before anything
else (`early_auth`: missing or expired: HTTP 401; not signed by this local
PanDA: HTTP 403), records requests under the token's subject, decodes the call with the
restricted iDDS-JSON loader and replies ``[true, <return value>]``;
``[true, [false, "msg"]]`` for errors inside a call (unknown request,
bad arguments, forbidden class) and ``[false, "msg"]`` when the relay
itself cannot serve (undecodable body, unknown command).

An `~lsst.ctrl.bps.panda.local.engine.engine_plugin.Engine` (`~lsst.ctrl.bps.panda.local.engines`)
runs the workflows.  ``embedded``: the local engine plays iDDS
(`~lsst.ctrl.bps.panda.local.embedded.embedded_verbs.Verbs`).  ``idds``: the real iDDS
(`~lsst.ctrl.bps.panda.local.idds.idds_engine.IddsEngine`) does, the relay forwards
each call to it, and the server also serves PanDA's task/job API to the iDDS daemons and their
conductor's messages; the local engine then only runs the PanDA jobs.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any

import waitress
from flask import Blueprint, Flask, Response, request

from ..errors import BadRequestBodyError, ForbiddenClassError, UnknownRequestError, VerbCallError
from .core.token_authority import DEFAULT_ID_LIFETIME, DEFAULT_REFRESH_LIFETIME, TokenAuthority
from .core.wire_codec import decode_body, encode_reply
from .embedded.embedded_verbs import Verbs
from .engine.engine_plugin import CommandRelay, Engine, MonitorVerbs
from .engine.engine_thread import LocalPanda
from .engines import engine_class
from .http.auth_gate import channel_class_for, install_authority, request_claims, request_refusal
from .http.file_cache import cache_blueprint
from .http.monitor_pages import monitor_blueprint
from .http.oidc_provider import oidc_blueprint
from .state.state_dir import StateDir, local_url

__all__ = ["RELAY_PATH", "LocalPandaServer", "Verbs", "create_app"]

_LOG = logging.getLogger(__name__)

RELAY_PATH = "/server/panda/relay_idds_command"
"""Where the PanDA client posts iDDS commands (``$PANDA_URL_SSL/relay_idds_command``)."""

TOKEN_CHECK_INTERVAL = 3600.0
"""Seconds between checks of the server's own token (`LocalPandaServer.keep_token_fresh`)."""


def _reply(ok: bool, value: Any, status: int = 200) -> Response:
    return Response(encode_reply(ok, value), status=status, mimetype="application/json")


def create_app(
    verbs: Verbs,
    token: str,
    authority: TokenAuthority | None = None,
    relay: CommandRelay | None = None,
    blueprints: tuple[Blueprint, ...] = (),
    monitor_verbs: MonitorVerbs | None = None,
) -> Flask:
    """Return the WSGI application of the relay.

    Parameters
    ----------
    verbs : `Verbs`
        What the relay calls (the embedded engine); each call runs as `Verbs.for_caller` with
        the claims of the request's token, which also name the caller to the real iDDS.
    token : `str`
        The server's own token (the monitor's login links are signed with it).
    authority : `tokens.TokenAuthority`, optional
        Issues and checks the tokens (default: one with the state directory's key).
    relay : `~lsst.ctrl.bps.panda.local.engine.engine_plugin.CommandRelay`, optional
        Forward the iDDS commands there instead (the ``idds`` engine's real iDDS);
        ``local_status`` stays served here.
    blueprints : `tuple` [`flask.Blueprint`], optional
        More endpoints (the PanDA task/job API of the ``idds`` engine).
    monitor_verbs : `~lsst.ctrl.bps.panda.local.engine.engine_plugin.MonitorVerbs`, optional
        What the monitor pages read (default: ``verbs``).
    """
    app = Flask("panda_local")
    authority = authority or TokenAuthority(verbs.engine.state.signing_key())
    install_authority(app, authority)

    @app.post(RELAY_PATH)
    def relay_idds_command() -> Response:
        claims = request_claims()
        if isinstance(claims, Response):
            return claims
        caller = verbs.for_caller(claims)
        try:
            call = decode_body(request.get_data(cache=False))
        except BadRequestBodyError as exc:
            return _reply(False, f"Bad request: {exc}")
        forward = relay is not None and call.command != "local_status"
        method = caller.call(call.command)
        if method is None and not forward:
            return _reply(False, f"{call.command} is not a command of the local PanDA (iDDS ClientManager)")
        try:
            args, kwargs = call.arguments()
            if method is not None and not forward:
                inspect.signature(method).bind(*args, **kwargs)
        except (ForbiddenClassError, BadRequestBodyError) as exc:
            _LOG.warning("Rejected %s: %s", call.command, exc)
            return _reply(True, [False, str(exc)])
        except TypeError as exc:
            return _reply(True, [False, f"Bad arguments for {call.command}: {exc}"])
        if forward or method is None:
            body = relay.forward(call, args, kwargs, caller.caller)  # type: ignore[union-attr]
            return Response(body, status=200, mimetype="application/json")
        try:
            return _reply(True, method(*args, **kwargs))
        except (VerbCallError, UnknownRequestError) as exc:
            return _reply(True, [False, str(exc)])
        except Exception as exc:
            _LOG.exception("%s failed", call.command)
            return _reply(True, [False, f"{call.command} failed: {exc}"])

    pages = monitor_blueprint(monitor_verbs or verbs, token, verbs.engine.state.work_dir)
    app.register_blueprint(pages)  # the monitor pages
    app.register_blueprint(oidc_blueprint(authority))  # the identity provider (panda_auth, logins)
    app.register_blueprint(cache_blueprint(verbs.engine.state.root / "cache"))  # putFile / getFile
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
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
    engine : `~lsst.ctrl.bps.panda.local.engine.engine_plugin.Engine` or `str`, optional
        What runs the workflows, or its name in `~lsst.ctrl.bps.panda.local.engines.ENGINES` (made
        with its defaults).  ``"embedded"`` (default): the local engine plays iDDS.  ``"idds"``: the
        real iDDS (REST service and daemons, `~lsst.ctrl.bps.panda.local.idds.idds_engine.IddsEngine`)
        runs the workflows; this server relays to it, serves PanDA's task/job API to its daemons and
        runs their jobs.
    token_lifetime, refresh_lifetime : `float`, optional
        Seconds the ID and refresh tokens it issues are valid (defaults: `tokens.TokenAuthority`).
    **engine_options
        Passed to `LocalPanda` (``max_cores``, ``memory_mb``, ``queue_slots``).
    """

    HOST = "127.0.0.1"

    def __init__(
        self,
        state: StateDir,
        port: int = 0,
        threads: int = 4,
        engine: Engine | str = "embedded",
        token_lifetime: float | None = None,
        refresh_lifetime: float | None = None,
        **engine_options: Any,
    ) -> None:
        self.workflow_engine = engine_class(engine)() if isinstance(engine, str) else engine
        """What runs the workflows (`engine` is the scheduling thread that runs the jobs)."""
        self.state = state
        self._lifetimes = (
            token_lifetime or DEFAULT_ID_LIFETIME,
            refresh_lifetime or DEFAULT_REFRESH_LIFETIME,
        )
        self._port = port
        self._threads = max(threads, self.workflow_engine.min_http_threads)
        self._engine_options = engine_options
        self.engine: LocalPanda | None = None
        self._token_checked = 0.0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.token = ""
        self.authority: TokenAuthority | None = None

    @property
    def port(self) -> int:
        """The port served."""
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        """``PANDA_URL`` of this server."""
        return local_url(self.port)

    @property
    def engine_name(self) -> str:
        """The name of the engine that runs the workflows."""
        return self.workflow_engine.name

    def open(self) -> None:
        """Take the state directory, resume the engine and bind the socket.

        With an engine that runs servers (the ``idds`` engine's iDDS stack), also start them;
        first serve at once when they call this server while they start.

        Raises
        ------
        AlreadyServedError
            Raised if another server holds the state directory.
        SchemaTooNewError
            Raised if a newer ctrl_bps_panda wrote the state directory's database (the message
            names it and says what to do).
        OSError
            Raised if the port cannot be bound.
        Exception
            One of the engine's ``user_errors`` if its servers cannot start (the message says
            which part and its log).
        """
        self.state.acquire()
        try:
            self.token = self.state.token()
            self.authority = TokenAuthority(self.state.signing_key(), *self._lifetimes)
            self.engine = LocalPanda(self.state, **self._engine_options)
            self._token_checked = time.monotonic()
            self.engine.pass_hooks.append(self.keep_token_fresh)
            self.engine.start()
            self._bind(self._application())
            self.state.write_record(
                self.port, id_lifetime=self._lifetimes[0], refresh_lifetime=self._lifetimes[1]
            )
            self.state.remember_port(self.port)
            if self.workflow_engine.runs_servers:
                self._serve_in_thread()
            self.workflow_engine.start_servers(self.state, self.port, self.token)
        except BaseException:
            self.close()
            raise
        _LOG.info("Local PanDA (%s engine) serving %s at %s", self.engine_name, self.state.root, self.url)

    def keep_token_fresh(self, interval: float = TOKEN_CHECK_INTERVAL) -> bool:
        """Renew the server's own token when less than a week is left; check every ``interval`` s.

        The iDDS daemons and the notifier read ``<state dir>/token`` at each call: renewing it
        keeps a server that runs longer than the token's 30 days working.

        Parameters
        ----------
        interval : `float`, optional
            Seconds between two checks of the token.

        Returns
        -------
        checked : `bool`
            Whether the token was checked (`False` within ``interval`` of the last check).
        """
        now = time.monotonic()
        if now - self._token_checked < interval:
            return False
        self._token_checked = now
        before = self.state.read_token()
        if self.state.token() != before:  # a failure to write is logged by the engine's pass
            _LOG.info("Renewed the server's token %s (less than a week was left)", self.state.token_path)
        return True

    def _application(self) -> Flask:
        assert self.engine is not None  # set by open
        parts = self.workflow_engine.parts(self.engine, self.token, request_refusal)
        self.engine.pass_hooks.extend(parts.pass_hooks)
        return create_app(
            Verbs(self.engine),
            self.token,
            self.authority,
            relay=parts.relay,
            blueprints=parts.blueprints,
            monitor_verbs=parts.monitor_verbs,
        )

    def _bind(self, app: Flask) -> None:
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
        assert self.authority is not None  # set by open
        self._server.channel_class = channel_class_for(self.authority)

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
            if self._thread is not None:
                # Already served from a thread (an engine's servers call it): wait, signals still arrive.
                while self._thread is not None and self._thread.is_alive():
                    self._thread.join(0.5)
                return
            self._server.run()
        except (KeyboardInterrupt, SystemExit):
            pass
        except OSError:
            # The socket map is closed under the loop on shutdown.
            if self._server is not None:
                raise

    def _serve_in_thread(self) -> None:
        self._thread = threading.Thread(target=self._server_loop, name="panda-local-http", daemon=True)
        self._thread.start()

    def _server_loop(self) -> None:
        try:
            self._server.run()
        except OSError:
            if self._server is not None:
                raise

    def start_in_thread(self) -> None:
        """`open` and serve from a daemon thread (tests, notebooks)."""
        self.open()
        if self._thread is None:
            self._serve_in_thread()

    def close(self, kill_running: bool = False) -> None:
        """Stop the engine's servers, stop serving, stop the engine and free the directory.

        Running attempts go on and the next start adopts them; with ``kill_running`` they are
        killed and run again at the next start.

        Parameters
        ----------
        kill_running : `bool`, optional
            Kill the running attempts (they run again at the next start) instead of leaving them for the
            next start to adopt.
        """
        # Its servers first (the iDDS daemons): they call this server until they stop.
        self.workflow_engine.stop_servers()
        server, self._server = self._server, None
        if server is not None:
            # Let requests in flight finish first: a worker thread still answering would otherwise
            # poke the server's trigger after it is closed.
            server.task_dispatcher.shutdown(timeout=5)
            server.close()
            # Open client connections keep waitress's loop alive: close them too.
            for channel in list(server._map.values()):
                channel.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        if self.engine is not None:
            self.engine.stop(kill_running)
            self.engine = None
        self.state.release()
