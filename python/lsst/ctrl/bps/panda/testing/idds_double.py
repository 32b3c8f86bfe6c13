# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""An in-process double of the PanDA client's iDDS API, answering with recorded real replies.

The double stands where ``pandaclient.idds_api.get_api(...)`` stands: each method returns
``(status, reply)`` exactly as the PanDA client does, built from the envelopes recorded from the
real PanDA relay and iDDS (`recorded_envelopes`).  `PanDAService`, the notebook's `PandaRun`,
``IddsPort`` and code written for the published ``get_idds_client`` read it as they read the real
client.  It is **in-process only**: a ``bps`` command run as a subprocess does not see it (use the
local PanDA there).

::

    from lsst.ctrl.bps.panda.testing.idds_double import IddsDouble, RunStory, install_idds_double

    double = IddsDouble()
    request_id = double.add_run(
        RunStory("u_jane_demo", jobs={"isr": 5})
        .then("New", polls=2)
        .then("Transforming", done={"isr": 3})
        .then("SubFinished", done={"isr": 4}, failed={"isr": [3]})
    )
    with install_idds_double(double):
        state, _ = PanDAService({}).get_status(str(request_id))

Failure modes are data (`Failure`): an unknown request id answers what the real iDDS answers for
one; ``double.fail(Failure.IDDS_OUTAGE)`` and ``double.fail(Failure.REFUSED_TOKEN)`` make the next
calls answer as an iDDS outage behind the relay, or a PanDA server refusing the token.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .double_replies import RequestIds, contents_reply, detail_reply, request_reply
from .failure_modes import Failure, ScriptedFailures, record_http_status
from .install_points import replacing_clients
from .recorded_envelopes import RecordedParts, decode
from .run_story import Chapter, RunStory
from .scripted_requests import ScriptedRequest, cancelled_story, plan_of_workflow, retried_story

__all__ = ["Failure", "IddsDouble", "RunStory", "install_idds_double"]

_LOG = logging.getLogger(__name__)

_EC_FAILED = 255
"""What the PanDA client returns for any failed HTTP call (``pandaclient.Client.EC_Failed``)."""

_RECORDED_UNKNOWN_ID = "987654"
"""The unknown request id the real servers were asked about when the envelopes were recorded."""


class IddsDouble:
    """The PanDA client's iDDS API, in process, answering with recorded real replies.

    Parameters
    ----------
    first_request_id : `int`, optional
        The id of the first request made.
    envelopes : `pathlib.Path`, optional
        The recorded envelopes to answer with (default: the package's, ``testing/envelopes``).
    """

    def __init__(self, first_request_id: int = 1, envelopes: Path | None = None) -> None:
        self.parts = RecordedParts(envelopes) if envelopes is not None else RecordedParts()
        self.requests: dict[int, ScriptedRequest] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        """Every call received: (verb, keyword arguments), for assertions."""
        self._next_ids = itertools.count(first_request_id)
        self._queued: list[RunStory] = []
        self._step_maps: dict[str, dict[str, Any]] = {}
        self._failures = ScriptedFailures()
        self._lock = threading.RLock()
        self._decode = True

    def plain_json(self) -> IddsDouble:
        """Return a view of this double whose replies keep iDDS objects as plain JSON.

        The published ``utils.get_idds_client`` returns such a client (no iDDS-JSON decoding);
        the view shares this double's requests, failures and call log.

        Returns
        -------
        view : `IddsDouble`
            The same double, answering without decoding.
        """
        view = copy.copy(self)
        view._decode = False
        return view

    # -- scripting ---------------------------------------------------------------------------
    def add_run(self, story: RunStory, request_id: int | None = None) -> int:
        """Make a request that follows ``story``; return its id.

        Parameters
        ----------
        story : `RunStory`
            What iDDS answers about it, poll after poll.
        request_id : `int`, optional
            Its id; by default the next free one.
        """
        with self._lock:
            request_id = request_id if request_id is not None else next(self._next_ids)
            ids = RequestIds(request_id, first_transform=10 * request_id, first_workload=1000 * request_id)
            self.requests[request_id] = ScriptedRequest(story, ids)
            return request_id

    def expect_submit(self, story: RunStory) -> None:
        """Let the next ``submit`` follow ``story`` (its labels name the submitted tasks).

        Parameters
        ----------
        story : `RunStory`
            The story; a submit with no story queued succeeds.
        """
        self._queued.append(story)

    def fail(self, failure: Failure, calls: int | None = None) -> None:
        """Make the next ``calls`` calls (all, when `None`) answer with ``failure``.

        Parameters
        ----------
        failure : `Failure`
            What goes wrong.
        calls : `int`, optional
            How many calls fail; `None` until `recover`.
        """
        self._failures.add(failure, calls)

    def recover(self) -> None:
        """End every scripted failure."""
        self._failures.clear()

    def chapter(self, request_id: int) -> Chapter:
        """Return where the story of a request stands now (without counting a poll).

        Parameters
        ----------
        request_id : `int`
            The request.
        """
        return self.requests[int(request_id)].chapter

    # -- the client's verbs --------------------------------------------------------------------
    def ping(self) -> tuple[int, Any]:
        """Answer as iDDS's ping through the relay."""
        return self._answer("ping", {}, lambda: self.parts.envelope("ping"))

    def submit(self, workflow: Any, username: str | None = None, use_dataset_name: bool = False) -> tuple:
        """Make a request of a workflow (a workflow step answers 0), as iDDS does.

        Parameters
        ----------
        workflow : `idds.workflowv2.workflow.Workflow`
            The workflow, sent through iDDS-JSON as the client sends it.
        username, use_dataset_name : optional
            Accepted as iDDS accepts them; iDDS records the caller's identity, not ``username``.
        """
        kwargs = {"username": username, "use_dataset_name": use_dataset_name}
        return self._answer("submit", kwargs, lambda: self._submit(workflow, build=False))

    def submit_build(
        self, workflow: Any, username: str | None = None, use_dataset_name: bool = False
    ) -> tuple:
        """Make a build request (remote build) of a build workflow.

        Parameters
        ----------
        workflow : `idds.workflowv2.workflow.Workflow`
            The build workflow (one signed work).
        username, use_dataset_name : optional
            Accepted as iDDS accepts them.
        """
        kwargs = {"username": username, "use_dataset_name": use_dataset_name}
        return self._answer("submit_build", kwargs, lambda: self._submit(workflow, build=True))

    def update_build_request(self, request_id: Any, signature: str, workflow: Any) -> tuple:
        """Take the workflow a build job made; the build request then runs it.

        Parameters
        ----------
        request_id : `int` or `str`
            The build request.
        signature : `str`
            The build work's signature.
        workflow : `idds.workflowv2.workflow.Workflow`
            The built workflow.
        """
        kwargs = {"request_id": request_id, "signature": signature}
        return self._answer(
            "update_build_request", kwargs, lambda: self._hand_back(request_id, signature, workflow)
        )

    def get_requests(self, request_id: Any = None, with_detail: bool = False, **kwargs: Any) -> tuple:
        """Return the records of a request (one per task with detail), or of every request.

        Parameters
        ----------
        request_id : `int` or `str`, optional
            The request; `None` for all.
        with_detail : `bool`, optional
            One record per task.
        **kwargs
            Other filters of iDDS's ``get_requests``; accepted, not applied.
        """
        args = {"request_id": request_id, "with_detail": with_detail, **kwargs}
        return self._answer("get_requests", args, lambda: self._records(request_id, with_detail))

    def get_contents_output_ext(
        self, request_id: Any = None, workload_id: Any = None, **kwargs: Any
    ) -> tuple:
        """Return the job records of a request by task (transform id), of one task with ``workload_id``.

        Parameters
        ----------
        request_id : `int` or `str`
            The request.
        workload_id : `int` or `str`, optional
            PanDA task id of one task.
        **kwargs
            Other arguments of iDDS's call; accepted, not applied.
        """
        args = {"request_id": request_id, "workload_id": workload_id, **kwargs}
        return self._answer("get_contents_output_ext", args, lambda: self._contents(request_id, workload_id))

    def abort(self, request_id: Any = None, **kwargs: Any) -> tuple:
        """Register a cancel; the next poll shows the request Cancelled.

        Parameters
        ----------
        request_id : `int` or `str`
            The request.
        **kwargs
            Other arguments of iDDS's call; accepted.
        """
        return self._answer(
            "abort", {"request_id": request_id, **kwargs}, lambda: self._command("abort", request_id)
        )

    def retry(self, request_id: Any = None, **kwargs: Any) -> tuple:
        """Register a retry; failed and missing jobs then run again (and succeed, unless scripted).

        Parameters
        ----------
        request_id : `int` or `str`
            The request.
        **kwargs
            Other arguments of iDDS's call; accepted.
        """
        return self._answer(
            "retry", {"request_id": request_id, **kwargs}, lambda: self._command("retry", request_id)
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def not_a_command(*args: Any, **kwargs: Any) -> tuple:
            envelope = self.parts.envelope("relay_unknown_command")
            envelope[1] = envelope[1].replace("no_such_command", name, 1)
            return self._answer(name, kwargs, lambda: envelope)

        return not_a_command

    # -- answers -------------------------------------------------------------------------------
    def _answer(self, call: str, kwargs: dict[str, Any], reply: Any) -> tuple[int, Any]:
        with self._lock:
            self.calls.append((call, kwargs))
            failure = self._failures.take()
            if failure is Failure.IDDS_OUTAGE:
                return 0, self._loaded(self.parts.envelope("idds_down"))
            if failure is not None:
                record_http_status(failure.value)
                return _EC_FAILED, self.parts.refusal_text(failure.value)
            return 0, self._loaded(reply())

    def _loaded(self, wire: Any) -> Any:
        """Return a reply as the PanDA client's loader gives it (iDDS-JSON, or plain JSON)."""
        return decode(wire) if self._decode else json.loads(json.dumps(wire))

    def _submit(self, workflow: Any, build: bool) -> list:
        from idds.common.utils import json_dumps, json_loads

        from ..local.core.request_plan import step_batches

        workflow = json_loads(json_dumps(workflow))  # what the relay would receive, or the client's error
        if getattr(workflow, "is_workflow_step", False):
            internal_id, maps = step_batches(workflow)
            self._step_maps.setdefault(internal_id, {}).update(maps)
            return [True, 0]
        maps = self._step_maps.get(str(workflow.get_internal_id()), {})
        plan = plan_of_workflow(workflow, build, maps.get)
        if build:  # iDDS holds a build request until its build job hands the workflow back
            story = RunStory(plan.name, {task: 1 for task in plan.jobs}, {task: task for task in plan.jobs})
            request_id = self.add_run(story.then("New"))
        else:
            request_id = self.add_run(plan.story(self._queued.pop(0) if self._queued else None))
        self.requests[request_id].adopt(plan)
        return [True, request_id]

    def _request(self, request_id: Any) -> ScriptedRequest | None:
        try:
            return self.requests.get(int(request_id))
        except (TypeError, ValueError):
            return None

    def _records(self, request_id: Any, with_detail: bool) -> list:
        if request_id is None:
            return [True, [self._record(r, False, r.chapter)[0] for r in self.requests.values()]]
        request = self._request(request_id)
        if request is None:
            return self.parts.envelope("get_requests_unknown")
        return [True, self._record(request, with_detail, request.poll())]

    def _record(self, request: ScriptedRequest, with_detail: bool, chapter: Chapter) -> list[dict[str, Any]]:
        if with_detail:
            return detail_reply(self.parts, request.story, chapter, request.ids)
        return [request_reply(self.parts, request.story, chapter, request.ids)]

    def _contents(self, request_id: Any, workload_id: Any) -> list:
        request = self._request(request_id)
        if request is None:
            return self.parts.envelope("get_contents_output_ext_unknown")
        contents = contents_reply(self.parts, request.last_shown, request.ids, request.job_names)
        if workload_id is not None:
            tasks = {
                str(request.ids.transform_id(i)): request.ids.workload_id(i) for i in range(len(contents))
            }
            contents = {key: jobs for key, jobs in contents.items() if str(tasks[key]) == str(workload_id)}
        return [True, contents]

    def _command(self, call: str, request_id: Any) -> list:
        request = self._request(request_id)
        if request is None:
            return self.parts.envelope(f"{call}_unknown")
        change = cancelled_story if call == "abort" else retried_story
        story = change(request.story, request.last_shown)
        if story is not None:
            request.restart_story(story)
        return self.parts.envelope(call)

    def _hand_back(self, request_id: Any, signature: str, workflow: Any) -> list:
        from idds.common.utils import json_dumps, json_loads

        request = self._request(request_id)
        if request is None or not request.is_build:
            envelope = self.parts.envelope("update_build_request_unknown")
            envelope[1][1] = envelope[1][1].replace(_RECORDED_UNKNOWN_ID, str(request_id))
            return envelope
        if request.built:
            return self.parts.envelope("update_build_request_again")
        if request.signature and signature != request.signature:
            envelope = self.parts.envelope("update_build_request_wrong_signature")
            text = envelope[1][1]
            recorded_id = text.split("(request_id: ", 1)[1].split(")", 1)[0]
            recorded = text.split(" != ", 1)[1].split(")", 1)[0]
            text = text.replace(f"request_id: {recorded_id})", f"request_id: {request_id})")
            envelope[1][1] = text.replace(f"(wrong != {recorded})", f"({signature} != {request.signature})")
            return envelope
        plan = plan_of_workflow(json_loads(json_dumps(workflow)), build=False)
        story = self._queued.pop(0) if self._queued else None
        built = plan.story(story)
        built.chapters.insert(0, Chapter("Built"))  # as iDDS shows it until its daemons take it up
        request.hand_back(plan, built)
        envelope = self.parts.envelope("update_build_request")
        envelope[1]["request_id"] = str(request_id)
        return envelope


@contextlib.contextmanager
def install_idds_double(double: IddsDouble | None = None) -> Iterator[IddsDouble]:
    """Make the plugin, in this process, get ``double`` wherever it would make a PanDA iDDS client.

    Covers the place the plugin makes the client (``wms.idds_port``) and the published
    ``get_idds_client`` of ``panda_service`` and ``utils`` (the latter's client answers in plain
    JSON, as published): `~lsst.ctrl.bps.panda.testing.install_points.INSTALL_POINTS`.  Services
    and ports created inside the block use the double; one created before keeps the client it
    already made.  **In process only**: a ``bps`` command run as a subprocess does not see it.

    Parameters
    ----------
    double : `IddsDouble`, optional
        The double; a new one by default.

    Yields
    ------
    double : `IddsDouble`
        The installed double.
    """
    double = double or IddsDouble()
    with replacing_clients(double, double.plain_json()):
        yield double
