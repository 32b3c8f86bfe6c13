# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""DRP-shaped synthetic `~lsst.ctrl.bps.GenericWorkflow` objects for tests and benchmarks.

The shape follows a data-release-processing pipeline: ``pipetaskInit`` feeds
per-detector ``isr`` → ``calibrate``, fanned in to per-patch ``makeWarp``,
fanned in again to ``assembleCoadd``, fanned out to ``forcedPhot``, and a
final job.  Labels span the memory classes from conventional to extra_high,
with retries and memory multipliers, and jobs carry ``run-qbb`` style
arguments and ``cmdvals`` as ctrl_bps makes them with lazy commands.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections import Counter

from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowFile, GenericWorkflowJob

__all__ = ["DRP_LABELS", "LabelShape", "make_drp_workflow"]

RUN_QUANTUM = (
    "{runPreCmdOpts} run-qbb {butlerConfig} {fileDistributionEndPoint}<FILE:runQgraphFile> "
    "--qgraph-node-id {qgraphNodeId} {extraRunQuantumOptions}"
)
INIT_QUANTUM = (
    "{initPreCmdOpts} pre-exec-init-qbb {butlerConfig} {fileDistributionEndPoint}<FILE:runQgraphFile> "
    "{extraInitOptions}"
)


@dataclasses.dataclass(frozen=True)
class LabelShape:
    """Resource requests of one synthetic label."""

    label: str
    request_memory: int
    number_of_retries: int = 3
    memory_multiplier: float | None = None
    request_memory_max: int | None = None
    preemptible: bool = True
    request_cpus: int = 1


DRP_LABELS = {
    "isr": LabelShape("isr", 2048, memory_multiplier=2.0),
    "calibrate": LabelShape("calibrate", 3500),
    "makeWarp": LabelShape("makeWarp", 6000, memory_multiplier=1.5, request_memory_max=10000),
    "assembleCoadd": LabelShape("assembleCoadd", 24000, preemptible=False, number_of_retries=1),
    "forcedPhot": LabelShape("forcedPhot", 3000, number_of_retries=0),
}


def _jobs_per_visit(detectors: int, patches: int) -> int:
    return 2 * detectors + 2 * patches


def make_drp_workflow(
    n_jobs: int,
    *,
    name: str = "drp",
    detectors: int = 10,
    patches: int = 4,
    final: bool = True,
    labels: dict[str, LabelShape] | None = None,
    seed: int = 1,
    submit_dir: str = "/tmp/submit",
) -> GenericWorkflow:
    """Make a DRP-shaped workflow of about ``n_jobs`` jobs.

    Parameters
    ----------
    n_jobs : `int`
        Approximate number of payload jobs.
    name : `str`, optional
        Workflow name.
    detectors : `int`, optional
        Detectors per visit (``isr``/``calibrate`` jobs per visit).
    patches : `int`, optional
        Patches (``assembleCoadd`` jobs; ``makeWarp``/``forcedPhot`` per visit).
    final : `bool`, optional
        Add a final job.
    labels : `dict` [`str`, `LabelShape`], optional
        Resource requests per label (default `DRP_LABELS`).
    seed : `int`, optional
        Seed for the quantum ids, so workflows are reproducible.
    submit_dir : `str`, optional
        Where the quantum graph and final script would be.

    Returns
    -------
    workflow : `lsst.ctrl.bps.GenericWorkflow`
        The workflow.
    """
    shapes = labels or DRP_LABELS
    rng = random.Random(seed)
    visits = max(1, (n_jobs - patches - 1) // _jobs_per_visit(detectors, patches))
    gw = GenericWorkflow(name)
    qgraph = GenericWorkflowFile(
        "runQgraphFile",
        src_uri=f"{submit_dir}/{name}.qg",
        wms_transfer=True,
        job_access_remote=True,
        job_shared=True,
    )
    gw.add_file(qgraph)
    pipetask = GenericWorkflowExec("pipetask", "<ENV:CTRL_MPEXEC_DIR>/bin/pipetask", False)
    shared_values = {
        "runPreCmdOpts": "--long-log --log-level=VERBOSE",
        "initPreCmdOpts": "--long-log --log-level=VERBOSE",
        "butlerConfig": "s3://butler-us-central1-panda-dev/dc2/butler.yaml",
        "extraRunQuantumOptions": "--no-raise-on-partial-outputs",
        "extraInitOptions": "",
        "qgraphId": f"1700000000.{seed:06d}-synthetic",
    }

    def add(job_name: str, label: str, parents: list[str], arguments: str = RUN_QUANTUM) -> None:
        shape = shapes.get(label)
        job = GenericWorkflowJob(
            job_name,
            label=label,
            executable=pipetask,
            arguments=arguments,
            quanta_counts=Counter({label: 1}),
            cmdvals={**shared_values, "qgraphNodeId": str(uuid.UUID(int=rng.getrandbits(128)))},
        )
        if shape is not None:
            job.request_memory = shape.request_memory
            job.request_memory_max = shape.request_memory_max
            job.memory_multiplier = shape.memory_multiplier
            job.number_of_retries = shape.number_of_retries
            job.preemptible = shape.preemptible
            job.request_cpus = shape.request_cpus
        else:
            job.request_memory = 2048
            job.number_of_retries = 3
        gw.add_job(job, parent_names=parents)
        gw.add_job_inputs(job_name, qgraph)

    add("pipetaskInit", "pipetaskInit", [], INIT_QUANTUM)
    coadd_inputs: dict[int, list[str]] = {p: [] for p in range(patches)}
    warps: dict[tuple[int, int], str] = {}
    for visit in range(visits):
        calibrated = []
        for detector in range(detectors):
            isr = f"isr_{visit}_{detector}"
            add(isr, "isr", ["pipetaskInit"])
            calibrate = f"calibrate_{visit}_{detector}"
            add(calibrate, "calibrate", [isr])
            calibrated.append(calibrate)
        per_patch = max(1, detectors // patches)
        for patch in range(patches):
            # Neighbouring patches overlap by one detector, as warps do.
            first = max(0, patch * per_patch - 1)
            sources = calibrated[first : min(detectors, (patch + 1) * per_patch + 1)] or calibrated[-1:]
            warp = f"makeWarp_{visit}_{patch}"
            add(warp, "makeWarp", sources)
            warps[(visit, patch)] = warp
            coadd_inputs[patch].append(warp)
    for patch in range(patches):
        coadd = f"assembleCoadd_{patch}"
        add(coadd, "assembleCoadd", coadd_inputs[patch])
        for visit in range(visits):
            add(f"forcedPhot_{visit}_{patch}", "forcedPhot", [coadd, warps[(visit, patch)]])

    if final:
        script = GenericWorkflowExec("final_job.bash", f"{submit_dir}/final_job.bash", True)
        final_job = GenericWorkflowJob(
            "finalJob",
            label="finalJob",
            executable=script,
            arguments="<FILE:runQgraphFile> s3://butler-us-central1-panda-dev/dc2/butler.yaml",
            request_memory=32768,
            request_cpus=16,
            number_of_retries=2,
        )
        gw.add_final(final_job)
        gw.add_job_inputs("finalJob", qgraph)
    return gw
