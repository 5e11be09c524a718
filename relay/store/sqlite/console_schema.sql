-- Schema 3, created after the upgrade of an older file has added the columns it uses.
-- The delivery log pages by (created_at, id) descending within one index per filter, so
-- a page reads `limit` index entries however many jobs there are (no OFFSET).
DROP INDEX IF EXISTS jobs_created_at;
CREATE INDEX IF NOT EXISTS jobs_log ON jobs (created_at, id);
CREATE INDEX IF NOT EXISTS jobs_log_status ON jobs (status, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_log_receiver ON jobs (receiver, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_log_integration ON jobs (integration, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_log_group ON jobs (group_key, created_at, id);
-- The oldest queued job of an integration, one seek per status.
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (status, integration, created_at);
CREATE INDEX IF NOT EXISTS groups_receiver ON groups (receiver, key);
-- A notification may carry several alertnames: one row each, written with the job
-- (common.insert_jobs: a trigger parsing the payload's JSON cost a third of an insert)
-- and deleted by a trigger.
CREATE TABLE IF NOT EXISTS job_alertnames (
    alertname TEXT NOT NULL,
    created_at REAL NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (alertname, created_at, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_alertnames_id ON job_alertnames (id);
DROP TRIGGER IF EXISTS jobs_alertnames_insert;
CREATE TRIGGER IF NOT EXISTS jobs_alertnames_delete AFTER DELETE ON jobs BEGIN
    DELETE FROM job_alertnames WHERE id = old.id;
END;
-- Jobs per (integration, status), kept by triggers in the same transaction as the jobs
-- themselves: the overview and /metrics read counters instead of counting rows.
CREATE TABLE IF NOT EXISTS job_counts (
    integration TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (integration, status)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (integration, status, n) VALUES (new.integration, new.status, 1)
    ON CONFLICT (integration, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_count_update AFTER UPDATE OF status ON jobs
WHEN old.status != new.status BEGIN
    UPDATE job_counts SET n = n - 1 WHERE integration = old.integration AND status = old.status;
    INSERT INTO job_counts (integration, status, n) VALUES (new.integration, new.status, 1)
    ON CONFLICT (integration, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE integration = old.integration AND status = old.status;
END;
-- Attempts per integration in STATS_BUCKET-second buckets, and the last one.
CREATE TABLE IF NOT EXISTS integration_stats (
    integration TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (integration, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS integration_last (
    integration TEXT PRIMARY KEY,
    at REAL NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    receiver TEXT NOT NULL,
    body TEXT NOT NULL,
    bytes INTEGER NOT NULL
)
