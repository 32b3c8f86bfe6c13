# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Serve the real iDDS REST app (``idds.rest.v1.app.create_app``) with waitress on 127.0.0.1.

Run as a script by the servers' virtualenv (``.venv-real-idds``), never imported by the plugin.
The only thing added is what Apache+mod_ssl does in production: put the client certificate's DN
into the WSGI environ (``SSL_CLIENT_S_DN``, ``SSL_CLIENT_CERT``), the two variables iDDS's
``x509_proxy`` authentication reads.  The caller here is always a PanDA relay (the real one in
the contract tests, the local PanDA with ``--engine idds``), whose DN is a super user.

Usage: ``python idds_rest_app.py PORT DN``
"""

import sys

__all__ = ["main"]

FAKE_CERT = "-----BEGIN CERTIFICATE-----\nnot checked behind mod_ssl\n-----END CERTIFICATE-----"


def main(port: int, dn: str) -> None:
    """Serve ``/idds`` on ``127.0.0.1:port``, every call made as ``dn``.

    Parameters
    ----------
    port : `int`
        Port to serve on.
    dn : `str`
        Client DN every call is made as (the local PanDA's user).
    """
    import waitress
    from idds.rest.v1.app import create_app
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.wrappers import Response

    app = create_app()

    def with_client_dn(environ, start_response):
        environ["SSL_CLIENT_S_DN"] = dn
        environ["SSL_CLIENT_CERT"] = FAKE_CERT
        return app(environ, start_response)

    root = DispatcherMiddleware(Response("not here", status=404), {"/idds": with_client_dn})
    waitress.serve(root, host="127.0.0.1", port=port, threads=8, ident="idds-rest")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
