/*
 * fuzz_auth_jwt.c — libFuzzer driver for the claim checks of auth_verify
 * behind a valid signature. fuzz_auth_token mutates whole tokens, so almost
 * every input stops at the signature; here the input is the token's header
 * and payload JSON, which the driver encodes and signs (HMAC-SHA256, as
 * HS256) so libjwt's JSON reading and every claim check see them.
 *
 * Input: byte 0 holds flags (bit 0: sign with another secret; bit 1: cut
 * the signature short; bit 2: no header from the input, the standard
 * {"alg":"HS256","typ":"JWT"}); the rest is "<header JSON>\n<payload JSON>"
 * (without a newline, the whole rest is the payload).
 * Invariants checked: a token signed with another secret or with a cut
 * signature is never accepted; an accepted identity has a non-empty
 * bounded sub, a bounded username and an exp within the leeway; a token
 * accepted with the secret is refused with a secret differing in one byte.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

#define FUZZ_SECRET "fuzz-secret-0123456789abcdef"
#define FUZZ_OTHER "fuzz-secret-0123456789abcdeF"
#define FUZZ_NOW 1700000000LL
#define FUZZ_STD_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* Appends base64url (no padding) of d[0..n) at out+*len. */
static void b64(char *out, size_t *len, size_t cap, const uint8_t *d, size_t n)
{
    size_t need = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (*len + need > cap) abort();
    sodium_bin2base64(out + *len, need, d, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *len += strlen(out + *len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 3000) return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    const uint8_t *hdr = (const uint8_t *)FUZZ_STD_HEADER;
    size_t hlen = strlen(FUZZ_STD_HEADER);
    const uint8_t *pay = data;
    size_t plen = size;
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl && !(flags & 4)) {
        hdr = data;
        hlen = (size_t)(nl - data);
        pay = nl + 1;
        plen = size - hlen - 1;
    }
    static char tok[8192];
    size_t len = 0;
    b64(tok, &len, sizeof tok, hdr, hlen);
    tok[len++] = '.';
    b64(tok, &len, sizeof tok, pay, plen);
    const char *key = (flags & 1) ? FUZZ_OTHER : FUZZ_SECRET;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, len);
    crypto_auth_hmacsha256_final(&st, mac);
    tok[len++] = '.';
    b64(tok, &len, sizeof tok, mac, (flags & 2) ? sizeof mac - 1 : sizeof mac);
    tok[len] = 0;

    auth_identity id;
    const char *why = NULL;
    int rc = auth_verify(FUZZ_SECRET, tok, len, FUZZ_NOW, &id, &why);
    if (rc != 0) {
        if (rc != CD_EAUTH || !why || !*why) abort();
        return 0;
    }
    if (flags & 3) abort(); /* forged or cut signature accepted */
    size_t n = strlen(id.sub);
    if (n == 0 || n > AUTH_MAX_SUB_LEN) abort();
    if (strlen(id.username) > AUTH_MAX_USERNAME_LEN) abort();
    if (id.exp + AUTH_LEEWAY_S < FUZZ_NOW || id.ver < 0) abort();
    if (auth_verify(FUZZ_OTHER, tok, len, FUZZ_NOW, &id, &why) == 0) abort();
    return 0;
}
