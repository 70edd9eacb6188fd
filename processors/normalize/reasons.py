"""The normalizer's rejection reasons: stable codes carried in the ``dlq_reason`` header.

Each code is documented with an example in docs/payload.md (section "Rejection reasons"). Codes
are part of the contract with operators and dashboards: add new ones, never rename.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why the normalizer dead-lettered a record.

    Checks run in the order listed here, except that ``out_of_range`` and ``bad_dtc`` are
    reported for whichever offending value comes first.
    """

    MISSING_HEADERS = "missing_headers"
    INVALID_JSON = "invalid_json"
    NON_FINITE_NUMBER = "non_finite_number"
    UNSUPPORTED_VERSION = "unsupported_version"
    SCHEMA = "schema"
    BAD_VIN = "bad_vin"
    OUT_OF_RANGE = "out_of_range"
    BAD_DTC = "bad_dtc"
    VIN_MISMATCH = "vin_mismatch"
    VIN_CHECK_DIGIT = "vin_check_digit"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNKNOWN_VIN = "unknown_vin"


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
