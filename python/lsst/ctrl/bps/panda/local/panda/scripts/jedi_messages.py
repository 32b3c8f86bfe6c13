# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""JEDI's message processing of the iDDS conductor's messages, fed over HTTP instead of ActiveMQ.

Run as a script by the servers' virtualenv (with the environment of JEDI), never imported by the
plugin.  In production the iDDS conductor sends ``file_processing`` messages (these pseudo inputs
are available) to an ActiveMQ queue, and JEDI's message processor agent
(``pandajedi.jediorder.JediMsgProcessor``) hands each one to its plugin
``pandajedi.jedimsgprocessor.processing_msg_processor.ProcessingMsgProcPlugin``, which marks the
files staged through JEDI's task buffer (``updateInputFilesStaged_JEDI``); JEDI's own agents
then generate and activate their jobs.

Here there is no broker: the conductor's notifier (``local/idds/scripts/idds_notifier.py``)
POSTs its batches (``{"messages": [{"msg_content": ...}, ...]}``) to this listener on
127.0.0.1, and each message's content goes, unchanged, to the same JEDI plugin with a task buffer
of its own.  So JEDI decides what is released; nothing here reads or writes JEDI's tables.  The
listener checks no token: it listens on the loopback interface only.

Usage: ``python jedi_messages.py PORT``; replies ``{"success": true, "data": {"processed": N,
"failed": M}}``.  A message JEDI's plugin fails on is logged and counted, not sent back (JEDI's
agent acknowledges such a message too).
"""

import json
import logging
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

__all__ = ["main"]

_LOG = logging.getLogger("jedi_messages")


def _processor():
    """Return JEDI's processing message plugin, with its task buffer connected."""
    from pandajedi.jedimsgprocessor.processing_msg_processor import ProcessingMsgProcPlugin

    plugin = ProcessingMsgProcPlugin()
    plugin.initialize()  # as JEDI's agent does: a JediTaskBuffer of one connection
    return plugin


def _process(plugin, messages: list) -> dict[str, int]:
    processed = failed = 0
    for number, message in enumerate(messages):
        content = message.get("msg_content") if isinstance(message, dict) else None
        if isinstance(content, str):
            content = json.loads(content)
        msg_obj = SimpleNamespace(
            sub_id="idds_notifier", msg_id=str(message.get("msg_id", number)), data=json.dumps(content)
        )
        try:
            plugin.process(msg_obj, decoded_data=content)
            processed += 1
        except Exception:
            _LOG.exception("JEDI's processing plugin failed on message %s", msg_obj.msg_id)
            failed += 1
    return {"processed": processed, "failed": failed}


def main(port: int) -> None:
    """Serve ``POST /`` on ``127.0.0.1:port`` until killed.

    Parameters
    ----------
    port : `int`
        Port to listen on.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    plugin = _processor()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                reply = {"success": True, "data": _process(plugin, list(body.get("messages") or []))}
            except (ValueError, AttributeError) as exc:
                reply = {"success": False, "message": f"not a batch of messages: {exc}"}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):  # noqa: A002 - http.server's signature
            _LOG.info("%s " + format, self.address_string(), *args)

    server = HTTPServer(("127.0.0.1", port), Handler)  # one thread: one task-buffer connection
    _LOG.info("JEDI's message processing listens on 127.0.0.1:%d", port)
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
