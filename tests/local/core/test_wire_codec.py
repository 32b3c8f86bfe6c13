# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The relay's wire format: body decoding, the class allowlist, reply envelopes."""

import gzip
import json
import tempfile
from urllib.parse import urlencode

import pytest
from idds.common.utils import json_dumps
from lsst.ctrl.bps.panda.errors import BadRequestBodyError, ForbiddenClassError
from lsst.ctrl.bps.panda.local.core.wire_codec import (
    ALLOWED_CLASSES,
    decode_body,
    encode_reply,
    load_restricted,
)
from lsst.ctrl.bps.panda.prepare.convert import convert_workflow
from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
from lsst.ctrl.bps.tests import gw_test_utils
from support.bps_configs import make_config


def _classes(text):
    found, stack = set(), [json.loads(text)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if {"class", "module", "attributes"} <= node.keys():
                found.add((node["module"], node["class"]))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@pytest.fixture
def bps_idds_workflow(tmp_path):
    gw = gw_test_utils.make_3_label_workflow("wf", True)
    return convert_workflow(gw, SettingsReader(make_config(str(tmp_path)))).idds_workflow


def test_allowlist_is_exactly_the_classes_of_a_converted_workflow_and_its_steps(bps_idds_workflow):
    whole = _classes(json_dumps(bps_idds_workflow))
    with tempfile.TemporaryDirectory() as cache:
        steps = bps_idds_workflow.split_workflow_to_steps(request_cache=cache, max_request_length=2000)
    assert steps
    in_steps = set().union(*(_classes(json_dumps(step)) for step in steps))
    main = _classes(json_dumps(bps_idds_workflow))
    assert whole | in_steps | main == ALLOWED_CLASSES


def test_converted_workflow_loads_back_with_the_restricted_loader(bps_idds_workflow):
    loaded = load_restricted(json_dumps([bps_idds_workflow]))[0]
    assert loaded.get_internal_id() == bps_idds_workflow.get_internal_id()
    assert {w.get_work_name() for w in loaded.template.works.values()} == {
        w.get_work_name() for w in bps_idds_workflow.template.works.values()
    }


def test_unknown_class_is_refused_before_anything_is_imported():
    text = json.dumps([{"class": "Popen", "module": "subprocess", "attributes": {"args": "true"}}])
    with pytest.raises(ForbiddenClassError, match="'Popen' of module 'subprocess' is not allowed"):
        load_restricted(text)


def test_allowed_class_in_a_forbidden_module_is_refused():
    text = json.dumps({"w": {"class": "Workflow", "module": "evil.workflowv2.workflow", "attributes": {}}})
    with pytest.raises(ForbiddenClassError):
        load_restricted(text)


@pytest.mark.parametrize("compress", [True, False])
def test_body_decodes_gzip_json_and_form_encoding(compress):
    fields = {"command_name": "get_requests", "kwargs": json_dumps({"request_id": 3}), "manager": True}
    raw = gzip.compress(json.dumps(fields).encode()) if compress else urlencode(fields).encode()
    call = decode_body(raw)
    assert (call.command, call.manager) == ("get_requests", True)
    assert call.arguments() == ([], {"request_id": 3})


@pytest.mark.parametrize("raw", [b"\x1f\x8bnot gzip", b"{not json", b"kwargs=1"])
def test_undecodable_body_or_missing_command_is_a_bad_request(raw):
    with pytest.raises(BadRequestBodyError):
        decode_body(raw)


def test_reply_envelope_carries_enums_as_idds_json():
    from idds.common.constants import RequestStatus

    reply = json.loads(encode_reply(True, [{"status": RequestStatus.Finished}]))
    assert reply == [
        True,
        [
            {
                "status": {
                    "class": "RequestStatus",
                    "module": "idds.common.constants",
                    "attributes": {"_value_": 3, "_name_": "Finished", "_sort_order_": 3},
                }
            }
        ],
    ]
