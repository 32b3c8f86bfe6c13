# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""``panda_local``: start, stop, inspect the local PanDA and print its environment.

::

    panda_local start [--state-dir D] [--port N] [--max-jobs K] [--max-memory MB]
                      [--queue-slots Q=N,...] [--engine {embedded,idds,panda}] [--idds-python PY]
                      [--token-lifetime S] [--background]
    panda_local stop   [--state-dir D]
    panda_local status [--state-dir D]
    panda_local env    [--state-dir D]      # eval "$(panda_local env)"

Every verb defaults to ``$PANDA_LOCAL_STATE_DIR`` or ``~/.panda_local``.  ``--engine idds`` runs
the real iDDS (PostgreSQL, Redis, REST app and daemons, `idds_stack`) from the servers' virtualenv
(``--idds-python``, ``$PANDA_LOCAL_IDDS_PYTHON``, else the checkout's ``.venv-real-idds``); a start
without ``--engine`` runs the engine of the last start on that state directory (first: embedded).
``--engine panda`` runs the same iDDS against the real panda-server and JEDI (`panda_engine`; a new
state directory needs ``$PANDA_DATABASE_DIR``, PanDA's schema checkout).
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import logging
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import AlreadyServedError, SchemaError
from .engine.engine_plugin import Engine
from .engines import ENGINES, UnknownEngineError, engine_class, last_engine
from .relay_probe import engine_health, ping
from .state.state_dir import StateDir, default_state_dir, local_url

__all__ = ["EXTRA_MODULES", "main", "missing_extra", "ping"]


_UNWRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT})

STOP_TIMEOUT = 30.0
"""Seconds ``stop`` waits for the server to exit before killing it."""

EXTRA_MODULES = ("flask", "waitress", "jwt")
"""What the ``local`` extra installs; the plugin itself needs none of them."""


def missing_extra() -> list[str]:
    """Return the modules of the ``local`` extra that are not installed."""
    return [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]


def _queue_slots(text: str | None) -> dict[str, int]:
    slots = {}
    for item in filter(None, (text or "").split(",")):
        name, _, count = item.partition("=")
        try:
            slots[name.strip()] = int(count)
        except ValueError:
            raise SystemExit(f"panda_local: --queue-slots wants QUEUE=N[,QUEUE=N...], got {item!r}") from None
    return slots


def _start(args: argparse.Namespace, state: StateDir) -> int:
    if state.is_served():
        record = state.read_record() or {}
        print(
            f"panda_local: {state.root} is already served (pid {record.get('pid', '?')}, "
            f"{record.get('url', '?')}); use 'panda_local stop' first",
            file=sys.stderr,
        )
        return 1
    kind = engine_class(args.engine) if args.engine else last_engine(state)
    args.engine = kind.name
    try:
        engine = kind.from_arguments(args)
    except kind.user_errors as exc:
        print(f"panda_local: {exc}", file=sys.stderr)
        return 1
    if args.background:
        return _start_background(args, state, engine)
    from .server import LocalPandaServer

    state.remember_engine(args.engine)
    server = LocalPandaServer(
        state,
        port=args.port,
        max_cores=args.max_jobs,
        memory_mb=args.max_memory,
        queue_slots=_queue_slots(args.queue_slots),
        engine=engine,
        token_lifetime=args.token_lifetime,
    )
    told: tuple[type[Exception], ...] = (AlreadyServedError, SchemaError, *engine.user_errors)
    try:
        server.open()
    except told as exc:
        print(f"panda_local: {exc}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:
        print(_start_error(state, exc), file=sys.stderr)
        return 1

    def on_signal(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        f"panda_local serving {state.root} at {server.url} (pid {os.getpid()}, engine {args.engine})",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.close()
    return 0


def _start_error(state: StateDir, exc: BaseException) -> str:
    if isinstance(exc, sqlite3.Error) or getattr(exc, "errno", None) in _UNWRITABLE:
        return (
            f"panda_local: cannot write the state directory {state.root}: {exc}; it must be writable "
            "(pick another with --state-dir or $PANDA_LOCAL_STATE_DIR)"
        )
    return f"panda_local: cannot start on {state.root}: {exc}"


def _start_background(args: argparse.Namespace, state: StateDir, engine: Engine) -> int:
    try:
        state.ensure()
        open(state.log_path, "ab").close()
    except OSError as exc:
        print(_start_error(state, exc), file=sys.stderr)
        return 1
    command = [sys.executable, "-m", "lsst.ctrl.bps.panda.local.cli", "start", "--state-dir", str(state.root)]
    command += ["--port", str(args.port), "--engine", args.engine]
    for flag, value in (
        ("--max-jobs", args.max_jobs),
        ("--max-memory", args.max_memory),
        ("--queue-slots", args.queue_slots),
        ("--idds-python", args.idds_python),
        ("--token-lifetime", args.token_lifetime),
    ):
        if value:
            command += [flag, str(value)]
    with open(state.log_path, "ab") as log:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    timeout = engine.start_timeout
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print(
                f"panda_local: the server exited with code {child.returncode}; see {state.log_path}:",
                file=sys.stderr,
            )
            print(_tail(state.log_path), file=sys.stderr)
            return 1
        record = state.read_record()
        token = state.read_token()
        if record and record.get("pid") == child.pid and token and ping(record["url"], token):
            print(
                f"panda_local serving {state.root} at {record['url']} (pid {child.pid}, engine {args.engine})"
            )
            return 0
        time.sleep(0.1)
    print(
        f"panda_local: the server did not answer within {timeout:.0f} s; see {state.log_path}",
        file=sys.stderr,
    )
    return 1


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _stop(state: StateDir) -> int:
    record = state.read_record()
    if not state.is_served() or not record:
        for kind in ENGINES.values():
            if ended := kind.clean_up(state):
                print(f"panda_local: ended {ended} a killed server left in {state.root}", file=sys.stderr)
        print(f"panda_local: nothing serves {state.root}", file=sys.stderr)
        return 0
    pid = int(record["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    try:
        timeout = max(STOP_TIMEOUT, last_engine(state).stop_timeout)
    except UnknownEngineError:
        timeout = STOP_TIMEOUT
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not state.is_served():
            print(f"panda_local stopped (pid {pid})", file=sys.stderr)
            return 0
        time.sleep(0.1)
    print(f"panda_local: pid {pid} did not stop within {timeout:.0f} s; killing it", file=sys.stderr)
    os.kill(pid, signal.SIGKILL)
    return 1


def _status(state: StateDir) -> int:
    kind = last_engine(state)
    record = state.read_record()
    record = record or {}
    served = state.is_served() and bool(record)
    token = state.read_token()
    answering = served and token is not None and ping(record["url"], token)
    summary = {}
    if state.db_path.exists():
        from .state.store import Store

        try:
            summary = Store(state.db_path).summary()
        except SchemaError as exc:
            print(f"panda_local: {exc}", file=sys.stderr)
            return 1
    health = engine_health(record["url"], token) if answering and record and token else None
    report = {
        "state_dir": str(state.root),
        "running": bool(answering),
        "pid": record.get("pid") if served else None,
        "url": record.get("url") if served else None,
        "fault": (health or {}).get("fault"),
        "engine": kind.name,
        **summary,
        **kind.status(state),
    }
    if answering and token:  # a one-time login link to the monitor pages (issue 17)
        from .http.monitor_pages import login_link

        report["monitor"] = login_link(f"http://127.0.0.1:{record['port']}", token)
    print(json.dumps(report, indent=2))
    if report["fault"]:
        print(f"panda_local: {report['fault']}", file=sys.stderr)
        return 2
    return 0 if answering else 1


def environment_lines(state: StateDir) -> list[str]:
    """Return the ``export`` lines that point the PanDA client and bps at a local PanDA.

    The client logs in to the local VO with the token file in ``<state dir>/client``
    (``PANDA_CONFIG_ROOT``), written here if it has no usable one; ``PANDA_AUTH_ID_TOKEN`` is
    emptied, or the client would send it instead.

    Parameters
    ----------
    state : `StateDir`
        State directory of the local PanDA (started at least once).
    """
    from .core.installation import installation_environment
    from .core.token_authority import LOCAL_VO

    record = state.read_record() or {}
    port = record.get("port") or state.last_port()
    token = state.read_token()
    if not port or not token:
        raise SystemExit(f"panda_local: {state.root} was never started; run 'panda_local start --background'")
    url = local_url(port)
    values = {name: url for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL")}
    state.authority().ensure_client_login(state.client_dir)
    values.update(
        PANDA_BEHIND_REAL_LB="1",
        PANDA_AUTH="oidc",
        PANDA_AUTH_VO=LOCAL_VO,
        PANDA_CONFIG_ROOT=str(state.client_dir),
        PANDA_AUTH_ID_TOKEN="",
    )
    install = installation_environment()
    for name in ("CTRL_BPS_PANDA_DIR", "CTRL_MPEXEC_DIR", "DAF_BUTLER_DIR"):
        if name in install:
            values[name] = os.environ.get(name) or install[name]
    values["PANDA_LOCAL_PYTHON"] = install["PANDA_LOCAL_PYTHON"]
    values["PANDA_LOCAL_STATE_DIR"] = str(state.root)
    values["BPS_WMS_SERVICE_CLASS"] = "lsst.ctrl.bps.panda.PanDAService"
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def _env(state: StateDir) -> int:
    lines = environment_lines(state)
    if not state.is_served():
        print(
            f"panda_local: warning: nothing serves {state.root} now; start it before using bps",
            file=sys.stderr,
        )
    print("\n".join(lines))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panda_local", description="The local PanDA of ctrl_bps_panda.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="state directory (default: $PANDA_LOCAL_STATE_DIR or ~/.panda_local)",
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    start = verbs.add_parser("start", parents=[common], help="start the server")
    start.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: last one, else free)"
    )
    start.add_argument("--max-jobs", type=int, default=None, help="cores for jobs (default: all)")
    start.add_argument("--max-memory", type=int, default=None, help="MB for jobs (default: available memory)")
    start.add_argument("--queue-slots", default=None, help="jobs per queue, e.g. LOCAL_HIMEM=1,LOCAL_MERGE=1")
    start.add_argument(
        "--engine",
        choices=list(ENGINES),
        default=None,
        help="workflow engine: embedded, the real iDDS daemons (idds), or the real iDDS with the real "
        "panda-server and JEDI (panda) (default: the last start's, else embedded)",
    )
    start.add_argument(
        "--idds-python",
        type=Path,
        default=None,
        help="Python of the iDDS servers' virtualenv (default: $PANDA_LOCAL_IDDS_PYTHON, else the "
        "checkout's .venv-real-idds, made by `make real-idds-venv`)",
    )
    start.add_argument(
        "--token-lifetime",
        type=float,
        default=None,
        help="seconds the ID tokens it issues are valid (default: 86400)",
    )
    start.add_argument("--background", action="store_true", help="return once the server answers")
    verbs.add_parser(
        "stop", parents=[common], help="stop the server (running jobs go on; the next start adopts them)"
    )
    verbs.add_parser("status", parents=[common], help="print the server's state as JSON")
    verbs.add_parser("env", parents=[common], help='print export lines: eval "$(panda_local env)"')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``panda_local``; return the exit code.

    Parameters
    ----------
    argv : `~collections.abc.Sequence` [`str`], optional
        Command-line arguments without the program name; `None` reads ``sys.argv``.
    """
    args = _parser().parse_args(argv)
    if missing := missing_extra():
        print(
            f"panda_local: the local PanDA needs the 'local' extra ({', '.join(missing)} missing): "
            "pip install 'lsst-ctrl-bps-panda[local]'",
            file=sys.stderr,
        )
        return 3
    # Configure logging before anything imports idds, which would log to stdout otherwise.
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        force=True,
    )
    logging.getLogger("lsst.ctrl.bps.panda").setLevel(logging.INFO)
    state = StateDir(args.state_dir or default_state_dir())
    try:
        return _run(args, state)
    except UnknownEngineError as exc:
        print(f"panda_local: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, state: StateDir) -> int:
    if args.verb == "start":
        try:
            return _start(args, state)
        except (OSError, sqlite3.Error) as exc:
            print(_start_error(state, exc), file=sys.stderr)
            return 1
    if args.verb == "stop":
        return _stop(state)
    if args.verb == "status":
        return _status(state)
    return _env(state)


if __name__ == "__main__":
    sys.exit(main())
