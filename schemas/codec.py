"""The Avro codec: parses ``schemas/*.avsc`` once and turns fastavro errors into our own."""

from __future__ import annotations

import io
import json
from dataclasses import fields
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.types import Schema

from journeygate.errors import DataError
from schemas.records import Sample, TelemetryFrame


class CodecError(DataError):
    """Bytes that are not a valid record of the expected schema."""

    def __init__(self, detail: str) -> None:
        super().__init__("undecodable", detail)


@cache
def load_avro_schema(name: str) -> Schema:
    """Parse ``schemas/{name}.avsc`` (once per process)."""
    text = resources.files("schemas").joinpath(f"{name}.avsc").read_text(encoding="utf-8")
    return fastavro.parse_schema(json.loads(text))


@cache
def load_json_schema(name: str) -> dict[str, Any]:
    """Load ``schemas/{name}.schema.json`` (the device payload contract)."""
    text = resources.files("schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


class FrameCodec:
    """Encodes and decodes :class:`TelemetryFrame` records as schemaless Avro."""

    def __init__(self) -> None:
        self._schema = load_avro_schema("telemetry_frame")

    def encode(self, frame: TelemetryFrame) -> bytes:
        record = {
            "frame_id": frame.frame_id,
            "vin": frame.vin,
            "boot_id": frame.boot_id,
            "seq": frame.seq,
            "ingest_ts": frame.ingest_ts,
            "bridge_id": frame.bridge_id,
            "samples": [_sample_dict(s) for s in frame.samples],
        }
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, self._schema, record)
        except (ValueError, TypeError, OverflowError) as exc:
            raise CodecError(f"cannot encode frame {frame.frame_id}: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes) -> TelemetryFrame:
        try:
            rec: Any = fastavro.schemaless_reader(io.BytesIO(data), self._schema, None)
        except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise CodecError(f"not a TelemetryFrame: {exc!r}") from exc
        samples = tuple(
            Sample(**{**s, "dtcs": tuple(s["dtcs"]) if s["dtcs"] is not None else None})
            for s in rec["samples"]
        )
        return TelemetryFrame(
            vin=rec["vin"],
            boot_id=rec["boot_id"],
            seq=rec["seq"],
            ingest_ts=rec["ingest_ts"],
            bridge_id=rec["bridge_id"],
            samples=samples,
        )


_SAMPLE_FIELDS = tuple(f.name for f in fields(Sample))


def _sample_dict(sample: Sample) -> dict[str, Any]:
    d = {name: getattr(sample, name) for name in _SAMPLE_FIELDS}
    if d["dtcs"] is not None:
        d["dtcs"] = list(d["dtcs"])
    return d
