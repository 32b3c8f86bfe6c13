# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Run the published decoder as ``python cmd_line_decoder.py <args>`` runs on a worker.

Usage::

    run_published_decoder.py <install dir> <decoder arguments...>
    run_published_decoder.py <install dir> --serve

``<install dir>`` holds the published ``lsst-ctrl-bps-panda`` wheel installed
with ``pip install --no-deps --target``.  ``lsst.ctrl.bps.panda`` is made to be
the published package: the editable finder of the development install is
dropped and the published tree is the only place that package is looked for;
every ``lsst.ctrl.bps.panda`` module loaded is checked to come from it.

``--serve`` imports the published package once (about two seconds), says
where each ``lsst.ctrl.bps.panda`` module came from in a first JSON line
``{"modules": {name: file}}``, then runs one job per JSON request line on
stdin, each in a forked child process with its own working directory,
environment, stdout and stderr files, and answers with one JSON line
``{"returncode": N}`` on stdout.
"""

import json
import os
import runpy
import signal
import sys
import traceback

root = os.path.realpath(sys.argv[1])
published_bps = os.path.join(root, "lsst", "ctrl", "bps")
decoder = os.path.join(published_bps, "panda", "edgenode", "cmd_line_decoder.py")
if not os.path.isfile(decoder):
    sys.exit(f"run_published_decoder: no published decoder at {decoder}")

# The development install's editable finder claims lsst.ctrl.bps.panda by name: drop it.
sys.meta_path[:] = [finder for finder in sys.meta_path if "__editable__" not in str(finder)]
import lsst.ctrl.bps  # noqa: E402  (a regular package: the parent of both plugins)

lsst.ctrl.bps.__path__[:] = [published_bps] + [p for p in lsst.ctrl.bps.__path__ if p != published_bps]
import lsst.ctrl.bps.panda.utils  # noqa: E402, F401  (what the decoder imports)


def check_published_modules() -> dict[str, str]:
    """Fail unless every loaded ``lsst.ctrl.bps.panda`` module is from the published tree.

    Returns the file of each such module by name.
    """
    files = {}
    for name, module in list(sys.modules.items()):
        if name == "lsst.ctrl.bps.panda" or name.startswith("lsst.ctrl.bps.panda."):
            where = files[name] = os.path.realpath(getattr(module, "__file__", None) or "")
            assert where.startswith(root + os.sep), f"{name} was imported from {where}, not from {root}"
    return files


def run_decoder(args: list[str]) -> int:
    """Run the decoder file as ``__main__`` with ``args``; return its exit code as Python would."""
    # As `python <decoder> <args>`: the script's directory first on sys.path, the script as argv[0].
    sys.path[0] = os.path.dirname(decoder)
    sys.argv = [decoder, *args]
    try:
        runpy.run_path(decoder, run_name="__main__")
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    check_published_modules()
    return code


def run_forked(request: dict) -> int:
    """Run one job in a child process; return its exit code (128 + signal if killed)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            for fd, path, flags in (
                (0, os.devnull, os.O_RDONLY),
                (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            ):
                os.dup2(os.open(path, flags, 0o644), fd)
            signal.alarm(int(request.get("timeout", 120)))  # a hung job dies rather than the test
            code = run_decoder(request["args"])
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


if __name__ == "__main__":
    modules = check_published_modules()
    if sys.argv[2:] != ["--serve"]:
        sys.exit(run_decoder(sys.argv[2:]))
    replies = sys.stdout
    replies.write(json.dumps({"modules": modules}) + "\n")
    replies.flush()
    for line in sys.stdin:
        replies.write(json.dumps({"returncode": run_forked(json.loads(line))}) + "\n")
        replies.flush()
