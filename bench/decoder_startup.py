#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Measure how long the worker-side decoder takes to start, run as a file and with ``python -m``.

The default runner runs ``python3 ${CTRL_BPS_PANDA_DIR}/python/.../cmd_line_decoder.py`` (the file
form).  ``python -m lsst.ctrl.bps.panda.edgenode.cmd_line_decoder`` first imports the packages
above it, among them ``lsst.ctrl.bps``, whose ``__init__`` imports the butler.  Each form runs a
job whose payload is ``true`` (no staged files), REPEATS times; the table gives the median and the
fastest wall time per job, start-up included.

Usage::

    python bench/decoder_startup.py --results bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import replace_block

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DECODER = ROOT / "python" / "lsst" / "ctrl" / "bps" / "panda" / "edgenode" / "cmd_line_decoder.py"
REPEATS = 7
MARKER = "<!-- bench:decoder-startup -->"


def _arguments() -> list[str]:
    """Return the five runner words of a job that runs ``true`` (compact format, no files)."""
    sys.path.insert(0, str(ROOT / "python"))
    from lsst.ctrl.bps.panda.prepare.command_line import command_line_for

    line = command_line_for(
        job_name="j", executable="true", arguments="", cmdvals={}, per_job_keys=frozenset(), environment=None
    )
    return [line.encode().hex(), "j", "+", "+", "+"]


def _time(command: list[str], workdir: str) -> list[float]:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(command, cwd=workdir, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", help="Markdown file whose decoder start-up block to replace")
    args = parser.parse_args()
    words = _arguments()
    forms = {
        "file (`python3 …/edgenode/cmd_line_decoder.py`, the default runner)": [
            sys.executable,
            str(DECODER),
            *words,
        ],
        "module (`python3 -m lsst.ctrl.bps.panda.edgenode.cmd_line_decoder`)": [
            sys.executable,
            "-m",
            "lsst.ctrl.bps.panda.edgenode.cmd_line_decoder",
            *words,
        ],
    }
    rows = ["| runner form | median s | fastest s |", "|---|---:|---:|"]
    with tempfile.TemporaryDirectory() as workdir:
        for name, command in forms.items():
            times = _time(command, workdir)
            rows.append(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    if args.results:
        replace_block(
            args.results,
            MARKER,
            f"Decoder start-up, measured {time.strftime('%Y-%m-%d')} with `make bench-decoder` "
            f"(`python bench/decoder_startup.py`; a job running `true`, {REPEATS} runs each, wall time "
            f"per job including Python start-up):\n\n{table}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
