# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Run the real iDDS daemons (``idds.agents.main``) with idle loops that let the CPU rest.

Run as a script by the servers' virtualenv, never imported by the plugin.  Each iDDS 2.6.21 agent
polls its queues in loops that wait 10-100 µs between passes (``BaseAgent.execute``,
``TimerScheduler.execute_local``): seven agents keep a whole core busy while nothing happens,
which a laptop or a 2-core CI machine cannot spare.  Waits shorter than `MIN_WAIT` seconds are
made `MIN_WAIT` long, and ``idds.agents.main`` runs as its own ``__main__``.

Two more changes work around an iDDS bug (2.6.21, still in its main branch): the clerk locks each
new command (``abort`` of ``bps cancel``, ``resume`` of ``bps restart``), then locks its request;
when the request is locked at that moment the command stays locked and is never looked at again,
so the cancel or restart silently never happens.  The clerk's timer runs its three polls together
every 10 s, new requests, running requests (which locks each running request while a worker
updates it), then commands: a command about a running request is nearly always stranded.

- The clerk takes its commands before it locks the running requests (`commands_first`).
- Every `SWEEP_EVERY` seconds, commands still new or processing that have been locked for
  `STRANDED_AFTER` seconds are unlocked, through iDDS's own ``idds.core.commands``, and the clerk
  takes them at its next poll (for a request locked by anything else).

Another iDDS bug (2.6.21) loses ``bps restart`` and ``bps cancel`` half-way: the clerk sends a
resume (or abort) event for each transform, then marks those transforms in another transaction; the
transformer takes the event within milliseconds, reads the transform ``FOR UPDATE SKIP LOCKED``
while that transaction still holds the row (or while another daemon has it ``locking``), finds
nothing, logs "Cannot find transform for event" and drops the event (``ReturnCode.Locked``, which
nothing reads).  The transform is never resumed, so its failed jobs' files stay final-failed (the
poller's own resume of the processing calls ``task/retry`` but discards the reset of those files):
the rerun job finishes, yet the request ends as it ended before, and the children of the failed
job are never released.  The finisher's resume and abort of a processing drop their events alike.
`retry_when_locked` makes those four handlers try again, every `LOCKED_PAUSE` seconds for up to
`LOCKED_RETRY_FOR` seconds, while they answer ``Locked``.

And one for speed: iDDS's conductor asks for new messages written at least 60 s ago (a constant
in ``Conductor.get_new_messages``), so every dependency level of a workflow waits a minute before
PanDA hears of it.  `release_after` wraps the message query the conductor calls so that it asks
for messages ``$PANDA_LOCAL_IDDS_RELEASE_DELAY`` seconds old instead (written by
``idds_config.server_environment``; 60 gives iDDS's own behaviour).

Usage: ``python idds_daemons.py``
"""

import functools
import importlib
import logging
import os
import runpy
import threading
import time
from types import SimpleNamespace
from typing import Any

__all__ = [
    "IDDS_RELEASE_DELAY",
    "LOCKED_HANDLERS",
    "LOCKED_PAUSE",
    "LOCKED_RETRY_FOR",
    "MIN_WAIT",
    "RELEASE_DELAY_ENV",
    "STRANDED_AFTER",
    "SWEEP_EVERY",
    "commands_first",
    "release_after",
    "retry_when_locked",
    "unlock_stranded_commands",
]

MIN_WAIT = 0.02
"""Seconds: the shortest wait of an idle loop (the daemons' polls are seconds apart anyway)."""

STRANDED_AFTER = 20.0
"""Seconds a command may stay locked before it counts as stranded (the clerk needs milliseconds)."""

SWEEP_EVERY = 5.0
"""Seconds between looks for stranded commands."""

LOCKED_PAUSE = 0.5
"""Seconds between two tries of an event handler that found its transform or processing locked."""

LOCKED_RETRY_FOR = 120.0
"""Seconds an event handler keeps trying while its transform or processing stays locked (a daemon
holds one for milliseconds to seconds; a busy update of a big workflow for longer)."""

LOCKED_HANDLERS = {
    "idds.agents.transformer.transformer.Transformer": (
        "process_resume_transform",
        "process_abort_transform",
    ),
    "idds.agents.carrier.finisher.Finisher": ("process_resume_processing", "process_abort_processing"),
}
"""The iDDS event handlers `retry_when_locked` wraps: those whose dropped event nothing else redoes."""

IDDS_RELEASE_DELAY = 60
"""Seconds: the age iDDS 2.6.21's conductor asks of a new message before it hands it to PanDA."""

RELEASE_DELAY_ENV = "PANDA_LOCAL_IDDS_RELEASE_DELAY"
"""Environment variable holding the seconds the conductor waits instead (``idds_config`` sets it)."""

_LOG = logging.getLogger("panda_local.idds_daemons")

_event_wait = threading.Event.wait


def _rested_wait(self: threading.Event, timeout: float | None = None) -> bool:
    if timeout is not None and timeout < MIN_WAIT:
        timeout = MIN_WAIT
    return _event_wait(self, timeout)


def unlock_stranded_commands(age: float = STRANDED_AFTER) -> list[int]:
    """Unlock the new or processing commands locked for ``age`` seconds; return their ids.

    Parameters
    ----------
    age : `float`, optional
        Seconds a command must have been locked to count as stranded.
    """
    from idds.common.constants import CommandLocking, CommandStatus
    from idds.core import commands as core_commands

    commands = core_commands.get_commands_by_status(
        status=[CommandStatus.New, CommandStatus.Processing], locking=False, period=age
    )
    stranded = [command["cmd_id"] for command in commands if command["locking"] == CommandLocking.Locking]
    if stranded:
        core_commands.update_commands(
            [{"cmd_id": cmd_id, "locking": CommandLocking.Idle} for cmd_id in stranded]
        )
        _LOG.warning("Unlocked iDDS commands %s, left locked by the clerk for over %.0f s", stranded, age)
    return stranded


def commands_first(clerk_class: Any) -> None:
    """Make a clerk take its commands before it locks the running requests, in each pass.

    Parameters
    ----------
    clerk_class : `type`
        The ``Clerk`` daemon class of iDDS, patched in place.
    """
    get_running_requests = clerk_class.get_running_requests

    def commands_then_running_requests(self: Any) -> Any:
        clerk_class.get_operation_requests(self)
        return get_running_requests(self)

    clerk_class.get_running_requests = commands_then_running_requests


def retry_when_locked(
    agent_class: Any,
    names: tuple[str, ...],
    locked: int,
    pause: float = LOCKED_PAUSE,
    retry_for: float = LOCKED_RETRY_FOR,
) -> None:
    """Make event handlers of an iDDS agent try again while they answer that their object is locked.

    Parameters
    ----------
    agent_class : `type`
        An iDDS daemon class (``Transformer``, ``Finisher``), patched in place.
    names : `tuple` [`str`, ...]
        The handlers to wrap; each takes the event and returns an ``idds.common.constants.ReturnCode``
        value.
    locked : `int`
        The value of ``ReturnCode.Locked``: the handler found its transform or processing locked
        and did nothing.
    pause : `float`, optional
        Seconds between two tries.
    retry_for : `float`, optional
        Seconds after the first try past which the event is given up (logged as an error).
    """
    for name in names:
        setattr(agent_class, name, _retrying(getattr(agent_class, name), locked, pause, retry_for))


def _retrying(handler: Any, locked: int, pause: float, retry_for: float) -> Any:
    @functools.wraps(handler)
    def handle_until_unlocked(self: Any, event: Any = None) -> Any:
        deadline = time.monotonic() + retry_for
        tries = 1
        result = handler(self, event)
        while result == locked and event is not None and time.monotonic() < deadline:
            if tries == 1:
                _LOG.warning("iDDS %s found its object locked; trying again: %s", handler.__name__, event)
            time.sleep(pause)
            tries += 1
            result = handler(self, event)
        if result == locked:
            _LOG.error(
                "iDDS %s gave up after %d tries, its object still locked: %s", handler.__name__, tries, event
            )
        elif tries > 1:
            _LOG.warning("iDDS %s went through at try %d: %s", handler.__name__, tries, event)
        return result

    return handle_until_unlocked


def release_after(conductor_module: Any, seconds: float) -> None:
    """Make the conductor hand a new message to PanDA ``seconds`` after it was written, not 60 s.

    Parameters
    ----------
    conductor_module : `types.ModuleType`
        ``idds.agents.conductor.conductor``: its ``core_messages`` (``idds.core.messages``) is
        replaced, for the conductor alone, by a copy whose ``retrieve_messages`` turns the
        ``delay`` of `IDDS_RELEASE_DELAY` seconds into ``seconds``.  Other delays (the 120 s of
        the conductor's retries of undelivered messages) are left as they are.
    seconds : `float`
        The conductor's delay; at least 1 (iDDS reads a zero delay as none at all).
    """
    messages = conductor_module.core_messages
    retrieve_messages = messages.retrieve_messages
    delay = max(1, round(seconds))

    def retrieve_after_local_delay(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("delay") == IDDS_RELEASE_DELAY:
            kwargs["delay"] = delay
        return retrieve_messages(*args, **kwargs)

    names = {name: getattr(messages, name) for name in dir(messages) if not name.startswith("__")}
    conductor_module.core_messages = SimpleNamespace(
        **{**names, "retrieve_messages": retrieve_after_local_delay}
    )


def _sweep() -> None:
    """Unlock stranded commands every `SWEEP_EVERY` seconds, for as long as the daemons run."""
    while True:
        time.sleep(SWEEP_EVERY)
        try:
            unlock_stranded_commands()
        except Exception:  # the database may be down for a moment; the next sweep tries again
            _LOG.exception("Could not look for stranded iDDS commands")


if __name__ == "__main__":
    threading.Event.wait = _rested_wait  # type: ignore[method-assign]
    from idds.agents.clerk.clerk import Clerk

    commands_first(Clerk)
    from idds.common.constants import ReturnCode

    for class_path, handlers in LOCKED_HANDLERS.items():
        module_name, class_name = class_path.rsplit(".", 1)
        agent_class = getattr(importlib.import_module(module_name), class_name)
        retry_when_locked(agent_class, handlers, ReturnCode.Locked.value)
    from idds.agents.conductor import conductor

    release_after(conductor, float(os.environ.get(RELEASE_DELAY_ENV, IDDS_RELEASE_DELAY)))
    threading.Thread(target=_sweep, name="stranded-commands", daemon=True).start()
    runpy.run_module("idds.agents.main", run_name="__main__", alter_sys=True)
