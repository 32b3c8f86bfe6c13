# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""How the iDDS and PanDA stacks choose their servers' ports (``stack_processes.free_port``)."""

import socket

import pytest
from lsst.ctrl.bps.panda.local.idds import stack_processes
from lsst.ctrl.bps.panda.local.idds.stack_processes import free_port


@pytest.fixture
def listener():
    """A socket listening on a loopback port: that port is taken."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_drawn_port_is_free_and_below_the_kernels_ephemeral_range():
    first_ephemeral = stack_processes._first_ephemeral_port()
    ports = {free_port() for _ in range(20)}
    assert all(stack_processes.LISTEN_PORTS_FROM <= port < first_ephemeral for port in ports)
    assert len(ports) > 1  # drawn at random, so that two stacks starting together differ
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_the_preferred_port_is_kept_when_free_and_replaced_when_taken(listener):
    free = free_port()
    assert free_port(free) == free
    replacement = free_port(listener)
    assert replacement != listener


def test_the_ephemeral_range_is_read_from_the_kernel_and_defaults_when_unreadable(tmp_path, monkeypatch):
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("25000\t60999\n")
    monkeypatch.setattr(stack_processes, "EPHEMERAL_RANGE_FILE", range_file)
    assert stack_processes._first_ephemeral_port() == 25000
    assert stack_processes.LISTEN_PORTS_FROM <= free_port() < 25000
    range_file.write_text("not a range")
    assert stack_processes._first_ephemeral_port() == stack_processes.LISTEN_PORTS_BELOW
    monkeypatch.setattr(stack_processes, "EPHEMERAL_RANGE_FILE", tmp_path / "missing")
    assert stack_processes._first_ephemeral_port() == stack_processes.LISTEN_PORTS_BELOW


def test_with_no_room_below_the_ephemeral_range_or_every_draw_taken_the_kernel_chooses(
    tmp_path, monkeypatch, listener
):
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("1024 65535")
    monkeypatch.setattr(stack_processes, "EPHEMERAL_RANGE_FILE", range_file)
    assert free_port() > 0
    range_file.write_text("32768 60999")
    monkeypatch.setattr(stack_processes.random, "randrange", lambda start, stop: listener)
    port = free_port()
    assert port != listener and port > 0
