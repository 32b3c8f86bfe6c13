#!/usr/bin/env python
# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Create the demo's butler repository and pipeline, and check its outputs.

The pipeline chains three ``AddTask`` labels from
``lsst.pipe.base.tests.simpleQGraph`` (each adds a constant to its input)
over several detectors, so the QuantumGraph has ``3 x detectors`` quanta::

    add_dataset0 --step1(+1)--> add_dataset1 --step2(+10)--> add_dataset2 --step3(+100)--> add_dataset3

Each label also writes ``add2_dataset<k>`` (= its output + its addend).
``demo.yaml`` gives ``step2`` a 6000 MB memory request so it lands in the
high-memory class.

Usage::

    make_repo.py create WORK_DIR [--detectors N] [--fail-marker PATH]
    make_repo.py verify REPO COLLECTION [--input-collection NAME]

``create`` writes ``WORK_DIR/repo`` (butler) and ``WORK_DIR/pipeline.yaml``;
``verify`` exits non-zero and lists the problems if the outputs are wrong.
The functions `make_repo` and `verify_outputs` do the same from Python.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy
import yaml
from lsst.daf.butler import Butler, DatasetRef, DatasetType, MissingCollectionError, MissingDatasetTypeError

__all__ = [
    "ADDENDS",
    "FLAKY_LABEL",
    "HIGH_MEMORY_LABEL",
    "INPUT_COLLECTION",
    "LABELS",
    "DemoRepo",
    "expected_values",
    "input_value",
    "make_repo",
    "verify_outputs",
    "write_pipeline",
]

LABELS = ("step1", "step2", "step3")
"""Pipeline labels, in execution order (label k reads what label k-1 wrote)."""

ADDENDS = {"step1": 1, "step2": 10, "step3": 100}
"""The constant each label adds (``AddTaskConfig.addend``)."""

HIGH_MEMORY_LABEL = "step2"
"""Label that ``demo.yaml`` gives a high-memory request."""

FLAKY_LABEL = "step2"
"""Label that becomes `demo_tasks.FlakyAddTask` when a fail marker is given."""

INSTRUMENT = "DemoCam"
INPUT_DATASET_TYPE = "add_dataset0"
INPUT_COLLECTION = "demo/inputs"
DEFAULT_DETECTORS = 5

_ADD_TASK = "lsst.pipe.base.tests.simpleQGraph.AddTask"
_FLAKY_TASK = "demo_tasks.FlakyAddTask"


@dataclasses.dataclass(frozen=True)
class DemoRepo:
    """What `make_repo` created.

    Attributes
    ----------
    butler_config : `pathlib.Path`
        The repository's ``butler.yaml`` (``butlerConfig`` in bps).
    pipeline_yaml : `pathlib.Path`
        The pipeline (``pipelineYaml`` in bps).
    input_collection : `str`
        Collection holding the inputs (``inCollection`` in bps).
    detectors : `tuple` [`int`, ...]
        Detectors with an input, one quantum per label each.
    expected_outputs : `dict` [`str`, `int`]
        Number of datasets each output dataset type must have after the run.
    """

    butler_config: Path
    pipeline_yaml: Path
    input_collection: str
    detectors: tuple[int, ...]
    expected_outputs: dict[str, int]

    @property
    def quanta(self) -> int:
        """Number of quanta of the pipeline on this repository."""
        return len(LABELS) * len(self.detectors)


def _output_types(label: str) -> tuple[str, str]:
    index = LABELS.index(label) + 1
    return f"add_dataset{index}", f"add2_dataset{index}"


def input_value(detector: int) -> numpy.ndarray:
    """Return the input array stored for a detector (distinct per detector)."""
    return numpy.array([float(detector), detector + 0.5, 10.0 * detector])


def write_pipeline(path: Path, fail_marker: str | None = None) -> Path:
    """Write the demo pipeline YAML.

    Parameters
    ----------
    path : `pathlib.Path`
        File to write.
    fail_marker : `str`, optional
        When given, `FLAKY_LABEL` runs `demo_tasks.FlakyAddTask`, which fails
        for detector 0 while this file exists.

    Returns
    -------
    path : `pathlib.Path`
        The file written.
    """
    tasks: dict[str, Any] = {}
    for index, label in enumerate(LABELS, 1):
        config: dict[str, Any] = {
            "connections.in_tmpl": str(index - 1),
            "connections.out_tmpl": str(index),
            "addend": ADDENDS[label],
        }
        task_class = _ADD_TASK
        if fail_marker and label == FLAKY_LABEL:
            task_class = _FLAKY_TASK
            config.update({"failMarker": str(fail_marker), "failDetector": 0})
        tasks[label] = {"class": task_class, "config": config}
    pipeline = {"description": "ctrl_bps_panda demo: chained AddTasks over several detectors", "tasks": tasks}
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return path


def make_repo(
    work_dir: str | Path, detectors: int = DEFAULT_DETECTORS, fail_marker: str | None = None
) -> DemoRepo:
    """Create the demo repository and pipeline in a work directory.

    Parameters
    ----------
    work_dir : `str` or `pathlib.Path`
        Directory to create them in; ``repo`` must not exist there yet.
    detectors : `int`, optional
        Number of detectors (data IDs); the graph has ``3 x detectors`` quanta.
    fail_marker : `str`, optional
        Make one quantum fail while this file exists (see `write_pipeline`).

    Returns
    -------
    demo : `DemoRepo`
        Paths and collection names for the bps configuration.
    """
    work = Path(work_dir).absolute()
    work.mkdir(parents=True, exist_ok=True)
    root = work / "repo"
    if root.exists():
        raise FileExistsError(f"{root} already exists; use a fresh work directory")
    Butler.makeRepo(str(root))
    detector_ids = tuple(range(detectors))
    with Butler.from_config(str(root), writeable=True) as butler:
        butler.registry.insertDimensionData("instrument", {"name": INSTRUMENT, "detector_max": 100})
        butler.registry.insertDimensionData(
            "detector", *({"instrument": INSTRUMENT, "id": d, "full_name": f"det{d}"} for d in detector_ids)
        )
        input_type = DatasetType(
            INPUT_DATASET_TYPE, ("instrument", "detector"), "NumpyArray", universe=butler.dimensions
        )
        butler.registry.registerDatasetType(input_type)
        butler.registry.registerRun(INPUT_COLLECTION)
        for detector in detector_ids:
            data_id = {"instrument": INSTRUMENT, "detector": detector}
            butler.put(input_value(detector), input_type, data_id, run=INPUT_COLLECTION)
    pipeline_yaml = write_pipeline(work / "pipeline.yaml", fail_marker)
    expected = {name: detectors for label in LABELS for name in _output_types(label)}
    expected.update({f"{label}_metadata": detectors for label in LABELS})
    return DemoRepo(root / "butler.yaml", pipeline_yaml, INPUT_COLLECTION, detector_ids, expected)


def expected_values(inputs: dict[int, numpy.ndarray]) -> dict[tuple[str, int], numpy.ndarray]:
    """Compute every output value of the pipeline from its inputs.

    Parameters
    ----------
    inputs : `dict` [`int`, `numpy.ndarray`]
        Input array by detector.

    Returns
    -------
    values : `dict` [`tuple` [`str`, `int`], `numpy.ndarray`]
        Expected array by (dataset type, detector).
    """
    values = {}
    for detector, value in inputs.items():
        for label in LABELS:
            output_type, output2_type = _output_types(label)
            value = value + ADDENDS[label]
            values[(output_type, detector)] = value
            values[(output2_type, detector)] = value + ADDENDS[label]
    return values


def _find(butler: Butler, dataset_type: str, collection: str, **data_id: Any) -> list[DatasetRef]:
    """Return the datasets of a type in a collection; none if the type is not registered yet."""
    try:
        return butler.query_datasets(dataset_type, collections=collection, explain=False, **data_id)
    except MissingDatasetTypeError:
        return []


def verify_outputs(repo: str | Path, collection: str, input_collection: str = INPUT_COLLECTION) -> list[str]:
    """Check that a finished demo run left the right datasets in the butler.

    Parameters
    ----------
    repo : `str` or `pathlib.Path`
        Butler repository (root or ``butler.yaml``).
    collection : `str`
        Output collection of the run (the CHAINED ``output`` or the RUN).
    input_collection : `str`, optional
        Where the inputs are.

    Returns
    -------
    problems : `list` [`str`]
        One message per missing or wrong dataset; empty when all is right.
    """
    problems: list[str] = []
    with Butler.from_config(str(repo)) as butler:
        inputs = {
            ref.dataId["detector"]: butler.get(ref)
            for ref in butler.query_datasets(INPUT_DATASET_TYPE, collections=input_collection)
        }
        if not inputs:
            return [f"no {INPUT_DATASET_TYPE} inputs in {input_collection!r}"]
        try:
            butler.collections.get_info(collection)
        except MissingCollectionError:
            return [f"output collection {collection!r} does not exist"]
        for (dataset_type, detector), expected in sorted(expected_values(inputs).items()):
            refs = _find(butler, dataset_type, collection, instrument=INSTRUMENT, detector=detector)
            if not refs:
                problems.append(f"{dataset_type} detector={detector}: missing in {collection!r}")
                continue
            actual = butler.get(refs[0])
            if not numpy.array_equal(actual, expected):
                problems.append(f"{dataset_type} detector={detector}: got {actual}, expected {expected}")
        for label in LABELS:
            count = len(_find(butler, f"{label}_metadata", collection))
            if count != len(inputs):
                problems.append(f"{label}_metadata: {count} datasets, expected {len(inputs)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser("create", help="create WORK_DIR/repo and WORK_DIR/pipeline.yaml")
    create.add_argument("work_dir", type=Path)
    create.add_argument("--detectors", type=int, default=DEFAULT_DETECTORS)
    create.add_argument("--fail-marker", help="make one step2 quantum fail while this file exists")
    verify = verbs.add_parser("verify", help="check the outputs of a finished run")
    verify.add_argument("repo")
    verify.add_argument("collection")
    verify.add_argument("--input-collection", default=INPUT_COLLECTION)
    args = parser.parse_args(argv)

    if args.verb == "create":
        demo = make_repo(args.work_dir, args.detectors, args.fail_marker)
        print(f"butlerConfig:  {demo.butler_config}")
        print(f"pipelineYaml:  {demo.pipeline_yaml}")
        print(f"inCollection:  {demo.input_collection}")
        print(f"quanta:        {demo.quanta} ({len(LABELS)} labels x {len(demo.detectors)} detectors)")
        print(f"outputs:       {', '.join(f'{k} x{v}' for k, v in demo.expected_outputs.items())}")
        return 0
    problems = verify_outputs(args.repo, args.collection, args.input_collection)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if problems:
        print(f"verify: {len(problems)} problem(s) in {args.collection}", file=sys.stderr)
        return 1
    print(f"verify: all outputs of {args.collection} present with the expected values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
