# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""How long the test suite takes, measured CI's way: a fresh clone, ``CI=true bash .ci/run``.

Clones the checkout's HEAD into a temporary directory and times, there:

1. ``CI=true bash .ci/run`` (``make test``: the virtualenvs, the servers' virtualenv, the published
   decoder, Debian packages when a binary is missing, then every test), as CI runs it;
2. ``make check`` (the unit tier), with the virtualenv the first step made, as a developer runs it;
3. ``make lint``.

The pip cache is whatever the machine has (warm on a developer's machine and on CI here).

::

    python bench/suite_time.py [--skip-test] --results bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import replace_block

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARKER = "<!-- bench:suite -->"
SUMMARY = re.compile(r"^=+ (?P<summary>.*\d+ passed.*) in (?P<seconds>[0-9.]+)s")


def timed(command: list[str], cwd: Path, log: Path, env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``command`` in ``cwd``; return its wall seconds, exit code and pytest's summary line."""
    began = time.monotonic()
    with open(log, "w") as stream:
        code = subprocess.run(command, cwd=cwd, env=env, stdout=stream, stderr=subprocess.STDOUT).returncode
    seconds = time.monotonic() - began
    summary = ""
    for line in log.read_text(errors="replace").splitlines():
        found = SUMMARY.match(line)
        if found:
            summary = f"{found['summary']} in {float(found['seconds']):.0f} s (pytest)"
    return seconds, code, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-test", action="store_true", help="time only make check and make lint")
    parser.add_argument("--results", help="write the figures into this RESULTS.md")
    args = parser.parse_args()

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {**os.environ, "CI": "true"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="suite-time-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        steps = [] if args.skip_test else [("`CI=true bash .ci/run` (fresh clone)", ["bash", ".ci/run"])]
        if args.skip_test:
            steps.append(("`make venv` (fresh clone)", ["make", "venv"]))
        steps += [("`make check` (venv present)", ["make", "check"]), ("`make lint`", ["make", "lint"])]
        for name, command in steps:
            log = Path(tmp) / f"{command[-1].replace('/', '_')}.log"
            seconds, code, summary = timed(command, clone, log, env)
            print(f"{name}: {seconds:.0f} s, exit {code}; {summary}", flush=True)
            if code != 0:
                print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
                return code
            rows.append(f"| {name} | {seconds / 60:.1f} | {seconds:.0f} | {summary} |")
    when = datetime.date.today().isoformat()
    body = (
        f"Suite time, measured {when} on {platform.machine()}, {os.cpu_count()} cores, commit {commit}, "
        "with `make bench-suite` (`python bench/suite_time.py`): a fresh clone, CI's way, warm pip cache.\n\n"
        "| step | min | s | tests |\n|---|---:|---:|---|\n" + "\n".join(rows)
    )
    print(body)
    if args.results:
        replace_block(args.results, MARKER, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
