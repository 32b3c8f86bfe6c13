# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A stand-in for the idds engine's server stack: the PanDA task API without real iDDS daemons."""

from __future__ import annotations

from lsst.ctrl.bps.panda.local.state.state_dir import StateDir


class StandInStack:
    """Records how the server starts and stops the iDDS stack."""

    instances: list[StandInStack] = []

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.started_with: tuple[str, str, str] | None = None
        self.stopped = False
        self.rest_url = "http://127.0.0.1:9/idds"
        StandInStack.instances.append(self)

    def start(self, panda_url: str, notifier_url: str, notifier_token: str, notifier_token_file=None) -> None:
        self.started_with = (panda_url, notifier_url, notifier_token)
        self.token_file = notifier_token_file

    def client_env(self) -> dict[str, str]:
        return {"PANDA_LOCAL_TEST_STAND_IN": "1"}

    def stop(self) -> None:
        self.stopped = True


class StandInPandaStack:
    """Records how the panda engine starts and stops the real PanDA stack (no server is started)."""

    def __init__(self, root) -> None:
        from lsst.ctrl.bps.panda.local.panda.panda_config import PandaHome

        self.root = root
        self.home = PandaHome(root, root / "venv", 1, 9)
        self.messages_url = "http://127.0.0.1:8/"
        self.events: list[str] = []

    def start(self):
        self.events.append("panda start")
        return self.home

    def stop(self) -> None:
        self.events.append("panda stop")


class StandInIddsStack(StandInStack):
    """The iDDS stack of the panda engine: also records the PanDA client variables it was given."""

    def __init__(self, state: StateDir, events: list[str]) -> None:
        super().__init__(state)
        self.events = events
        self.panda_client_env: dict[str, str] | None = None

    def start(
        self, panda_url, notifier_url, notifier_token, notifier_token_file=None, panda_client_env=None
    ) -> None:
        super().start(panda_url, notifier_url, notifier_token, notifier_token_file)
        self.panda_client_env = panda_client_env
        self.events.append("idds start")

    def stop(self) -> None:
        super().stop()
        self.events.append("idds stop")


class QueueApi:
    """The pilot API of a server with jobs waiting per queue: hands them out, keeps every update."""

    def __init__(self, jobs_by_queue: dict[str, list[dict]]) -> None:
        self.jobs_by_queue = {queue: list(jobs) for queue, jobs in jobs_by_queue.items()}
        self.asked: list[tuple[str, int]] = []
        self.updates: list[tuple[int, str]] = []

    def acquire_jobs(self, site_name, n_jobs=1, **options):
        self.asked.append((site_name, n_jobs))
        waiting = self.jobs_by_queue.get(site_name, [])
        taken, self.jobs_by_queue[site_name] = waiting[:n_jobs], waiting[n_jobs:]
        return taken

    def update_job(self, job_id, state, **fields):
        self.updates.append((job_id, state))
        return {"StatusCode": 0}
