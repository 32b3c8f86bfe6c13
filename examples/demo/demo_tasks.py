# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A pipeline task for the demo's failure-and-restart variant.

`FlakyAddTask` is ``lsst.pipe.base.tests.simpleQGraph.AddTask`` (output =
input + addend) that raises for one detector while a marker file exists.
The demo creates the marker before ``bps submit``: that quantum fails on
every attempt PanDA makes, its descendants are pruned, and the run ends
failed.  The demo then removes the marker and runs ``bps restart``: the
quantum now succeeds and the butler ends complete.

Jobs import this module, so ``examples/demo`` must be on ``PYTHONPATH``
where ``pipetask`` runs (``run_demo.sh --fail-one`` arranges that).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import lsst.pex.config as pex_config
from lsst.pipe.base.tests.simpleQGraph import AddTask, AddTaskConfig

__all__ = ["FlakyAddTask", "FlakyAddTaskConfig", "InjectedFailure"]

_LOG = logging.getLogger(__name__)


class InjectedFailure(RuntimeError):
    """The failure the demo injects on purpose."""


class FlakyAddTaskConfig(AddTaskConfig):
    """Configuration of `FlakyAddTask`."""

    failMarker = pex_config.Field[str](
        doc="Fail while this file exists (empty: never fail).",
        default="",
    )
    failDetector = pex_config.Field[int](
        doc="Detector whose quantum fails while the marker exists.",
        default=0,
    )


class FlakyAddTask(AddTask):
    """`AddTask` that fails for one detector while a marker file exists."""

    ConfigClass = FlakyAddTaskConfig
    _DefaultName = "flaky_add_task"

    def runQuantum(self, butlerQC: Any, inputRefs: Any, outputRefs: Any) -> None:
        # Docstring inherited from PipelineTask.runQuantum.
        detector = butlerQC.quantum.dataId["detector"]
        marker = self.config.failMarker
        if marker and detector == self.config.failDetector and os.path.exists(marker):
            raise InjectedFailure(
                f"Injected failure for detector {detector}: remove {marker} and run 'bps restart'"
            )
        super().runQuantum(butlerQC, inputRefs, outputRefs)
