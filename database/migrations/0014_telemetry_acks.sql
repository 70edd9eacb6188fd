-- journeygate store, version 14: end-to-end acknowledgement (docs/architecture.md,
-- "End-to-end acknowledgement"). Per vehicle and boot, the sequence numbers the pipeline has
-- durably handled: stored in `telemetry` by the store writer, or dead-lettered by the normalizer
-- (it says so on telemetry.receipts). The store writer updates a row in the same transaction as
-- the telemetry rows it covers, and acknowledges `acked_seq` to the device on
-- `{root}/{VIN}/ack`: every seq from 0 to it is handled, so the device may forget those messages.
-- `missing_seqs` counts the seqs below the highest handled one that never arrived: a loss that
-- nobody re-sent (a device that ignores its acknowledgements) stays visible here.

CREATE TABLE telemetry_acks (
    vin            text NOT NULL,
    boot_id        text NOT NULL,
    acked_seq      bigint NOT NULL CHECK (acked_seq >= -1),  -- every seq from 0 to it handled
    ahead_seqs     int8multirange NOT NULL,  -- the seqs handled beyond a gap above acked_seq
    high_seq       bigint NOT NULL,          -- the highest seq handled
    missing_seqs   bigint NOT NULL,          -- seqs from 0 to high_seq not handled: the gaps
    missing_change bigint NOT NULL,          -- what the last batch changed of missing_seqs
    last_low_seq   bigint NOT NULL,          -- the lowest seq the last batch handled
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vin, boot_id),
    CHECK (isempty(ahead_seqs) OR lower(ahead_seqs) > acked_seq + 1)
) WITH (fillfactor = 70);
-- A row changes at every batch of its vehicle: room on its page for the new version lets the
-- update skip the index (a "HOT" update), and no other index is kept for the same reason.

-- A row's (acked_seq, ahead_seqs) with the seqs `handled` merged in, and what follows from it.
-- The store writer calls it only off its fast path (a batch that extends a row without a gap).
CREATE FUNCTION merged_acks(
    acked bigint, ahead int8multirange, handled int8multirange,
    OUT acked_seq bigint, OUT ahead_seqs int8multirange, OUT high_seq bigint,
    OUT missing_seqs bigint
) LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    seqs int8multirange := ahead + (handled - int8multirange(int8range(NULL, acked + 1)));
BEGIN
    acked_seq := acked;
    IF NOT isempty(seqs) AND lower(seqs) = acked + 1 THEN
        acked_seq := coalesce(lower(int8multirange(int8range(acked + 1, NULL)) - seqs),
                              upper(seqs)) - 1;
        seqs := seqs - int8multirange(int8range(NULL, acked_seq + 1));
    END IF;
    ahead_seqs := seqs;
    high_seq := greatest(acked_seq, coalesce(upper(seqs) - 1, acked_seq));
    missing_seqs := high_seq - acked_seq
        - (SELECT coalesce(sum(upper(r) - lower(r)), 0) FROM unnest(seqs) AS r);
END
$$;

-- A set of seqs (repeats allowed) as ranges.
CREATE FUNCTION seq_ranges(seqs bigint[]) RETURNS int8multirange
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(range_agg(int8range(s, s + 1)), '{}') FROM unnest(seqs) AS s
$$;

-- What the store holds already (an upgrade of a running deployment). Dead letters of the past
-- are not known here: a boot that had one shows it as missing until the device's next boot.
INSERT INTO telemetry_acks
    (vin, boot_id, acked_seq, ahead_seqs, high_seq, missing_seqs, missing_change, last_low_seq)
SELECT vin, boot_id, m.acked_seq, m.ahead_seqs, m.high_seq, m.missing_seqs, m.missing_seqs,
       lower(stored.seqs)
FROM (
    SELECT vin, boot_id, range_agg(int8range(seq, seq + 1)) AS seqs
    FROM telemetry
    GROUP BY vin, boot_id
) AS stored, merged_acks(-1, '{}', stored.seqs) AS m;
