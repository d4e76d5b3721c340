/*
 * fuzz_auth_token.c — libFuzzer driver for the token path a client controls:
 * auth_bearer on an Authorization header value, then auth_verify on what it
 * extracted (and on the raw input as a token). Also rd_url_parse, the other
 * small parser of configuration text in the layers this driver links.
 *
 * The secret is fixed; the corpus holds one token signed with it (valid at
 * FUZZ_NOW), so mutations explore the claim checks behind the signature.
 * Invariants checked: a verified identity has a non-empty, bounded sub and
 * an unexpired exp; a token found by auth_bearer lies inside the header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "store/redis.h"

#define FUZZ_SECRET "fuzz-secret-0123456789abcdef"
#define FUZZ_NOW 1700000000LL

static void check_verify(const char *tok, size_t len)
{
    auth_identity id;
    const char *why = NULL;
    int rc = auth_verify(FUZZ_SECRET, tok, len, FUZZ_NOW, &id, &why);
    if (rc == 0) {
        size_t n = strlen(id.sub);
        if (n == 0 || n > AUTH_MAX_SUB_LEN) abort();
        if (strlen(id.username) > AUTH_MAX_USERNAME_LEN) abort();
        if (id.exp + AUTH_LEEWAY_S < FUZZ_NOW) abort();
    } else if (rc != CD_EAUTH || !why || !*why) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *h = (const char *)data;
    const char *tok = NULL;
    size_t toklen = 0;
    if (auth_bearer(h, size, &tok, &toklen) == 0) {
        if (tok < h || tok + toklen > h + size || toklen == 0) abort();
        check_verify(tok, toklen);
    }
    check_verify(h, size);

    char url[RD_URL_MAX + 8];
    size_t n = size < sizeof url - 1 ? size : sizeof url - 1;
    memcpy(url, data, n);
    url[n] = '\0';
    rd_url u;
    if (rd_url_parse(url, &u) == 0) {
        if (u.port < 1 || u.port > 65535 || !u.host[0] || u.db < 0) abort();
    }
    return 0;
}
