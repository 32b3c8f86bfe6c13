# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Talking to PanDA/iDDS about a prepared workflow: submit, stage, report.

Layer: above `prepare`; below the service facade, `notebook` and
`remote_build`.

Modules
-------
`idds_port`
    The one port to iDDS through the PanDA relay; the only importer of
    ``pandaclient``.
`relay_failures`
    Failed relay calls classified: refused, or no answer, and whether it was sent.
`run_commands`
    The restart and cancel commands recorded in a run's submit directory.
`run_reading`
    The run state from iDDS and the last recorded command (reads right after a restart).
`submission`
    Submit a prepared workflow once, and find its request id again.
`staging`
    Copy a prepared workflow's files to ``fileDistributionEndPoint``.
`submission_checks`
    What a submission needs from the environment, checked first.
`wms_report`
    iDDS request records to `~lsst.ctrl.bps.WmsRunReport`.
"""

__all__: list[str] = []
