-- Who asked for a device code (`opta account login`): the address the request came from, as the
-- platform's front door saw it, and the host name the CLI says it runs on, keyed by the user code
-- the approval page shows. better-auth's deviceCode table keeps only the client id and scope.
CREATE TABLE device_request (
  user_code   text PRIMARY KEY,
  client_id   text NOT NULL,
  hostname    text,
  ip          text,
  user_agent  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_request_created ON device_request (created_at);
