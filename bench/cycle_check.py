#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Measure the cost of prepare's job-cycle check on DRP-shaped workflows.

``check_acyclic`` makes one pass over the predecessor table (every job's parents inserted before
it, as ctrl_bps builds workflows, means no cycle); only a workflow that fails that test gets a full
topological sort (Kahn).  Both are timed, with the conversion of the same workflow for scale.

Usage::

    python bench/cycle_check.py --sizes 100000 1000000 --results bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from results_file import replace_block

HERE = Path(__file__).resolve().parent
REPEATS = 3
MARKER = "<!-- bench:cycle-check -->"


def _best(function, *args) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def measure(size: int) -> str:
    """Return one table row for a workflow of about ``size`` jobs."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from lsst.ctrl.bps.panda.prepare.convert import convert_workflow
    from lsst.ctrl.bps.panda.prepare.graph_tables import GraphTables, _kahn_leftovers, check_acyclic
    from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
    from support.bps_configs import make_config
    from support.synthetic import make_drp_workflow

    gw = make_drp_workflow(size, submit_dir="/tmp/bench-cycle")
    tables = GraphTables.of(gw)
    one_pass = _best(check_acyclic, tables)
    kahn = _best(_kahn_leftovers, tables)
    start = time.perf_counter()
    convert_workflow(gw, SettingsReader(make_config("/tmp/bench-cycle")))
    convert = time.perf_counter() - start
    return (
        f"| {gw.number_of_nodes():,} | {gw.number_of_edges():,} | {one_pass:.3f} | {kahn:.3f} | "
        f"{convert:.2f} | {100 * one_pass / convert:.1f} % |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100000, 1000000])
    parser.add_argument("--results", help="Markdown file whose cycle-check block to replace")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = [
        "| jobs | edges | check s (one pass, as prepare runs it) | full Kahn s (only on out-of-order "
        "workflows) | convert s | check / convert |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size in args.sizes:
        rows.append(measure(size))
        print(rows[-1], flush=True)
    if args.results:
        replace_block(
            args.results,
            MARKER,
            f"Job-cycle check in prepare, measured {time.strftime('%Y-%m-%d')} with `make bench` "
            f"(`python bench/cycle_check.py --sizes {' '.join(map(str, args.sizes))}`; fastest of "
            f"{REPEATS}):\n\n" + "\n".join(rows),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
