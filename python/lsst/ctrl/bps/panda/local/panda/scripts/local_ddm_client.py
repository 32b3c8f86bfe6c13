# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""JEDI's DDM client for VO ``wlcg`` on the local stack: the generic one, plus a no-op dataset freeze.

Loaded by JEDI (``[ddm] modConfig`` of ``panda_jedi.cfg``), never imported by the plugin.  JEDI
1.0.4's ``GenPostProcessor`` freezes each task's log and output datasets through the DDM client,
but ``GenDDMClient`` has no ``freezeDataset``: every finished task would stay ``prepared``
("post-processing temporarily failed").  With no Rucio behind the stack there is nothing to
freeze, so the freeze succeeds without doing anything.
"""

from pandajedi.jediddm.GenDDMClient import GenDDMClient

__all__ = ["LocalDDMClient"]


class LocalDDMClient(GenDDMClient):
    """``GenDDMClient`` with a dataset freeze (a no-op: no DDM system behind the local stack)."""

    def freezeDataset(self, datasetName, ignoreUnknown=False):  # noqa: N802, N803 (JEDI's names)
        """Do nothing; report success.

        Parameters
        ----------
        datasetName : `str`
            The dataset JEDI would freeze.
        ignoreUnknown : `bool`, optional
            Whether an unknown dataset is ignored (there is none here).
        """
        return self.SC_SUCCEEDED, True
