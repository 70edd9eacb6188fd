"""Words and units the reference-data files share."""

from __future__ import annotations

POWERTRAINS = ("ice", "hybrid", "ev")
BODIES = ("sedan", "hatchback", "suv", "pickup", "van")
# Warranty coverages that may pay for a repair; ``none``: the owner pays (wear, a loose fuel cap).
COVERAGES = ("basic", "powertrain", "traction_battery", "none")
KM_PER_MILE = 1.609344
# Prices in the files are in this currency (the field names end in ``_usd``).
FILE_CURRENCY = "USD"
