# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x module of the command-line embedder: `CommandLineEmbedder` over `prepare.command_line`.

Prepare does this work per task (`~lsst.ctrl.bps.panda.prepare.task_spec`); this class keeps the
published calls for code that builds one job's command line itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from lsst.ctrl.bps import BpsConfig

from .prepare.command_line import command_line_for, fill_unstaged_files, pseudo_input_name
from .prepare.settings import setting_or_default

__all__ = ["CommandLineEmbedder"]

_LOG = logging.getLogger(__name__)


class CommandLineEmbedder:
    """Fill a job's command line on the submit side; per-job values travel in its pseudo input name.

    Parameters
    ----------
    config : `lsst.ctrl.bps.BpsConfig` or `dict`
        Configuration (``placeholderParams``, ``submitSideResolvedParams``); an empty one takes
        the defaults of ``bps_panda.yaml``.
    """

    def __init__(self, config: BpsConfig | dict) -> None:
        self.placeholder_params = tuple(setting_or_default(config, "placeholderParams") or ())
        self.submit_side_env = tuple(setting_or_default(config, "submitSideResolvedParams") or ())

    def replace_static_files(self, cmd_line: str, files: Iterable[Any]) -> str:
        """Replace ``<FILE:key>`` of the files read where they are (not staged) by their path.

        Parameters
        ----------
        cmd_line : `str`
            Command line with ``<FILE:key>`` placeholders.
        files : `~collections.abc.Iterable` [`lsst.ctrl.bps.GenericWorkflowFile`]
            The job's files.

        Returns
        -------
        cmd_line : `str`
            The command line; staged files keep ``<FILE:key>`` for the worker to fill.

        Raises
        ------
        UnknownFileKeyError
            Raised (a `RuntimeError`) if the command line names a key that is none of ``files``.
        """
        return fill_unstaged_files(cmd_line, files, "", require_known=True)

    def substitute_command_line(
        self, cmd_line: str, lazy_vars: Mapping[str, Any], job_name: str, gwfiles: Iterable[Any]
    ) -> tuple[str, str]:
        """Fill a job's command line and name its pseudo input.

        Parameters
        ----------
        cmd_line : `str`
            Command line with ``{key}``, ``<FILE:key>`` and ``<ENV:X>`` placeholders.
        lazy_vars : `~collections.abc.Mapping` [`str`, `~typing.Any`]
            Values of the ``{key}`` placeholders (the job's ``cmdvals``).
        job_name : `str`
            The job's name, whole at the front of its pseudo input name.
        gwfiles : `~collections.abc.Iterable` [`lsst.ctrl.bps.GenericWorkflowFile`]
            The job's files.

        Returns
        -------
        cmd_line : `str`
            The command line; ``placeholderParams`` keys stay ``{key}`` for the worker.
        pseudo_input : `str`
            ``<job>+<key>:<value>+...`` for those keys the command line uses.
        """
        filled = command_line_for(
            job_name=job_name,
            executable=self.replace_static_files(cmd_line, gwfiles),
            arguments=None,
            cmdvals=lazy_vars,
            per_job_keys=frozenset(self.placeholder_params),
            environment=None,
            submit_side_env=self.submit_side_env,
        )
        per_job = [key for key in self.placeholder_params if f"{{{key}}}" in cmd_line]
        return filled, pseudo_input_name(job_name, lazy_vars, keys=per_job)
