# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Progress bars per label for `PandaRun.wait`, with tqdm.

In a Jupyter kernel with ipywidgets the bars are widgets; anywhere else (a
terminal, a kernel without ipywidgets, nbconvert) they are text.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from lsst.ctrl.bps import WmsStates

from .run_table import RunTable

__all__ = ["LabelProgress", "progress_bar_class"]

_LOG = logging.getLogger(__name__)

_DONE_STATES = (WmsStates.SUCCEEDED, WmsStates.FAILED, WmsStates.PRUNED, WmsStates.DELETED)
"""Job states that count as done for a bar."""


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    try:
        return get_ipython is not None and "IPKernelApp" in get_ipython().config
    except AttributeError:  # not in IPython at all
        return False


def progress_bar_class() -> type:
    """Return tqdm's notebook bar inside a Jupyter kernel with ipywidgets, its text bar elsewhere."""
    from tqdm.std import tqdm as text_bar

    if not _in_kernel():
        return text_bar
    try:
        import ipywidgets  # noqa: F401
        from tqdm.notebook import tqdm as widget_bar
    except ImportError:
        return text_bar
    return widget_bar


class LabelProgress:
    """One bar per label: jobs done out of the label's total, failures in the postfix.

    Parameters
    ----------
    enabled : `bool`
        Draw nothing when false.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def update(self, table: RunTable) -> None:
        """Move the bars to the counts of ``table``.

        Parameters
        ----------
        table : `RunTable`
            The run's latest report.
        """
        if not self.enabled:
            return
        bar_class = None
        for row in table.rows:
            bar = self.bars.get(row.label)
            if bar is None:
                bar_class = bar_class or progress_bar_class()
                bar = bar_class(
                    total=row.total, desc=row.label, unit="job", position=len(self.bars), leave=True
                )
                self.bars[row.label] = bar
            if bar.total != row.total:  # tasks still arriving; reset() also resizes a widget bar
                bar.reset(total=row.total)
            bar.n = sum(row.count(state) for state in _DONE_STATES)
            failed = row.count(WmsStates.FAILED) + row.count(WmsStates.PRUNED)
            bar.set_postfix_str(f"failed {failed}" if failed else "", refresh=False)
            bar.refresh()

    def close(self) -> None:
        """Close every bar (they stay on screen)."""
        for bar in self.bars.values():
            bar.close()
