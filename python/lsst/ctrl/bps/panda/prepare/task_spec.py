# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What the jobs of one PanDA task share, worked out once per distinct job shape.

Jobs of one task share an executable, a queue, memory limits, cores,
walltime, attempts and priority.  `TaskSpecs` maps each job to the `TaskSpec`
it belongs to; jobs whose attributes differ land in different specs (and so in
different tasks).  Lookups are cached on the raw job attributes, so the cost
per job is one tuple and one dictionary lookup.
"""

from __future__ import annotations

import dataclasses
import operator
import os
from typing import Any, NoReturn

from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowJob

from ..edgenode.job_contract import (
    NAME_MAP_DIR,
    ORDER_ID_MAP_KEY,
    QNODE_MAP_KEY,
    QNODE_MAP_NAME,
    encode_token,
    published_token_problem,
)
from ..errors import PandaConfigError, PandaPrepareError, UnsafeTokenError
from .command_line import (
    StagedFileRef,
    command_line_for,
    fill_unstaged_files,
    pseudo_input_name,
    runner_executable,
)
from .graph_tables import GraphTables
from .memory_classes import QueueChoice
from .settings import DEFAULT_RSS_MAX, LabelSettings, NameMode, SettingsReader, WorkflowSettings

__all__ = ["TaskSpec", "TaskSpecs"]


@dataclasses.dataclass(frozen=True, slots=True)
class TaskSpec:
    """What every job of one PanDA task shares."""

    label: str
    site: str | None
    choice: QueueChoice
    rss: int | None
    rss_max: int | None
    rss_retry_step: int
    cores: int
    walltime: int | None
    max_attempt: int
    priority: int
    working_group: str | None
    executable: str
    files: tuple[StagedFileRef, ...]
    per_job_keys: tuple[str, ...]
    settings: LabelSettings = dataclasses.field(compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class _Command:
    executable: str
    files: tuple[StagedFileRef, ...]
    per_job_keys: tuple[str, ...]


_shape_attributes = operator.attrgetter(
    "label",
    "compute_site",
    "arguments",
    "request_memory",
    "request_memory_max",
    "memory_multiplier",
    "request_cpus",
    "request_walltime",
    "number_of_retries",
    "priority",
    "queue",
    "preemptible",
    "accounting_group",
)
"""The job attributes that shape its task (read in one C-level call)."""


_PER_JOB_VALUE = "<per-job value>"
"""What a job's shape holds for each of its ``placeholderParams``."""


def _refuse_encoding(value: str) -> str:
    raise UnsafeTokenError(value)


def _priority(job: GenericWorkflowJob, settings: LabelSettings) -> int:
    priority = _int_or_none(job, "priority", job.priority)
    return settings.priority if priority is None else priority


def _int_or_none(job: GenericWorkflowJob, attr: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise PandaPrepareError(
            f"Job {job.name!r} (label {job.label!r}): {attr}={value!r} is not a number"
        ) from None


class TaskSpecs:
    """Find the `TaskSpec` of each job of one workflow.

    Parameters
    ----------
    gw : `lsst.ctrl.bps.GenericWorkflow`
        The workflow (for job input and output files).
    reader : `SettingsReader`
        Configuration access.
    """

    def __init__(self, gw: GenericWorkflow, reader: SettingsReader) -> None:
        self.reader = reader
        self.wf: WorkflowSettings = reader.workflow()
        self.placeholders = frozenset(self.wf.placeholder_params)
        self._per_job_markers = dict.fromkeys(self.placeholders, _PER_JOB_VALUE)
        self.files_to_stage: dict[str, str] = {}
        self.published = self.wf.name_mode.published
        self._encode = _refuse_encoding if self.published else encode_token
        # The map file a published-format job reads its full pseudo input from (staged at write).
        self.map_file: StagedFileRef | None = None
        if self.wf.name_mode is NameMode.ORDER_ID_MAP:
            self.map_file = StagedFileRef(ORDER_ID_MAP_KEY, self.wf.order_id_map_file, False)
        elif self.wf.name_mode is NameMode.QNODE_MAP:
            self.map_file = StagedFileRef(QNODE_MAP_KEY, QNODE_MAP_NAME, False)
        # Direct access to the workflow's tables: two dict lookups per job instead of two method
        # calls building fresh lists (checked by GraphTables, never a silent default).
        self.tables = GraphTables.of(gw)
        self._inputs = self.tables.inputs
        self._outputs = self.tables.outputs
        self._gw = gw
        self._by_job_shape: dict[tuple, TaskSpec] = {}
        self._commands: dict[tuple, _Command] = {}
        # Equal specs reached through different raw values ("4000" vs 4000) share one object, so
        # callers can group jobs by identity.
        self._unique: dict[TaskSpec, TaskSpec] = {}
        self._last_by_label: dict[str, tuple[tuple, TaskSpec]] = {}

    def spec_for(self, job: GenericWorkflowJob, is_final: bool = False) -> TaskSpec:
        """Return the task spec of a job.

        Parameters
        ----------
        job : `lsst.ctrl.bps.GenericWorkflowJob`
            The job.
        is_final : `bool`, optional
            The job is the workflow's final job (merge queue).

        Returns
        -------
        spec : `TaskSpec`
            The shared spec; equal specs are the same object.
        """
        # Per-job values never shape a task (they travel in the pseudo input): every job's read as
        # one marker, present or not, in a C-level merge.
        fixed = job.cmdvals | self._per_job_markers
        name = job.name
        shape = (
            _shape_attributes(job),
            job.executable,
            fixed,
            job.environment,
            self._inputs.get(name),
            self._outputs.get(name),
            is_final,
        )
        # Fast path: a job shaped like the previous job of its label (compared at C speed, shared
        # objects by identity first) has the same spec.
        previous = self._last_by_label.get(job.label)
        if previous is not None and previous[0] == shape:
            return previous[1]
        # Objects (executable, files) are keyed by identity: they are shared between jobs and
        # stay alive in the workflow for as long as this cache does.
        key = (
            shape[0],
            id(job.executable),
            tuple(fixed.items()),
            tuple(job.environment.items()) if job.environment else (),
            tuple(map(id, shape[4] or ())),
            tuple(map(id, shape[5] or ())),
            is_final,
        )
        try:
            spec = self._by_job_shape.get(key)
        except TypeError:  # an unhashable cmdvals or environment value
            return self._make_spec(job, is_final)
        if spec is None:
            spec = self._by_job_shape[key] = self._make_spec(job, is_final)
        self._last_by_label[job.label] = (shape, spec)
        return spec

    def pseudo_input(self, job: GenericWorkflowJob, spec: TaskSpec) -> str:
        """Return the pseudo input name of a job of ``spec``.

        Parameters
        ----------
        job : `lsst.ctrl.bps.GenericWorkflowJob`
            The job.
        spec : `TaskSpec`
            Spec of the job's task, which names the per-job keys of its command line.

        Raises
        ------
        PandaPrepareError
            Raised if the job lacks a per-job value its command line uses, or
            the name is longer than ``maxNameLength``.
        """
        cmdvals = job.cmdvals
        try:
            name = pseudo_input_name(job.name, cmdvals, self._encode, spec.per_job_keys)
        except KeyError as error:
            raise PandaPrepareError(
                f"Job {job.name!r} (label {job.label!r}): command line uses {{{error.args[0]}}} but cmdvals "
                f"has no {error.args[0]!r}"
            ) from None
        except UnsafeTokenError as error:
            self._refuse_unsafe(job, error.args[0], {key: cmdvals.get(key) for key in spec.per_job_keys})
        if len(name) > self.wf.max_name_length:
            raise PandaPrepareError(
                f"Job {job.name!r}: pseudo input name has {len(name)} characters, above maxNameLength "
                f"{self.wf.max_name_length}"
            )
        return name

    def _refuse_unsafe(self, job: GenericWorkflowJob, value: str, values: dict[str, Any]) -> NoReturn:
        """Say that a value outside the safe set cannot travel in the published formats."""
        key = next((key for key, raw in values.items() if str(raw) == value), None)
        what = f"value {value!r} of {{{key}}}" if key is not None and value != job.name else f"name {value!r}"
        raise PandaPrepareError(
            f"Job {job.name!r} (label {job.label!r}): its {what} "
            f"{published_token_problem(value) or 'cannot travel in the published pseudo-input format'}. "
            "Set enableCompactJobNames: true if the workers run this plugin's decoder."
        )

    def _make_spec(self, job: GenericWorkflowJob, is_final: bool) -> TaskSpec:
        settings = self.reader.label(job.label, job.compute_site)
        if self.wf.name_mode is NameMode.ORDER_ID_MAP and (problem := published_token_problem(job.label)):
            raise PandaPrepareError(
                f"Label {job.label!r} (job {job.name!r}) {problem}: it cannot name order-id map entries "
                "(enableJobNameMap); rename the label or set enableCompactJobNames: true"
            )
        command = self._command_for(job, settings)
        rss = _int_or_none(job, "request_memory", job.request_memory)
        choice = settings.router.choose(
            job_name=job.name,
            label=job.label,
            request_mb=rss,
            explicit_queue=job.queue,
            preemptible=job.preemptible,
            is_final=is_final,
        )
        rss_max = min(
            _int_or_none(job, "request_memory_max", job.request_memory_max) or DEFAULT_RSS_MAX,
            choice.max_memory or DEFAULT_RSS_MAX,
            DEFAULT_RSS_MAX,
        )
        retry_step = 0
        if job.memory_multiplier and rss:
            try:
                retry_step = int(rss * float(job.memory_multiplier))
            except (TypeError, ValueError):
                raise PandaPrepareError(
                    f"Job {job.name!r} (label {job.label!r}): memory_multiplier={job.memory_multiplier!r} "
                    "is not a number"
                ) from None
        retries = _int_or_none(job, "number_of_retries", job.number_of_retries)
        if retries is not None and retries < 0:
            raise PandaPrepareError(f"Job {job.name!r} (label {job.label!r}): numberOfRetries must be >= 0")
        spec = TaskSpec(
            label=job.label,
            site=settings.site,
            choice=choice,
            rss=rss,
            rss_max=rss_max,
            rss_retry_step=retry_step,
            cores=_int_or_none(job, "request_cpus", job.request_cpus) or 1,
            walltime=_int_or_none(job, "request_walltime", job.request_walltime),
            # PanDA counts the first attempt; 0 retries is exactly one attempt.
            max_attempt=(retries or 0) + 1,
            priority=_priority(job, settings),
            working_group=job.accounting_group or settings.working_group,
            executable=command.executable,
            files=command.files,
            per_job_keys=command.per_job_keys,
            settings=settings,
        )
        return self._unique.setdefault(spec, spec)

    def _command_for(self, job: GenericWorkflowJob, settings: LabelSettings) -> _Command:
        inputs = self._gw.get_job_inputs(job.name, data=True)
        outputs = self._gw.get_job_outputs(job.name, data=True)
        if job.executable is None:
            raise PandaPrepareError(f"Job {job.name!r} (label {job.label!r}) has no executable")
        end_point = self.wf.end_point
        staged: list[StagedFileRef] = []
        arguments = job.arguments or ""
        executable = job.executable.src_uri or job.executable.name
        if job.executable.transfer_executable:
            staged.append(self._stage(job, job.executable.name, job.executable.src_uri, direct_io=False))
            executable = f"./<FILE:{job.executable.name}>"
        staged.extend(
            self._stage(job, gwfile.name, gwfile.src_uri, direct_io=gwfile.job_access_remote)
            for gwfile in inputs
            if gwfile.wms_transfer
        )
        arguments = fill_unstaged_files(arguments, inputs, job.name)
        for gwfile in outputs:
            target = os.path.basename(str(gwfile.src_uri)) if gwfile.wms_transfer else str(gwfile.src_uri)
            arguments = arguments.replace(f"<FILE:{gwfile.name}>", target)
        cmdvals = dict(job.cmdvals)
        cmdvals["fileDistributionEndPoint"] = end_point
        texts = (arguments, *(str(v) for v in job.environment.values())) if job.environment else (arguments,)
        per_job_keys = tuple(k for k in self.wf.placeholder_params if any(f"{{{k}}}" in t for t in texts))
        command = command_line_for(
            job_name=job.name,
            executable=executable,
            arguments=arguments,
            cmdvals=cmdvals,
            per_job_keys=frozenset(per_job_keys),
            environment=job.environment,
            submit_side_env=self.wf.submit_side_env,
        )
        if self.map_file is not None:
            staged.append(self.map_file)
        files = tuple(sorted(set(staged), key=lambda ref: ref.key))
        key = (settings.runner_command, command, end_point, files)
        cached = self._commands.get(key)
        if cached is None:
            try:
                executable_line = runner_executable(
                    settings.runner_command, command, end_point, files, published=self.published
                )
            except PandaConfigError as exc:
                raise PandaPrepareError(
                    f"Job {job.name!r} (label {job.label!r}): {exc}. Set enableCompactJobNames: true if the "
                    "workers run this plugin's decoder."
                ) from None
            cached = self._commands[key] = _Command(executable_line, files, per_job_keys)
        return cached

    def _stage(
        self, job: GenericWorkflowJob, key: str, src_uri: str | None, direct_io: bool
    ) -> StagedFileRef:
        if not src_uri:
            raise PandaPrepareError(f"Job {job.name!r}: file {key!r} has no source URI to stage")
        basename = os.path.basename(str(src_uri).rstrip("/"))
        reserved = {NAME_MAP_DIR, self.map_file.basename if self.map_file else NAME_MAP_DIR}
        if basename in reserved or (self.map_file and key == self.map_file.key):
            raise PandaPrepareError(
                f"Job {job.name!r}: file {key!r} ({basename!r}) clashes with the job-name map "
                f"({sorted(reserved)}, key {self.map_file.key if self.map_file else None!r}); rename it"
            )
        known = self.files_to_stage.setdefault(basename, str(src_uri))
        if known != str(src_uri):
            raise PandaPrepareError(
                f"Job {job.name!r}: files {known!r} and {src_uri!r} would both be staged as {basename!r} "
                "at fileDistributionEndPoint; give them different names"
            )
        return StagedFileRef(key, basename, direct_io)
