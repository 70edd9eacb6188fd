"""Ports picked for the embedded servers and the bench's stages: free, and below the kernel's
ephemeral range, where no outgoing connection can take one before its server binds it."""

from __future__ import annotations

import socket

from journeygate.embedded.procs import _ephemeral_low, free_port


def test_a_picked_port_is_free_and_below_the_ephemeral_range() -> None:
    low = _ephemeral_low()
    ports = [free_port() for _ in range(20)]
    for port in ports:
        assert 1024 <= port < low
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))  # still free: nothing kept it
    assert len(set(ports)) > 1  # drawn at random, not one fixed port
