# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""``bps prepare``: a GenericWorkflow and its config become an iDDS workflow (no I/O but files).

Layer: above the shared words (`errors`, `task_names`, ...) and
`edgenode.job_contract`; below `wms`.

Modules
-------
`settings`
    Every configuration key the plugin reads, read in one place.
`setting_types`
    The records the settings reader fills, and the checked conversions of values.
`memory_classes`
    Which queue a job goes to, and its task's memory limits.
`event_service`
    Several quanta of one label per PanDA job.
`graph_tables`
    The one reader of a GenericWorkflow's internal tables: cycle check, dependency-map entries.
`task_spec`
    What the jobs of one PanDA task share.
`command_line`
    Pseudo input names and the task executable.
`task_work`
    One ``DomaPanDAWork`` from a task spec; its dependency map's JSON written, zipped in a thread.
`published_names`
    The published plugin's short pseudo-input names.
`convert`
    GenericWorkflow to iDDS workflow (pure).
`prepared_workflow`
    `PandaBpsWmsWorkflow`: the prepared workflow, written and read.
`workflow_picture`
    The task-graph picture in the submit directory.
"""

__all__: list[str] = []
