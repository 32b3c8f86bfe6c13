# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""``panda_auth`` against the local PanDA's identity provider, with the real PanDA client.

The local PanDA signs real JWTs (short-lived ones here: its token lifetime is a server option);
``panda_auth`` reads, renews and replaces them through ``pandaclient``'s own OIDC functions, and
the relay accepts a token only while it is valid.
"""

import getpass
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsst.ctrl.bps.panda.auth.oidc_token import AuthExit, local_time
from lsst.ctrl.bps.panda.auth.panda_auth_cli import main
from lsst.ctrl.bps.panda.local.core.token_authority import TokenAuthority
from lsst.ctrl.bps.panda.local.http.oidc_provider import connection_uid
from lsst.ctrl.bps.panda.local.server import LocalPandaServer
from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
from support.loopback import TEST_PANDA_PORT
from support.paths import REPO_ROOT

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(120)]

HOUR = 3600.0


@pytest.fixture
def client_dir(tmp_path, monkeypatch):
    """Point the PanDA client at the local VO, with its token file in a fresh PANDA_CONFIG_ROOT."""
    directory = tmp_path / "client"
    for name in ("PANDA_AUTH_ID_TOKEN", "OIDC_AUTH_TOKEN_FILE", "OIDC_AUTH_ID_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PANDA_AUTH", "oidc")
    monkeypatch.setenv("PANDA_AUTH_VO", "local")
    monkeypatch.setenv("PANDA_CONFIG_ROOT", str(directory))
    return directory


@pytest.fixture
def auth_server(tmp_path):
    """A local PanDA on the test port issuing one-hour ID tokens."""
    server = LocalPandaServer(
        StateDir(tmp_path / "state"), port=TEST_PANDA_PORT, max_cores=1, token_lifetime=HOUR
    )
    server.start_in_thread()
    yield server
    server.close(kill_running=True)


def panda_auth(capsys, *args, answer=None, monkeypatch=None):
    """Run ``panda_auth`` in this process; return (exit code, stdout, stderr)."""
    if answer is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_login(directory: Path, authority: TokenAuthority, issued_ago: float, refresh_issued_ago: float = 0):
    """Write the client's token file as a login ``issued_ago`` seconds ago would have left it."""
    now = time.time()
    directory.mkdir(parents=True, exist_ok=True)
    content = {
        "id_token": authority.mint("id", now=now - issued_ago),
        "refresh_token": authority.mint("refresh", now=now - refresh_issued_ago),
    }
    (directory / ".token").write_text(json.dumps(content))
    return content


def token_file(directory: Path) -> dict:
    return json.loads((directory / ".token").read_text())


def claims_of(token: str) -> dict:
    from pandaclient.openidc_utils import decode_id_token

    return decode_id_token(token)


def test_reset_logs_in_and_status_names_the_user_vo_and_hours_left(
    auth_server, client_dir, capsys, monkeypatch
):
    code, out, err = panda_auth(capsys, "reset", answer="y\n", monkeypatch=monkeypatch)
    assert code == AuthExit.OK, err
    assert "/oidc/device?user_code=" in err  # the client's device-code flow, approved on loopback
    saved = token_file(client_dir)
    claims = claims_of(saved["id_token"])
    assert claims["sub"] == getpass.getuser() and claims["groups"] == ["local"]
    assert claims["exp"] - claims["iat"] == HOUR and saved["refresh_token"]
    assert (client_dir / ".token").stat().st_mode & 0o777 == 0o600

    code, out, err = panda_auth(capsys, "status")
    assert code == AuthExit.OK and err == ""
    assert f"Subject:        {getpass.getuser()}" in out and "VO:             local" in out
    left = re.search(rf"Expires: +{re.escape(local_time(claims['exp']))} \(([\d.]+) hours left\)", out)
    assert left and 0 < float(left.group(1)) <= 1.0, out

    # A fresh token is not refreshed before it is within --days of its expiry.
    code, out, err = panda_auth(capsys, "refresh", "--days", "0.01")
    assert code == AuthExit.OK and out.startswith("Not refreshed") and token_file(client_dir) == saved


def test_refresh_renews_a_near_expiry_token_through_the_clients_refresh(auth_server, client_dir, capsys):
    old = write_login(client_dir, auth_server.authority, issued_ago=HOUR - 600)  # ten minutes left
    code, out, err = panda_auth(capsys, "refresh", "--verbose")
    assert code == AuthExit.OK, err
    assert re.match(
        r"Refreshed: the token had 0\.[0-2] hours left; it is now valid until .* hours left\)", out
    )
    assert "Token endpoint: http://127.0.0.1" in err and "eyJ" not in err  # verbose, tokens hidden
    new = token_file(client_dir)
    assert claims_of(new["id_token"])["exp"] > claims_of(old["id_token"])["exp"]
    assert new["refresh_token"] == old["refresh_token"]  # a refresh keeps the login's expiry


def test_expired_token_is_refused_by_the_relay_and_accepted_after_refresh(
    auth_server, client_dir, capsys, idds_api, monkeypatch
):
    expired = write_login(client_dir, auth_server.authority, issued_ago=2 * HOUR)["id_token"]
    code, out, err = panda_auth(capsys, "status")
    assert code == AuthExit.EXPIRED and re.search(r"\(expired 1\.\d hours ago\)", out)
    assert err.startswith("panda_auth: the token expired at") and "panda_auth refresh" in err

    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", expired)
    status, text = idds_api.ping()
    assert status == 255 and "Expired bearer token" in text and "panda_auth refresh" in text
    code, out, err = panda_auth(capsys, "refresh")  # the client sends $PANDA_AUTH_ID_TOKEN, not its file
    assert code == AuthExit.USAGE and "PANDA_AUTH_ID_TOKEN is set" in err
    monkeypatch.delenv("PANDA_AUTH_ID_TOKEN")

    code, out, err = panda_auth(capsys, "refresh")
    assert code == AuthExit.OK and re.search(r"had expired 1\.\d hours ago", out)
    assert panda_auth(capsys, "status")[0] == AuthExit.OK
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", token_file(client_dir)["id_token"])
    assert idds_api.ping() == (0, [True, {"Status": "OK"}])


def test_client_renews_an_expired_token_from_its_file_by_itself(auth_server, client_dir, idds_api):
    old = write_login(client_dir, auth_server.authority, issued_ago=2 * HOUR)
    assert idds_api.ping() == (0, [True, {"Status": "OK"}])  # the client's own refresh, then the call
    assert claims_of(token_file(client_dir)["id_token"])["exp"] > claims_of(old["id_token"])["exp"]


def test_expired_refresh_token_means_logging_in_again(auth_server, client_dir, capsys):
    authority = auth_server.authority
    write_login(
        client_dir, authority, issued_ago=2 * HOUR, refresh_issued_ago=authority.refresh_lifetime + 60
    )
    code, out, err = panda_auth(capsys, "refresh")
    assert code == AuthExit.EXPIRED
    assert "refresh refused: Expired refresh token" in err and "panda_auth reset" in err


def test_wrong_vo_is_named_by_status_reset_and_the_relay(
    auth_server, client_dir, capsys, idds_api, monkeypatch
):
    saved = write_login(client_dir, auth_server.authority, issued_ago=0)
    monkeypatch.setenv("PANDA_AUTH_VO", "Rubin")
    code, out, err = panda_auth(capsys, "status")
    assert code == AuthExit.WRONG_VO and "the token is for local, not PANDA_AUTH_VO=Rubin" in err
    code, out, err = panda_auth(capsys, "reset", answer="y\n", monkeypatch=monkeypatch)
    assert code == AuthExit.WRONG_VO and "no auth configuration for PANDA_AUTH_VO=Rubin" in err
    assert "previous token is kept" in err and token_file(client_dir) == saved

    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", saved["id_token"])  # the client sends Origin: Rubin
    status, text = idds_api.ping()
    assert status == 255 and "Wrong VO" in text and "PANDA_AUTH_VO=local" in text


def test_identity_provider_unreachable_is_one_clear_line_and_keeps_the_token(
    auth_server, client_dir, capsys, monkeypatch
):
    saved = write_login(client_dir, auth_server.authority, issued_ago=HOUR - 600)
    auth_server.close()
    code, out, err = panda_auth(capsys, "refresh")
    assert code == AuthExit.UNREACHABLE and "cannot reach the identity provider" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = panda_auth(capsys, "reset", answer="y\n", monkeypatch=monkeypatch)
    assert code == AuthExit.UNREACHABLE and "previous token is kept" in err
    assert token_file(client_dir) == saved


def test_clean_removes_the_token_files_and_status_then_finds_none(
    auth_server, client_dir, capsys, monkeypatch
):
    assert panda_auth(capsys, "reset", answer="y\n", monkeypatch=monkeypatch)[0] == AuthExit.OK
    code, out, err = panda_auth(capsys, "clean")
    assert code == AuthExit.OK and ".token" in out and ".page_cache_" in out
    assert list(client_dir.iterdir()) == []
    code, out, err = panda_auth(capsys, "status")
    assert code == AuthExit.NO_TOKEN and "no token in" in err and "panda_auth reset" in err
    assert panda_auth(capsys, "clean")[1].startswith("No token files")


def test_reset_without_an_answer_keeps_the_previous_token(auth_server, client_dir, capsys, monkeypatch):
    saved = write_login(client_dir, auth_server.authority, issued_ago=0)
    code, out, err = panda_auth(capsys, "reset", answer="", monkeypatch=monkeypatch)
    assert code == AuthExit.USAGE and "no answer" in err and token_file(client_dir) == saved


def test_relay_refuses_tokens_it_did_not_sign_and_refresh_tokens(
    auth_server, client_dir, idds_api, monkeypatch
):
    foreign = TokenAuthority(b"another local PanDA's key, 32 bytes").mint()
    for token in (foreign, auth_server.authority.mint("refresh")):
        monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", token)
        status, text = idds_api.ping()
        assert status == 255 and "Wrong bearer token" in text


def test_login_is_approved_only_for_a_connection_of_the_servers_user(tmp_path):
    table = tmp_path / "tcp"
    header = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    )
    table.write_text(
        header
        + "   0: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 1\n"
        + "   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2\n"
    )
    if sys.byteorder != "little":
        pytest.skip("the table above is written in little-endian byte order")
    assert connection_uid(("127.0.0.1", 0x9C40), ("127.0.0.1", 0x1F90), table) == 1001
    assert connection_uid(("127.0.0.1", 0x9C41), ("127.0.0.1", 0x1F90), table) is None


def test_console_script_logs_in_on_the_prompt_and_reports_status(auth_server, client_dir, tmp_path):
    script = Path(sys.executable).parent / "panda_auth"
    env = {name: value for name, value in os.environ.items() if name != "PANDA_AUTH_ID_TOKEN"}
    reset = subprocess.run(
        [str(script), "reset"], input="y\n", env=env, capture_output=True, text=True, timeout=60
    )
    assert reset.returncode == 0 and "[y/n]" in reset.stdout and "Logged in as" in reset.stdout, reset.stderr
    status = subprocess.run([str(script), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "hours left" in status.stdout
    (client_dir / ".token").unlink()
    missing = subprocess.run([str(script), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == AuthExit.NO_TOKEN and missing.stderr.startswith("panda_auth: no token")


def _reply_to_headers_alone(path: bytes, headers: bytes) -> bytes:
    """Announce a 50 MB body and send none of it: return the server's answer (from the headers alone)."""
    with socket.create_connection(("127.0.0.1", TEST_PANDA_PORT), timeout=20) as sock:
        sock.sendall(
            b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"Content-Length: 50000000\r\n\r\n"
        )
        reply = b""
        for _ in range(100):  # bounded: the server closes the connection after its answer
            part = sock.recv(4096)
            if not part:
                break
            reply += part
    return reply


def test_expired_token_and_oversized_login_are_refused_before_the_body_is_read(auth_server):
    expired = auth_server.authority.mint("id", now=time.time() - 2 * HOUR)
    reply = _reply_to_headers_alone(
        b"/server/panda/relay_idds_command", f"Authorization: Bearer {expired}\r\n".encode()
    )
    assert reply.split(b" ")[1] == b"401" and b"Expired bearer token" in reply
    reply = _reply_to_headers_alone(b"/oidc/token", b"")
    assert reply.split(b" ")[1] == b"413"


def test_the_published_global_options_log_in_long_format_to_files_and_the_terminal(
    auth_server, client_dir, tmp_path
):
    # The EUPS layout's bin/panda_auth (ups puts bin/ on PATH), run by this environment's Python.
    write_login(client_dir, auth_server.authority, issued_ago=0)
    text_log, json_log = tmp_path / "auth.log", tmp_path / "auth.json"
    options = ["--log-level", "DEBUG", "--long-log", "--log-file", f"{text_log},{json_log}"]
    options += ["--log-label", "LABEL=campaign7", "--log-tty"]
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bin" / "panda_auth"), *options, "refresh", "--days", "0.01"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == AuthExit.OK and done.stdout.startswith("Not refreshed"), done.stderr
    long_line = (
        r"DEBUG \d{4}-\d\d-\d\dT[\d:.]+\S* panda_auth \(campaign7\)\(panda_auth_cli\.py:\d+\) - Token file "
    )
    assert re.search(long_line, done.stderr), done.stderr
    assert re.search(long_line, text_log.read_text())
    (record,) = [json.loads(line) for line in json_log.read_text().splitlines()]
    assert record["levelname"] == "DEBUG" and record["MDC"] == {"LABEL": "campaign7"}
    assert record["message"].startswith("Token file ") and "eyJ" not in json_log.read_text()


def test_log_level_and_no_log_tty_choose_what_is_logged_and_where(auth_server, client_dir, tmp_path, capsys):
    write_login(client_dir, auth_server.authority, issued_ago=0)
    code, out, err = panda_auth(capsys, "refresh", "--days", "0.01")
    assert code == AuthExit.OK and err == ""  # INFO by default: no debug line
    code, out, err = panda_auth(capsys, "--log-level", "debug", "refresh", "--days", "0.01")
    assert code == AuthExit.OK and err.startswith("Token file ")  # the message alone, without --long-log
    log_file = tmp_path / "quiet.log"
    code, out, err = panda_auth(
        capsys, "--no-log-tty", "--log-file", str(log_file), "refresh", "--days", "0.01", "--verbose"
    )
    assert code == AuthExit.OK and out.startswith("Not refreshed") and err == ""
    assert "panda_auth DEBUG: Token file " in log_file.read_text()  # daf_butler's normal format


@pytest.mark.parametrize(
    "options, words",
    [
        (["--log-level", "LOUD"], "CRITICAL|ERROR|WARNING|INFO|VERBOSE|DEBUG|TRACE"),
        (["--log-label", "nolabel"], "expected KEY=VALUE"),
    ],
)
def test_a_malformed_logging_option_is_a_usage_error_naming_it(options, words, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*options, "status"])
    assert stopped.value.code == 2 and words in capsys.readouterr().err


def test_a_log_file_that_cannot_be_written_is_named(client_dir, tmp_path, capsys):
    code, out, err = panda_auth(capsys, "--log-file", str(tmp_path / "no" / "such" / "dir.log"), "status")
    assert (
        code == AuthExit.USAGE
        and err.startswith("panda_auth: cannot write the log file")
        and "dir.log" in err
    )
