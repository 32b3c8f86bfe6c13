# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The reply envelopes recorded from the real PanDA relay and iDDS, shipped as package data.

``envelopes/real/`` holds what the real relay (panda-server) and iDDS REST server answered
(``make record-envelopes`` re-records them; ``lifecycle_run2.json`` follows one request to
SubFinished with the real iDDS daemons); ``envelopes/*.json`` what the local PanDA answers.  Each
file is a relay reply body in wire form: ``[ok, value]`` with enums as iDDS-JSON objects.

`RecordedParts` gives the pieces the iDDS double builds its replies from (a request record, a task
record, a finished and a failed job record, the enum encoding), so the double follows re-recorded
envelopes without a code change.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = ["ENVELOPES_DIR", "REAL_ENVELOPES_DIR", "RecordedParts", "decode", "encode_enum", "load_envelope"]

_LOG = logging.getLogger(__name__)

ENVELOPES_DIR = Path(__file__).resolve().parent / "envelopes"
"""The recorded envelopes (the local PanDA's; ``real/`` the real servers')."""

REAL_ENVELOPES_DIR = ENVELOPES_DIR / "real"
"""The envelopes recorded from the real PanDA relay and iDDS."""

LIFECYCLE = "lifecycle_run2"
"""The recorded run followed by the real iDDS daemons: snapshots New, Transforming, SubFinished."""


@functools.cache
def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def load_envelope(name: str, real: bool = True, root: Path = ENVELOPES_DIR) -> Any:
    """Return a recorded envelope in wire form (a fresh copy: enums as iDDS-JSON objects).

    Parameters
    ----------
    name : `str`
        File name without ``.json``, e.g. ``"get_requests_new"``.
    real : `bool`, optional
        Read the real servers' recording (``real/``), else the local PanDA's.
    root : `pathlib.Path`, optional
        The envelopes' folder (default: the package data, `ENVELOPES_DIR`).

    Returns
    -------
    envelope : `typing.Any`
        ``[ok, value]`` as the relay sent it (``lifecycle_run2`` is a dict of snapshots).
    """
    return copy.deepcopy(_read((root / "real" if real else root) / f"{name}.json"))


def decode(wire: Any) -> Any:
    """Return what the PanDA client returns for a reply body: iDDS-JSON objects rebuilt as enums.

    Parameters
    ----------
    wire : `typing.Any`
        A reply in wire form (as in the recorded files).
    """
    from idds.common.utils import json_loads

    return json_loads(json.dumps(wire))


def encode_enum(member: Enum, like: dict[str, Any]) -> dict[str, Any]:
    """Return ``member`` in the iDDS-JSON encoding of a recorded enum.

    Parameters
    ----------
    member : `enum.Enum`
        An iDDS enum member, e.g. ``RequestStatus.Transforming``.
    like : `dict`
        A recorded enum of any value; its form (keys, extra attributes such as ``_loading``) is kept.

    Returns
    -------
    encoded : `dict`
        ``{"class", "module", "attributes": {"_value_", "_name_", "_sort_order_", ...}}``.
    """
    encoded = copy.deepcopy(like)
    encoded["class"] = type(member).__name__
    encoded["module"] = type(member).__module__
    attributes = encoded.setdefault("attributes", {})
    attributes["_value_"] = member.value
    attributes["_name_"] = member.name
    if "_sort_order_" in attributes:
        attributes["_sort_order_"] = getattr(member, "_sort_order_", attributes["_sort_order_"])
    return encoded


class RecordedParts:
    """The recorded pieces replies are built from (read once; every accessor returns a copy).

    Parameters
    ----------
    root : `pathlib.Path`, optional
        The envelopes' folder, laid out as `ENVELOPES_DIR` (e.g. a fresh recording to try).
    """

    def __init__(self, root: Path = ENVELOPES_DIR) -> None:
        self.root = root

    def _load(self, name: str, real: bool = True) -> Any:
        return load_envelope(name, real, self.root)

    def _snapshot(self, state: str) -> dict[str, Any]:
        return self._load(LIFECYCLE)["snapshots"][state]

    def request_record(self) -> dict[str, Any]:
        """Return the request record (``get_requests`` without detail) of a request just submitted."""
        (record,) = self._load("get_requests_new")[1]
        return record

    def new_detail_record(self) -> dict[str, Any]:
        """Return the detailed record of a request iDDS has not taken up (every ``transform_*`` None)."""
        (record,) = self._load("get_requests_detail_new")[1]
        return record

    def task_record(self) -> dict[str, Any]:
        """Return a detailed record of one task (transform) of a running request."""
        return self._snapshot("SubFinished")["get_requests_detail"][0]

    def job_record(self, status: str) -> dict[str, Any]:
        """Return a job record of ``get_contents_output_ext`` with a content status.

        A status no recorded job has (e.g. ``Processing``) gets a copy of a waiting (``New``) job.

        Parameters
        ----------
        status : `str`
            The content status: ``Available``, ``FinalFailed``, ``New``, ...
        """
        for state in ("SubFinished", "Transforming"):
            for jobs in self._snapshot(state)["contents"].values():
                for job in jobs:
                    if job.get("status") == status:
                        return job
        if status != "New":
            return self.job_record("New")
        raise LookupError(f"{LIFECYCLE}.json holds no job record of status {status}")

    def enum_form(self) -> dict[str, Any]:
        """Return a recorded enum (its encoding is the form `encode_enum` reproduces)."""
        return self.request_record()["status"]

    def envelope(self, name: str) -> Any:
        """Return the recorded envelope ``name`` of the real servers (wire form).

        Parameters
        ----------
        name : `str`
            File name in ``envelopes/real/`` without ``.json``.
        """
        return self._load(name)

    def refusal_text(self, status: int) -> str:
        """Return the body of an HTTP refusal (401 or 403) as the local PanDA's recording has it.

        Parameters
        ----------
        status : `int`
            401 (no token) or 403 (a token refused).
        """
        return str(self._load(f"http_{status}", real=False)["body"])
