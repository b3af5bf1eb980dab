-- The last known exchange rate per currency pair, so that a lost Redis, a
-- restart or a dead source still has a rate to serve (marked stale, with its
-- age). One row per pair, overwritten by every successful fetch
-- (services/booking/rates.c).
CREATE TABLE exchange_rates (
    pair text PRIMARY KEY CHECK (pair ~ '^[A-Z]{3}:[A-Z]{3}$'),   -- 'USD:ARS'
    rate numeric NOT NULL CHECK (rate > 0),                      -- ARS per USD: dolarapi's "venta"
    source text NOT NULL CHECK (octet_length(source) BETWEEN 1 AND 47), -- 'dolarapi:oficial'
    source_updated_at timestamptz,                               -- the source's fechaActualizacion
    fetched_at timestamptz NOT NULL                              -- when we fetched it
);
