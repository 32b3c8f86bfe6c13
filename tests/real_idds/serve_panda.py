# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Serve the real PanDA server WSGI app (``pandaserver.server.panda.application``) on 127.0.0.1.

Runs in ``.venv-real-idds``.  What is added stands in for Apache (mod_wsgi + mod_ssl) only:
``SCRIPT_NAME`` gets the method's path (as ``WSGIScriptAlias`` does for each method) and
``SSL_CLIENT_S_DN`` the DN of the caller's certificate.  The DN is the subject of the PEM file the
client's ``X509_USER_PROXY`` names, read per request the way mod_ssl reads the presented
certificate; on plain http pandaclient presents none, so the file stands in for the TLS handshake.

Usage: ``python serve_panda.py PORT USER_CERT_PEM``
"""

import sys
from pathlib import Path

import waitress
from cryptography import x509
from pandaserver.server.panda import application


def subject_dn(pem_path: Path) -> str:
    """Return a certificate's subject in the ``/DC=../CN=..`` form mod_ssl puts in SSL_CLIENT_S_DN."""
    cert = x509.load_pem_x509_certificate(pem_path.read_bytes())
    return "".join(f"/{attr.rfc4514_attribute_name}={attr.value}" for attr in cert.subject)


def main(port: int, user_cert: Path) -> None:
    def as_behind_apache(environ, start_response):
        environ["SCRIPT_NAME"] = environ.get("PATH_INFO", "")
        environ["PATH_INFO"] = ""
        environ["SSL_CLIENT_S_DN"] = subject_dn(user_cert)
        return application(environ, start_response)

    waitress.serve(
        as_behind_apache,
        host="127.0.0.1",
        port=port,
        threads=4,
        ident="panda-server",
        max_request_body_size=2 * 1024**3,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
