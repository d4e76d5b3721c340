-- 0007_auth_hardening.sql — revoking access tokens everywhere (src/chat/authz.c).
--
-- users.token_version: every access token carries the version of its account
-- at issue time (JWT claim "ver"); logout everywhere, a password change and
-- a removal bump it, and every process refuses tokens with an older version.
-- users.tokens_revoked_at: when it was last bumped. Processes load the
-- accounts bumped within an access token's lifetime (+ leeway) at start and
-- every few seconds (the index below keeps that cheap); older bumps no longer
-- matter because every token issued before them has expired.

ALTER TABLE users ADD COLUMN token_version integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN tokens_revoked_at timestamptz;

CREATE INDEX users_tokens_revoked_idx ON users (tokens_revoked_at)
    WHERE tokens_revoked_at IS NOT NULL;

-- accounts removed recently, before this migration: their tokens may still
-- verify, so they start revoked
UPDATE users SET token_version = 1, tokens_revoked_at = deleted_at
 WHERE deleted_at IS NOT NULL AND deleted_at > now() - interval '1 hour';
