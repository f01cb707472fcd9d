-- Audit log: append-only, pseudonyms only; `id` makes a retried append land once.
CREATE TABLE audit_records (
    seq BIGSERIAL PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    at_ms BIGINT NOT NULL,
    subject TEXT NOT NULL,
    record BYTEA NOT NULL  -- msgpack of netcx.domain.privacy.AuditRecord
);
CREATE INDEX audit_records_at ON audit_records (at_ms, seq);
CREATE INDEX audit_records_subject ON audit_records (subject, at_ms, seq);
