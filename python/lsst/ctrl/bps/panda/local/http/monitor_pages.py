# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The monitor pages of the local PanDA: requests → tasks → jobs → attempt log.

A Flask blueprint served by the relay's own server (same loopback port).  The pages read
through the verbs the plugin calls (``get_requests`` with and without detail,
``get_contents_output_ext``), so they show what the plugin sees, whichever engine runs the
DAG.  Server-rendered HTML, no scripts; pages of running requests refresh themselves.

Access: a page needs the server's token in a cookie.  ``panda_local status`` prints a login
link carrying a nonce signed with the token (never the token itself); the server accepts
each nonce once, within `LOGIN_LINK_SECONDS`, sets the cookie and redirects to the request
list.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, redirect, render_template_string, request
from lsst.ctrl.bps import WmsStates
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from ...states import (
    STATE_COLOURS,
    TERMINAL_REQUEST_STATES,
    job_state,
    request_state,
    status_name,
    transform_state,
)
from ...task_names import label_of_task
from ..engine.engine_plugin import MonitorVerbs

__all__ = ["COOKIE_NAME", "LOGIN_LINK_SECONDS", "MONITOR_PATH", "login_link", "monitor_blueprint"]

_LOG = logging.getLogger(__name__)

MONITOR_PATH = "/monitor"
"""Where the pages live on the local PanDA's port."""

COOKIE_NAME = "panda_local_token"
"""The cookie holding the token once logged in."""

LOGIN_LINK_SECONDS = 600
"""How long a login link printed by ``panda_local status`` stays valid."""

REFRESH_SECONDS = 5
"""Pages of requests still running reload themselves this often."""

LOG_TAIL_LINES = 200
"""Lines shown from the end of an attempt's log."""

DECODER_MARK = "cmd_line_decoder:"
"""Lines the job-side decoder writes; shown first on a log page."""


def _signature(token: str, nonce: str) -> str:
    return hmac.new(token.encode(), nonce.encode(), hashlib.sha256).hexdigest()


def login_link(base_url: str, token: str, now: float | None = None) -> str:
    """Return a one-time login link to the monitor of a local PanDA.

    Parameters
    ----------
    base_url : `str`
        ``http://127.0.0.1:<port>`` of the server.
    token : `str`
        The server's token (signs the link; not part of it).
    now : `float`, optional
        Time of issue (seconds since the epoch), default now.

    Returns
    -------
    link : `str`
        ``<base_url>/monitor/login?nonce=...&sig=...``.
    """
    nonce = f"{int(now if now is not None else time.time())}-{secrets.token_hex(8)}"
    query = urlencode({"nonce": nonce, "sig": _signature(token, nonce)})
    return f"{base_url.rstrip('/')}{MONITOR_PATH}/login?{query}"


_LAYOUT = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ title }} · local PanDA</title>
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
td.n{text-align:right}.state{padding:1px 6px;border-radius:3px}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:85%}nav{margin-bottom:1em}
pre.decoder{background:#eef4ff}
</style></head><body>
<nav><a href="{{ root }}/">Requests</a>
{%- for text, href in crumbs %} › <a href="{{ href }}">{{ text }}</a>{% endfor %}
{% if refresh %}<span class="refresh"> · refreshes every {{ refresh }} s while running</span>{% endif %}</nav>
<h1>{{ title }}</h1>
{{ body }}
</body></html>"""

_REQUESTS = """<table id="requests"><tr><th>request</th><th>name</th><th>state</th><th>iDDS status</th>
<th>created</th><th>user</th></tr>
{% for r in rows %}<tr><td><a href="{{ root }}/requests/{{ r.id }}">{{ r.id }}</a></td><td>{{ r.name }}</td>
<td>{{ badge(r.state) }}</td><td>{{ r.status }}</td><td>{{ r.created }}</td><td>{{ r.user }}</td></tr>
{% else %}<tr><td colspan="6">No requests yet.</td></tr>{% endfor %}</table>"""

_TASKS = """<p>Request {{ request_id }} <code>{{ name }}</code>: {{ badge(state) }}</p>
<table id="tasks"><tr><th>task</th><th>label</th><th>state</th><th>jobs</th><th>succeeded</th>
<th>running</th><th>failed</th><th>missing</th></tr>
{% for t in rows %}<tr>
<td><a href="{{ root }}/requests/{{ request_id }}/tasks/{{ t.id }}">{{ t.name }}</a></td>
<td>{{ t.label }}</td><td>{{ badge(t.state) }}</td><td class="n">{{ t.total }}</td>
<td class="n">{{ t.succeeded }}</td><td class="n">{{ t.running }}</td><td class="n">{{ t.failed }}</td>
<td class="n">{{ t.missing }}</td></tr>{% endfor %}</table>"""

_JOBS = """<table id="jobs"><tr><th>#</th><th>job</th><th>state</th><th>attempt</th><th>exit code</th>
<th>diagnostic</th><th>peak RSS MB</th><th>PanDA id</th><th>log</th></tr>
{% for j in rows %}<tr><td class="n">{{ j.map_id }}</td><td>{{ j.name }}</td><td>{{ badge(j.state) }}</td>
<td class="n">{{ j.attempt }}</td><td class="n">{{ j.exit_code }}</td><td>{{ j.diag }}</td>
<td class="n">{{ j.rss }}</td><td class="n">{{ j.panda_id }}</td>
<td>{% if j.has_log -%}
<a href="{{ root }}/requests/{{ request_id }}/tasks/{{ task_id }}/jobs/{{ j.id }}">log</a>
{% endif %}</td></tr>{% endfor %}</table>"""

_LOG_PAGE = """<p>{{ badge(state) }} attempt {{ job.attempt_nr }} of {{ job.max_attempt }}, exit code
<span class="exit-code">{{ job.trans_exit_code }}</span>
{%- if diag %}: <span class="diag">{{ diag }}</span>{% endif %}</p>
<p>Log: <code>{{ path }}</code></p>
<h2>Decoder</h2><pre class="decoder">{{ decoder or "(no decoder lines)" }}</pre>
<h2>Log tail (last {{ tail_lines }} lines)</h2><pre class="log">{{ tail or "(empty)" }}</pre>"""


def _badge(state: WmsStates) -> Markup:
    colour = STATE_COLOURS.get(state, "#ffffff")
    return Markup('<span class="state state-{0}" style="background:{1}">{2}</span>').format(
        state.name.lower(), colour, state.name
    )


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value or "")


class _LoginNonces:
    """Nonces already used (a login link works once)."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def accept(self, token: str, nonce: str, signature: str) -> bool:
        issued, _, _ = nonce.partition("-")
        if not issued.isdigit() or not hmac.compare_digest(_signature(token, nonce), signature):
            return False
        now = time.time()
        if not -60 <= now - int(issued) <= LOGIN_LINK_SECONDS:
            return False
        with self._lock:
            self._used = {n: t for n, t in self._used.items() if now - t <= 2 * LOGIN_LINK_SECONDS}
            if nonce in self._used:
                return False
            self._used[nonce] = now
        return True


def _render(
    template: str, title: str, crumbs: Iterable[tuple[str, str]] = (), refresh: bool = False, **values: Any
) -> str:
    root = request.script_root + MONITOR_PATH
    body = render_template_string(template, root=root, badge=_badge, **values)
    return render_template_string(
        _LAYOUT,
        title=title,
        crumbs=list(crumbs),
        refresh=REFRESH_SECONDS if refresh else 0,
        root=root,
        body=Markup(body),
    )


def _request_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {
            "id": r["request_id"],
            "name": r.get("name") or "",
            "state": request_state(r.get("status")),
            "status": status_name(r.get("status")),
            "created": _when(r.get("created_at")),
            "user": r.get("username") or "",
        }
        for r in records
    ]
    return sorted(rows, key=lambda row: row["id"], reverse=True)


def _task_rows(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        {
            "id": r["transform_id"],
            "name": r["transform_name"],
            "label": label_of_task(str(r["transform_name"]), name),
            "state": transform_state(r.get("transform_status")),
            "total": r.get("output_total_files") or 0,
            "succeeded": r.get("output_processed_files") or 0,
            "running": r.get("output_processing_files") or 0,
            "failed": r.get("output_failed_files") or 0,
            "missing": r.get("output_missing_files") or 0,
        }
        for r in records
        if r.get("transform_id") is not None
    ]


def _job_rows(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": j["content_id"],
            "map_id": j.get("map_id"),
            "name": j.get("name") or "",
            "state": job_state(j.get("status")),
            "attempt": j.get("attempt_nr") or 0,
            "exit_code": "" if j.get("trans_exit_code") is None else j["trans_exit_code"],
            "diag": j.get("exe_error_diag") or j.get("pilot_error_diag") or "",
            "rss": round(j["max_rss"] / 1024) if j.get("max_rss") else "",
            "panda_id": j.get("panda_id") or "",
            "has_log": bool(j.get("path")),
        }
        for j in jobs
    ]


def read_log(path: Path, tail_lines: int = LOG_TAIL_LINES) -> tuple[str, str]:
    """Return the decoder's lines and the last ``tail_lines`` lines of an attempt's log.

    Parameters
    ----------
    path : `pathlib.Path`
        The attempt's log file.
    tail_lines : `int`, optional
        How many of the log's last lines to return.
    """
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "", f"({path} does not exist (yet))"
    decoder = [line for line in lines if DECODER_MARK in line]
    return "\n".join(decoder), "\n".join(lines[-tail_lines:])


def monitor_blueprint(verbs: MonitorVerbs, token: str, log_root: Path) -> Blueprint:
    """Return the monitor pages as a blueprint to register on the relay's application.

    Parameters
    ----------
    verbs : `~lsst.ctrl.bps.panda.local.engine.engine_plugin.MonitorVerbs`
        What the pages read (the verbs the relay serves, or the engine's).
    token : `str`
        The server's token: the cookie must hold it.
    log_root : `pathlib.Path`
        The only directory logs are read from (the state directory's ``work``).
    """
    pages = Blueprint("panda_local_monitor", __name__, url_prefix=MONITOR_PATH)
    _add_login(pages, token)
    _add_request_pages(pages, verbs)
    _add_job_pages(pages, verbs, Path(log_root).resolve())
    return pages


def _add_login(pages: Blueprint, token: str) -> None:
    """Add the cookie check of every page and the one-time login link that sets the cookie."""
    nonces = _LoginNonces()

    @pages.before_request
    def check_cookie() -> Response | None:
        if request.endpoint == "panda_local_monitor.login":
            return None
        cookie = request.cookies.get(COOKIE_NAME, "")
        if not hmac.compare_digest(cookie.encode(), token.encode()):
            return Response(
                "Not logged in: open the monitor link printed by 'panda_local status'.\n",
                status=403,
                mimetype="text/plain",
            )
        return None

    @pages.get("/login")
    def login() -> BaseResponse:
        if not nonces.accept(token, request.args.get("nonce", ""), request.args.get("sig", "")):
            return Response(
                "This login link is wrong, used or expired: run 'panda_local status' for a new one.\n",
                status=403,
                mimetype="text/plain",
            )
        response = redirect(f"{request.script_root}{MONITOR_PATH}/")
        response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="Strict", path=MONITOR_PATH)
        return response


def _add_request_pages(pages: Blueprint, verbs: MonitorVerbs) -> None:
    """Add the request list, the BigPanDA-style link target and a request's tasks."""

    @pages.get("/")
    def requests_page() -> str:
        rows = _request_rows(verbs.get_requests())
        running = any(row["state"] not in TERMINAL_REQUEST_STATES for row in rows)
        return _render(_REQUESTS, "Requests", refresh=running, rows=rows)

    @pages.get("/tasks/")
    def monitor_link_target() -> BaseResponse:
        # What report.monitor_link builds ({PANDA_MON_URL}/tasks/?reqid=N), as on BigPanDA.
        request_id = request.args.get("reqid", "")
        if not request_id.isdigit():
            abort(404)
        return redirect(f"{request.script_root}{MONITOR_PATH}/requests/{request_id}")

    @pages.get("/requests/<int:request_id>")
    def request_page(request_id: int) -> str:
        records = _or_404(lambda: verbs.get_requests(request_id=request_id, with_detail=True))
        name = str(records[0].get("name") or "") if records else ""
        state = request_state(records[0].get("status")) if records else WmsStates.UNKNOWN
        return _render(
            _TASKS,
            f"Request {request_id}",
            refresh=state not in TERMINAL_REQUEST_STATES,
            request_id=request_id,
            name=name,
            state=state,
            rows=_task_rows(records, name),
        )


def _add_job_pages(pages: Blueprint, verbs: MonitorVerbs, log_root: Path) -> None:
    """Add a task's jobs and a job's log (read only under ``log_root``)."""

    @pages.get("/requests/<int:request_id>/tasks/<int:task_id>")
    def task_page(request_id: int, task_id: int) -> str:
        jobs, task_name, state = _task_jobs(verbs, request_id, task_id)
        crumbs = [(f"Request {request_id}", f"{MONITOR_PATH}/requests/{request_id}")]
        return _render(
            _JOBS,
            f"Task {task_name}",
            crumbs,
            refresh=state not in TERMINAL_REQUEST_STATES,
            request_id=request_id,
            task_id=task_id,
            rows=_job_rows(jobs),
        )

    @pages.get("/requests/<int:request_id>/tasks/<int:task_id>/jobs/<int:job_id>")
    def log_page(request_id: int, task_id: int, job_id: int) -> str:
        jobs, task_name, state = _task_jobs(verbs, request_id, task_id)
        job = next((j for j in jobs if j["content_id"] == job_id), None)
        if job is None or not job.get("path"):
            abort(404)
        path = Path(job["path"]).resolve()
        if not path.is_relative_to(log_root):
            abort(404)
        decoder, tail = read_log(path)
        crumbs = [
            (f"Request {request_id}", f"{MONITOR_PATH}/requests/{request_id}"),
            (task_name, f"{MONITOR_PATH}/requests/{request_id}/tasks/{task_id}"),
        ]
        return _render(
            _LOG_PAGE,
            f"Job {job.get('name')}",
            crumbs,
            refresh=state not in TERMINAL_REQUEST_STATES,
            job=job,
            state=job_state(job.get("status")),
            path=str(path),
            decoder=decoder,
            tail=tail,
            diag=job.get("exe_error_diag") or job.get("pilot_error_diag") or "",
            tail_lines=LOG_TAIL_LINES,
        )


def _or_404(call: Callable[[], Any]) -> Any:
    """Return the records of ``call``; 404 when the request is unknown (no records, as iDDS answers)."""
    from ...errors import UnknownRequestError

    try:
        records = call()
    except UnknownRequestError:
        abort(404)
    if not records:
        abort(404)
    return records


def _task_jobs(
    verbs: MonitorVerbs, request_id: int, task_id: int
) -> tuple[list[dict[str, Any]], str, WmsStates]:
    """Return a task's job records, its name and the request's state."""
    records = _or_404(lambda: verbs.get_requests(request_id=request_id, with_detail=True))
    task = next((r for r in records if r.get("transform_id") == task_id), None)
    if task is None:
        abort(404)
    contents = verbs.get_contents_output_ext(request_id=request_id, transform_id=task_id)
    return contents.get(task_id, []), str(task["transform_name"]), request_state(task.get("status"))
