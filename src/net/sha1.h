/*
 * sha1.h — SHA-1 (FIPS 180-4) and base64 (RFC 4648), just enough for the
 * WebSocket handshake (Sec-WebSocket-Accept). Private to src/net. SHA-1 is
 * used here only because RFC 6455 requires it; never use it for security.
 * No allocation; the context lives on the caller's stack.
 */
#ifndef CHATD_NET_SHA1_H
#define CHATD_NET_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define NET_SHA1_LEN 20

typedef struct net_sha1_ctx {
    uint32_t h[5];
    uint64_t total;    /* bytes hashed so far */
    uint8_t block[64]; /* pending partial block */
    size_t block_len;
} net_sha1_ctx;

void net_sha1_init(net_sha1_ctx *c);
void net_sha1_update(net_sha1_ctx *c, const void *data, size_t len);
void net_sha1_final(net_sha1_ctx *c, uint8_t out[NET_SHA1_LEN]);
void net_sha1(const void *data, size_t len, uint8_t out[NET_SHA1_LEN]);

/* Bytes base64 needs for n input bytes, without the NUL. */
#define NET_BASE64_LEN(n) ((((n) + 2) / 3) * 4)
/* Standard alphabet with '=' padding; writes NET_BASE64_LEN(len) chars plus a
 * NUL into out. Returns the length written (without the NUL). */
size_t net_base64_encode(const void *data, size_t len, char *out);

/* Sec-WebSocket-Accept for a client key: base64(sha1(key + GUID)). out gets
 * 28 chars + NUL. */
#define WS_ACCEPT_LEN 28
void ws_accept_value(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

#endif
