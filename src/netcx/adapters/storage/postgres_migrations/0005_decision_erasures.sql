-- One row per data-subject erasure of decisions: tells other instances to rebuild their
-- in-memory index (their caps and SRM units must forget the erased decisions too).
CREATE TABLE decision_erasures (seq BIGSERIAL PRIMARY KEY);
