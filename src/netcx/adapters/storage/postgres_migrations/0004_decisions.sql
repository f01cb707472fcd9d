-- Decision log: append-only; `decision_id` makes a retried append (ack lost) land once.
-- Writers insert under one advisory lock, so `seq` order is commit order and a reader that
-- has seen every row up to seq N never misses a later commit with a smaller seq.
CREATE TABLE decisions (
    seq BIGSERIAL PRIMARY KEY,
    decision_id TEXT COLLATE "C" NOT NULL UNIQUE,
    at_ms BIGINT NOT NULL,
    channel TEXT NOT NULL,
    recognition TEXT NOT NULL,
    account_id TEXT,
    session_id TEXT,
    visitor_id TEXT,
    intent TEXT NOT NULL,
    experiences TEXT NOT NULL,        -- chosen experience ids, comma-separated
    universal_holdout BOOLEAN NOT NULL,
    holdout BOOLEAN NOT NULL,         -- logged as 'would have triggered'
    shown BOOLEAN NOT NULL,
    record JSONB NOT NULL,            -- the whole netcx.domain.decisions.engine.Decision
    writer TEXT NOT NULL              -- the writing process's random id (catch-up skips its own)
);
CREATE INDEX decisions_account ON decisions (account_id, at_ms);
CREATE INDEX decisions_at ON decisions (at_ms);
