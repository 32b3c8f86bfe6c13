# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The testing kit: faithful iDDS doubles and a local PanDA for tests of code that uses this plugin.

The top layer of the plugin: it may import every other part of the plugin, and, unlike the plugin,
the local PanDA (`lsst.ctrl.bps.panda.local`): the import contract "The plugin never imports the
local PanDA" leaves ``testing`` out of its source modules on purpose (`local_panda` needs the server;
keep it that way).  Nothing is imported here.

`idds_double`
    `IddsDouble`: the PanDA client's iDDS API in process, answering with recorded real replies;
    `install_idds_double` puts it where the plugin makes its client.
`install_points`
    Where `install_idds_double` puts the double (``INSTALL_POINTS``).
`failure_modes`
    `Failure`: an iDDS outage behind the relay, a refused token, as data.
`run_story`
    `RunStory`: a request's scripted life, poll after poll.
`double_replies`
    The double's replies: recorded real records with a story's values written in.
`scripted_requests`
    The requests the double holds; what a submit, a cancel and a retry do to them.
`recorded_envelopes`
    The envelopes recorded from the real relay and iDDS (package data in ``envelopes/``).
`local_panda`
    `LocalPandaSession`: an embedded local PanDA in a temporary state directory, its environment.
`pytest_plugin`
    Fixtures ``idds_double``, ``local_panda`` and ``bps_config`` (enable with
    ``-p lsst.ctrl.bps.panda.testing.pytest_plugin``).
`campaign_verdicts`
    The verdicts a campaign manager (lsst-dm/cm-service) reaches from ``get_status``
    and ``report``, on its two code paths, as pure functions.
"""

__all__: list[str] = []
