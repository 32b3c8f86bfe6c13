# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""iDDS works of the PanDA tasks, and the zipping of their dependency maps for the iDDS JSON."""

import json
import logging
import random
import string

import pytest
from idds.doma.workflowv2.domapandawork import DomaPanDAWork
from lsst.ctrl.bps.panda.prepare.convert import convert_workflow
from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
from lsst.ctrl.bps.panda.prepare.task_work import DependencyMapZipper, map_json
from support.bps_configs import make_config
from support.synthetic import make_drp_workflow


def _works(tmp_path):
    gw = make_drp_workflow(200, submit_dir=str(tmp_path))
    result = convert_workflow(gw, SettingsReader(make_config(str(tmp_path), site={})))
    return list(result.idds_workflow.template.works.values())


def test_zipped_maps_are_idds_own_zip_and_the_works_get_their_maps_back(tmp_path):
    works = _works(tmp_path)
    maps = [work.dependency_map for work in works]
    zipper = DependencyMapZipper()
    for index, work in enumerate(works):
        zipper.start(work, made_here=index % 2 == 0)  # by map_json, and by iDDS's zip_data
    zipper.close()
    with zipper.zipped_maps():
        zipped = [work._dependency_map for work in works]
    pairs = list(zip(works, maps, strict=True))
    assert zipped == [work.zip_data(dependency_map) for work, dependency_map in pairs]
    assert all(text.startswith("idds_zip:") for text in zipped)
    assert all(work._dependency_map is dependency_map for work, dependency_map in pairs)


def test_a_map_replaced_after_zipping_started_is_kept(tmp_path):
    work, other = _works(tmp_path)[:2]
    zipper = DependencyMapZipper()
    zipper.start(work)
    zipper.start(other)
    zipper.close()
    replacement = list(work._dependency_map)
    work._dependency_map = replacement
    with zipper.zipped_maps():
        assert work._dependency_map is replacement
        assert other._dependency_map.startswith("idds_zip:")


def test_conversion_starts_zipping_and_leaves_the_works_their_maps(tmp_path):
    gw = make_drp_workflow(200, submit_dir=str(tmp_path))
    result = convert_workflow(gw, SettingsReader(make_config(str(tmp_path), site={})))
    works = list(result.idds_workflow.template.works.values())
    assert result.map_zipper is not None
    with result.map_zipper.zipped_maps():
        assert sum(isinstance(work._dependency_map, str) for work in works) == len(works) - 1  # not the final
    assert all(isinstance(work.dependency_map, list) for work in works)


def _plain(value):
    return isinstance(value, str) and value.isascii() and value.isprintable() and not set(value) & {'"', "\\"}


def test_map_json_is_json_dumps_of_converted_maps(tmp_path):
    works = _works(tmp_path)
    for work in works:
        assert map_json(work.dependency_map) == json.dumps(work.dependency_map).encode()


def test_map_json_gives_json_dumps_or_nothing_whatever_the_names():
    rng = random.Random(20261207)
    hostile = '"\\\n\t\x00\x1f\x7f\u00e9\u2028\U0001f600 {}[],:'
    alphabet = string.ascii_letters + string.digits + "_.-+:/=@" + hostile
    written = refused = 0
    for _ in range(400):
        size = rng.randint(1, 6)
        names = ["".join(rng.choices(alphabet, k=rng.randint(0, 10))) for _ in range(size)]
        references = [{"task": rng.choice(["t1", 't"2', "t\\3", "t4"]), "inputname": name} for name in names]
        entries = [
            {"name": name, "order_id": order, "dependencies": rng.sample(references, rng.randint(0, size))}
            for order, name in enumerate(names)
        ]
        result = map_json(entries)
        expected = json.dumps(entries).encode()
        assert result is None or result == expected, entries
        strings = names + [reference["task"] for reference in references]
        if all(map(_plain, strings)):
            assert result == expected, entries
        written += result is not None
        refused += result is None
    assert written > 20 and refused > 20  # both kinds were tried


@pytest.mark.parametrize(
    "entries",
    [
        [{"name": "a", "order_id": 0, "dependencies": [], "groups": "x"}],  # one key more
        [{"name": "a", "order_id": 0}],  # one key less
        [{"name": "a", "order_id": 0, "dependencies": [{"task": "t", "inputname": "b", "available": False}]}],
        [{"name": "a", "order_id": 0, "dependencies": [{"task": "t"}]}],
        [{"name": "a", "order_id": True, "dependencies": []}],
        [{"name": "a", "order_id": None, "dependencies": []}],
        [{"name": "a", "order_id": "0", "dependencies": []}],
        [{"name": "a", "order_id": 0.0, "dependencies": []}],
        [{"name": 7, "order_id": 0, "dependencies": []}],
        [{"name": None, "order_id": 0, "dependencies": []}],
        [{"name": "a", "order_id": 0, "dependencies": {"task": "t"}}],
        ["not an entry"],
    ],
)
def test_map_json_writes_only_the_shape_it_knows(entries):
    # The middle entry is the odd one: the first and last are plain.
    plain = {"name": "p", "order_id": 1, "dependencies": [{"task": "t", "inputname": "q"}]}
    for candidate in (entries, [plain, *entries, plain]):
        assert map_json(candidate) is None


def test_map_json_of_an_empty_map_and_of_tuples():
    assert map_json([]) == b"[]"
    assert map_json(({"name": "a", "order_id": 0, "dependencies": []},)) is None


def test_a_map_with_names_json_escapes_is_zipped_by_idds(tmp_path):
    work = _works(tmp_path)[1]
    escaped = [dict(entry, name=entry["name"] + '"\u00e9') for entry in work.dependency_map]
    work._dependency_map = escaped
    zipper = DependencyMapZipper()
    zipper.start(work, made_here=True)
    zipper.close()
    with zipper.zipped_maps():
        assert work._dependency_map == work.zip_data(escaped)


def test_a_new_idds_zip_format_sends_every_map_to_idds(tmp_path, monkeypatch, caplog):
    works = _works(tmp_path)
    monkeypatch.setattr(
        DomaPanDAWork, "zip_data", lambda self, data, name=None: "idds_zip2:" + json.dumps(data)
    )
    zipper = DependencyMapZipper()
    with caplog.at_level(logging.WARNING):
        for work in works:
            zipper.start(work, made_here=True)
    zipper.close()
    with zipper.zipped_maps():
        zipped = [work._dependency_map for work in works[:-1]]
    assert all(text.startswith("idds_zip2:") for text in zipped)
    assert "iDDS zips dependency maps in a new way" in caplog.text
