/*
 * auth.c — HS256 access tokens with libjwt 1.x (see auth.h).
 *
 * Verification order: size and shape checks on the raw token, then
 * jwt_decode with the secret (signature), then the algorithm must be exactly
 * HS256 (libjwt would also accept HS384/HS512 signed with the same secret, and
 * "none" must never pass), then the claims. libjwt allocates with malloc;
 * everything it returns is released before we return.
 */
#include "auth/auth.h"

#include <ctype.h>
#include <errno.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/arena.h"
#include "core/config.h"

_Static_assert(AUTH_MIN_SECRET_LEN == CD_CONFIG_MIN_JWT_SECRET,
               "start-up check and token code must agree on the shortest secret");

static int64_t auth_now(int64_t now)
{
    return now ? now : (int64_t)time(NULL);
}

static int auth_fail(const char **reason, const char *why)
{
    if (reason) *reason = why;
    return CD_EAUTH;
}

/* A token is three non-empty base64url segments separated by dots. */
static int auth_shape_ok(const char *t, size_t len)
{
    int dots = 0;
    size_t seg = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch == '.') {
            if (seg == 0) return 0;
            dots++;
            seg = 0;
        } else if (isalnum(ch) || ch == '-' || ch == '_') {
            seg++;
        } else {
            return 0;
        }
    }
    return dots == 2 && seg > 0;
}

/* Reads an integer claim; 0 if absent or not an integer. */
static int auth_int_claim(jwt_t *jwt, const char *name, int64_t *out)
{
    errno = 0;
    long v = jwt_get_grant_int(jwt, name);
    if (errno != 0) return 0;
    *out = (int64_t)v;
    return 1;
}

int auth_verify(const char *secret, const char *token, size_t len, int64_t now, auth_identity *id,
                const char **reason)
{
    if (reason) *reason = "";
    if (!secret || strlen(secret) < AUTH_MIN_SECRET_LEN) {
        if (reason) *reason = "secret too short";
        return CD_EBAD;
    }
    if (!token || len == 0) return auth_fail(reason, "missing token");
    if (len > AUTH_MAX_TOKEN_LEN) return auth_fail(reason, "token too long");
    if (!auth_shape_ok(token, len)) return auth_fail(reason, "malformed token");

    char buf[AUTH_MAX_TOKEN_LEN + 1];
    memcpy(buf, token, len);
    buf[len] = '\0';

    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, buf, (const unsigned char *)secret, (int)strlen(secret));
    if (rc != 0 || !jwt) {
        if (jwt) jwt_free(jwt);
        /* libjwt reports a bad signature, a bad header and a bad alg alike */
        return auth_fail(reason, "bad signature");
    }
    int ret = CD_EAUTH;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        auth_fail(reason, "algorithm not allowed");
        goto out;
    }
    const char *sub = jwt_get_grant(jwt, "sub");
    if (!sub || !*sub) {
        auth_fail(reason, "missing sub");
        goto out;
    }
    if (strlen(sub) > AUTH_MAX_SUB_LEN) {
        auth_fail(reason, "sub too long");
        goto out;
    }
    const char *username = jwt_get_grant(jwt, "username");
    if (username && strlen(username) > AUTH_MAX_USERNAME_LEN) {
        auth_fail(reason, "username too long");
        goto out;
    }
    int64_t exp = 0, iat = 0;
    if (!auth_int_claim(jwt, "exp", &exp)) {
        auth_fail(reason, "missing exp");
        goto out;
    }
    int64_t t = auth_now(now);
    if (t > exp + AUTH_LEEWAY_S) {
        auth_fail(reason, "expired");
        goto out;
    }
    if (auth_int_claim(jwt, "iat", &iat) && iat > t + AUTH_LEEWAY_S) {
        auth_fail(reason, "issued in the future");
        goto out;
    }
    int64_t nbf = 0;
    if (auth_int_claim(jwt, "nbf", &nbf) && nbf > t + AUTH_LEEWAY_S) {
        auth_fail(reason, "not yet valid");
        goto out;
    }
    if (id) {
        memset(id, 0, sizeof *id);
        strcpy(id->sub, sub);
        if (username) strcpy(id->username, username);
        id->iat = iat;
        id->exp = exp;
        int64_t ver = 0;
        if (auth_int_claim(jwt, "ver", &ver) && ver > 0) id->ver = ver;
    }
    ret = 0;
out:
    jwt_free(jwt);
    return ret;
}

int auth_issue(const char *secret, const char *sub, const char *username, int64_t ttl_s,
               int64_t now, char **token)
{
    return auth_issue_ver(secret, sub, username, ttl_s, now, 0, token);
}

int auth_issue_ver(const char *secret, const char *sub, const char *username, int64_t ttl_s,
                   int64_t now, int64_t ver, char **token)
{
    *token = NULL;
    if (ver < 0) return CD_EBAD;
    if (!secret || strlen(secret) < AUTH_MIN_SECRET_LEN) return CD_EBAD;
    if (!sub || !*sub || strlen(sub) > AUTH_MAX_SUB_LEN) return CD_EBAD;
    if (username && strlen(username) > AUTH_MAX_USERNAME_LEN) return CD_EBAD;
    if (ttl_s < 1 || ttl_s > AUTH_MAX_TTL_S) return CD_EBAD;

    int64_t t = auth_now(now);
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0) return CD_ENOMEM;
    int ret = CD_ENOMEM;
    char *enc = NULL;
    if (jwt_add_grant(jwt, "sub", sub) != 0) goto out;
    if (username && jwt_add_grant(jwt, "username", username) != 0) goto out;
    if (jwt_add_grant_int(jwt, "iat", (long)t) != 0) goto out;
    if (jwt_add_grant_int(jwt, "exp", (long)(t + ttl_s)) != 0) goto out;
    if (ver > 0 && jwt_add_grant_int(jwt, "ver", (long)ver) != 0) goto out;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) != 0)
        goto out;
    enc = jwt_encode_str(jwt);
    if (!enc) goto out;
    size_t n = strlen(enc);
    *token = cd_malloc(n + 1);
    if (!*token) goto out;
    memcpy(*token, enc, n + 1);
    ret = 0;
out:
    free(enc);
    jwt_free(jwt);
    return ret;
}

int auth_bearer(const char *header, size_t len, const char **tok, size_t *toklen)
{
    *tok = NULL;
    *toklen = 0;
    if (!header) return CD_EAUTH;
    size_t i = 0;
    while (i < len && (header[i] == ' ' || header[i] == '\t'))
        i++;
    if (len - i < 7 || strncasecmp(header + i, "bearer", 6) != 0 ||
        (header[i + 6] != ' ' && header[i + 6] != '\t'))
        return CD_EAUTH;
    i += 7;
    while (i < len && (header[i] == ' ' || header[i] == '\t'))
        i++;
    size_t end = len;
    while (end > i && (header[end - 1] == ' ' || header[end - 1] == '\t'))
        end--;
    if (end == i) return CD_EAUTH;
    for (size_t k = i; k < end; k++)
        if (header[k] == ' ' || header[k] == '\t') return CD_EAUTH;
    *tok = header + i;
    *toklen = end - i;
    return 0;
}
