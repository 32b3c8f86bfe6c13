"""Convert a `~lsst.ctrl.bps.GenericWorkflow` into an iDDS workflow (pure).

One PanDA task per (label, memory class, task attributes, chunk); one
dependency-map entry per job, built in a single pass in topological order;
the final job as one more task released by an `AndCondition` over the
termination of every sink task.  Cost is linear in the number of jobs:
configuration is read once per (label, site) and task attributes are cached
per distinct combination of job attributes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import time
from collections.abc import Iterator
from typing import Any

from idds.doma.workflowv2.domapandawork import DomaPanDAWork
from idds.workflowv2.workflow import AndCondition, Workflow
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowJob, GenericWorkflowNoopJob

from .command_line import StagedFileRef, command_line_for, pseudo_input_name, runner_executable
from .errors import PandaPrepareError
from .memory_classes import QueueChoice
from .settings import LabelSettings, SettingsReader, WorkflowSettings

__all__ = ["ConversionResult", "TaskSpec", "TaskSummary", "convert_workflow"]

_LOG = logging.getLogger(__name__)

PROGRESS_INTERVAL = 5.0
"""Seconds between progress messages on large workflows."""


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
    priority: int | None
    working_group: str | None
    executable: str
    files: tuple[StagedFileRef, ...]
    per_job_keys: tuple[str, ...]
    settings: LabelSettings = dataclasses.field(compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class TaskSummary:
    """One line of the human summary of a prepared workflow."""

    name: str
    label: str
    jobs: int
    queue: str | None
    memory_class: str
    rss: int | None
    cores: int


@dataclasses.dataclass(slots=True)
class ConversionResult:
    """The iDDS workflow and what submit needs next to it."""

    idds_workflow: Workflow
    tasks: list[TaskSummary]
    files_to_stage: dict[str, str]
    """Source URI by name at the end point."""
    end_point: str
    job_count: int


@dataclasses.dataclass(slots=True)
class _ExecInfo:
    executable: str
    files: tuple[StagedFileRef, ...]
    per_job_keys: tuple[str, ...]


class _Progress:
    """Log progress of a long loop at INFO at most every `PROGRESS_INTERVAL` seconds."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total = what, total
        self.start = self.last = time.monotonic()

    def tick(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - done) / rate if rate else float("inf")
        _LOG.info("%s: %d/%d jobs (%.0f jobs/s, ETA %.0f s)", self.what, done, self.total, rate, eta)


def _int_or_none(job: GenericWorkflowJob, attr: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise PandaPrepareError(
            f"Job {job.name!r} (label {job.label!r}): {attr}={value!r} is not a number"
        ) from None


class _Converter:
    """Holds the caches of one conversion."""

    def __init__(self, gw: GenericWorkflow, reader: SettingsReader, wf: WorkflowSettings) -> None:
        self.gw = gw
        self.reader = reader
        self.wf = wf
        self.placeholders = frozenset(wf.placeholder_params)
        self.spec_cache: dict[tuple, TaskSpec] = {}
        # Equal specs reached through different raw attributes ("4000" vs 4000) share one object,
        # so the per-job grouping can key on identity.
        self.unique_specs: dict[TaskSpec, TaskSpec] = {}
        self.exec_cache: dict[tuple, _ExecInfo] = {}
        self.files_to_stage: dict[str, str] = {}

    # -- one job ---------------------------------------------------------------------------------
    def spec_for(self, job: GenericWorkflowJob, is_final: bool = False) -> TaskSpec:
        """Return the task attributes of a job (cached per distinct attribute set)."""
        exec_info = self.exec_info_for(job)
        key = (
            job.label,
            job.compute_site,
            job.request_memory,
            job.request_memory_max,
            job.memory_multiplier,
            job.request_cpus,
            job.request_walltime,
            job.number_of_retries,
            job.priority,
            job.queue,
            job.preemptible,
            job.accounting_group,
            id(exec_info),
            is_final,
        )
        spec = self.spec_cache.get(key)
        if spec is None:
            spec = self._make_spec(job, exec_info, is_final)
            spec = self.unique_specs.setdefault(spec, spec)
            self.spec_cache[key] = spec
        return spec

    def _make_spec(self, job: GenericWorkflowJob, exec_info: _ExecInfo, is_final: bool) -> TaskSpec:
        settings = self.reader.label(job.label, job.compute_site)
        rss = _int_or_none(job, "request_memory", job.request_memory)
        choice = settings.router.choose(
            job_name=job.name,
            label=job.label,
            request_mb=rss,
            explicit_queue=job.queue,
            preemptible=job.preemptible,
            is_final=is_final,
        )
        rss_max = _int_or_none(job, "request_memory_max", job.request_memory_max)
        if choice.max_memory is not None:
            rss_max = min(rss_max, choice.max_memory) if rss_max is not None else choice.max_memory
        multiplier = job.memory_multiplier
        retry_step = 0
        if multiplier and rss:
            try:
                retry_step = int(rss * float(multiplier))
            except (TypeError, ValueError):
                raise PandaPrepareError(
                    f"Job {job.name!r} (label {job.label!r}): memory_multiplier={multiplier!r} is not a number"
                ) from None
        retries = _int_or_none(job, "number_of_retries", job.number_of_retries)
        if retries is not None and retries < 0:
            raise PandaPrepareError(f"Job {job.name!r} (label {job.label!r}): numberOfRetries must be >= 0")
        cores = _int_or_none(job, "request_cpus", job.request_cpus) or 1
        return TaskSpec(
            label=job.label,
            site=settings.site,
            choice=choice,
            rss=rss,
            rss_max=rss_max,
            rss_retry_step=retry_step,
            cores=cores,
            walltime=_int_or_none(job, "request_walltime", job.request_walltime),
            # PanDA counts the first attempt; 0 retries is exactly one attempt.
            max_attempt=(retries if retries is not None else 0) + 1,
            priority=_int_or_none(job, "priority", job.priority),
            working_group=job.accounting_group or settings.working_group,
            executable=exec_info.executable,
            files=exec_info.files,
            per_job_keys=exec_info.per_job_keys,
            settings=settings,
        )

    def exec_info_for(self, job: GenericWorkflowJob) -> _ExecInfo:
        """Return the task executable of a job (cached per distinct command)."""
        inputs = self.gw.get_job_inputs(job.name, data=True)
        outputs = self.gw.get_job_outputs(job.name, data=True)
        # Per-job placeholder values do not shape the executable; drop them with C-level dict ops.
        fixed = job.cmdvals.copy()
        for name in self.placeholders.intersection(fixed):
            del fixed[name]
        try:
            fixed_values = tuple(fixed.items())
            hash(fixed_values)
        except TypeError:
            fixed_values = tuple((name, repr(value)) for name, value in fixed.items())
        executable = job.executable
        key = (
            job.label,
            job.compute_site,
            executable.name if executable else None,
            executable.src_uri if executable else None,
            executable.transfer_executable if executable else None,
            job.arguments,
            fixed_values,
            tuple(job.environment.items()) if job.environment else (),
            tuple(inputs),
            tuple(outputs),
        )
        info = self.exec_cache.get(key)
        if info is None:
            info = self._make_exec_info(job, inputs, outputs)
            self.exec_cache[key] = info
        return info

    def _make_exec_info(self, job: GenericWorkflowJob, inputs: list, outputs: list) -> _ExecInfo:
        settings = self.reader.label(job.label, job.compute_site)
        if job.executable is None:
            raise PandaPrepareError(f"Job {job.name!r} (label {job.label!r}) has no executable")
        end_point = self.wf.end_point
        staged: list[StagedFileRef] = []
        arguments = job.arguments or ""
        executable = job.executable.src_uri or job.executable.name
        if job.executable.transfer_executable:
            staged.append(self._stage(job, job.executable.name, job.executable.src_uri, direct_io=False))
            executable = f"./<FILE:{job.executable.name}>"
        for gwfile in inputs:
            if gwfile.wms_transfer:
                staged.append(self._stage(job, gwfile.name, gwfile.src_uri, direct_io=gwfile.job_access_remote))
            else:
                arguments = arguments.replace(f"<FILE:{gwfile.name}>", str(gwfile.src_uri))
        for gwfile in outputs:
            target = os.path.basename(str(gwfile.src_uri)) if gwfile.wms_transfer else str(gwfile.src_uri)
            arguments = arguments.replace(f"<FILE:{gwfile.name}>", target)
        cmdvals = dict(job.cmdvals)
        cmdvals["fileDistributionEndPoint"] = end_point
        used = (arguments, *(str(v) for v in job.environment.values())) if job.environment else (arguments,)
        per_job_keys = tuple(key for key in self.wf.placeholder_params if any(f"{{{key}}}" in t for t in used))
        command = command_line_for(
            job_name=job.name,
            executable=executable,
            arguments=arguments,
            cmdvals=cmdvals,
            per_job_keys=frozenset(per_job_keys),
            environment=job.environment,
            direct_io_prefix=end_point or None,
        )
        files = tuple(sorted(set(staged), key=lambda ref: ref.key))
        return _ExecInfo(runner_executable(settings.runner_command, command, end_point, files), files, per_job_keys)

    def _stage(self, job: GenericWorkflowJob, key: str, src_uri: str | None, direct_io: bool) -> StagedFileRef:
        if not src_uri:
            raise PandaPrepareError(f"Job {job.name!r}: file {key!r} has no source URI to stage")
        basename = os.path.basename(str(src_uri).rstrip("/"))
        known = self.files_to_stage.setdefault(basename, str(src_uri))
        if known != str(src_uri):
            raise PandaPrepareError(
                f"Job {job.name!r}: files {known!r} and {src_uri!r} would both be staged as {basename!r} "
                "at fileDistributionEndPoint; give them different names"
            )
        return StagedFileRef(key, basename, direct_io)

    def pseudo_input(self, job: GenericWorkflowJob, spec: TaskSpec) -> str:
        cmdvals = job.cmdvals
        values = {}
        for key in spec.per_job_keys:
            if key not in cmdvals:
                raise PandaPrepareError(
                    f"Job {job.name!r} (label {job.label!r}): command line uses {{{key}}} but cmdvals "
                    f"has no {key!r}"
                )
            values[key] = cmdvals[key]
        name = pseudo_input_name(job.name, values)
        if len(name) > self.wf.max_name_length:
            raise PandaPrepareError(
                f"Job {job.name!r}: pseudo input name has {len(name)} characters, above maxNameLength "
                f"{self.wf.max_name_length}"
            )
        return name


def _payload_jobs(gw: GenericWorkflow, noops: set[str]) -> Iterator[tuple[str, GenericWorkflowJob]]:
    """Yield payload jobs in topological order; collect no-op job names into ``noops``."""
    nodes = gw.nodes
    for name in gw:  # topological order
        job = nodes[name]["job"]
        if isinstance(job, GenericWorkflowJob):
            yield name, job
        elif isinstance(job, GenericWorkflowNoopJob):
            noops.add(name)
        else:
            raise NotImplementedError(
                f"Job group {name!r} (label {job.label!r}): job ordering groups are not supported by the "
                "PanDA plugin; remove the 'ordering' section that creates them"
            )


def _task_name(workflow_name: str, index: int, label: str, chunk: int, limit: int) -> str:
    name = f"{workflow_name}_{index:02d}_{label}_{chunk:02d}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    head = name[: max(limit - len(digest) - 1, 1)]
    return f"{head}_{digest}"


def _chunk_sizes(count: int, limit: int) -> list[int]:
    chunks = math.ceil(count / limit)
    base, extra = divmod(count, chunks)
    return [base + 1 if i < extra else base for i in range(chunks)]


def _new_work(name: str, spec: TaskSpec, entries: list[dict], index: int) -> DomaPanDAWork:
    settings = spec.settings
    work = DomaPanDAWork(
        executable=spec.executable,
        primary_input_collection={"scope": "pseudo_dataset", "name": f"pseudo_input_collection#{index}"},
        output_collections=[{"scope": "pseudo_dataset", "name": f"pseudo_output_collection#{index}"}],
        log_collections=[],
        dependency_map=entries,
        task_name=name,
        task_queue=spec.choice.queue,
        encode_command_line=True,
        task_rss=spec.rss or 0,
        task_rss_max=spec.rss_max,
        task_rss_retry_step=spec.rss_retry_step,
        task_cloud=settings.cloud,
        task_site=spec.site,
        task_priority=spec.priority if spec.priority is not None else 900,
        core_count=spec.cores,
        maxwalltime=spec.walltime if spec.walltime is not None else 90000,
        maxattempt=spec.max_attempt,
        processing_type=settings.processing_type,
        prodSourceLabel=settings.prod_source_label,
        task_type=settings.task_type,
        vo=settings.vo,
        working_group=spec.working_group or "lsst",
        task_log={
            "destination": "local",
            "value": "log.tgz",
            "dataset": "PandaJob_#{pandaid}/",
            "token": "local",
            "param_type": "log",
            "type": "template",
        },
    )
    return work


def convert_workflow(gw: GenericWorkflow, reader: SettingsReader) -> ConversionResult:
    """Convert a generic workflow into an iDDS workflow of PanDA tasks.

    Parameters
    ----------
    gw : `lsst.ctrl.bps.GenericWorkflow`
        The workflow made by ctrl_bps.
    reader : `SettingsReader`
        Access to the submission configuration.

    Returns
    -------
    result : `ConversionResult`
        The iDDS workflow, its task summary and the files to stage.

    Raises
    ------
    PandaPrepareError
        Raised if a job cannot be converted (message names the job).
    NotImplementedError
        Raised for workflow features PanDA cannot run (a final job that is a
        workflow, job ordering groups).
    """
    wf_settings = reader.workflow()
    converter = _Converter(gw, reader, wf_settings)
    total = gw.number_of_nodes()
    progress = _Progress("prepare", total)

    # Pass 1: task attributes and pseudo input of every payload job, in topological order.
    order: list[str] = []
    pseudo: dict[str, str] = {}
    groups: dict[int, tuple[TaskSpec, list[str]]] = {}
    noops: set[str] = set()
    for done, (name, job) in enumerate(_payload_jobs(gw, noops), 1):
        spec = converter.spec_for(job)
        order.append(name)
        pseudo[name] = converter.pseudo_input(job, spec)
        group = groups.get(id(spec))
        if group is None:
            group = groups[id(spec)] = (spec, [])
        group[1].append(name)
        if not done % 10000:
            progress.tick(done)

    # Pass 2: chunk each group evenly into tasks.
    max_jobs = wf_settings.max_jobs_per_task
    limit = wf_settings.max_name_length
    job_task: dict[str, str] = {}
    task_entries: dict[str, list[dict]] = {}
    task_specs: dict[str, TaskSpec] = {}
    for index, (spec, names) in enumerate(groups.values(), 1):
        start = 0
        for chunk, size in enumerate(_chunk_sizes(len(names), max_jobs), 1):
            task_name = _task_name(gw.name, index, spec.label, chunk, limit)
            task_specs[task_name] = spec
            task_entries[task_name] = []
            for job_name in names[start : start + size]:
                job_task[job_name] = task_name
            start += size

    # Pass 3: dependency-map entries; parents come first in topological order.
    noop_parents: dict[str, list[str]] = {}
    pred = gw.pred
    for name in order:
        parents = list(pred[name])
        if noops and not noops.isdisjoint(parents):
            parents = _payload_parents(pred, parents, noops, noop_parents)
        entries = task_entries[job_task[name]]
        entries.append(
            {
                "name": pseudo[name],
                "order_id": len(entries),
                "dependencies": [{"task": job_task[p], "inputname": pseudo[p]} for p in parents],
            }
        )

    idds_workflow = Workflow(name=gw.name)
    works: dict[str, DomaPanDAWork] = {}
    children: set[str] = set()
    summaries = []
    for index, (task_name, entries) in enumerate(task_entries.items(), 1):
        spec = task_specs[task_name]
        work = _new_work(task_name, spec, entries, index)
        works[task_name] = work
        children.update(work.dependency_tasks or ())
        idds_workflow.add_work(work)
        summaries.append(_summary(task_name, spec, len(entries)))

    final = gw.get_final()
    if final is not None:
        if not isinstance(final, GenericWorkflowJob):
            raise NotImplementedError("A final job that is itself a workflow is not supported by PanDA")
        spec = converter.spec_for(final, is_final=True)
        index = len(works) + 1
        task_name = _task_name(gw.name, index, final.label, 1, limit)
        entries = [{"name": converter.pseudo_input(final, spec), "order_id": 0, "dependencies": []}]
        final_work = _new_work(task_name, spec, entries, index)
        idds_workflow.add_work(final_work)
        sinks = [work for name, work in works.items() if name not in children]
        if sinks:
            condition = AndCondition(conditions=[w.is_terminated for w in sinks], true_works=[final_work])
            idds_workflow.add_condition(condition)
        summaries.append(_summary(task_name, spec, 1))

    _LOG.info("Converted %d jobs into %d PanDA tasks", len(order) + (final is not None), len(summaries))
    return ConversionResult(
        idds_workflow=idds_workflow,
        tasks=summaries,
        files_to_stage=converter.files_to_stage,
        end_point=wf_settings.end_point,
        job_count=len(order) + (final is not None),
    )


def _payload_parents(pred: Any, parents: list[str], noops: set[str], memo: dict[str, list[str]]) -> list[str]:
    """Return the payload jobs among ``parents``, looking through no-op jobs."""
    found: dict[str, None] = {}
    for parent in parents:
        if parent not in noops:
            found[parent] = None
            continue
        if parent not in memo:
            memo[parent] = _payload_parents(pred, list(pred[parent]), noops, memo)
        found.update(dict.fromkeys(memo[parent]))
    return list(found)


def _summary(task_name: str, spec: TaskSpec, jobs: int) -> TaskSummary:
    return TaskSummary(
        name=task_name,
        label=spec.label,
        jobs=jobs,
        queue=spec.choice.queue,
        memory_class=spec.choice.class_name,
        rss=spec.rss,
        cores=spec.cores,
    )
