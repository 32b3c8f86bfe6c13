# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Shapes of PanDA replies and state sequences, to hold our PanDA layer against the real one's recording.

A reply's *shape* keeps its keys, the types of its values and the values of its enumerations
(`ENUM_KEYS`), and forgets the rest: ids (`ID_KEYS`) and times (``{"__datetime__": ...}``, or a
string that reads as a time) become ``"<id>"`` and ``"<time>"``.  A list's shape is the merged
shape of its items.  `shape_differences` lists where our shape departs from the real one: a key
the real reply has and ours lacks, another type, an enumeration value the real one never gave.
"""

from __future__ import annotations

import re
from typing import Any

ID_KEYS = {
    "PandaID",
    "jediTaskID",
    "taskID",
    "jobsetID",
    "jobDefinitionID",
    "reqID",
    "datasetID",
    "fileID",
    "row_ID",
    "id",
    "parentID",
    "data",
}
ENUM_KEYS = {"jobStatus", "status", "prodSourceLabel", "type", "jobSubStatus", "success"}
_TIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def shape(value: Any, key: str | None = None) -> Any:
    """Return the shape of a decoded JSON value (``key``: the key it is the value of)."""
    if isinstance(value, dict):
        if set(value) == {"__datetime__"}:
            return "<time>"
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        merged: Any = None
        for item in value:
            merged = merge(merged, shape(item, key))
        return [merged] if merged is not None else []
    if key in ID_KEYS and isinstance(value, int | str) and str(value).isdigit():
        return "<id>"
    if isinstance(value, str) and _TIME.match(value):
        return "<time>"
    if key in ENUM_KEYS and value is not None:
        return {"<enum>": sorted({str(value)})}
    return type(value).__name__


def merge(a: Any, b: Any) -> Any:
    """Merge two shapes (the shape of a list holding both values)."""
    if a is None or a == "NoneType":
        return b
    if b is None or b == "NoneType":
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        if "<enum>" in a and "<enum>" in b:
            return {"<enum>": sorted(set(a["<enum>"]) | set(b["<enum>"]))}
        return {k: merge(a.get(k), b.get(k)) for k in {*a, *b}}
    if isinstance(a, list) and isinstance(b, list):
        return [merge(a[0] if a else None, b[0] if b else None)]
    return a if a == b else sorted({str(a), str(b)})


def shape_differences(real: Any, ours: Any, where: str = "") -> list[str]:
    """Return where ``ours`` departs from ``real`` (both shapes), as ``path: what`` lines."""
    if real is None or real == "NoneType" or ours is None or ours == "NoneType":
        return []  # null on one side: no type to compare
    if isinstance(real, dict) and "<enum>" in real:
        if not (isinstance(ours, dict) and "<enum>" in ours):
            return [f"{where}: enum {real['<enum>']} vs {ours}"]
        extra = sorted(set(ours["<enum>"]) - set(real["<enum>"]))
        return [f"{where}: value(s) {extra} never seen from JEDI"] if extra else []
    if isinstance(real, dict):
        if not isinstance(ours, dict):
            return [f"{where}: object vs {ours}"]
        found = []
        for key in sorted(real):
            if key not in ours:
                found.append(f"{where}.{key}: missing")
            else:
                found += shape_differences(real[key], ours[key], f"{where}.{key}")
        return found
    if isinstance(real, list) and real:
        if not isinstance(ours, list):
            return [f"{where}: list vs {ours}"]
        return shape_differences(real[0], ours[0], f"{where}[]") if ours else []
    if isinstance(real, list) or isinstance(ours, list) and not ours:
        return []
    real_types = set(real) if isinstance(real, list) else {real}
    our_types = set(ours) if isinstance(ours, list) else {ours}
    if our_types - real_types:
        return [f"{where}: {sorted(our_types)} vs real {sorted(real_types)}"]
    return []


def replies_by_endpoint(exchanges: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the merged shape of the replies to each endpoint (``success`` replies kept apart)."""
    found: dict[str, Any] = {}
    for exchange in exchanges:
        reply = exchange["reply"]
        if not isinstance(reply, dict):
            continue
        name = exchange["endpoint"] + ("" if reply.get("success") else " (refused)")
        found[name] = merge(found.get(name), shape(reply))
    return found


def is_subsequence(ours: list[Any], real: list[Any]) -> bool:
    """Return whether ``ours`` is ``real`` with some items left out (order kept)."""
    position = iter(real)
    return all(any(item == candidate for candidate in position) for item in ours)


def distinct_exchanges(exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the first exchange of each endpoint with each reply shape (a recording's samples repeat)."""
    import json

    seen: set[tuple[str, str]] = set()
    kept = []
    for exchange in exchanges:
        key = (exchange["endpoint"], json.dumps(shape(exchange["reply"]), sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            kept.append(exchange)
    return kept
