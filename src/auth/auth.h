/*
 * auth.h — access tokens: HS256 JSON Web Tokens (libjwt).
 *
 * A token carries sub (user id), username, iat, exp and ver (the account's
 * token version when issued: a token whose ver is below the account's
 * current one was revoked — logout everywhere, password change, removal;
 * chat/authz.c keeps the versions). auth_verify accepts
 * only HS256 signed with the configured secret (alg "none" and every other
 * algorithm are refused before any claim is trusted), requires sub and exp,
 * and refuses tokens expired more than AUTH_LEEWAY_S ago or issued more than
 * AUTH_LEEWAY_S in the future. Every failure is CD_EAUTH with a short static
 * reason string (safe to log, not meant for end users verbatim).
 * Nothing here blocks or allocates on the loop beyond libjwt's own mallocs.
 */
#ifndef CHATD_AUTH_H
#define CHATD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define AUTH_LEEWAY_S 30          /* clock skew tolerated on exp / iat */
#define AUTH_MAX_TOKEN_LEN 4096   /* longer tokens are refused unparsed */
#define AUTH_MAX_SUB_LEN 64       /* bytes in sub (a UUID is 36) */
#define AUTH_MAX_USERNAME_LEN 128 /* bytes in the username claim */
#define AUTH_MIN_SECRET_LEN 16    /* shorter HS256 secrets are refused */
#define AUTH_MAX_TTL_S (366L * 24 * 3600)

typedef struct auth_identity {
    char sub[AUTH_MAX_SUB_LEN + 1];           /* user id */
    char username[AUTH_MAX_USERNAME_LEN + 1]; /* "" when the claim is absent */
    int64_t iat;                              /* issued at (unix s), 0 if absent */
    int64_t exp;                              /* expires at (unix s) */
    int64_t ver;                              /* token version, 0 if absent */
} auth_identity;

/* Verifies `token` against `secret` at time `now` (unix seconds; 0 = current
 * time). On success fills *id and returns 0. Otherwise returns CD_EAUTH
 * (CD_EBAD for a secret shorter than AUTH_MIN_SECRET_LEN) and, if `reason`
 * is not NULL, sets it to a static string such as "bad signature",
 * "expired", "algorithm not allowed", "missing sub", "malformed token". */
int auth_verify(const char *secret, const char *token, size_t len, int64_t now, auth_identity *id,
                const char **reason);

/* Issues an HS256 token for sub/username (username may be NULL) valid for
 * ttl_s seconds (1..AUTH_MAX_TTL_S) from `now` (0 = current time).
 * *token receives a cd_malloc'd NUL-terminated string the caller cd_frees.
 * Returns 0, CD_EBAD (bad arguments / short secret), CD_ENOMEM. */
int auth_issue(const char *secret, const char *sub, const char *username, int64_t ttl_s,
               int64_t now, char **token);
/* As auth_issue with a "ver" claim (>= 0; 0 is the same as auth_issue). */
int auth_issue_ver(const char *secret, const char *sub, const char *username, int64_t ttl_s,
                   int64_t now, int64_t ver, char **token);

/* Extracts the token from an Authorization header value "Bearer <token>"
 * (scheme case-insensitive, surrounding spaces ignored). On success points
 * *tok and *toklen into `header` and returns 0; CD_EAUTH otherwise. */
int auth_bearer(const char *header, size_t len, const char **tok, size_t *toklen);

#endif
