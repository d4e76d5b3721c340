/*
 * fuzz_chat_refresh.c — libFuzzer driver for what refreshToken and
 * logout(refreshToken) do with a presented refresh token before the
 * database: the shape check (chat_rt_shape_ok) and the hash it is looked up
 * by (chat_rt_hash); and, as the inverse, fresh tokens (chat_rt_new).
 *
 * Invariants checked: an accepted token is USER_RT_TEXT_LEN base64url
 * characters; a freshly minted token is accepted; the hash is 64 lowercase
 * hex digits and the same for the same bytes; tokens differing only after
 * an embedded NUL hash differently (the length, not strlen, is hashed).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"

static void check_hash(const char *s, size_t n, char out[USER_RT_HASH_LEN + 1])
{
    chat_rt_hash(s, n, out);
    if (strlen(out) != USER_RT_HASH_LEN) abort();
    for (size_t i = 0; i < USER_RT_HASH_LEN; i++)
        if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    if (chat_rt_shape_ok(s, size)) {
        if (size != USER_RT_TEXT_LEN) abort();
        for (size_t i = 0; i < size; i++)
            if (!memchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i],
                        64))
                abort();
    }
    char h1[USER_RT_HASH_LEN + 1], h2[USER_RT_HASH_LEN + 1];
    check_hash(s, size, h1);
    check_hash(s, size, h2);
    if (strcmp(h1, h2) != 0) abort();
    const char *nul = memchr(s, 0, size);
    if (nul) {
        check_hash(s, (size_t)(nul - s), h2);
        if (strcmp(h1, h2) == 0 && (size_t)(nul - s) != size) abort();
    }
    static unsigned minted;
    if (minted++ % 64 == 0) {
        char fresh[USER_RT_TEXT_LEN + 1];
        chat_rt_new(fresh);
        if (!chat_rt_shape_ok(fresh, strlen(fresh))) abort();
    }
    return 0;
}
