-- Consent ledger: append-only; `id` makes a retried append (ack lost) land once.
CREATE TABLE consent_decisions (
    seq BIGSERIAL PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted BOOLEAN NOT NULL,
    at_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    text_version TEXT NOT NULL
);
CREATE INDEX consent_decisions_subject ON consent_decisions (subject, seq);
CREATE INDEX consent_decisions_at ON consent_decisions (at_ms);
