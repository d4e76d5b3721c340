/*
 * test_auth_jwt.c — HS256 access tokens: issue/verify round trip, expiry at
 * the leeway edge, tampering, alg "none", other HMAC algorithms, wrong
 * secret, missing claims, size limits, and Bearer header parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/arena.h"

#define SECRET "test-secret-0123456789abcdef"
#define NOW 1700000000LL

static char *b64url(const char *s)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s);
    char *out = malloc(n * 2 + 4);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (uint32_t)(unsigned char)s[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = tbl[v & 63];
    }
    out[o] = '\0';
    return out;
}

static char *craft(const char *header, const char *payload, const char *sig)
{
    char *h = b64url(header), *p = b64url(payload);
    size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s.%s", h, p, sig);
    free(h);
    free(p);
    return t;
}

static int verify(const char *tok, int64_t now, auth_identity *id, const char **why)
{
    return auth_verify(SECRET, tok, strlen(tok), now, id, why);
}

static void test_roundtrip(void **state)
{
    (void)state;
    char *tok = NULL;
    assert_int_equal(
        auth_issue(SECRET, "9b2c0b8e-1111-2222-3333-444455556666", "alice", 900, NOW, &tok), 0);
    assert_non_null(tok);
    auth_identity id;
    const char *why = NULL;
    assert_int_equal(verify(tok, NOW + 10, &id, &why), 0);
    assert_string_equal(id.sub, "9b2c0b8e-1111-2222-3333-444455556666");
    assert_string_equal(id.username, "alice");
    assert_int_equal(id.iat, NOW);
    assert_int_equal(id.exp, NOW + 900);
    cd_free(tok);

    /* username is optional */
    assert_int_equal(auth_issue(SECRET, "u1", NULL, 60, NOW, &tok), 0);
    assert_int_equal(verify(tok, NOW, &id, &why), 0);
    assert_string_equal(id.sub, "u1");
    assert_string_equal(id.username, "");
    cd_free(tok);
}

/* The "ver" claim (token version): round trip, absent → 0, negative refused. */
static void test_version_claim(void **state)
{
    (void)state;
    char *tok = NULL;
    auth_identity id;
    assert_int_equal(auth_issue_ver(SECRET, "u1", "bob", 60, NOW, 7, &tok), 0);
    assert_int_equal(auth_verify(SECRET, tok, strlen(tok), NOW, &id, NULL), 0);
    assert_int_equal(id.ver, 7);
    cd_free(tok);
    assert_int_equal(auth_issue(SECRET, "u1", "bob", 60, NOW, &tok), 0);
    assert_int_equal(auth_verify(SECRET, tok, strlen(tok), NOW, &id, NULL), 0);
    assert_int_equal(id.ver, 0);
    cd_free(tok);
    assert_int_equal(auth_issue_ver(SECRET, "u1", "bob", 60, NOW, -1, &tok), CD_EBAD);
    assert_null(tok);
}

static void test_expiry_leeway_edge(void **state)
{
    (void)state;
    char *tok = NULL;
    assert_int_equal(auth_issue(SECRET, "u1", "bob", 60, NOW, &tok), 0);
    const char *why = NULL;
    /* exactly at exp + leeway: still valid; one second later: expired */
    assert_int_equal(verify(tok, NOW + 60 + AUTH_LEEWAY_S, NULL, &why), 0);
    assert_int_equal(verify(tok, NOW + 60 + AUTH_LEEWAY_S + 1, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "expired");
    /* issued in the future beyond the leeway */
    assert_int_equal(verify(tok, NOW - AUTH_LEEWAY_S, NULL, &why), 0);
    assert_int_equal(verify(tok, NOW - AUTH_LEEWAY_S - 1, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "issued in the future");
    cd_free(tok);
}

static void test_tampered(void **state)
{
    (void)state;
    char *tok = NULL;
    assert_int_equal(auth_issue(SECRET, "u1", "bob", 60, NOW, &tok), 0);
    const char *why = NULL;
    /* swap the payload for one claiming another user, keep the signature */
    char *dot1 = strchr(tok, '.');
    char *dot2 = strchr(dot1 + 1, '.');
    char *p =
        b64url("{\"sub\":\"admin\",\"username\":\"bob\",\"iat\":1700000000,\"exp\":1700000060}");
    size_t n = (size_t)(dot1 - tok) + strlen(p) + strlen(dot2) + 2;
    char *forged = malloc(n);
    snprintf(forged, n, "%.*s.%s%s", (int)(dot1 - tok), tok, p, dot2);
    assert_int_equal(verify(forged, NOW, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "bad signature");
    /* flip one signature character */
    tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(tok, NOW, NULL, &why), CD_EAUTH);
    free(p);
    free(forged);
    cd_free(tok);
}

static void test_alg_none(void **state)
{
    (void)state;
    const char *why = NULL;
    const char *payload = "{\"sub\":\"u1\",\"iat\":1700000000,\"exp\":1700000060}";
    char *t1 = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "");
    /* "a.b." — empty signature */
    size_t l = strlen(t1);
    assert_true(l > 0 && t1[l - 1] == '.');
    assert_int_equal(verify(t1, NOW, NULL, &why), CD_EAUTH);
    char *t2 = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "AAAA");
    assert_int_equal(verify(t2, NOW, NULL, &why), CD_EAUTH);
    char *t3 = craft("{\"alg\":\"NONE\"}", payload, "AAAA");
    assert_int_equal(verify(t3, NOW, NULL, &why), CD_EAUTH);
    free(t1);
    free(t2);
    free(t3);
}

static void test_other_hmac_alg_refused(void **state)
{
    (void)state;
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    jwt_add_grant(jwt, "sub", "u1");
    jwt_add_grant_int(jwt, "exp", (long)(NOW + 60));
    assert_int_equal(
        jwt_set_alg(jwt, JWT_ALG_HS512, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    char *enc = jwt_encode_str(jwt);
    assert_non_null(enc);
    const char *why = NULL;
    assert_int_equal(verify(enc, NOW, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "algorithm not allowed");
    free(enc);
    jwt_free(jwt);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    char *tok = NULL;
    assert_int_equal(auth_issue("another-secret-0123456789abcdef", "u1", NULL, 60, NOW, &tok), 0);
    const char *why = NULL;
    assert_int_equal(verify(tok, NOW, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "bad signature");
    cd_free(tok);
    /* a short secret is a configuration error, not a token error */
    assert_int_equal(auth_verify("short", "a.b.c", 5, NOW, NULL, &why), CD_EBAD);
    assert_int_equal(auth_issue("short", "u1", NULL, 60, NOW, &tok), CD_EBAD);
    char min[AUTH_MIN_SECRET_LEN + 1];
    memset(min, 'k', AUTH_MIN_SECRET_LEN);
    min[AUTH_MIN_SECRET_LEN] = '\0';
    assert_int_equal(auth_issue(min, "u1", NULL, 60, NOW, &tok), 0);
    assert_int_equal(auth_verify(min, tok, strlen(tok), NOW, NULL, &why), 0);
    cd_free(tok);
    min[AUTH_MIN_SECRET_LEN - 1] = '\0';
    assert_int_equal(auth_issue(min, "u1", NULL, 60, NOW, &tok), CD_EBAD);
}

static char *sign_hs256(const char *sub, long exp, int with_exp)
{
    jwt_t *jwt = NULL;
    jwt_new(&jwt);
    if (sub) jwt_add_grant(jwt, "sub", sub);
    if (with_exp) jwt_add_grant_int(jwt, "exp", exp);
    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET));
    char *enc = jwt_encode_str(jwt);
    jwt_free(jwt);
    return enc;
}

static void test_missing_claims(void **state)
{
    (void)state;
    const char *why = NULL;
    char *t = sign_hs256(NULL, (long)NOW + 60, 1);
    assert_int_equal(verify(t, NOW, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "missing sub");
    free(t);
    t = sign_hs256("u1", 0, 0);
    assert_int_equal(verify(t, NOW, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "missing exp");
    free(t);
    t = sign_hs256("u1", (long)NOW + 60, 1);
    assert_int_equal(verify(t, NOW, NULL, &why), 0);
    free(t);
}

static void test_limits_and_garbage(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(verify("", NOW, NULL, &why), CD_EAUTH);
    assert_int_equal(verify("not-a-token", NOW, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "malformed token");
    assert_int_equal(verify("a.b.c.d", NOW, NULL, &why), CD_EAUTH);
    assert_int_equal(verify("a..c", NOW, NULL, &why), CD_EAUTH);
    assert_int_equal(verify("a.b.c", NOW, NULL, &why), CD_EAUTH);
    assert_int_equal(verify("a b.c.d", NOW, NULL, &why), CD_EAUTH);

    /* a sub at the limit is accepted, one byte more refused at issue */
    char sub[AUTH_MAX_SUB_LEN + 2];
    memset(sub, 's', sizeof sub);
    sub[AUTH_MAX_SUB_LEN] = '\0';
    char *tok = NULL;
    assert_int_equal(auth_issue(SECRET, sub, NULL, 60, NOW, &tok), 0);
    assert_int_equal(verify(tok, NOW, NULL, &why), 0);
    cd_free(tok);
    sub[AUTH_MAX_SUB_LEN] = 's';
    sub[AUTH_MAX_SUB_LEN + 1] = '\0';
    assert_int_equal(auth_issue(SECRET, sub, NULL, 60, NOW, &tok), CD_EBAD);
    /* ... and refused at verify when someone else signed it */
    char *t = sign_hs256(sub, (long)NOW + 60, 1);
    assert_int_equal(verify(t, NOW, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "sub too long");
    free(t);

    /* token length limit: exactly AUTH_MAX_TOKEN_LEN reaches the signature
     * check, one more byte is refused unparsed */
    char big[AUTH_MAX_TOKEN_LEN + 2];
    memset(big, 'A', sizeof big);
    big[1] = '.';
    big[3] = '.';
    big[AUTH_MAX_TOKEN_LEN] = '\0';
    assert_int_equal(verify(big, NOW, NULL, &why), CD_EAUTH);
    assert_string_not_equal(why, "token too long");
    big[AUTH_MAX_TOKEN_LEN] = 'A';
    big[AUTH_MAX_TOKEN_LEN + 1] = '\0';
    assert_int_equal(verify(big, NOW, NULL, &why), CD_EAUTH);
    assert_string_equal(why, "token too long");

    /* ttl bounds */
    assert_int_equal(auth_issue(SECRET, "u1", NULL, 0, NOW, &tok), CD_EBAD);
    assert_int_equal(auth_issue(SECRET, "u1", NULL, AUTH_MAX_TTL_S + 1, NOW, &tok), CD_EBAD);
    assert_int_equal(auth_issue(SECRET, "u1", NULL, AUTH_MAX_TTL_S, NOW, &tok), 0);
    cd_free(tok);
}

static void test_bearer(void **state)
{
    (void)state;
    const char *tok;
    size_t n;
    const char *h = "Bearer abc.def.ghi";
    assert_int_equal(auth_bearer(h, strlen(h), &tok, &n), 0);
    assert_int_equal(n, 11);
    assert_memory_equal(tok, "abc.def.ghi", 11);
    h = "  bearer   abc.def.ghi  ";
    assert_int_equal(auth_bearer(h, strlen(h), &tok, &n), 0);
    assert_int_equal(n, 11);
    assert_memory_equal(tok, "abc.def.ghi", 11);
    h = "BEARER x";
    assert_int_equal(auth_bearer(h, strlen(h), &tok, &n), 0);
    assert_int_equal(n, 1);
    h = "Basic abc";
    assert_int_equal(auth_bearer(h, strlen(h), &tok, &n), CD_EAUTH);
    h = "Bearer";
    assert_int_equal(auth_bearer(h, strlen(h), &tok, &n), CD_EAUTH);
    h = "Bearer   ";
    assert_int_equal(auth_bearer(h, strlen(h), &tok, &n), CD_EAUTH);
    h = "Bearerabc";
    assert_int_equal(auth_bearer(h, strlen(h), &tok, &n), CD_EAUTH);
    h = "Bearer a b";
    assert_int_equal(auth_bearer(h, strlen(h), &tok, &n), CD_EAUTH);
    /* len bounds the header: the token stops at len */
    h = "Bearer abcXYZ";
    assert_int_equal(auth_bearer(h, 10, &tok, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(auth_bearer(NULL, 0, &tok, &n), CD_EAUTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),          cmocka_unit_test(test_version_claim),
        cmocka_unit_test(test_expiry_leeway_edge), cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_alg_none),           cmocka_unit_test(test_other_hmac_alg_refused),
        cmocka_unit_test(test_wrong_secret),       cmocka_unit_test(test_missing_claims),
        cmocka_unit_test(test_limits_and_garbage), cmocka_unit_test(test_bearer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
