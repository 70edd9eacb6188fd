"""The contact budget (pure): may an owner be contacted at an instant, given the contacts made?

An owner gets at most ``budget`` alerts in any ``budget_window_days`` (a window ``(x - W, x]``)
and ``min_days_between`` days between two, across all alert types and all of the owner's
vehicles (docs/journey.md, "Alerts"). A vehicle's own contacts are in its state
(``VehicleJourney.contacts_ms``, all at or before its instant); the contacts to the owner's other
vehicles come from the store (``owner_contacts``) and may be *later* than the vehicle's instant:
another vehicle's inputs, on another partition or another member, may be ahead in event time.
So an instant is checked against every window that would hold it, not only the one ending there:
a contact at ``t`` is allowed only if no window containing ``t`` already holds ``budget``
contacts, and no contact is within the minimum gap on either side. Then, over any order in which
the vehicles are evaluated, no window ever holds more than ``budget`` contacts
(property-tested).
"""

from __future__ import annotations

from collections.abc import Sequence

from processors.journey.gates import MS_PER_DAY
from processors.journey.rules import Contact

CONTACT_BUDGET = "contact_budget"
MIN_GAP = "min_gap"


def contact_block(at_ms: int, contacts: Sequence[int], rules: Contact) -> str | None:
    """Why a contact at ``at_ms`` is not allowed (``contact_budget`` or ``min_gap``), or None.

    ``contacts``: the owner's contacts (epoch ms, any order, before or after ``at_ms``)."""
    window = rules.budget_window_days * MS_PER_DAY
    near = sorted(c for c in contacts if at_ms - window < c < at_ms + window)
    # Windows (x - W, x] holding at_ms: x from at_ms to at_ms + W; the count changes only at
    # a contact (it enters) inside that range.
    for x in [at_ms, *(c for c in near if c > at_ms)]:
        if sum(1 for c in near if x - window < c <= x) >= rules.budget:
            return CONTACT_BUDGET
    gap = rules.min_days_between * MS_PER_DAY
    if any(abs(at_ms - c) < gap for c in near):
        return MIN_GAP
    return None


def next_free_ms(now_ms: int, contacts: Sequence[int], rules: Contact) -> int | None:
    """The first instant after ``now_ms`` at which a contact is allowed again, given
    ``contacts``: a contact leaving the budget window or the minimum gap after one (moving
    forward in time, only those free a contact); None if none is to come."""
    window = rules.budget_window_days * MS_PER_DAY
    gap = rules.min_days_between * MS_PER_DAY
    candidates = sorted({t for c in contacts for t in (c + window, c + gap) if t > now_ms})
    return next((t for t in candidates if contact_block(t, contacts, rules) is None), None)
