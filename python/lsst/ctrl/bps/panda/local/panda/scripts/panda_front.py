# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Serve panda-server's WSGI app (``pandaserver.server.panda:application``) with waitress on 127.0.0.1.

Run as a script by the servers' virtualenv, never imported by the plugin.  It does the part of
Apache + mod_wsgi + mod_gridsite in production:

* ``WSGIScriptAliasMatch ^(/server/panda/.+)|(/api/.+)$``: the full path becomes ``SCRIPT_NAME``
  (the app dispatches on it);
* the caller's identity: mod_ssl/mod_gridsite put the certificate's DN and VOMS FQANs into the
  environ (``SSL_CLIENT_S_DN``, ``GRST_CRED_AUTH_TOKEN_0``).  Here they come from the request
  headers ``X-Panda-DN`` / ``X-Panda-FQAN`` when given, else `DEFAULT_DN` with a production role
  (what the iDDS service and a pilot have);
* ``Alias /cache/``: files of ``cache_dir`` (job logs, the transformation ``bash-c``).

Usage: ``python panda_front.py PORT``
"""

import os
import sys

__all__ = ["DEFAULT_DN", "DEFAULT_FQAN", "main"]

DEFAULT_DN = "/DC=org/DC=local/CN=Robot: rubin-local-user"
"""The caller's DN when the request names none ("Robot" is one of ``production_dns``)."""

DEFAULT_FQAN = "/wlcg/Role=production"
"""The caller's VOMS FQAN when the request names none."""


def _cache_file(path: str) -> bytes | None:
    from pandaserver.config import panda_config

    root = os.path.realpath(panda_config.cache_dir)
    wanted = os.path.realpath(os.path.join(root, path))
    if wanted.startswith(root + os.sep) and os.path.isfile(wanted):
        with open(wanted, "rb") as stream:
            return stream.read()
    return None


def main(port: int) -> None:
    """Serve ``/server/panda/``, ``/api/`` and ``/cache/`` on ``127.0.0.1:port``.

    Parameters
    ----------
    port : `int`
        Port to serve on.
    """
    import waitress
    from pandaserver.server.panda import application as panda_application

    def front(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/server/panda/", "/api/")):
            environ["SCRIPT_NAME"] = path
            environ["PATH_INFO"] = ""
            environ["SSL_CLIENT_S_DN"] = environ.get("HTTP_X_PANDA_DN", DEFAULT_DN)
            environ["GRST_CRED_AUTH_TOKEN_0"] = "VOMS " + environ.get("HTTP_X_PANDA_FQAN", DEFAULT_FQAN)
            return panda_application(environ, start_response)
        if path.startswith("/cache/"):
            data = _cache_file(path[len("/cache/") :])
            if data is not None:
                headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))]
                start_response("200 OK", headers)
                return [data]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    waitress.serve(front, host="127.0.0.1", port=port, threads=8, ident="panda-front")


if __name__ == "__main__":
    main(int(sys.argv[1]))
