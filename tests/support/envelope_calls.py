# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The calls whose replies are the recorded envelopes, made once for the recorder and the double.

``tests/real_idds/record_envelopes.py`` makes them against the real relay and iDDS;
``tests/testing/test_idds_double.py`` replays them against the iDDS double, so the two cannot drift.
"""

import tempfile
from collections.abc import Callable

from support.bps_configs import remote_build_settings
from support.local_panda import ShellDag

__all__ = ["UNKNOWN", "make_recorded_calls", "recorded_workflow"]

UNKNOWN = 987654
"""A request id no server knows."""


def recorded_workflow(name: str) -> object:
    """Return the small three-task workflow the recorded calls submit."""
    dag = ShellDag(name)
    dag.task(f"{name}_01_a_01", {"a1": [], "a2": []}, "echo ${IN/L}")
    dag.task(f"{name}_02_b_01", {"b1": [(f"{name}_01_a_01", "a1")]}, "echo ${IN/L}")
    dag.final(f"{name}_03_final_01", "true", after=[f"{name}_02_b_01"])
    return dag.workflow


def make_recorded_calls(api: object, save: Callable, before_submit: Callable = lambda: None) -> object:
    """Make every recorded call but ``idds_down`` on ``api``; ``save(name, reply)`` keeps each reply.

    ``before_submit`` runs just before the first submit (the double queues its story there).
    Returns the request id the first submit answered.
    """
    save("ping", api.ping())
    before_submit()
    request_id = save(
        "submit", api.submit(recorded_workflow("recorded"), username="ignored", use_dataset_name=False)
    )
    with tempfile.TemporaryDirectory() as cache:
        stepped = recorded_workflow("stepped")
        step = stepped.split_workflow_to_steps(request_cache=cache, max_request_length=50)[0]
        save("submit_step", api.submit(step, username="ignored", use_dataset_name=False))
    save("get_requests_new", api.get_requests(request_id=request_id, with_detail=False))
    save("get_requests_detail_new", api.get_requests(request_id=request_id, with_detail=True))
    save("get_contents_output_ext_new", api.get_contents_output_ext(request_id=request_id))
    save("get_requests_unknown", api.get_requests(request_id=UNKNOWN, with_detail=False))
    save("get_contents_output_ext_unknown", api.get_contents_output_ext(request_id=UNKNOWN))
    save("abort", api.abort(request_id=request_id))
    save("retry", api.retry(request_id=request_id))
    save("abort_unknown", api.abort(request_id=UNKNOWN))
    save("retry_unknown", api.retry(request_id=UNKNOWN))
    save("relay_unknown_command", api.no_such_command())
    _make_build_calls(api, save)
    return request_id


def _make_build_calls(api: object, save: Callable) -> None:
    """The remote build's calls: submit_build, update_build_request and its refusals."""
    from lsst.ctrl.bps.panda.remote_build.build_submission import build_workflow

    build = build_workflow("recorded_build", remote_build_settings(), "echo build")
    (work,) = build.template.works.values()
    built = recorded_workflow("recorded_built")
    signature = work.get_signature()
    build_id = save("submit_build", api.submit_build(build, username=None, use_dataset_name=False))
    save("get_requests_build_new", api.get_requests(request_id=build_id, with_detail=True))
    for name, request_id, signed in (
        ("update_build_request_wrong_signature", build_id, "wrong"),
        ("update_build_request", build_id, signature),
    ):
        save(name, api.update_build_request(request_id=request_id, signature=signed, workflow=built))
    save("get_requests_built", api.get_requests(request_id=build_id, with_detail=True))
    for name, request_id in (
        ("update_build_request_again", build_id),
        ("update_build_request_unknown", UNKNOWN),
    ):
        save(name, api.update_build_request(request_id=request_id, signature=signature, workflow=built))
