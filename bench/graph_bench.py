# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Time the task-graph picture (panda_workflow.svg) of a DRP-shaped workflow.

Usage: python bench/graph_bench.py [--jobs 1000000] [--svg OUT.svg]

Converts a synthetic DRP-shaped workflow (not timed), then times building the collapsed
graph from the iDDS workflow and laying it out with Graphviz.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):  # pandaclient reads these at import
    os.environ.setdefault(name, "http://127.0.0.1:1/server/panda")
sys.path.insert(0, str(HERE.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--svg", type=Path, default=None)
    args = parser.parse_args()

    from lsst.ctrl.bps.panda.prepare.prepared_workflow import PandaBpsWmsWorkflow
    from lsst.ctrl.bps.panda.prepare.workflow_picture import render_svg, task_graph_of_workflow
    from support.bps_configs import make_config
    from support.synthetic import make_drp_workflow

    with tempfile.TemporaryDirectory() as tmp:
        gw = make_drp_workflow(args.jobs, submit_dir=tmp)
        workflow = PandaBpsWmsWorkflow.from_generic_workflow(make_config(tmp), gw, None, "bench")
        start = time.perf_counter()
        graph = task_graph_of_workflow(workflow)
        collapsed = time.perf_counter()
        path = render_svg(graph, args.svg or Path(tmp) / "panda_workflow.svg", workflow.name)
        drawn = time.perf_counter()
        print(
            f"{workflow.job_count:,} jobs, {len(workflow.tasks)} tasks -> {len(graph.nodes)} nodes, "
            f"{len(graph.edges)} edges: graph {collapsed - start:.3f} s, "
            f"layout+SVG {drawn - collapsed:.3f} s, "
            f"{path.stat().st_size:,} bytes"
        )


if __name__ == "__main__":
    main()
