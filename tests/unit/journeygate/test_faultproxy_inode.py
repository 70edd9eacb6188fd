"""Finding a connection's socket in /proc/net/tcp (the fault proxy's process scope)."""

from __future__ import annotations

from journeygate.faultproxy import inodes_in_table

HEADER = "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode"
# 127.0.0.1:50412 three times: a connection from that port closed before (TIME_WAIT, no owner:
# inode 0) listed ahead of the new one, and another from the same port to another server.
ROWS = [
    "0: 0100007F:C4EC 0100007F:1F90 06 00000000:00000000 03:00000F3D 00000000 0 0 0 3",
    "1: 0100007F:C4EC 0100007F:A3B1 01 00000000:00000000 00:00000000 00000000 0 0 812345 1",
    "2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 777 1",
    "3: 0100007F:C4EC 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000 0 0 99 1",
]


def test_every_live_socket_of_a_local_address_not_a_closed_one() -> None:
    assert inodes_in_table([HEADER, *ROWS], ("127.0.0.1", 50412)) == {812345, 99}
    assert inodes_in_table([HEADER, *ROWS], ("127.0.0.1", 8080)) == {777}
    assert inodes_in_table([HEADER, ROWS[0]], ("127.0.0.1", 50412)) == set()  # closed only
    assert inodes_in_table([HEADER, *ROWS], ("127.0.0.1", 1)) == set()
    assert inodes_in_table([], ("127.0.0.1", 50412)) == set()
