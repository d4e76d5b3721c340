/*
 * text.c — strict UTF-8 + control-character check for user text, URL
 * redaction for logs (text.h).
 */
#include "core/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool cd_text_is_clean(const char *s, size_t len, bool allow_newlines)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c < 0x20 || c == 0x7f) {
            if (!(allow_newlines && (c == '\n' || c == '\r' || c == '\t'))) return false;
            i++;
            continue;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (n == 0 || c > 0xf4 || i + n > len) return false;
        for (size_t k = 1; k < n; k++)
            if ((p[i + k] & 0xc0) != 0x80) return false;
        unsigned char c1 = p[i + 1];
        if (c == 0xe0 && c1 < 0xa0) return false; /* overlong 3-byte */
        if (c == 0xed && c1 > 0x9f) return false; /* UTF-16 surrogates */
        if (c == 0xf0 && c1 < 0x90) return false; /* overlong 4-byte */
        if (c == 0xf4 && c1 > 0x8f) return false; /* above U+10FFFF */
        i += n;
    }
    return true;
}

char *cd_url_redact(const char *url, char *out, size_t cap)
{
    if (cap == 0) return out;
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    size_t hostpart = strcspn(auth, "/?#"); /* userinfo and host end at the path */
    const char *at = NULL;                  /* the last '@': a password may hold an unescaped one */
    for (size_t i = 0; i < hostpart; i++)
        if (auth[i] == '@') at = auth + i;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) {
        snprintf(out, cap, "%s", url);
        return out;
    }
    snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
    return out;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Is position i of a UUID's text a dash (8-4-4-4-12)? */
static bool uuid_dash_at(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

cd_uuid_case cd_uuid_parse(const char *s, size_t len, uint8_t *out)
{
    if (!s || len != CD_UUID_LEN) return CD_UUID_INVALID;
    bool lower = false, upper = false;
    size_t n = 0; /* hex digits so far */
    for (size_t i = 0; i < CD_UUID_LEN; i++) {
        char c = s[i];
        if (uuid_dash_at(i)) {
            if (c != '-') return CD_UUID_INVALID;
            continue;
        }
        int v = hex_digit(c);
        if (v < 0) return CD_UUID_INVALID;
        if (c >= 'a')
            lower = true;
        else if (c >= 'A')
            upper = true;
        if (out) {
            if (n % 2 == 0)
                out[n / 2] = (uint8_t)(v << 4);
            else
                out[n / 2] |= (uint8_t)v;
        }
        n++;
    }
    if (lower && upper) return CD_UUID_MIXED;
    return upper ? CD_UUID_UPPER : CD_UUID_LOWER;
}

bool cd_uuid_valid(const char *s, size_t len)
{
    return cd_uuid_parse(s, len, NULL) != CD_UUID_INVALID;
}

char *cd_uuid_format(const uint8_t *in, bool upper, char *out)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < CD_UUID_LEN; i++) {
        if (uuid_dash_at(i)) {
            out[i] = '-';
            continue;
        }
        uint8_t b = in[n / 2];
        out[i] = digits[n % 2 == 0 ? b >> 4 : b & 15u];
        n++;
    }
    out[CD_UUID_LEN] = '\0';
    return out;
}
