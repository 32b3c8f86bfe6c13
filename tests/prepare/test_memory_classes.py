# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Memory classes and queue routing (DMTN-168)."""

import pytest
from lsst.ctrl.bps.panda.errors import PandaConfigError, PandaPrepareError
from lsst.ctrl.bps.panda.prepare.memory_classes import MemoryRouter, parse_memory_classes
from support.bps_configs import IDF_CLASSES


@pytest.fixture
def router():
    return MemoryRouter(parse_memory_classes(list(reversed(IDF_CLASSES))), merge_queue="MERGE")


def choose(router, request, **kwargs):
    options = {"job_name": "j", "label": "l", "explicit_queue": None, "preemptible": None}
    options.update(kwargs)
    return router.choose(request_mb=request, **options)


@pytest.mark.parametrize(
    ("request_mb", "name"),
    [
        (None, "conventional"),
        (1, "conventional"),
        (4000, "conventional"),
        (4001, "high"),
        (10500, "high"),
        (10501, "extra_high"),
        (117500, "extra_high"),
    ],
)
def test_smallest_class_that_holds_the_request(router, request_mb, name):
    assert choose(router, request_mb).class_name == name


def test_request_one_above_the_largest_class_fails(router):
    with pytest.raises(PandaPrepareError, match="117501 MB.*extra_high.*117500 MB"):
        choose(router, 117501)


def test_non_preemptible_picks_its_queue_and_falls_back_to_the_class_queue(router):
    assert choose(router, 5000, preemptible=False).queue == "DOMA_LSST_GOOGLE_TEST_HIMEM_NON_PREEMPT"
    assert choose(router, 100, preemptible=False).queue == "DOMA_LSST_GOOGLE_TEST"
    assert choose(router, 5000, preemptible=True).queue == "DOMA_LSST_GOOGLE_TEST_HIMEM"


def test_explicit_queue_wins_and_final_job_goes_to_merge(router):
    assert choose(router, 10**6, explicit_queue="MINE").queue == "MINE"
    assert choose(router, 10**6, is_final=True).queue == "MERGE"


def test_site_without_classes_routes_nothing():
    choice = MemoryRouter([]).choose(
        job_name="j", label="l", request_mb=10**6, explicit_queue=None, preemptible=None
    )
    assert (choice.queue, choice.max_memory) == (None, None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "a"}, "must be a list"),
        ([{"name": "a", "queue": "Q"}], "missing 'maxMemory'"),
        ([{"name": "a", "maxMemory": "lots", "queue": "Q"}], "integer"),
        ([{"name": "a", "maxMemory": 1, "queue": "Q", "colour": "red"}], "unknown keys"),
        ([{"name": "a", "maxMemory": 1, "queue": "Q"}, {"name": "b", "maxMemory": 1, "queue": "R"}], "share"),
        (["conventional"], "mapping"),
    ],
)
def test_malformed_class_lists_name_the_problem(raw, message):
    with pytest.raises(PandaConfigError, match=message):
        parse_memory_classes(raw)
