# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""iDDS works of the PanDA tasks, and the zipping of their dependency maps for the iDDS JSON."""

from lsst.ctrl.bps.panda.prepare.convert import convert_workflow
from lsst.ctrl.bps.panda.prepare.settings import SettingsReader
from lsst.ctrl.bps.panda.prepare.task_work import DependencyMapZipper
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
    for work in works:
        zipper.start(work)
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
