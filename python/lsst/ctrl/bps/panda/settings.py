"""Every configuration key the plugin reads, read in one place.

Defaults live in ``config/bps_panda.yaml`` and are documented in the README.
Values that may differ per label or per site are read once per (label, site)
pair, never once per job.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from lsst.ctrl.bps import BpsConfig

from .errors import PandaConfigError
from .memory_classes import MemoryRouter, parse_memory_classes

__all__ = [
    "LabelSettings",
    "SettingsReader",
    "WorkflowSettings",
    "config_dir",
    "defaults_path",
    "resolve_end_point",
]

_LOG = logging.getLogger(__name__)

_ENV_REFERENCE = re.compile(r"<ENV:([^>]+)>|\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


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


@dataclasses.dataclass(frozen=True, slots=True)
class WorkflowSettings:
    """Settings that hold for the whole workflow."""

    max_jobs_per_task: int
    placeholder_params: tuple[str, ...]
    end_point: str
    max_name_length: int
    max_request_length: int | None
    job_name_map: bool


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


def _as_int(key: str, value: Any, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PandaConfigError(f"{key} must be an integer, got {value!r}") from None
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


class SettingsReader:
    """Read plugin settings from a `~lsst.ctrl.bps.BpsConfig`, with caching.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig`
        Submission configuration.
    """

    def __init__(self, config: BpsConfig) -> None:
        self._config = config
        self._labels: dict[tuple[str, str | None], LabelSettings] = {}
        self._workflow: WorkflowSettings | None = None

    def _search(self, key: str, curvals: dict[str, str] | None = None, **opt: Any) -> tuple[bool, Any]:
        options: dict[str, Any] = {"expandEnvVars": False, "replaceEnvVars": False, "required": False}
        options.update(opt)
        if curvals:
            options["curvals"] = curvals
        return self._config.search(key, opt=options)

    def workflow(self) -> WorkflowSettings:
        """Return the workflow-wide settings (read once)."""
        if self._workflow is None:
            self._workflow = self._read_workflow()
        return self._workflow

    def _read_workflow(self) -> WorkflowSettings:
        _, max_jobs = self._search("maxJobsPerTask", default=30000)
        _, placeholders = self._search("placeholderParams", default=["qgraphNodeId", "qgraphId"])
        if isinstance(placeholders, str):
            placeholders = [p.strip() for p in placeholders.split(",") if p.strip()]
        if not isinstance(placeholders, Sequence):
            raise PandaConfigError(f"placeholderParams must be a list of names, got {placeholders!r}")
        _, end_point = self._search("fileDistributionEndPoint", replaceEnvVars=True, default="")
        _, end_point_default = self._search(
            "fileDistributionEndPointDefault", replaceEnvVars=True, default=""
        )
        _, max_name = self._search("maxNameLength", default=4000)
        max_name = _as_int("maxNameLength", max_name, 64)
        if os.environ.get("IDDS_MAX_NAME_LENGTH"):
            # iDDS's DomaPanDAWork enforces this variable too: keep within both.
            max_name = min(max_name, _as_int("IDDS_MAX_NAME_LENGTH", os.environ["IDDS_MAX_NAME_LENGTH"], 64))
        _, max_request = self._search("maxRequestLength", default=0)
        max_request_length = _as_int("maxRequestLength", max_request, 0) or None
        _, job_name_map = self._search("enableJobNameMap", default=True)
        return WorkflowSettings(
            max_jobs_per_task=_as_int("maxJobsPerTask", max_jobs, 1),
            placeholder_params=tuple(str(p) for p in placeholders),
            end_point=resolve_end_point(str(end_point or ""), str(end_point_default or "") or None),
            max_name_length=max_name,
            max_request_length=max_request_length,
            job_name_map=_as_bool("enableJobNameMap", job_name_map),
        )

    def label(self, label: str, site: str | None) -> LabelSettings:
        """Return the settings of one label at one site (read once per pair).

        Parameters
        ----------
        label : `str`
            Job label (pipetask or cluster label, or ``finalJob``).
        site : `str` or `None`
            The jobs' compute site.
        """
        settings = self._labels.get((label, site))
        if settings is None:
            resolved_site = site
            if resolved_site is None:
                _, default_site = self._search("computeSite", default=None)
                resolved_site = str(default_site) if default_site else None
            settings = self._labels[(label, site)] = self._read_label(label, resolved_site)
        return settings

    def _read_label(self, label: str, site: str | None) -> LabelSettings:
        curvals = {"curr_pipetask": label, "curr_cluster": label}
        if site:
            curvals["curr_site"] = site
        found, runner = self._search("runnerCommand", curvals)
        if not found or not runner:
            raise PandaConfigError(f"runnerCommand is not set for site {site!r} (label {label!r})")
        _, raw_classes = self._search("memoryClasses", curvals, default=None)
        classes = parse_memory_classes(_plain(raw_classes), key=f"site {site!r} memoryClasses")
        _, merge_queue = self._search("mergeQueue", curvals, default=None)
        _, processing_type = self._search("processingType", curvals, default=None)
        _, task_type = self._search("taskType", curvals, default="lsst")
        _, prod_source_label = self._search("prodSourceLabel", curvals, default="managed")
        _, vo = self._search("vo", curvals, default="Rubin")
        _, working_group = self._search("workingGroup", curvals, default=None)
        _, cloud = self._search("computeCloud", curvals, default=None)
        return LabelSettings(
            site=site,
            runner_command=" ".join(str(runner).split()),
            router=MemoryRouter(classes, merge_queue=str(merge_queue) if merge_queue else None),
            processing_type=str(processing_type) if processing_type else None,
            task_type=str(task_type),
            prod_source_label=str(prod_source_label),
            vo=str(vo),
            working_group=str(working_group) if working_group else None,
            cloud=str(cloud) if cloud else None,
        )


def _plain(value: Any) -> Any:
    """Turn `~lsst.daf.butler.Config` values into plain lists and dicts."""
    if hasattr(value, "toDict"):
        return value.toDict()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
