-- journeygate store, version 6: funnel views over the journey processor's tables (read only; no
-- data). `journeygate funnel` reads them; docs/journey.md ("Funnel") describes every column.
-- Times are event time (timestamptz, UTC).

-- One row per gate episode: when the vehicle entered the gate and left it (NULL while open),
-- its first alert (NULL when none was raised for the episode), whether an alert of the episode
-- was acknowledged, and the vehicle's first dealer visit (service_visits) after the entry and
-- after the first alert. A "within N days" window is applied by the reader.
CREATE VIEW funnel_episodes AS
WITH entered AS (
    SELECT episode_id, vin, dealer_id, gate, subject, at_ts AS entered_ts
    FROM journey_events
    WHERE event = 'entered' AND episode_id IS NOT NULL
),
exited AS (
    SELECT episode_id, min(at_ts) AS exited_ts
    FROM journey_events
    WHERE event = 'exited' AND episode_id IS NOT NULL
    GROUP BY episode_id
),
alerted AS (
    SELECT episode_id,
           min(created_ts) AS alerted_ts,
           (array_agg(alert_id ORDER BY created_ts, alert_id))[1] AS first_alert_id,
           count(*) AS alerts,
           min(acknowledged_at) FILTER (WHERE acknowledged_at IS NOT NULL
                                         OR state = 'acknowledged') AS acknowledged_at,
           bool_or(state = 'acknowledged' OR acknowledged_at IS NOT NULL) AS acknowledged
    FROM alerts
    GROUP BY episode_id
)
SELECT e.episode_id, e.vin, e.dealer_id, e.gate, e.subject, e.entered_ts, x.exited_ts,
       x.exited_ts - e.entered_ts AS time_in_gate,
       a.first_alert_id, a.alerted_ts, COALESCE(a.alerts, 0) AS alerts,
       COALESCE(a.acknowledged, false) AS acknowledged, a.acknowledged_at,
       (SELECT min(v.visit_ts) FROM service_visits v
        WHERE v.vin = e.vin AND v.visit_ts >= e.entered_ts) AS visit_after_entry_ts,
       (SELECT min(v.visit_ts) FROM service_visits v
        WHERE v.vin = e.vin AND v.visit_ts >= a.alerted_ts) AS visit_after_alert_ts
FROM entered e
LEFT JOIN exited x USING (episode_id)
LEFT JOIN alerted a USING (episode_id);

-- One row per owner leaving the journey (a sale, or every alerting purpose withdrawn) and per
-- gate open at that moment ('none' when no gate was open): where owners leave.
CREATE VIEW funnel_left AS
SELECT l.vin, l.dealer_id, l.at_ts AS left_ts, l.detail AS why,
       COALESCE(f.gate, 'none') AS gate, f.episode_id
FROM journey_events l
LEFT JOIN funnel_episodes f
       ON f.vin = l.vin AND f.entered_ts <= l.at_ts
      AND (f.exited_ts IS NULL OR f.exited_ts >= l.at_ts)
WHERE l.event = 'left';

-- Predicted-vs-invoiced service bills, one row per scored dealer visit with its time: the
-- absolute percentage error and the signed error in the currency (predicted - invoiced;
-- positive: the prediction was too high). The funnel aggregates it per dealer and currency.
CREATE VIEW funnel_bill_errors AS
SELECT b.visit_id, b.vin, b.dealer_id, b.currency, v.visit_ts, b.predicted_expected, b.invoiced,
       b.abs_pct_error, b.predicted_expected - b.invoiced AS signed_error_amount
FROM bill_errors b
JOIN service_visits v USING (visit_id);
