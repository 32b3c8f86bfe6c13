# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The changes ``local/idds_daemons.py`` makes to the real iDDS daemons it launches.

The daemons themselves, with iDDS's real ``Clerk`` patched, run in ``test_idds_engine.py``
and ``test_engines.py`` (cancel, retry, and a stranded abort freed by the sweeper).
"""

import json
import os
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from lsst.ctrl.bps.panda.local.idds import idds_config
from lsst.ctrl.bps.panda.local.idds.idds_config import StackConfig
from lsst.ctrl.bps.panda.local.idds.scripts import idds_daemons
from support.real_servers import required_servers_venv_python


class FakeClerk:
    """Records the order of the polls of iDDS's ``Clerk`` that matter here."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_running_requests(self) -> str:
        self.calls.append("running requests")
        return "requests"

    def get_operation_requests(self) -> list:
        self.calls.append("commands")
        return []


def test_clerk_takes_its_commands_before_it_locks_the_running_requests():
    idds_daemons.commands_first(FakeClerk)
    clerk = FakeClerk()
    assert clerk.get_running_requests() == "requests"
    assert clerk.calls == ["commands", "running requests"]


def test_short_idle_waits_are_made_longer():
    event = threading.Event()
    event.set()
    assert idds_daemons._rested_wait(event, 0.00001) is True
    assert idds_daemons.MIN_WAIT >= 0.01


LOCKED, OK = 1, 0
"""Stand-ins for ``ReturnCode.Locked.value`` and ``ReturnCode.Ok.value``."""


class FakeTransformer:
    """An iDDS agent whose resume handler answers ``answers`` in turn (``Locked`` when its transform is)."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.events: list[object] = []

    def process_resume_transform(self, event):
        """Resume the event's transform."""
        self.events.append(event)
        return self.answers[len(self.events) - 1]


def patched_transformer(**retry) -> type[FakeTransformer]:
    """Return a fresh FakeTransformer class with its resume handler wrapped by retry_when_locked."""
    agent_class = type("Transformer", (FakeTransformer,), {})
    idds_daemons.retry_when_locked(agent_class, ("process_resume_transform",), LOCKED, **retry)
    return agent_class


def test_an_event_whose_transform_is_locked_is_handled_again_until_it_goes_through(caplog):
    agent_class = patched_transformer(pause=0.01)
    agent = agent_class([LOCKED, LOCKED, OK])
    assert agent.process_resume_transform("resume 7") == OK
    assert agent.events == ["resume 7"] * 3
    assert agent_class.process_resume_transform.__doc__ == "Resume the event's transform."
    assert "went through at try 3" in caplog.text


def test_an_event_handled_at_once_or_failing_otherwise_is_not_tried_again():
    agent_class = patched_transformer(pause=0.01)
    for answer in (OK, 255):  # 255: ReturnCode.Failed, the handler's own error
        agent = agent_class([answer, OK])
        assert agent.process_resume_transform("resume 8") == answer
        assert agent.events == ["resume 8"]


def test_an_event_still_locked_after_the_retry_time_is_given_up(caplog):
    agent = patched_transformer(pause=0.01, retry_for=0.1)([LOCKED] * 1000)
    assert agent.process_resume_transform("resume 9") == LOCKED
    assert 2 <= len(agent.events) <= 20
    assert "gave up after" in caplog.text


@pytest.mark.real_idds
def test_the_wrapped_handlers_are_the_real_agents_and_answer_locked_as_the_patch_expects(tmp_path):
    """The names in LOCKED_HANDLERS exist in the servers' iDDS and return ReturnCode.Locked when locked."""
    python = required_servers_venv_python()
    config = stack_config(tmp_path)
    idds_config.write_configs(config)
    script = (
        "import importlib, inspect, json, sys\n"
        "from idds.common.constants import ReturnCode\n"
        "found = {}\n"
        "for path, names in json.loads(sys.argv[1]).items():\n"
        "    module, name = path.rsplit('.', 1)\n"
        "    agent = getattr(importlib.import_module(module), name)\n"
        "    for handler in names:\n"
        "        found[handler] = 'ReturnCode.Locked.value' in inspect.getsource(getattr(agent, handler))\n"
        "print(json.dumps([found, ReturnCode.Locked.value]))\n"
    )
    done = subprocess.run(
        [str(python), "-c", script, json.dumps(idds_daemons.LOCKED_HANDLERS)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "IDDS_CONFIG": str(config.idds_cfg)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found, locked = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == dict.fromkeys(
        [name for names in idds_daemons.LOCKED_HANDLERS.values() for name in names], True
    )
    assert locked == LOCKED


class FakeMessages:
    """Stands in for ``idds.core.messages``: records the delays the conductor asks for."""

    def __init__(self) -> None:
        self.delays: list[int | None] = []

    def retrieve_messages(self, status=None, delay=None, **kwargs) -> list:
        self.delays.append(delay)
        return []


def test_the_conductor_asks_for_messages_the_configured_delay_old_not_60_s():
    conductor_module = SimpleNamespace(core_messages=FakeMessages())
    recorder = conductor_module.core_messages
    idds_daemons.release_after(conductor_module, 3.0)
    conductor_module.core_messages.retrieve_messages(status="New", delay=60, bulk_size=10)
    conductor_module.core_messages.retrieve_messages(status="Delivered", delay=120)
    assert recorder.delays == [3, 120]


def stack_config(home: Path, release_delay: float = idds_config.RELEASE_DELAY) -> StackConfig:
    """A stack's configuration whose servers are never started (nothing listens on port 9)."""
    return StackConfig(
        home=home,
        database_url="postgresql://nobody@127.0.0.1:9/none",
        rest_url="http://127.0.0.1:9/idds",
        redis_port=9,
        notifier_url="http://127.0.0.1:9/server/panda",
        notifier_token="token",
        release_delay=release_delay,
    )


def test_the_stack_hands_the_release_delay_to_the_daemons_launcher(tmp_path, monkeypatch):
    assert idds_config.RELEASE_DELAY_ENV == idds_daemons.RELEASE_DELAY_ENV
    monkeypatch.setenv(idds_config.RELEASE_DELAY_ENV, "7")
    config = stack_config(tmp_path, idds_config.release_delay_setting())
    env = idds_config.server_environment(config, tmp_path / "python", "http://127.0.0.1:2/server/panda")
    assert env[idds_config.RELEASE_DELAY_ENV] == "7.0"


def test_a_release_delay_below_one_second_is_refused(monkeypatch):
    monkeypatch.setenv(idds_config.RELEASE_DELAY_ENV, "0")
    with pytest.raises(ValueError, match="at least 1"):
        idds_config.release_delay_setting()
    monkeypatch.delenv(idds_config.RELEASE_DELAY_ENV)
    assert idds_config.release_delay_setting() == idds_config.RELEASE_DELAY < 10


# The real conductor's own get_new_messages, run in the servers' virtualenv with the wrapper applied.
_REAL_CONDUCTOR = """
import json, logging, sys
from types import SimpleNamespace
sys.path.insert(0, sys.argv[1])
import idds_daemons
from idds.agents.common.baseagent import BaseAgent
from idds.agents.conductor import conductor

asked = []
conductor.core_messages = SimpleNamespace(retrieve_messages=lambda **kwargs: asked.append(kwargs) or [])
idds_daemons.release_after(conductor, float(sys.argv[2]))
BaseAgent.min_request_id = 1
fake_self = SimpleNamespace(retrieve_bulk_size=10, logger=logging.getLogger("conductor"))
conductor.Conductor.get_new_messages(fake_self)
conductor.Conductor.get_retry_messages(fake_self)
print(json.dumps([kwargs["delay"] for kwargs in asked]))
"""


@pytest.mark.real_idds
def test_the_real_conductor_waits_the_configured_delay_not_60_s(tmp_path):
    python = required_servers_venv_python()
    config = stack_config(tmp_path)
    idds_config.write_configs(config)
    result = subprocess.run(
        [str(python), "-c", _REAL_CONDUCTOR, str(Path(idds_daemons.__file__).parent), "4"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "IDDS_CONFIG": str(config.idds_cfg)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    new_messages, retries = json.loads(result.stdout.strip().splitlines()[-1])
    assert (new_messages, retries) == (4, 120)
