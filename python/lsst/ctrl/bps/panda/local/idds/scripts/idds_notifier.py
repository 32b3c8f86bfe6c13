# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The iDDS conductor's notifier for the local PanDA: messages go to it over HTTP.

In production the iDDS conductor sends its messages (``file_processing``:
these inputs are available, release their jobs) to JEDI through an ActiveMQ
broker, with ``idds.agents.conductor.plugins.messaging.MessagingSender``.
This class takes that plugin's place in the daemons of the local PanDA's
``idds`` engine: it POSTs the messages as JSON to the local PanDA
(``/local/idds/messages``) with the server's bearer token, and hands each
delivered message back to the conductor, which then records it delivered.
A message that cannot be delivered (server down) is not handed back: the
conductor sends it again later, as it does after a broker failure.

It runs inside the daemons' process, in the servers' virtualenv where the
lsst packages are not installed: it uses the standard library only and is
loaded as a top-level module (``plugin.notifier =
idds_notifier.LocalPandaNotifier``).  The conductor's ``plugin.notifier.*``
configuration keys reach the constructor as keyword arguments (strings):

``url``
    Where to POST the messages (required).
``token_file`` or ``token``
    The bearer token, preferably in a file (read at each POST).
``timeout``
    Seconds per POST (default 30).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["LocalPandaNotifier"]

_BATCH = 100
"""Messages at most per POST."""

_TRIES = 3
"""POSTs of one batch before it is left to the conductor's own retries."""


class LocalPandaNotifier(threading.Thread):
    """Deliver the conductor's messages to the local PanDA.

    Parameters
    ----------
    name : `str`, optional
        Thread name.
    logger : `logging.Logger`, optional
        The conductor's logger (it also sets one with `set_logger`).
    **kwargs
        The ``plugin.notifier.*`` keys: ``url``, ``token_file`` or ``token``, ``timeout``.
    """

    def __init__(self, name: str = "LocalPandaNotifier", logger: Any = None, **kwargs: Any) -> None:
        super().__init__(name=name, daemon=True)
        url = kwargs.get("url")
        if not url:
            raise ValueError(
                "LocalPandaNotifier needs plugin.notifier.url (the local PanDA's message endpoint)"
            )
        if not kwargs.get("token_file") and not kwargs.get("token"):
            raise ValueError("LocalPandaNotifier needs plugin.notifier.token_file (or plugin.notifier.token)")
        self.url = str(url)
        self.token_file = kwargs.get("token_file")
        self.token = kwargs.get("token")
        self.timeout = float(kwargs.get("timeout") or 30)
        self.logger = logger or logging.getLogger(name)
        self.graceful_stop = threading.Event()
        self.graceful_suspend = threading.Event()
        self.request_queue: Any = None
        self.response_queue: Any = None
        self.output_queue: Any = None

    # -- what the conductor calls (as on MessagingSender) -----------------------------------------
    def set_logger(self, logger: Any) -> None:
        """Log through the conductor's logger.

        Parameters
        ----------
        logger : `logging.Logger`
            The conductor's logger.
        """
        self.logger = logger

    def get_logger(self) -> Any:
        """Return the logger."""
        return self.logger

    def set_request_queue(self, request_queue: Any) -> None:
        """Take messages to send from this queue.

        Parameters
        ----------
        request_queue : `queue.Queue`
            Queue of the messages to send.
        """
        self.request_queue = request_queue

    def set_response_queue(self, response_queue: Any) -> None:
        """Put each delivered message on this queue.

        Parameters
        ----------
        response_queue : `queue.Queue`
            Queue the delivered messages are put on.
        """
        self.response_queue = response_queue

    def set_output_queue(self, output_queue: Any) -> None:
        """Keep the queue (part of the plugin interface; nothing is received).

        Parameters
        ----------
        output_queue : `queue.Queue`
            Queue of received messages, which stays empty.
        """
        self.output_queue = output_queue

    def stop(self) -> None:
        """Stop after the batch in hand."""
        self.graceful_stop.set()

    def suspend(self) -> None:
        """Send nothing until `resume`."""
        self.graceful_suspend.set()

    def resume(self) -> None:
        """Send again."""
        self.graceful_suspend.clear()

    def is_processing(self) -> bool:
        """Return whether messages are being sent."""
        return not self.graceful_stop.is_set() and not self.graceful_suspend.is_set()

    # -- sending -----------------------------------------------------------------------------------
    def run(self) -> None:
        """Send batches of messages until stopped."""
        while not self.graceful_stop.is_set():
            if self.graceful_suspend.is_set() or self.request_queue is None:
                time.sleep(0.5)
                continue
            batch = self._take_batch()
            if batch and self._deliver(batch) and self.response_queue is not None:
                for message in batch:
                    self.response_queue.put(message)

    def _take_batch(self) -> list[dict[str, Any]]:
        try:
            batch = [self.request_queue.get(timeout=0.5)]
        except queue.Empty:
            return []
        while len(batch) < _BATCH:
            try:
                batch.append(self.request_queue.get_nowait())
            except queue.Empty:
                break
        return [message for message in batch if message]

    def _bearer(self) -> str:
        if self.token_file:
            with open(self.token_file, encoding="utf-8") as stream:
                return stream.read().strip()
        return str(self.token).strip()

    def _deliver(self, batch: list[dict[str, Any]]) -> bool:
        """POST a batch; return whether the local PanDA took it."""
        payload = {"messages": [_wire_message(message) for message in batch]}
        body = json.dumps(payload, default=str).encode()
        for attempt in range(1, _TRIES + 1):
            try:
                post = urllib.request.Request(
                    self.url,
                    data=body,
                    method="POST",
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._bearer()}"},
                )
                with urllib.request.urlopen(post, timeout=self.timeout) as reply:
                    answer = json.loads(reply.read() or b"{}")
                if answer.get("success"):
                    self.logger.info(
                        "Delivered %d messages to the local PanDA: %s", len(batch), answer.get("data")
                    )
                    return True
                self.logger.error(
                    "The local PanDA refused %d messages: %s", len(batch), answer.get("message")
                )
                return False
            except (OSError, ValueError) as exc:
                self.logger.warning(
                    "Could not deliver %d messages to %s (try %d of %d): %s",
                    len(batch),
                    self.url,
                    attempt,
                    _TRIES,
                    exc,
                )
                if attempt < _TRIES and not self.graceful_stop.wait(attempt):
                    continue
        self.logger.error("Left %d messages to the conductor's retries (local PanDA unreachable)", len(batch))
        return False

    def __call__(self) -> None:
        self.run()


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    """Return what the local PanDA needs of a conductor message (its content and ids)."""
    destination = message.get("destination")
    return {
        "msg_id": message.get("msg_id"),
        "request_id": message.get("request_id"),
        "workload_id": message.get("workload_id"),
        "transform_id": message.get("transform_id"),
        "destination": getattr(destination, "name", destination),
        "msg_content": message.get("msg_content"),
    }
