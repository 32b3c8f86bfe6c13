# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The per-label table of a run, for notebooks and terminals.

`RunTable` is a plain structure (no pandas needed) built from the plugin's own
`~lsst.ctrl.bps.WmsRunReport` plus, when the submit directory is known, the
memory class and queue of each label from the prepared workflow's manifest.
It prints as an aligned text table and shows in Jupyter as a compact
coloured HTML table (``_repr_html_``); `RunTable.to_dataframe` gives a
`pandas.DataFrame` when pandas is installed.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lsst.ctrl.bps import WmsRunReport, WmsStates

from ..states import STATE_COLOURS
from ..wms.wms_report import monitor_link

__all__ = [
    "SHOWN_STATES",
    "FailedJob",
    "FailedJobs",
    "LabelRow",
    "RunTable",
    "label_resources",
    "run_table_from_report",
]

_LOG = logging.getLogger(__name__)

SHOWN_STATES = (
    WmsStates.UNREADY,
    WmsStates.RUNNING,
    WmsStates.SUCCEEDED,
    WmsStates.FAILED,
    WmsStates.PRUNED,
    WmsStates.DELETED,
)
"""Job states given a column, in this order (other states are counted in ``total`` only)."""

"""Background colour of each state, in HTML tables and the monitor pages."""


@dataclasses.dataclass(frozen=True)
class LabelRow:
    """Job counts of one label (all its tasks: chunks and memory classes added up)."""

    label: str
    counts: Mapping[WmsStates, int]
    total: int
    memory_classes: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    exit_codes: tuple[int, ...] = ()

    def count(self, state: WmsStates) -> int:
        """Return how many jobs of this label are in ``state``.

        Parameters
        ----------
        state : `lsst.ctrl.bps.WmsStates`
            The state to count.
        """
        return int(self.counts.get(state, 0))

    def as_dict(self) -> dict[str, Any]:
        """Return the row as plain values: one key per shown state, lower case."""
        row: dict[str, Any] = {"label": self.label}
        row.update({state.name.lower(): self.count(state) for state in SHOWN_STATES})
        row.update(
            total=self.total,
            memory_class=",".join(self.memory_classes),
            queue=",".join(self.queues),
            exit_codes=",".join(str(code) for code in self.exit_codes),
        )
        return row


@dataclasses.dataclass(frozen=True)
class FailedJob:
    """One failed job: where it ran, how it ended and where its log is."""

    label: str
    name: str
    panda_id: int | None
    attempt: int | None
    exit_code: int | None
    diagnostic: str
    log: str | None


class FailedJobs(list):
    """The failed jobs of a run: a `list` of `FailedJob` that shows as a table in Jupyter."""

    _COLUMNS = ("label", "name", "panda_id", "attempt", "exit_code", "diagnostic", "log")

    def _repr_html_(self) -> str:
        if not self:
            return "<p>No failed jobs.</p>"
        header = "".join(f"<th>{name.replace('_', ' ')}</th>" for name in self._COLUMNS)
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(str(getattr(job, name) or ''))}</td>" for name in self._COLUMNS)
            + "</tr>"
            for job in self
        )
        return (
            f'<table class="panda-failed-jobs"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>'
        )


@dataclasses.dataclass
class RunTable:  # numpydoc ignore=PR02
    """The report of one run: state and one `LabelRow` per label.

    Parameters
    ----------
    request_id : `str`
        The PanDA (iDDS) request id.
    name : `str`
        The run name.
    state : `lsst.ctrl.bps.WmsStates`
        The state of the run.
    rows : `list` [`LabelRow`]
        One row per label, in workflow order.
    monitor_url : `str`, optional
        The PanDA monitor page of the request.
    """

    request_id: str
    name: str
    state: WmsStates
    rows: list[LabelRow]
    monitor_url: str | None = None

    def totals(self) -> LabelRow:
        """Return the sum of every row, labelled ``TOTAL``."""
        counts = {state: sum(row.count(state) for row in self.rows) for state in WmsStates}
        return LabelRow("TOTAL", counts, sum(row.total for row in self.rows))

    def to_records(self) -> list[dict[str, Any]]:
        """Return one plain `dict` per label (see `LabelRow.as_dict`)."""
        return [row.as_dict() for row in self.rows]

    def to_dataframe(self) -> Any:
        """Return the table as a `pandas.DataFrame` indexed by label.

        Raises
        ------
        ImportError
            Raised if pandas is not installed.
        """
        try:
            import pandas
        except ImportError as exc:
            raise ImportError("to_dataframe needs pandas: pip install pandas") from exc
        return pandas.DataFrame.from_records(self.to_records(), index="label")

    def __repr__(self) -> str:
        header = ["label", *(s.name for s in SHOWN_STATES), "TOTAL", "memory class", "queue"]
        lines = [header]
        for row in [*self.rows, self.totals()]:
            cells = [row.label, *(str(row.count(s)) for s in SHOWN_STATES), str(row.total)]
            lines.append(cells + [",".join(row.memory_classes) or "-", ",".join(row.queues) or "-"])
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [f"Run {self.request_id} {self.name}: {self.state.name}"]
        text += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
        if self.monitor_url:
            text.append(f"PanDA monitor: {self.monitor_url}")
        return "\n".join(line.rstrip() for line in text)

    def _repr_html_(self) -> str:
        return table_html(self)


def _state_cell(state: WmsStates, count: int) -> str:
    if not count:
        return '<td class="count zero">0</td>'
    colour = STATE_COLOURS.get(state, "#ffffff")
    return f'<td class="count state-{state.name.lower()}" style="background:{colour}">{count}</td>'


def _row_html(row: LabelRow, tag: str = "td") -> str:
    cells = [f'<{tag} class="label">{html.escape(row.label)}</{tag}>']
    cells += [_state_cell(state, row.count(state)) for state in SHOWN_STATES]
    cells.append(f'<td class="count total">{row.total}</td>')
    cells.append(f'<td class="memory-class">{html.escape(", ".join(row.memory_classes))}</td>')
    cells.append(f'<td class="queue">{html.escape(", ".join(row.queues))}</td>')
    codes = ", ".join(str(code) for code in sorted(set(row.exit_codes)))
    cells.append(f'<td class="exit-codes">{html.escape(codes)}</td>')
    return "<tr>" + "".join(cells) + "</tr>"


def table_html(table: RunTable) -> str:
    """Return the report as a self-contained HTML fragment (inline styles, no scripts).

    Parameters
    ----------
    table : `RunTable`
        The report.

    Returns
    -------
    fragment : `str`
        A ``<div class="panda-run">`` holding a caption and a ``<table>``.
    """
    colour = STATE_COLOURS.get(table.state, "#ffffff")
    title = (
        f"Run {html.escape(table.request_id)} <code>{html.escape(table.name)}</code> "
        f'<span class="run-state" style="background:{colour};padding:0 .4em">{table.state.name}</span>'
    )
    if table.monitor_url:
        title += (
            f' <a class="monitor" href="{html.escape(table.monitor_url)}" target="_blank">PanDA monitor</a>'
        )
    head = ["label", *(state.name for state in SHOWN_STATES), "TOTAL", "memory class", "queue", "exit codes"]
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    body = "".join(_row_html(row) for row in table.rows)
    total = _row_html(table.totals(), tag="th").replace("<tr>", '<tr class="total">', 1)
    style = (
        "<style>.panda-run table{border-collapse:collapse;font-size:90%}"
        ".panda-run td,.panda-run th{border:1px solid #ccc;padding:2px 6px}"
        ".panda-run td.count{text-align:right}.panda-run td.zero{color:#aaa}</style>"
    )
    return (
        f'<div class="panda-run">{style}<div class="caption">{title}</div>'
        f"<table><thead>{header}</thead><tbody>{body}{total}</tbody></table></div>"
    )


def label_resources(submit_dir: str | Path | None) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Return the memory classes and queues of each label, from a prepared workflow's manifest.

    Parameters
    ----------
    submit_dir : `str` or `pathlib.Path`, optional
        The submit directory; `None` or one without manifest gives ``{}``.

    Returns
    -------
    resources : `dict` [`str`, `tuple`]
        ``{label: (memory classes, queues)}``, each in first-seen order.
    """
    from ..prepare.prepared_workflow import MANIFEST_FILE

    if submit_dir is None:
        return {}
    path = Path(submit_dir) / MANIFEST_FILE
    try:
        tasks = json.loads(path.read_text())["tasks"]
    except (FileNotFoundError, KeyError, ValueError) as exc:
        _LOG.debug("No label resources from %s: %s", path, exc)
        return {}
    found: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    for task in tasks:
        classes, queues = found.setdefault(task["label"], ({}, {}))
        classes[task.get("memory_class") or ""] = None
        if task.get("queue"):
            queues[task["queue"]] = None
    return {label: (tuple(c for c in cls if c), tuple(q)) for label, (cls, q) in found.items()}


def run_table_from_report(
    report: WmsRunReport,
    resources: Mapping[str, tuple[Sequence[str], Sequence[str]]] | None = None,
    monitor_url: str | None = None,
) -> RunTable:
    """Build a `RunTable` from the plugin's report of one run.

    Parameters
    ----------
    report : `lsst.ctrl.bps.WmsRunReport`
        What `PanDAService.report` returns for one run (with exit codes).
    resources : `dict`, optional
        `label_resources` of the run's submit directory.
    monitor_url : `str`, optional
        PanDA monitor base URL.

    Returns
    -------
    table : `RunTable`
        One row per label.
    """
    resources = resources or {}
    exit_codes = report.exit_code_summary or {}
    rows = []
    for label, counts in (report.job_summary or {}).items():
        classes, queues = resources.get(label, ((), ()))
        rows.append(
            LabelRow(
                label=label,
                counts=dict(counts),
                total=sum(counts.values()),
                memory_classes=tuple(classes),
                queues=tuple(queues),
                exit_codes=tuple(exit_codes.get(label, ())),
            )
        )
    return RunTable(
        request_id=str(report.wms_id),
        name=str(report.run or ""),
        state=report.state or WmsStates.UNKNOWN,
        rows=rows,
        monitor_url=monitor_link(monitor_url, report.wms_id),
    )
