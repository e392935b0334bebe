-- Idempotency keys of submit-threat (issue 11): a client sends `Idempotency-Key`
-- with a submission and may send the same request again (after a timeout, a
-- reset connection, a 503); the retry gets the first answer back instead of a
-- second report or the daily limit's 429.
--
-- A row is written in the same transaction as the report it answers, so a crash
-- cannot keep one without the other. The key itself is never stored: only its
-- SHA-256 (a key is the client's secret; the hash finds the row). The
-- fingerprint is the SHA-256 of the request (process, caller, inputs): the same
-- key with another request is refused (422). Rows older than 24 hours count for
-- nothing and are purged by `kmzb run`'s periodic job (kmzb.domain.idempotency).
CREATE TABLE kmzb.idempotency_keys (
    key_hash     bytea PRIMARY KEY CHECK (octet_length(key_hash) = 32),
    fingerprint  bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
    status_code  smallint NOT NULL CHECK (status_code BETWEEN 200 AND 299),
    answer       jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created_at_idx ON kmzb.idempotency_keys (created_at);

-- The API finds a key, stores it with the report, and takes over a key whose
-- 24 hours are over (INSERT ... ON CONFLICT DO UPDATE); it deletes nothing.
SELECT kmzb.grant_service_privilege('kmzb_api', 'SELECT', 'kmzb.idempotency_keys',
                                    'a retried submission finds its first answer');
SELECT kmzb.grant_service_privilege('kmzb_api', 'INSERT', 'kmzb.idempotency_keys',
                                    'a submission stores its answer under its key');
SELECT kmzb.grant_service_privilege('kmzb_api', 'UPDATE', 'kmzb.idempotency_keys',
                                    'a key older than 24 hours is taken over by a new request');
