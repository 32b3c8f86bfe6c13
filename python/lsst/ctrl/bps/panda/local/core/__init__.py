# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Pure parts of the local PanDA: job states, request plans, wire codec, tokens.

Layer: the lowest of `local`; imports nothing of `local` outside this package.

Modules
-------
`job_states`
    States of the local PanDA's jobs and how they read as iDDS states.
`request_plan`
    A submitted iDDS workflow to the plan of a request.
`wire_codec`
    The relay's wire format: bodies, restricted iDDS-JSON, envelopes.
`token_authority`
    The signed tokens a local PanDA issues and accepts.
`event_ranges`
    The events of an event-service job: ranges, their command, their outcomes.
`installation`
    Where this installation lives (EUPS-style variables).
"""

__all__: list[str] = []
