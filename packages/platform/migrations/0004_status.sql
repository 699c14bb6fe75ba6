-- The status site (docs/platform.md "Status"): what is checked, every check's raw result, hourly
-- and daily roll-ups, incidents with their timeline, and maintenance windows. All times come from
-- the server's clock as parameters (never now() in a query), so tests drive them.

-- A checked component: a built-in one (the platform, accounts, each site) or an LMX host that an
-- admin (owner_id NULL: public, on the status page) or a user (owner_id: private, on their lmx
-- site only) registered. owner_id has no foreign key: better-auth's tables are created after the
-- platform's migrations; the hourly clean-up of the checks removes a deleted user's hosts.
CREATE TABLE status_component (
  id                   text PRIMARY KEY,
  kind                 text NOT NULL CHECK (kind IN ('platform', 'accounts', 'site', 'lmx')),
  name                 text NOT NULL,
  owner_id             text,
  base_url             text,
  check_url            text NOT NULL,
  check_host           text,
  interval_s           integer NOT NULL CHECK (interval_s >= 5),
  timeout_ms           integer NOT NULL CHECK (timeout_ms >= 100),
  expected_status      integer NOT NULL CHECK (expected_status BETWEEN 100 AND 599),
  position             integer NOT NULL DEFAULT 1000,
  created_at           timestamptz NOT NULL,
  next_check_at        timestamptz NOT NULL,
  last_checked_at      timestamptz,
  last_ok              boolean,
  last_http_status     integer,
  last_latency_ms      integer,
  last_error           text,
  consecutive_failures integer NOT NULL DEFAULT 0
);
CREATE INDEX status_component_owner ON status_component (owner_id, created_at);
CREATE INDEX status_component_due ON status_component (next_check_at);

-- Raw results, kept for the configured number of days.
CREATE TABLE status_check (
  id             bigserial PRIMARY KEY,
  component_id   text NOT NULL REFERENCES status_component (id) ON DELETE CASCADE,
  at             timestamptz NOT NULL,
  ok             boolean NOT NULL,
  http_status    integer,
  latency_ms     integer NOT NULL,
  error          text,
  in_maintenance boolean NOT NULL DEFAULT false
);
CREATE INDEX status_check_component_at ON status_check (component_id, at DESC);
CREATE INDEX status_check_at ON status_check (at);

-- Counts per hour and per day (checks during maintenance are not counted: they are no outage).
CREATE TABLE status_rollup (
  component_id text NOT NULL REFERENCES status_component (id) ON DELETE CASCADE,
  period       text NOT NULL CHECK (period IN ('hour', 'day')),
  bucket       timestamptz NOT NULL,
  total        integer NOT NULL,
  ok           integer NOT NULL,
  latency_sum  bigint NOT NULL,
  PRIMARY KEY (component_id, period, bucket)
);

CREATE TABLE status_incident (
  id           text PRIMARY KEY,
  component_id text REFERENCES status_component (id) ON DELETE CASCADE,
  title        text NOT NULL,
  status       text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
  impact       text NOT NULL CHECK (impact IN ('minor', 'major')),
  automatic    boolean NOT NULL,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  resolved_at  timestamptz
);
CREATE INDEX status_incident_created ON status_incident (created_at DESC);
-- At most one open automatic incident per component, even with several servers checking.
CREATE UNIQUE INDEX status_incident_open_auto ON status_incident (component_id) WHERE automatic AND resolved_at IS NULL;

CREATE TABLE status_incident_update (
  id          bigserial PRIMARY KEY,
  incident_id text NOT NULL REFERENCES status_incident (id) ON DELETE CASCADE,
  at          timestamptz NOT NULL,
  status      text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
  body        text NOT NULL,
  author      text NOT NULL
);
CREATE INDEX status_incident_update_incident ON status_incident_update (incident_id, at);

-- A maintenance window: its components' failed checks open no incident and count against no uptime.
-- component_ids empty means every component.
CREATE TABLE status_maintenance (
  id            text PRIMARY KEY,
  title         text NOT NULL,
  component_ids text[] NOT NULL DEFAULT '{}',
  starts_at     timestamptz NOT NULL,
  ends_at       timestamptz NOT NULL CHECK (ends_at > starts_at),
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL
);
CREATE INDEX status_maintenance_ends ON status_maintenance (ends_at);
