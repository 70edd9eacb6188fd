-- journeygate store, version 3: what the predictions need to know of each vehicle and its owner.
-- The registry gains the delivery odometer, the market and its currency, and the finance
-- contract; consent is a history of changes per purpose (the current consent is the latest
-- change of each purpose). Money is numeric with its currency beside it.

ALTER TABLE vehicles
    ADD COLUMN delivery_odometer_m bigint NOT NULL DEFAULT 0 CHECK (delivery_odometer_m >= 0),
    ADD COLUMN market              text NOT NULL DEFAULT 'US' CHECK (market ~ '^[A-Z]{2}$'),
    ADD COLUMN currency            text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    ADD COLUMN finance_kind        text NOT NULL DEFAULT 'cash'
        CHECK (finance_kind IN ('cash', 'loan', 'lease', 'pcp')),
    ADD COLUMN finance_amount      numeric(12, 2) CHECK (finance_amount >= 0),
    ADD COLUMN finance_apr_pct     numeric(6, 3) CHECK (finance_apr_pct >= 0),
    ADD COLUMN finance_term_months integer CHECK (finance_term_months > 0),
    ADD COLUMN finance_start       date,
    ADD COLUMN finance_balloon     numeric(12, 2) CHECK (finance_balloon >= 0),
    ADD COLUMN updated_at          timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT vehicles_finance_complete CHECK (
        finance_kind = 'cash'
        OR (finance_amount IS NOT NULL AND finance_apr_pct IS NOT NULL
            AND finance_term_months IS NOT NULL AND finance_start IS NOT NULL)
    );

-- One row per consent change. A purpose never set has no consent (nothing of it leaves the store).
CREATE TABLE consent_changes (
    vin         text NOT NULL REFERENCES vehicles (vin) ON DELETE CASCADE,
    purpose     text NOT NULL
        CHECK (purpose IN ('service_reminders', 'marketing_offers', 'location')),
    granted     boolean NOT NULL,
    changed_at  timestamptz NOT NULL,
    source      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vin, purpose, changed_at)
);

-- The consent in force now, per vehicle and purpose.
CREATE VIEW consent_current AS
SELECT DISTINCT ON (vin, purpose) vin, purpose, granted, changed_at, source
FROM consent_changes
ORDER BY vin, purpose, changed_at DESC;
