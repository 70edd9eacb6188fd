"""The normalizer's rejection reasons, in the order its checks run.

The codes themselves, with their meanings, are registered in :mod:`kernel.deadletters`.
"""

from __future__ import annotations

from kernel.deadletters import Reason

# Checks run in this order, except that ``out_of_range`` and ``bad_dtc`` are reported for
# whichever offending value comes first.
CHECK_ORDER: tuple[Reason, ...] = (
    Reason.MISSING_HEADERS,
    Reason.INVALID_JSON,
    Reason.NON_FINITE_NUMBER,
    Reason.DUPLICATE_KEY,
    Reason.UNSUPPORTED_VERSION,
    Reason.SCHEMA,
    Reason.BAD_VIN,
    Reason.OUT_OF_RANGE,
    Reason.BAD_DTC,
    Reason.VIN_MISMATCH,
    Reason.VIN_CHECK_DIGIT,
    Reason.FUTURE_TIMESTAMP,
    Reason.UNKNOWN_VIN,
)

# Reasons whose condition is expressed by schemas/telemetry-v1.schema.json: a JSON object is
# valid against the schema exactly when it is not rejected with one of these.
SCHEMA_REASONS = frozenset(
    {
        Reason.INVALID_JSON,
        Reason.UNSUPPORTED_VERSION,
        Reason.SCHEMA,
        Reason.BAD_VIN,
        Reason.OUT_OF_RANGE,
        Reason.BAD_DTC,
    }
)

__all__ = ["CHECK_ORDER", "SCHEMA_REASONS", "Reason"]
