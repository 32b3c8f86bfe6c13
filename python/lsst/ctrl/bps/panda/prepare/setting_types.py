# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What the settings reader returns, and how raw configuration values become it (pure).

`~lsst.ctrl.bps.panda.prepare.settings` reads every key; this module holds the records it fills
(`WorkflowSettings`, `LabelSettings`, ...), the conversions that check a value and name its key
when it is wrong, `resolve_end_point` (environment references in ``fileDistributionEndPoint``),
and where the shipped defaults come from (`shipped_default`: the fallback
of a configuration that lacks a key, ``config/bps_panda.yaml`` being the one place they live).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
import os
import re
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..errors import PandaConfigError
from .event_service import EventServiceSettings
from .memory_classes import MemoryRouter

__all__ = [
    "config_dir",
    "defaults_path",
    "resolve_end_point",
    "shipped_default",
    "LabelSettings",
    "NameMode",
    "RemoteBuildSettings",
    "ServiceSettings",
    "SubmissionNames",
    "WorkflowSettings",
]

_LOG = logging.getLogger(__name__)

_Number = TypeVar("_Number", int, float)


class NameMode(enum.Enum):
    """How a job's pseudo input (``${IN/L}``) names it.

    The first three are the published plugin's formats, which workers running
    its decoder (lsst-ctrl-bps-panda 30.x) read; the last is ours.
    """

    PLAIN = "plain"
    """``<job>+<key>:<value>+...``: the full name travels in the request."""
    ORDER_ID_MAP = "enableJobNameMap"
    """``<label>:orderIdMap_<n>``, full names in one staged JSON map per workflow."""
    QNODE_MAP = "enableQnodeMap"
    """``PH:<job>``, full names in a staged ``qnode_map.json``."""
    COMPACT = "enableCompactJobNames"
    """``@<task>.<order>``, full names in small per-task map files (this plugin's decoder only)."""

    @property
    def published(self) -> bool:
        """Whether the published decoder reads this format."""
        return self is not NameMode.COMPACT


@dataclasses.dataclass(frozen=True, slots=True)
class WorkflowSettings:
    """Settings that hold for the whole workflow."""

    max_jobs_per_task: int
    placeholder_params: tuple[str, ...]
    end_point: str
    max_name_length: int
    max_request_length: int | None
    name_mode: NameMode
    order_id_map_file: str
    submit_side_env: tuple[str, ...]
    max_copy_workers: int
    event_service: EventServiceSettings | None
    """Labels that run several payloads per PanDA job (`None`: every job runs one)."""


@dataclasses.dataclass(frozen=True, slots=True)
class LabelSettings:
    """Settings of the jobs of one label at one site."""

    site: str | None
    runner_command: str
    router: MemoryRouter
    processing_type: str | None
    task_type: str
    prod_source_label: str
    vo: str
    working_group: str | None
    cloud: str | None
    priority: int


@dataclasses.dataclass(frozen=True, slots=True)
class SubmissionNames:
    """What ctrl_bps sets for every submission and submit uses without a prepared workflow."""

    submit_path: str
    """``submitPath``: the submit directory."""
    run_name: str
    """``uniqProcName``: the run's (and its request's) name."""
    output_run: str
    """``outputRun``: the output collection."""


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteBuildSettings:
    """What the job of a remote build needs (``remoteBuild.<key>`` first, the submit YAML second)."""

    files: tuple[str, ...]
    runner_command: str
    upload_attempts: int
    upload_backoff: float
    site: str | None
    queue: str | None
    cloud: str | None
    rss: int
    rss_max: int | None
    memory_multiplier: float | None
    max_attempt: int
    processing_type: str | None
    priority: int
    vo: str
    prod_source_label: str


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What `PanDAService` reads itself (``bps report|status|cancel`` pass an empty config)."""

    idds_server: str | None
    """iDDS server the PanDA relay forwards to (`None`: the relay's default)."""
    monitor_url: str | None
    """PanDA monitor base URL for links in ``bps report``."""
    resubmit: bool
    """Whether a submit directory that already holds a request may be submitted again."""
    restart_pending_timeout: float = 600.0
    """Seconds after ``bps restart`` during which a run iDDS has not yet resumed reads RUNNING."""


def _as_int(key: str, value: Any, minimum: int) -> int:
    return _as_number(key, value, minimum, int)


def _as_float(key: str, value: Any, minimum: float) -> float:
    return _as_number(key, value, minimum, float)


def _as_number(key: str, value: Any, minimum: float, kind: Callable[[Any], _Number]) -> _Number:
    """Return ``value`` as an `int` or a `float` of at least ``minimum``, or an error naming ``key``."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise PandaConfigError(f"{key} must be {what}, got {value!r}") from None
    if number < minimum:
        raise PandaConfigError(f"{key} must be at least {minimum}, got {number}")
    return number


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off", ""):
        return False
    raise PandaConfigError(f"{key} must be true or false, got {value!r}")


def _as_names(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, Sequence):
        raise PandaConfigError(f"{key} must be a list of names, got {value!r}")
    return tuple(str(name) for name in value)


def _as_basename(key: str, value: Any) -> str:
    name = str(value or "")
    if not name or "/" in name or name in (".", ".."):
        raise PandaConfigError(f"{key} must be a plain file name, got {value!r}")
    return name


def _plain(value: Any) -> Any:
    """Turn `~lsst.daf.butler.Config` values into plain lists and dicts."""
    if hasattr(value, "toDict"):
        return value.toDict()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


_ENV_REFERENCE = re.compile(r"<ENV:([^>]+)>|\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def resolve_end_point(value: str, default: str | None) -> str:
    """Resolve environment references in ``fileDistributionEndPoint``.

    Parameters
    ----------
    value : `str`
        Configured end point, possibly with ``<ENV:X>`` or ``${X}``.
    default : `str` or `None`
        ``fileDistributionEndPointDefault``, used when a referenced variable
        is unset (sites use ``LSST_RUN_TEMP_SPACE`` that way).

    Returns
    -------
    end_point : `str`
        The end point with a trailing ``/`` (empty when not configured).

    Raises
    ------
    PandaConfigError
        Raised if a variable is unset and there is no default.
    """
    missing = [a or b or c for a, b, c in _ENV_REFERENCE.findall(value) if not os.environ.get(a or b or c)]
    if missing:
        if not default:
            raise PandaConfigError(
                f"fileDistributionEndPoint {value!r} uses unset environment variable(s) {missing} and "
                "fileDistributionEndPointDefault is not set"
            )
        _LOG.info("fileDistributionEndPoint uses unset %s; using fileDistributionEndPointDefault", missing)
        value = default
    resolved = _ENV_REFERENCE.sub(lambda m: os.environ.get(m.group(1) or m.group(2) or m.group(3), ""), value)
    if resolved and not resolved.endswith("/"):
        resolved += "/"
    return resolved


def config_dir() -> Path:
    """Return the directory holding the plugin's YAML configuration.

    ``$CTRL_BPS_PANDA_DIR/config`` wins (EUPS-style installs); otherwise the
    ``config`` directory shipped with the package.
    """
    env_dir = os.environ.get("CTRL_BPS_PANDA_DIR")
    if env_dir and (Path(env_dir) / "config" / "bps_panda.yaml").is_file():
        return Path(env_dir) / "config"
    return Path(str(resources.files("lsst.ctrl.bps.panda.config")))


def defaults_path() -> Path:
    """Return the path of ``bps_panda.yaml``, the plugin defaults."""
    return config_dir() / "bps_panda.yaml"


@functools.cache
def _shipped_defaults() -> dict[str, Any]:
    with open(defaults_path()) as stream:
        return yaml.safe_load(stream) or {}


def shipped_default(key: str) -> Any:
    """Return the default of a plugin key, from the shipped ``bps_panda.yaml``.

    ctrl_bps loads that file under every submission, so this is only reached by
    callers that build a configuration without it (tests, notebooks); the
    file stays the one place that holds the defaults.

    Parameters
    ----------
    key : `str`
        A key of ``bps_panda.yaml``; ``section.key`` for a key of a section.

    Returns
    -------
    value : `~typing.Any`
        Its value there.

    Raises
    ------
    KeyError
        Raised if the file has no such key.
    """
    value: Any = _shipped_defaults()
    for part in key.split("."):
        value = value[part]
    return value
