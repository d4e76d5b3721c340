/*
 * users.h — the user role (design §4): accounts, sign-in, tokens.
 *
 * Resolvers are bound by chat_bind_user_role (chat.h). This header exposes
 * the limits and the pure helpers (input validation, refresh-token encoding)
 * so unit tests can check them at their edges.
 *
 * Tokens: an access token is an HS256 JWT (auth.h) valid USER_ACCESS_TTL_S;
 * a refresh token is USER_RT_BYTES random bytes, base64url, valid
 * USER_REFRESH_TTL_S, stored only as its SHA-256 (hex) and rotated on use.
 */
#ifndef CHATD_CHAT_USERS_H
#define CHATD_CHAT_USERS_H

#include <stdbool.h>
#include <stddef.h>

#define USER_USERNAME_MAX 50u                /* bytes */
#define USER_EMAIL_MAX 254u                  /* bytes (RFC 5321 path limit) */
#define USER_DISPLAY_NAME_MAX 100u           /* bytes */
#define USER_SEARCH_MAX 100u                 /* bytes in users(search:) */
#define USERS_DEFAULT_LIMIT 50               /* users(limit:) when absent, token mode */
#define USERS_MAX_LIMIT 1000                 /* largest users(limit:); trust-mode default */
#define USERS_MAX_OFFSET 1000000             /* largest users(offset:) */
#define USER_ACCESS_TTL_S 900                /* access token lifetime: 15 min */
#define USER_REFRESH_TTL_S (30L * 24 * 3600) /* refresh token lifetime: 30 days */
#define USER_RT_BYTES 32u                    /* random bytes in a refresh token */
#define USER_RT_TEXT_LEN 43u                 /* base64url (no padding) of USER_RT_BYTES */
#define USER_RT_HASH_LEN 64u                 /* hex SHA-256 */
#define USER_RT_MAX_LEN 256u                 /* longer presented tokens are refused unread */

/* Each returns NULL when valid, else a static message for BAD_USER_INPUT. */
const char *chat_user_check_username(const char *s, size_t len);
const char *chat_user_check_email(const char *s, size_t len);
const char *chat_user_check_display_name(const char *s, size_t len);

/* True for the canonical 8-4-4-4-12 hex UUID text form. */
bool chat_uuid_valid(const char *s, size_t len);

/* Writes a fresh refresh token (USER_RT_TEXT_LEN chars + NUL) to out. */
void chat_rt_new(char out[USER_RT_TEXT_LEN + 1]);
/* Writes the hex SHA-256 of token (USER_RT_HASH_LEN chars + NUL) to out. */
void chat_rt_hash(const char *token, size_t len, char out[USER_RT_HASH_LEN + 1]);

#endif
