#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Measure each engine of the local PanDA: start-up time, and the demo's wall time.

Start-up is the wall time of ``panda_local start --background --engine E`` (it returns once the
server answers ping): on a new state directory (cold: for idds, ``initdb`` and iDDS's schema too)
and again on the same directory after a stop (warm); for panda, PanDA's schema load too (it needs
``PANDA_DATABASE_DIR``).  The demo is ``examples/demo/run_demo.sh
--engine E`` (a real pipeline through ``bps submit``), wall time from start to verified butler.

Usage::

    python bench/engines.py [--engines embedded idds panda] [--warm 3] [--no-demo] --results bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import replace_block

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PANDA_LOCAL = [sys.executable, "-m", "lsst.ctrl.bps.panda.local.cli"]
MARKER = "<!-- bench:engines -->"


def _run(command: list[str], timeout: float = 600) -> float:
    """Run ``command``; return its wall time, failing with its output when it fails."""
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - began


def start_up(engine: str, warm_runs: int) -> tuple[float, list[float]]:
    """Return the cold start-up time and the warm ones of ``engine``."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{engine}-") as scratch:
        state = ["--state-dir", str(Path(scratch) / "state")]
        start = [*PANDA_LOCAL, "start", "--background", "--engine", engine, *state]
        times = []
        try:
            for _ in range(1 + warm_runs):
                times.append(_run(start))
                _run([*PANDA_LOCAL, "stop", *state])
        finally:
            subprocess.run([*PANDA_LOCAL, "stop", *state], capture_output=True, timeout=120, check=False)
            if engine in ("idds", "panda"):
                sys.path.insert(0, str(ROOT / "python"))
                from lsst.ctrl.bps.panda.local.idds.idds_postgres import PostgresCluster, postgres_bin

                PostgresCluster(
                    Path(scratch) / "state" / "idds", postgres_bin(), Path(scratch) / "pg.log"
                ).remove()
            if engine == "panda":
                from lsst.ctrl.bps.panda.local.panda.panda_stack import PandaPostgres

                PandaPostgres(
                    Path(scratch) / "state" / "panda", postgres_bin(), Path(scratch) / "pg.log"
                ).remove()
    return times[0], times[1:]


def demo(engine: str) -> tuple[float, str]:
    """Run the demo on ``engine``; return its wall time and its per-stage timings."""
    with tempfile.TemporaryDirectory(prefix=f"bench-demo-{engine}-") as work:
        began = time.monotonic()
        done = subprocess.run(
            ["bash", str(ROOT / "examples" / "demo" / "run_demo.sh"), "--engine", engine, "--work", work],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
            env=dict(os.environ, ENGINE=engine),
        )
        wall = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"the demo on {engine} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    stages = [line.strip() for line in done.stdout.splitlines() if re.match(r"\s+[\d.]+ s  ", line)]
    return wall, "; ".join(stages)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", nargs="+", default=["embedded", "idds", "panda"])
    parser.add_argument("--warm", type=int, default=3, help="warm starts per engine")
    parser.add_argument("--no-demo", action="store_true", help="measure start-up only")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for engine in args.engines:
        cold, warm = start_up(engine, args.warm)
        row = f"| {engine} | {cold:.1f} | {statistics.median(warm):.1f} ({min(warm):.1f}–{max(warm):.1f}) |"
        if not args.no_demo:
            wall, stages = demo(engine)
            row += f" {wall:.0f} | {stages} |"
        else:
            row += " – | – |"
        print(row, flush=True)
        rows.append(row)
    load = os.getloadavg()[0]
    body = "\n".join(
        [
            f"Engines of the local PanDA, measured {datetime.date.today()} on {platform.machine()}, "
            f"{os.cpu_count()} cores (load {load:.1f} at the end), with `make bench-engines` "
            f"(`python bench/engines.py --warm {args.warm}`):",
            "",
            "| engine | cold start s | warm start s, median (range) | demo wall s | demo stages |",
            "|---|---:|---:|---:|---|",
            *rows,
        ]
    )
    print(body)
    if args.results:
        replace_block(args.results, MARKER, body)


if __name__ == "__main__":
    main()
