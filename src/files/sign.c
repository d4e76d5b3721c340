/*
 * sign.c — signed download URLs (?t=): "<userId>.<expiry>.<mac>", mac =
 * base64url(HMAC-SHA256(key, "<fileId>\n<userId>\n<expiry>")), key =
 * SHA-256("chatd files url key\n" || CHATD_JWT_SECRET). Bound to one file
 * and one user: the download still checks that user's membership now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/text.h"
#include "files/files_internal.h"

bool files_sign_init(files_ctx *fc)
{
    const char *secret = fc->cfg->jwt_secret;
    if (!secret || !*secret) return false;
    crypto_hash_sha256_state st;
    static const char label[] = "chatd files url key\n";
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)label, sizeof label - 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)secret, strlen(secret));
    crypto_hash_sha256_final(&st, fc->url_key);
    fc->url_key_set = true;
    return true;
}

static void mac_of(const files_ctx *fc, const char *id, const char *uid, long long exp, char *out,
                   size_t cap)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg, "%s\n%s\n%lld", id, uid, exp);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (size_t)n, fc->url_key);
    sodium_bin2base64(out, cap, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool files_sign(const files_ctx *fc, const char *id, const char *uid, int64_t now, char *out,
                size_t cap)
{
    if (!fc->url_key_set || !uid || !*uid) return false;
    long long exp = (long long)now + fc->cfg->files_url_ttl_s;
    exp = (exp + FILES_URL_ROUND_S - 1) / FILES_URL_ROUND_S * FILES_URL_ROUND_S;
    char mac[64];
    mac_of(fc, id, uid, exp, mac, sizeof mac);
    int n = snprintf(out, cap, "%s.%lld.%s", uid, exp, mac);
    return n > 0 && (size_t)n < cap;
}

int files_verify(const files_ctx *fc, const char *id, const char *t, size_t tlen, int64_t now,
                 char *uid_out)
{
    if (!fc->url_key_set || tlen > 200) return CD_EAUTH;
    char buf[201];
    memcpy(buf, t, tlen);
    buf[tlen] = 0;
    char *d1 = strchr(buf, '.');
    char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2) return CD_EAUTH;
    *d1 = *d2 = 0;
    const char *uid = buf, *exps = d1 + 1, *mac = d2 + 1;
    if (!cd_uuid_valid(uid, strlen(uid))) return CD_EAUTH;
    char *end;
    long long exp = strtoll(exps, &end, 10);
    if (*end || end == exps || exp < now) return CD_EAUTH;
    char want[64];
    mac_of(fc, id, uid, exp, want, sizeof want);
    size_t wl = strlen(want);
    if (strlen(mac) != wl || sodium_memcmp(want, mac, wl) != 0) return CD_EAUTH;
    memcpy(uid_out, uid, FILES_UUID_LEN + 1);
    return 0;
}
