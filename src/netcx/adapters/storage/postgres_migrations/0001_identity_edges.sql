-- Identity graph: each edge once under its key (src|dst|source), found from both nodes.
CREATE TABLE identity_edges (
    key TEXT COLLATE "C" PRIMARY KEY,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    source TEXT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    edge BYTEA NOT NULL  -- msgpack of netcx.domain.identity.Edge
);
CREATE INDEX identity_edges_src ON identity_edges (src);
CREATE INDEX identity_edges_dst ON identity_edges (dst);
CREATE INDEX identity_edges_source_seen ON identity_edges (source, last_seen_ms);
