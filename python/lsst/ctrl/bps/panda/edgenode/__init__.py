# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Code that runs on the worker node, next to the payload.

The files keep their EUPS paths: site configs run
``${CTRL_BPS_PANDA_DIR}/python/lsst/ctrl/bps/panda/edgenode/cmd_line_decoder.py``.
The decoders use the standard library only.

Modules
-------
`job_contract`
    What the submit side and the worker agree on: the command-line token,
    pseudo input names, placeholders.  The plugin's lowest layer with the
    shared words; `local` may import it.
`cmd_line_decoder`
    Restore and run a job's command line.
`staged_files`
    Fetch the staged files a job reads.
`build_cmd_line_decoder`
    The remote build job's decoder.
"""
