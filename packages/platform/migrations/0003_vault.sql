-- Vault sync: one end-to-end-encrypted vault per user. The server holds only ciphertext, the data
-- key wrapped under a key derived from the user's vault passphrase, and the public KDF parameters;
-- nothing here decrypts without the passphrase. The row goes with its user (ON DELETE CASCADE), so
-- deleting an account deletes its vault. better-auth's tables are created before the platform's
-- migrations run (server.ts), so "user" exists here.
CREATE TABLE vault (
  user_id     text PRIMARY KEY REFERENCES "user"(id) ON DELETE CASCADE,
  version     integer NOT NULL CHECK (version > 0),
  ciphertext  text NOT NULL,
  iv          text NOT NULL,
  wrapped_key text NOT NULL,
  kdf         jsonb NOT NULL,
  device      text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- The admin site's "vaults synced this week".
CREATE INDEX vault_updated_at ON vault (updated_at DESC);
