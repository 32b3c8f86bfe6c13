# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published plugin's short pseudo-input names (order-id and qnode maps), and the map behind them."""

from __future__ import annotations

from typing import Any

from .settings import NameMode

__all__ = ["PublishedNames"]


class PublishedNames:
    """Pseudo input names of the published plugin's map formats, and the map behind them.

    ``enableJobNameMap``: ``<label>:orderIdMap_<n>``, ``n`` counting the label's jobs, and the map
    ``{label: {"<n>": full name}}``; ``enableQnodeMap``: ``PH:<job>`` and ``{"PH:<job>": full name}``.
    Other modes keep the full names.

    Parameters
    ----------
    mode : `NameMode`
        Name format from ``enableJobNameMap`` or ``enableQnodeMap``.
    """

    def __init__(self, mode: NameMode) -> None:
        self.mode = mode
        self.names: dict[str, Any] | None = (
            {} if mode in (NameMode.ORDER_ID_MAP, NameMode.QNODE_MAP) else None
        )
        self._next: dict[str, int] = {}

    def next_order(self, label: str) -> int:
        """Return the order id of the next job of ``label`` (0 unless order ids count per label).

        Parameters
        ----------
        label : `str`
            Label of the jobs.
        """
        return self._next.get(label, 0) if self.mode is NameMode.ORDER_ID_MAP else 0

    def add(self, label: str, jobs: list[str], full_names: list[str]) -> list[str]:
        """Record a chunk of ``label``'s jobs; return the names PanDA sees for them.

        Parameters
        ----------
        label : `str`
            Label of the jobs.
        jobs : `list` [`str`]
            Job names of the chunk, in order.
        full_names : `list` [`str`]
            Full pseudo input names of those jobs, recorded in the map.
        """
        if self.mode is NameMode.ORDER_ID_MAP:
            assert self.names is not None
            start = self._next.get(label, 0)
            self._next[label] = start + len(jobs)
            by_order = self.names.setdefault(label, {})
            by_order.update((str(start + i), full) for i, full in enumerate(full_names))
            return [f"{label}:orderIdMap_{start + i}" for i in range(len(jobs))]
        if self.mode is NameMode.QNODE_MAP:
            assert self.names is not None
            short = [f"PH:{job}" for job in jobs]
            self.names.update(zip(short, full_names, strict=True))
            return short
        return full_names
