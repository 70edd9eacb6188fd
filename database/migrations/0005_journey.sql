-- journeygate store, version 5: the journey processor's state, the vehicles' timelines and the
-- dealer alerts. Written by `journeygate process journey` in one transaction per batch with its
-- consumer offsets (consumer_offsets). Described in docs/journey.md. Times are timestamptz (UTC),
-- event time unless named *_at/stored_at (wall clock).

-- Each vehicle's journey memory (facts, gate episodes, consent, contacts, open alerts) as JSON
-- (layout in processors/journey/state.py).
CREATE TABLE journey_state (
    vin        text PRIMARY KEY,
    state      jsonb NOT NULL,
    as_of_ts   timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The timeline: every gate entry and exit (with the figures and signal that caused it), every
-- alert raised, suppressed (and why), hidden or expired, dealer visits, consent changes, and an
-- owner leaving or rejoining the journey. event_id = '{input id}:{n}' (deterministic).
CREATE TABLE journey_events (
    event_id   text PRIMARY KEY,
    vin        text NOT NULL,
    dealer_id  text,
    at_ts      timestamptz NOT NULL,
    event      text NOT NULL CHECK (event IN ('entered', 'exited', 'alerted', 'suppressed',
                                              'hidden', 'expired', 'visit', 'consent', 'left',
                                              'rejoined')),
    gate       text,
    subject    text,
    episode_id text,
    stage      text,
    alert_id   text,
    detail     text NOT NULL,
    figures    jsonb NOT NULL DEFAULT '{}',
    cause_id   text NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journey_events_vin_time_idx ON journey_events (vin, at_ts);
CREATE INDEX journey_events_gate_idx ON journey_events (dealer_id, gate, event, at_ts);
CREATE INDEX journey_events_episode_idx ON journey_events (episode_id);

-- Dealer alerts (the same records as Kafka dealer.alerts), one per gate episode and stage.
-- state: new -> acknowledged (by the dealer) ; new|acknowledged -> hidden (consent withdrawn,
-- owner left) or expired (past expires_ts, or its gate closed).
CREATE TABLE alerts (
    alert_id         text PRIMARY KEY,
    episode_id       text NOT NULL,
    vin              text NOT NULL,
    dealer_id        text NOT NULL,
    alert_type       text NOT NULL,
    subject          text,
    stage            text NOT NULL,
    purpose          text NOT NULL CHECK (purpose IN ('service', 'marketing')),
    severity         text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    priority         integer NOT NULL,
    created_ts       timestamptz NOT NULL,
    expires_ts       timestamptz NOT NULL,
    reason           text NOT NULL,
    action           text NOT NULL,
    figures          jsonb NOT NULL,
    cause_signal_id  text,
    state            text NOT NULL DEFAULT 'new'
        CHECK (state IN ('new', 'acknowledged', 'expired', 'hidden')),
    state_changed_ts timestamptz,
    acknowledged_at  timestamptz,
    stored_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_dealer_state_idx ON alerts (dealer_id, state, created_ts DESC);
CREATE INDEX alerts_vin_idx ON alerts (vin, created_ts);
