-- The tables of schema 3 (the jobs, groups and refs every version had; relay creates
-- them when missing, then upgrades an older file: sqlite/connection.py).
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    key TEXT PRIMARY KEY,
    next_flush_at REAL,
    updated_at REAL NOT NULL,
    alert_count INTEGER NOT NULL,
    state TEXT NOT NULL,
    firing_count INTEGER NOT NULL DEFAULT 0,
    receiver TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS groups_next_flush_at ON groups (next_flush_at)
    WHERE next_flush_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    receiver TEXT NOT NULL,
    integration TEXT NOT NULL,
    group_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    attempts TEXT NOT NULL DEFAULT '[]',
    last_error TEXT NOT NULL DEFAULT '',
    finished_at REAL,
    digest_id TEXT,
    actions TEXT NOT NULL DEFAULT '[]'
);
-- Claiming seeks per integration: a full integration's backlog is never scanned.
DROP INDEX IF EXISTS jobs_status_next_attempt_at;
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (status, integration, next_attempt_at, created_at);
CREATE TABLE IF NOT EXISTS refs (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL NOT NULL
);
-- Overrides of on-call schedules made at run time (the console, the API): the file's own
-- are in the config.
CREATE TABLE IF NOT EXISTS oncall_overrides (
    id TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    ends_at REAL NOT NULL,
    created_at REAL NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS oncall_overrides_schedule ON oncall_overrides (schedule, created_at);
-- Incidents (a group's firing period: acknowledged when, resolved when, what escalated),
-- kept for statistics after their group is gone; pruned after storage.retention.
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    receiver TEXT NOT NULL,
    policy TEXT,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_started_at ON incidents (started_at);
