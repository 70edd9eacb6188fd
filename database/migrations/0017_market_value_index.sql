-- journeygate store, version 17: market value indices (docs/registry.md, "Market value index").
-- What used cars of a market fetch against the reference catalog's depreciation curves (1.0:
-- as the curves say; 0.93: 7 % under them), dated, from an index the operator follows (e.g. a
-- wholesale used-vehicle price index rebased to the curves). The signals processor values each
-- vehicle of a market with the newest index of that market (none: 1.0).

CREATE TABLE market_value_index (
    market      text NOT NULL CHECK (market ~ '^[A-Z]{2}$'),
    as_of       date NOT NULL,
    factor      double precision NOT NULL CHECK (factor >= 0.2 AND factor <= 5.0),
    source      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (market, as_of)
);
