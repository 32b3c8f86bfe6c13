# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Every configuration key the plugin reads, read in one place.

Defaults live in ``config/bps_panda.yaml`` only (`shipped_default` reads them
when a configuration lacks a key) and are documented in the README.
Values that may differ per label or per site are read once per (label, site)
pair, never once per job.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from lsst.ctrl.bps import BpsConfig

from ..errors import PandaConfigError
from .event_service import EventServiceSettings, parse_event_service
from .memory_classes import MemoryRouter, parse_memory_classes
from .setting_types import (
    LabelSettings,
    NameMode,
    RemoteBuildSettings,
    ServiceSettings,
    SubmissionNames,
    WorkflowSettings,
    _as_basename,
    _as_bool,
    _as_float,
    _as_int,
    _as_names,
    _plain,
    config_dir,
    defaults_path,
    resolve_end_point,
    shipped_default,
)

__all__ = [
    "CONFIG_MARKER",
    "DEFAULT_RSS_MAX",
    "DOWNLOAD_MARKER",
    "LabelSettings",
    "NameMode",
    "RESTART_PENDING_VARIABLE",
    "RemoteBuildSettings",
    "SITE_MARKER",
    "ServiceSettings",
    "SettingsReader",
    "SubmissionNames",
    "WorkflowSettings",
    "config_dir",
    "defaults_path",
    "read_service_settings",
    "resolve_end_point",
    "setting_or_default",
    "shipped_default",
    "written_runner_command",
]

_LOG = logging.getLogger(__name__)


RESTART_PENDING_VARIABLE = "CTRL_BPS_PANDA_RESTART_PENDING_TIMEOUT"
"""Environment variable giving ``restartPendingTimeout`` to verbs that get no configuration."""

DEFAULT_RSS_MAX = 512000
"""Memory ceiling (MB) of a task when neither the job nor its memory class sets a lower one."""

DOWNLOAD_MARKER = "_download_cmd_line_"
CONFIG_MARKER = "_build_cmd_line_"
SITE_MARKER = "_compute_site_"
"""Where ``remoteBuild.runnerCommand`` takes the archive's cache URL, the YAML's name and the site."""

_UNRESOLVED = re.compile(r"(?<![$\\])\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""A ``{name}`` BpsConfig left in a value because ``name`` is not set (``${X}`` is the shell's)."""


def read_service_settings(config: BpsConfig | dict) -> ServiceSettings:
    """Read the service's own keys from a configuration that may be empty or a plain `dict`.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or `dict`
        The service's configuration.

    Returns
    -------
    settings : `ServiceSettings`
        The settings, with the shipped defaults for keys the configuration lacks.
    """
    return ServiceSettings(
        idds_server=str(setting_or_default(config, "iddsServer") or "") or None,
        monitor_url=str(setting_or_default(config, "pandaMonitorUrl") or "") or None,
        resubmit=_as_bool("resubmit", setting_or_default(config, "resubmit")),
        restart_pending_timeout=_as_float(
            "restartPendingTimeout",
            setting_or_default(config, "restartPendingTimeout", RESTART_PENDING_VARIABLE),
            0.0,
        ),
    )


def written_runner_command(config: BpsConfig) -> str:
    """Return ``runnerCommand`` as written (no variable replaced), on one line.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig`
        The configuration.
    """
    _, runner = config.search("runnerCommand", opt={"replaceEnvVars": False, "expandEnvVars": False})
    return " ".join(str(runner).split())


def setting_or_default(config: BpsConfig | dict, key: str, variable: str | None = None) -> Any:
    """Return one key of a configuration that may be empty or a plain `dict`, else its fallback.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or `dict`
        The configuration.
    key : `str`
        A key of ``bps_panda.yaml``.
    variable : `str`, optional
        An environment variable consulted before the shipped default (``bps status|report|restart``
        pass an empty configuration).

    Returns
    -------
    value : `~typing.Any`
        The configuration's value, else the variable's (when set and not empty), else the one in
        ``bps_panda.yaml``.
    """
    fallback = os.environ.get(variable) if variable else None
    if fallback is None or fallback == "":
        fallback = shipped_default(key)
    if isinstance(config, BpsConfig):
        return config.search(key, opt={"default": fallback})[1]
    return config.get(key, fallback) if config else fallback


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

    def _search_or_default(self, key: str, curvals: dict[str, str] | None = None) -> tuple[bool, Any]:
        """Search for ``key``, falling back to its value in the shipped ``bps_panda.yaml``."""
        return self._search(key, curvals, default=shipped_default(key))

    def workflow(self) -> WorkflowSettings:
        """Return the workflow-wide settings (read once)."""
        if self._workflow is None:
            self._workflow = self._read_workflow()
        return self._workflow

    def _read_workflow(self) -> WorkflowSettings:
        event_service = self._event_service()
        _, max_jobs = self._search_or_default("maxJobsPerTask")
        _, placeholders = self._search_or_default("placeholderParams")
        _, end_point = self._search("fileDistributionEndPoint", replaceEnvVars=True, default="")
        _, end_point_default = self._search(
            "fileDistributionEndPointDefault", replaceEnvVars=True, default=""
        )
        _, max_request = self._search_or_default("maxRequestLength")
        _, order_id_map_file = self._search_or_default("orderIdMapFilename")
        _, submit_side = self._search_or_default("submitSideResolvedParams")
        _, copy_workers = self._search_or_default("maxCopyWorkers")
        return WorkflowSettings(
            max_jobs_per_task=_as_int("maxJobsPerTask", max_jobs, 1),
            placeholder_params=_as_names("placeholderParams", placeholders),
            end_point=resolve_end_point(str(end_point or ""), str(end_point_default or "") or None),
            max_name_length=self._max_name_length(),
            max_request_length=_as_int("maxRequestLength", max_request, 0) or None,
            name_mode=self._name_mode(event_service),
            order_id_map_file=_as_basename("orderIdMapFilename", order_id_map_file),
            submit_side_env=_as_names("submitSideResolvedParams", submit_side),
            max_copy_workers=_as_int("maxCopyWorkers", copy_workers, 1),
            event_service=event_service,
        )

    def _max_name_length(self) -> int:
        # iDDS's DomaPanDAWork reads IDDS_MAX_NAME_LENGTH as its limit: when set, it is the limit.
        if os.environ.get("IDDS_MAX_NAME_LENGTH"):
            return _as_int("IDDS_MAX_NAME_LENGTH", os.environ["IDDS_MAX_NAME_LENGTH"], 64)
        _, max_name = self._search_or_default("maxNameLength")
        return _as_int("maxNameLength", max_name, 64)

    def _name_mode(self, event_service: EventServiceSettings | None) -> NameMode:
        chosen = [
            mode
            for mode in (NameMode.ORDER_ID_MAP, NameMode.QNODE_MAP, NameMode.COMPACT)
            if _as_bool(mode.value, self._search_or_default(mode.value)[1])
        ]
        if NameMode.COMPACT in chosen and len(chosen) > 1:
            others = ", ".join(mode.value for mode in chosen if mode is not NameMode.COMPACT)
            raise PandaConfigError(
                f"enableCompactJobNames cannot be combined with {others}: choose one job-name format"
            )
        if event_service and chosen != [NameMode.ORDER_ID_MAP]:
            if NameMode.COMPACT in chosen:
                raise PandaConfigError(
                    "enableEventService maps events to jobs through the order-id map (enableJobNameMap): "
                    "set enableCompactJobNames: false"
                )
            _LOG.info("enableEventService: jobs go by the order-id map (enableJobNameMap)")
            return NameMode.ORDER_ID_MAP
        # The published plugin lets the order-id map win over the qnode map.
        return chosen[0] if chosen else NameMode.PLAIN

    def _event_service(self) -> EventServiceSettings | None:
        _, labels = self._search("enableEventService", default=None)
        _, max_payloads = self._search_or_default("maxPayloadsPerPandaJob")
        _, max_walltime = self._search("maxWmsJobWalltime", default=None)
        return parse_event_service(_plain(labels), max_payloads, max_walltime)

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
        runner = " ".join(str(runner).split())
        if unset := self._unset_references("runnerCommand", curvals):
            # BpsConfig would leave nothing where an unset {name} was: a worker would run a broken setup.
            raise PandaConfigError(
                f"runnerCommand for site {site!r} (label {label!r}) uses {{{unset[0]}}}, which is not set "
                f"(unset: {', '.join(unset)}); define it in the submit YAML (e.g. LSST_VERSION: w_2026_40, "
                "sw_image: ...) or in the site configuration"
            )
        _, raw_classes = self._search_or_default("memoryClasses", curvals)
        classes = parse_memory_classes(_plain(raw_classes), key=f"site {site!r} memoryClasses")
        _, merge_queue = self._search("mergeQueue", curvals, default=None)
        _, task_type = self._search_or_default("taskType", curvals)
        _, prod_source_label = self._search_or_default("prodSourceLabel", curvals)
        _, vo = self._search_or_default("vo", curvals)
        _, working_group = self._search("workingGroup", curvals, default=None)
        _, cloud = self._search_or_default("computeCloud", curvals)
        _, priority = self._search_or_default("priority", curvals)
        return LabelSettings(
            site=site,
            runner_command=runner,
            router=MemoryRouter(classes, merge_queue=str(merge_queue) if merge_queue else None),
            processing_type=self._processing_type(label, curvals),
            task_type=str(task_type),
            prod_source_label=str(prod_source_label),
            vo=str(vo),
            working_group=str(working_group) if working_group else None,
            cloud=str(cloud) if cloud else None,
            priority=_as_int("priority", priority, 0),
        )

    def remote_build(self, section: BpsConfig) -> RemoteBuildSettings:
        """Return the settings of a remote build's job.

        Parameters
        ----------
        section : `lsst.ctrl.bps.BpsConfig`
            The submit YAML's ``remoteBuild`` section (ctrl_bps passes it to submit).

        Returns
        -------
        settings : `RemoteBuildSettings`
            ``remoteBuild.<key>`` wins over the same key elsewhere (site included); the build-only
            keys (``files``, ``runnerCommand``, ``uploadAttempts``, ``uploadBackoff``) are read
            under ``remoteBuild`` only.

        Raises
        ------
        PandaConfigError
            Raised if ``remoteBuild.runnerCommand`` is missing or lacks a marker, or a value is bad
            (naming the key).
        """
        _, site = self._search("computeSite", default=None)
        curvals = {"curr_site": str(site)} if site else {}

        def shared(key: str) -> tuple[str, Any]:
            return self._remote_build_key(section, key, curvals)

        def with_default(key: str) -> tuple[str, Any]:
            where, value = shared(key)
            return (where, value) if value not in (None, "") else (key, shipped_default(key))

        def own(key: str) -> Any:
            # Keys that only make sense under remoteBuild (runnerCommand elsewhere is the jobs' runner).
            found, value = section.search(key, opt={"replaceEnvVars": False, "expandEnvVars": False})
            return value if found else shipped_default(f"remoteBuild.{key}")

        runner_under_section = section.search("runnerCommand", opt={"replaceEnvVars": False})[1]
        runner = _build_runner(shared("runnerCommand")[1] if runner_under_section else None)
        files = own("files") or []
        upload_attempts = _as_int("remoteBuild.uploadAttempts", own("uploadAttempts"), 1)
        upload_backoff = _as_float("remoteBuild.uploadBackoff", own("uploadBackoff"), 0)
        rss_key, rss = shared("requestMemory")
        if rss in (None, ""):
            raise PandaConfigError(
                "requestMemory is not set for the remote build job: set remoteBuild.requestMemory "
                "(bps_remote.yaml sets 4000)"
            )
        retries_key, retries = shared("numberOfRetries")
        max_key, rss_max = shared("requestMemoryMax")
        multiplier_key, multiplier = shared("memoryMultiplier")
        priority_key, priority = with_default("priority")
        return RemoteBuildSettings(
            files=tuple(str(name) for name in ([files] if isinstance(files, str) else files)),
            runner_command=runner,
            upload_attempts=upload_attempts,
            upload_backoff=upload_backoff,
            site=str(site) if site else None,
            queue=shared("queue")[1] or None,
            cloud=with_default("computeCloud")[1] or None,
            rss=_as_int(rss_key, rss, 1),
            rss_max=_as_int(max_key, rss_max, 1) if rss_max else None,
            memory_multiplier=_as_float(multiplier_key, multiplier, 1) if multiplier else None,
            # Without numberOfRetries (ctrl_bps's defaults set it) the build job runs once.
            max_attempt=_as_int(retries_key, retries or 0, 0) + 1,
            processing_type=shared("processingType")[1] or None,
            priority=_as_int(priority_key, priority, 0),
            vo=str(with_default("vo")[1]),
            prod_source_label=str(with_default("prodSourceLabel")[1]),
        )

    def _remote_build_key(self, section: BpsConfig, key: str, curvals: dict[str, str]) -> tuple[str, Any]:
        """Return where a remote build's key was found (for errors) and its value.

        Parameters
        ----------
        section : `lsst.ctrl.bps.BpsConfig`
            The ``remoteBuild`` section, searched first.
        key : `str`
            The key.
        curvals : `dict` [`str`, `str`]
            The site to search under (``curr_site``).
        """
        found, value = self._search(key, curvals, searchobj=section)
        if not found or value in (None, ""):
            found, value = self._search(key, curvals)
        # A search with searchobj goes on through the whole config: say which one it was.
        own_value = section.search(key, opt={"replaceEnvVars": False, "expandEnvVars": False})[1]
        return (f"remoteBuild.{key}" if own_value not in (None, "") else key), value

    def submission_names(self) -> SubmissionNames:
        """Return the names ctrl_bps sets for a submission (a remote build has no prepared workflow).

        Raises
        ------
        PandaConfigError
            Raised if one is not set.
        """
        return SubmissionNames(
            submit_path=self._set_by_bps("submitPath"),
            run_name=self._set_by_bps("uniqProcName"),
            output_run=self._set_by_bps("outputRun"),
        )

    def _set_by_bps(self, key: str) -> str:
        """Return a key ctrl_bps sets for every submission (``submitPath``, ``uniqProcName``, ...)."""
        found, value = self._config.search(key, {})
        if not found:
            raise PandaConfigError(f"{key} is not set: ctrl_bps sets it for bps submit; set it in the YAML")
        return str(value)

    def _unset_references(self, key: str, curvals: dict[str, str]) -> list[str]:
        """Return the ``{name}`` references under ``key``, followed through the values, that are unset."""
        unset, seen, pending = [], set(), [key]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            found, raw = self._search(name, curvals, replaceVars=False)
            if not found:
                unset.append(name)
            else:
                pending.extend(_UNRESOLVED.findall(str(raw)))
        return sorted(unset)

    def _processing_type(self, label: str, curvals: dict[str, str]) -> str | None:
        if label == "finalJob":
            # As PanDA's production sees it: the final job's own section, else Rubin_Merge.
            _, final_section = self._search("finalJob", default=None)
            value = final_section.get("processingType") if hasattr(final_section, "get") else None
            return str(value) if value else "Rubin_Merge"
        _, value = self._search("processingType", curvals, default=None)
        return str(value) if value else None


def _build_runner(runner: Any) -> str:
    """Check ``remoteBuild.runnerCommand`` (one line, with the archive's and the YAML's markers)."""
    if not runner:
        raise PandaConfigError(
            "remoteBuild.runnerCommand is not set: include ${CTRL_BPS_PANDA_DIR}/config/bps_remote.yaml "
            "or set it to a command that runs edgenode/build_cmd_line_decoder.py"
        )
    command = " ".join(str(runner).split())
    if DOWNLOAD_MARKER not in command or CONFIG_MARKER not in command:
        raise PandaConfigError(
            f"remoteBuild.runnerCommand must contain {DOWNLOAD_MARKER} and {CONFIG_MARKER} (the archive's "
            f"cache URL and the submit YAML's name), got {command!r}"
        )
    return command
