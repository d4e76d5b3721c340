-- 0002_users.sql — accounts and refresh tokens (user role, src/chat/users.c).
--
-- users: username and email are unique case-insensitively (unique indexes on
-- lower(...)), over every row, removed ones included: a removed account's
-- name stays reserved so nobody can take over the identity shown next to its
-- old messages. removeUser is a soft delete (is_active = false, deleted_at
-- set, password_hash cleared): chats and messages that reference the row stay
-- consistent and readable. password_hash is an argon2id string from
-- libsodium's crypto_pwhash_str; NULL for accounts created in trust mode
-- without a password (they cannot log in).
--
-- refresh_tokens: only the SHA-256 (hex) of a token is stored. Rotation marks
-- the presented row used + revoked and inserts its successor in the same
-- family; presenting a used token again revokes the whole family (theft
-- detection). logout revokes one token, changePassword and removeUser all of
-- the user's tokens.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL,
    email         text NOT NULL,
    display_name  text,
    is_active     boolean NOT NULL DEFAULT true,
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    CONSTRAINT users_username_len CHECK (length(username) BETWEEN 1 AND 50),
    CONSTRAINT users_email_len CHECK (length(email) BETWEEN 3 AND 254)
);

CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_active_created_idx ON users (created_at DESC, id) WHERE is_active;

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id),
    family_id   uuid NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);

CREATE INDEX refresh_tokens_user_live_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
