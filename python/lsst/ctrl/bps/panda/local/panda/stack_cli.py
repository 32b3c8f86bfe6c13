# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""``python -m lsst.ctrl.bps.panda.local.panda.stack_cli start|stop|status|env``: the real PanDA stack.

``make real-panda`` runs ``start`` (``PANDA_DATABASE_DIR`` names the schema checkout,
``REAL_PANDA_HOME`` the stack's directory); ``env`` prints the ``export`` lines a ``pandaclient``
needs to call the running stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ...errors import RealPandaError
from .panda_stack import PandaStack

__all__ = ["main"]

_LOG = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="real-panda", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status", "env"])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("REAL_PANDA_HOME", ".real-panda")))
    parser.add_argument(
        "--venv", type=Path, default=Path(os.environ.get("REAL_PANDA_VENV", ".venv-real-idds"))
    )
    parser.add_argument("--schema", type=Path, default=os.environ.get("PANDA_DATABASE_DIR") or None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one action on the stack; return the exit code.

    Parameters
    ----------
    argv : `list` [`str`], optional
        The command line (default: `sys.argv`).
    """
    arguments = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stack = PandaStack(arguments.home, arguments.venv, arguments.schema)
    if arguments.action == "start":
        try:
            home = stack.start()
        except RealPandaError as exc:
            print(f"real-panda: {exc}", file=sys.stderr)
            return 1
        print(f"real PanDA up in {stack.startup_seconds:.1f} s at {home.url} (logs: {home.logs})")
        return 0
    if arguments.action == "stop":
        stack.stop()
        return 0
    record = PandaStack.read_record(arguments.home)
    if record is None:
        print(f"no real PanDA stack runs in {arguments.home}", file=sys.stderr)
        return 1
    if arguments.action == "env":
        for key, value in record["client_env"].items():
            print(f"export {key}={value}")
        return 0
    alive = {name: Path(f"/proc/{pid}").exists() for name, pid in record["pids"].items()}
    print(json.dumps({"url": record["url"], "pids": record["pids"], "running": alive}, indent=1))
    return 0 if all(alive.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
