/*
 * net_testutil.h — harness for src/net loop tests (header-only, test code).
 *
 * The server runs on a libuv loop in the test's main thread; the client is
 * plain blocking sockets in a second thread (so the client is not our own
 * event code). The client thread records the first failed check as text
 * (cmocka asserts must not run off the main thread); the main thread asserts
 * it is empty after the loop ended, and that uv_loop_close() == 0 (no handle
 * left). The client asks the loop thread for actions (drain) through a
 * uv_async_t; when the client returns, the harness drains the server.
 */
#ifndef CHATD_TEST_NET_TESTUTIL_H
#define CHATD_TEST_NET_TESTUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "core/arena.h"
#include "net/http.h"
#include "net/ws.h"

typedef struct tc_env tc_env;

/* > 0: the server's Nth cd_malloc (counted from when it listens) and every
 * later one fail, for allocation-failure runs. */
static long tc_fail_after;
typedef void (*tc_client_fn)(tc_env *env);

struct tc_env {
    int port;
    void *arg;
    char fail[512]; /* first failed check in the client */
    atomic_int want_drain;
    atomic_int client_done;
    /* loop side */
    uv_loop_t loop;
    uv_async_t async;
    http_server *srv;
    tc_client_fn client;
    pthread_t thread;
    int drained; /* drain callback ran */
};

#define TC_CHECK(env, cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (!(env)->fail[0])                                                                   \
                snprintf((env)->fail, sizeof(env)->fail, "%s:%d: check failed: %s", __FILE__,      \
                         __LINE__, #cond);                                                         \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ---- blocking client helpers ---- */

/* Connects to 127.0.0.1:port, or to [::1]:port when port is negative. */
static inline int tc_connect(int port)
{
    int v6 = port < 0;
    if (v6) port = -port;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    }
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static inline int tc_send(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int tc_sends(int fd, const char *s)
{
    return tc_send(fd, s, strlen(s));
}

/* Reads exactly n bytes; 0 or -1 (EOF / timeout / error). */
static inline int tc_recv_n(int fd, void *p, size_t n)
{
    char *d = p;
    while (n) {
        ssize_t r = recv(fd, d, n, 0);
        if (r <= 0) return -1;
        d += r;
        n -= (size_t)r;
    }
    return 0;
}

/* True when the peer closes within ms (EOF or reset), discarding data. */
static inline int tc_wait_closed(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char buf[4096];
    for (;;) {
        int r = poll(&p, 1, ms);
        if (r <= 0) return 0;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return 1;
        if (n < 0) return 0;
    }
}

/* True when nothing arrives (and no close) within ms. */
static inline int tc_quiet(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 0;
}

typedef struct tc_resp {
    int status;
    char head[8192];
    char *body;
    size_t body_len;
} tc_resp;

static inline const char *tc_header(const tc_resp *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t l = (size_t)(e - v);
            if (l >= outlen) l = outlen - 1;
            memcpy(out, v, l);
            out[l] = 0;
            return out;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* Reads one response (head byte by byte, then Content-Length body). HEAD
 * responses: pass no_body. Returns 0 or -1. Caller frees r->body. */
static inline int tc_read_response_ex(int fd, tc_resp *r, int no_body)
{
    memset(r, 0, sizeof *r);
    size_t n = 0;
    while (n < sizeof r->head - 1) {
        if (tc_recv_n(fd, r->head + n, 1) != 0) return -1;
        n++;
        if (n >= 4 && memcmp(r->head + n - 4, "\r\n\r\n", 4) == 0) break;
    }
    r->head[n] = 0;
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) return -1;
    char cl[32];
    size_t len = 0;
    if (!no_body && tc_header(r, "Content-Length", cl, sizeof cl)) len = strtoul(cl, NULL, 10);
    r->body = calloc(1, len + 1);
    r->body_len = len;
    if (len && tc_recv_n(fd, r->body, len) != 0) return -1;
    return 0;
}

static inline int tc_read_response(int fd, tc_resp *r)
{
    return tc_read_response_ex(fd, r, 0);
}

/* ---- WebSocket client helpers ---- */

static inline int tc_ws_handshake(int fd, const char *path, const char *protocols, tc_resp *r)
{
    char req[1024];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
             path, protocols ? "Sec-WebSocket-Protocol: " : "", protocols ? protocols : "",
             protocols ? "\r\n" : "");
    if (tc_sends(fd, req) != 0) return -1;
    return tc_read_response_ex(fd, r, 1);
}

/* Builds a client frame (mask: 1 = masked) into out, returns its size. */
static inline size_t tc_ws_frame(uint8_t *out, uint8_t b0, int mask, const void *payload,
                                 size_t len)
{
    size_t o = 0;
    out[o++] = b0;
    uint8_t m = mask ? 0x80 : 0;
    if (len <= 125) {
        out[o++] = (uint8_t)(m | len);
    } else if (len <= 0xFFFF) {
        out[o++] = m | 126;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = m | 127;
        for (int i = 0; i < 8; i++)
            out[o++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    if (mask) {
        memcpy(out + o, key, 4);
        o += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[o + i] = ((const uint8_t *)payload)[i] ^ (mask ? key[i & 3] : 0);
    return o + len;
}

static inline int tc_ws_send(int fd, uint8_t b0, const void *payload, size_t len)
{
    uint8_t *buf = malloc(len + 14);
    size_t n = tc_ws_frame(buf, b0, 1, payload, len);
    int r = tc_send(fd, buf, n);
    free(buf);
    return r;
}

/* Reads one server frame: *b0 = first byte; payload malloc'd into *out
 * (NUL-terminated). Server frames must be unmasked. 0 or -1. */
static inline int tc_ws_recv(int fd, uint8_t *b0, char **out, size_t *len)
{
    uint8_t h[2];
    *out = NULL;
    if (tc_recv_n(fd, h, 2) != 0) return -1;
    if (h[1] & 0x80) return -1;
    uint64_t l = h[1] & 0x7F;
    if (l == 126) {
        uint8_t e[2];
        if (tc_recv_n(fd, e, 2) != 0) return -1;
        l = (uint64_t)e[0] << 8 | e[1];
    } else if (l == 127) {
        uint8_t e[8];
        if (tc_recv_n(fd, e, 8) != 0) return -1;
        l = 0;
        for (int i = 0; i < 8; i++)
            l = l << 8 | e[i];
    }
    *b0 = h[0];
    *out = malloc((size_t)l + 1);
    if (l && tc_recv_n(fd, *out, (size_t)l) != 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    (*out)[l] = 0;
    *len = (size_t)l;
    return 0;
}

/* Reads frames until a close frame; returns its code (1005 if empty), or -1. */
static inline int tc_ws_expect_close(int fd, char *reason, size_t reason_len)
{
    for (;;) {
        uint8_t b0;
        char *p;
        size_t n;
        if (tc_ws_recv(fd, &b0, &p, &n) != 0) return -1;
        if ((b0 & 0x0F) == 0x8) {
            int code = n >= 2 ? ((uint8_t)p[0] << 8 | (uint8_t)p[1]) : 1005;
            if (reason) snprintf(reason, reason_len, "%s", n > 2 ? p + 2 : "");
            free(p);
            return code;
        }
        free(p);
    }
}

/* ---- harness ---- */

static inline void tc_drained(http_server *srv, void *arg)
{
    (void)srv;
    tc_env *env = arg;
    env->drained++;
    env->srv = NULL;
}

static inline void tc_async_cb(uv_async_t *a)
{
    tc_env *env = a->data;
    if (atomic_exchange(&env->want_drain, 0) && env->srv)
        http_server_drain(env->srv, 3000, tc_drained, env);
    if (atomic_load(&env->client_done)) {
        if (env->srv && !env->drained) http_server_drain(env->srv, 3000, tc_drained, env);
        uv_close((uv_handle_t *)&env->async, NULL);
    }
}

static inline void *tc_thread(void *p)
{
    tc_env *env = p;
    env->client(env);
    atomic_store(&env->client_done, 1);
    uv_async_send(&env->async);
    return NULL;
}

/* Asks the loop thread to drain the server (from the client thread). */
static inline void tc_request_drain(tc_env *env)
{
    atomic_store(&env->want_drain, 1);
    uv_async_send(&env->async);
}

/* Runs client against a server with opts (port 0 on 127.0.0.1). Returns
 * after the loop ended; checks happen in the caller via env. */
static inline void tc_run(tc_env *env, http_server_opts *opts, tc_client_fn client, void *arg)
{
    memset(env, 0, sizeof *env);
    env->client = client;
    env->arg = arg;
    assert_int_equal(uv_loop_init(&env->loop), 0);
    if (!opts->host) opts->host = "127.0.0.1";
    opts->port = 0;
    char err[256];
    assert_int_equal(http_server_start(&env->loop, opts, &env->srv, err, sizeof err), 0);
    env->port = http_server_port(env->srv);
    assert_true(env->port > 0);
    if (strchr(opts->host, ':')) env->port = -env->port; /* IPv6: see tc_connect */
    uv_async_init(&env->loop, &env->async, tc_async_cb);
    env->async.data = env;
    if (tc_fail_after > 0) cd_alloc_fail_after(tc_fail_after);
    assert_int_equal(pthread_create(&env->thread, NULL, tc_thread, env), 0);
    uv_run(&env->loop, UV_RUN_DEFAULT);
    pthread_join(env->thread, NULL);
    cd_alloc_fail_after(0);
    assert_string_equal(env->fail, "");
    assert_int_equal(env->drained, 1);
    assert_int_equal(uv_loop_close(&env->loop), 0);
}

#endif
