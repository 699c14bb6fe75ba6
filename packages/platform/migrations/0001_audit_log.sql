-- The admin audit log: every admin action, who did it, to what, when and from where. Rows are
-- only ever inserted. actor_id has no foreign key on purpose: the record of what an admin did
-- outlives the admin's account.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor_id    text NOT NULL,
  actor_email text NOT NULL,
  action      text NOT NULL,
  target      text,
  ip          text,
  user_agent  text,
  detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at DESC);
