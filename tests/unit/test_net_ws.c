/*
 * Loop tests for WebSocket connections (src/net/ws.c) over real sockets:
 * handshake and subprotocol, echo at edge sizes, fragmentation with
 * interleaved control frames, ping/pong, both close handshakes, the close
 * timeout, protocol errors (1002, 1007, 1009), shared-frame fan-out, abrupt
 * disconnect (1006), refused upgrades and drain (1001). Each test runs the
 * loop to its end and asserts uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/core.h"
#include "net/net_internal.h"
#include "net_testutil.h"

/* ---- server side (loop thread) ---- */

#define MAXC 16
static ws_conn *g_conns[MAXC];
static int g_close_codes[MAXC];
static char g_close_reason[MAXC][128];
static int g_ncloses;
static char g_pong[64];
static int g_accepted;
static uint64_t g_calls0;     /* ws_write_calls before a burst */
static int64_t g_burst_calls; /* write calls the burst took, -1 = not measured */
static int g_partial_queued;  /* bytes libuv held after the partial burst's flush */

#define BURST_FRAMES 20
#define PARTIAL_FRAMES 64
#define PARTIAL_SIZE 4000

static void reset(void)
{
    memset(g_conns, 0, sizeof g_conns);
    memset(g_close_codes, 0, sizeof g_close_codes);
    memset(g_close_reason, 0, sizeof g_close_reason);
    g_ncloses = 0;
    g_pong[0] = 0;
    g_accepted = 0;
    g_calls0 = 0;
    g_burst_calls = -1;
    g_partial_queued = 0;
}

/* Frames of the partial-write burst: frame i is PARTIAL_SIZE bytes of i. */
static void partial_burst(ws_conn *c)
{
    int sz = 4096;
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &sz); /* small: the socket fills */
    static char chunk[PARTIAL_SIZE];
    for (int i = 0; i < PARTIAL_FRAMES; i++) {
        memset(chunk, i, sizeof chunk);
        assert_int_equal(ws_send_binary(c, chunk, sizeof chunk), 0);
    }
    net_ws_flush(c);
    /* the socket took part: the rest waits in one uv_write */
    assert_null(c->outq);
    assert_true(c->tcp.write_queue_size > 0);
    g_partial_queued = (int)c->tcp.write_queue_size;
    /* frames queued behind a pending write keep their order */
    ws_frame_shared *f = ws_frame_new_text("tail", 4);
    assert_int_equal(ws_send_frame(c, f), 0);
    ws_frame_release(f);
    assert_int_equal(ws_conn_write_queue(c), c->tcp.write_queue_size + 6);
}

static void on_message(ws_conn *c, bool is_text, const char *data, size_t len)
{
    if (is_text && strcmp(data, "close-me") == 0) {
        assert_int_equal(ws_close(c, 4000, "bye now"), 0);
        assert_int_equal(ws_close(c, 4000, "again"), CD_ECLOSED);
        assert_int_equal(ws_send_text(c, "late", 4), CD_ECLOSED);
        return;
    }
    if (is_text && strcmp(data, "fanout") == 0) {
        ws_frame_shared *f = ws_frame_new_text("fan!", 4);
        for (int i = 0; i < MAXC; i++)
            if (g_conns[i]) assert_int_equal(ws_send_frame(g_conns[i], f), 0);
        ws_frame_release(f);
        return;
    }
    if (is_text && strcmp(data, "burst") == 0) {
        /* every frame of one turn waits for the flush, then one write */
        http_server *srv = ws_conn_server(c);
        g_calls0 = srv->ws_write_calls;
        char m[8];
        for (int i = 0; i < BURST_FRAMES; i++) {
            snprintf(m, sizeof m, "m%02d", i);
            assert_int_equal(ws_send_text(c, m, 3), 0);
        }
        ws_frame_shared *f = ws_frame_new_text("shared", 6);
        assert_int_equal(ws_send_frame(c, f), 0);
        ws_frame_release(f);
        assert_non_null(c->outq);
        assert_int_equal(c->outq->n, BURST_FRAMES + 1);
        assert_int_equal(srv->ws_write_calls, g_calls0);
        assert_int_equal(ws_conn_write_queue(c), BURST_FRAMES * 5 + 8);
        return;
    }
    if (is_text && strcmp(data, "count") == 0) {
        g_burst_calls = (int64_t)(ws_conn_server(c)->ws_write_calls - g_calls0);
        return;
    }
    if (is_text && strcmp(data, "partial-close") == 0) {
        partial_burst(c);
        /* the close frame goes after everything queued */
        assert_int_equal(ws_close(c, 4001, "after data"), 0);
        return;
    }
    if (is_text && strcmp(data, "partial") == 0) {
        partial_burst(c); /* the client goes away without reading */
        return;
    }
    if (is_text && strcmp(data, "rx-held") == 0) {
        /* connections of this server holding a receive state (ws_rx) */
        int n = 0;
        for (net_conn *k = ws_conn_server(c)->conns; k; k = k->next)
            n += k->ws.rx != NULL;
        char m[16];
        snprintf(m, sizeof m, "rx:%d", n);
        assert_int_equal(ws_send_text(c, m, strlen(m)), 0);
        return;
    }
    if (is_text && strcmp(data, "ping-me") == 0) {
        assert_int_equal(ws_ping(c, "hb", 2), 0);
        char big[126] = {0};
        assert_int_equal(ws_ping(c, big, sizeof big), CD_ELIMIT);
        return;
    }
    if (is_text && (strcmp(data, "flood") == 0 || strcmp(data, "flood-small") == 0)) {
        /* the client does not read: sends succeed until the write queue
         * passes WS_MAX_WRITE_QUEUE, then the connection is dropped; small
         * frames go through the coalesced queue, whose bytes count too */
        static char chunk[65536];
        size_t csize = data[5] ? 1000 : sizeof chunk;
        int rc = 0;
        size_t sent = 0;
        while (rc == 0 && sent < 64u * 1024 * 1024) {
            rc = ws_send_binary(c, chunk, csize);
            sent += csize;
        }
        if (getenv("NET_TEST_VERBOSE"))
            fprintf(stderr, "flood: %zu bytes sent, queue %zu\n", sent, ws_conn_write_queue(c));
        assert_int_equal(rc, CD_ELIMIT);
        assert_true(ws_conn_closing(c));
        assert_int_equal(ws_send_binary(c, chunk, 1), CD_ECLOSED);
        return;
    }
    if (is_text) {
        assert_int_equal(data[len], 0);
        ws_send_text(c, data, len);
    } else {
        ws_send_binary(c, data, len);
    }
}

static void on_close(ws_conn *c, int code, const char *reason, size_t len)
{
    assert_int_equal(strlen(reason), len);
    for (int i = 0; i < MAXC; i++)
        if (g_conns[i] == c) g_conns[i] = NULL;
    if (g_ncloses < MAXC) {
        g_close_codes[g_ncloses] = code;
        snprintf(g_close_reason[g_ncloses], sizeof g_close_reason[0], "%s", reason);
    }
    g_ncloses++;
    /* sends after the close are refused */
    assert_int_equal(ws_send_text(c, "x", 1), CD_ECLOSED);
}

static void on_pong(ws_conn *c, const char *data, size_t len)
{
    (void)c;
    snprintf(g_pong, sizeof g_pong, "%.*s", (int)len, data);
}

static const ws_callbacks echo_cbs = {on_message, on_close, on_pong};

static void handler(http_request *req, void *user)
{
    (void)user;
    if (strcmp(req->path, "/ws") == 0) {
        static const char *const protos[] = {"graphql-transport-ws", NULL};
        const char *p = ws_select_protocol(req, protos);
        ws_conn *c = NULL;
        int rc = ws_accept(req, p, &echo_cbs, NULL, &c);
        if (rc == 0) {
            g_accepted++;
            for (int i = 0; i < MAXC; i++)
                if (!g_conns[i]) {
                    g_conns[i] = c;
                    break;
                }
            assert_false(ws_conn_closing(c));
            char ip[64];
            assert_int_equal(ws_conn_peer_ip(c, ip, sizeof ip), 0);
            assert_string_equal(ip, "127.0.0.1");
            assert_non_null(ws_conn_server(c));
        }
    } else {
        http_respond(req, 403, "text/plain", NULL, "no", 2);
    }
}

/* ---- clients ---- */

static int ws_open(tc_env *env, const char *protos)
{
    int fd = tc_connect(env->port);
    tc_resp r;
    if (fd < 0 || tc_ws_handshake(fd, "/ws", protos, &r) != 0 || r.status != 101) {
        if (fd >= 0) close(fd);
        return -1;
    }
    free(r.body);
    return fd;
}

/* Receives one frame and compares opcode byte and payload. */
static int expect_frame(int fd, uint8_t b0, const void *data, size_t len)
{
    uint8_t got;
    char *p;
    size_t n;
    if (tc_ws_recv(fd, &got, &p, &n) != 0) return 0;
    int ok = got == b0 && n == len && (len == 0 || memcmp(p, data, len) == 0);
    free(p);
    return ok;
}

static void cl_handshake_echo(tc_env *env)
{
    int fd = tc_connect(env->port);
    TC_CHECK(env, fd >= 0);
    tc_resp r;
    char v[128];
    TC_CHECK(env, tc_ws_handshake(fd, "/ws", "foo, graphql-transport-ws", &r) == 0);
    TC_CHECK(env, r.status == 101);
    TC_CHECK(env, tc_header(&r, "Sec-WebSocket-Accept", v, sizeof v) &&
                      strcmp(v, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    TC_CHECK(env, tc_header(&r, "Sec-WebSocket-Protocol", v, sizeof v) &&
                      strcmp(v, "graphql-transport-ws") == 0);
    TC_CHECK(env, tc_header(&r, "Upgrade", v, sizeof v) && strcmp(v, "websocket") == 0);
    free(r.body);
    /* text echo */
    TC_CHECK(env, tc_ws_send(fd, 0x81, "hello", 5) == 0);
    TC_CHECK(env, expect_frame(fd, 0x81, "hello", 5));
    /* binary echo at the length-encoding edges */
    size_t sizes[] = {0, 125, 126, 65535, 65536, 300000};
    char *buf = malloc(300000);
    for (size_t i = 0; i < 300000; i++)
        buf[i] = (char)(i * 7);
    for (size_t i = 0; i < CD_ARRAY_LEN(sizes); i++) {
        TC_CHECK(env, tc_ws_send(fd, 0x82, buf, sizes[i]) == 0);
        TC_CHECK(env, expect_frame(fd, 0x82, buf, sizes[i]));
    }
    free(buf);
    /* fragmented text with a ping in the middle: pong first, then the message */
    TC_CHECK(env, tc_ws_send(fd, 0x01, "frag", 4) == 0);
    TC_CHECK(env, tc_ws_send(fd, 0x89, "abc", 3) == 0);
    TC_CHECK(env, tc_ws_send(fd, 0x00, "men", 3) == 0);
    TC_CHECK(env, tc_ws_send(fd, 0x80, "ted", 3) == 0);
    TC_CHECK(env, expect_frame(fd, 0x8A, "abc", 3));
    TC_CHECK(env, expect_frame(fd, 0x81, "fragmented", 10));
    /* one frame sent byte by byte */
    uint8_t fr[32];
    size_t n = tc_ws_frame(fr, 0x81, 1, "slow", 4);
    for (size_t i = 0; i < n; i++) {
        TC_CHECK(env, tc_send(fd, fr + i, 1) == 0);
        usleep(2000);
    }
    TC_CHECK(env, expect_frame(fd, 0x81, "slow", 4));
    /* server ping → our pong reaches on_pong */
    TC_CHECK(env, tc_ws_send(fd, 0x81, "ping-me", 7) == 0);
    TC_CHECK(env, expect_frame(fd, 0x89, "hb", 2));
    TC_CHECK(env, tc_ws_send(fd, 0x8A, "hb", 2) == 0);
    /* client-initiated close: the server echoes the code and closes TCP */
    uint8_t cl[] = {0x03, 0xE8, 'd', 'o', 'n', 'e'};
    TC_CHECK(env, tc_ws_send(fd, 0x88, cl, sizeof cl) == 0);
    char reason[64];
    TC_CHECK(env, tc_ws_expect_close(fd, reason, sizeof reason) == 1000);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);

    /* handshake and first frame in one write (frame bytes pending at upgrade) */
    fd = tc_connect(env->port);
    char req[512];
    int hl = snprintf(req, sizeof req,
                      "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n");
    hl += (int)tc_ws_frame((uint8_t *)req + hl, 0x81, 1, "early", 5);
    TC_CHECK(env, tc_send(fd, req, (size_t)hl) == 0);
    TC_CHECK(env, tc_read_response_ex(fd, &r, 1) == 0 && r.status == 101);
    TC_CHECK(env, !tc_header(&r, "Sec-WebSocket-Protocol", v, sizeof v));
    free(r.body);
    TC_CHECK(env, expect_frame(fd, 0x81, "early", 5));
    TC_CHECK(env, tc_ws_send(fd, 0x88, NULL, 0) == 0); /* close without code */
    TC_CHECK(env, tc_ws_expect_close(fd, NULL, 0) == 1005);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
}

static void test_handshake_echo(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_handshake_echo, NULL);
    assert_int_equal(g_accepted, 2);
    assert_int_equal(g_ncloses, 2);
    assert_int_equal(g_close_codes[0], 1000);
    assert_string_equal(g_close_reason[0], "done");
    assert_int_equal(g_close_codes[1], 1005);
    assert_string_equal(g_pong, "hb");
}

static void cl_server_close(tc_env *env)
{
    int fd = ws_open(env, NULL);
    TC_CHECK(env, fd >= 0);
    TC_CHECK(env, tc_ws_send(fd, 0x81, "close-me", 8) == 0);
    char reason[64];
    TC_CHECK(env, tc_ws_expect_close(fd, reason, sizeof reason) == 4000);
    TC_CHECK(env, strcmp(reason, "bye now") == 0);
    /* data after the server's close is ignored; then we answer the close */
    TC_CHECK(env, tc_ws_send(fd, 0x81, "ignored", 7) == 0);
    uint8_t cl[] = {0x0F, 0xA0};
    TC_CHECK(env, tc_ws_send(fd, 0x88, cl, 2) == 0);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* a peer that never answers: TCP closed after the close timeout */
    fd = ws_open(env, NULL);
    TC_CHECK(env, fd >= 0);
    TC_CHECK(env, tc_ws_send(fd, 0x81, "close-me", 8) == 0);
    TC_CHECK(env, tc_ws_expect_close(fd, NULL, 0) == 4000);
    TC_CHECK(env, tc_quiet(fd, 100));
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* abrupt disconnect */
    fd = ws_open(env, NULL);
    TC_CHECK(env, fd >= 0);
    TC_CHECK(env, tc_ws_send(fd, 0x81, "x", 1) == 0);
    TC_CHECK(env, expect_frame(fd, 0x81, "x", 1));
    close(fd);
    usleep(100000);
}

static void test_server_close_and_timeout(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler, .ws_close_timeout_ms = 400};
    tc_run(&env, &o, cl_server_close, NULL);
    assert_int_equal(g_ncloses, 3);
    assert_int_equal(g_close_codes[0], 4000);
    assert_string_equal(g_close_reason[0], "bye now");
    assert_int_equal(g_close_codes[1], 4000);
    assert_int_equal(g_close_codes[2], WS_CLOSE_ABNORMAL);
}

/* Sends raw bytes after a handshake and expects a close with `code`. */
static int expect_violation(tc_env *env, const void *raw, size_t n, int code)
{
    int fd = ws_open(env, NULL);
    if (fd < 0) return 0;
    int ok = tc_send(fd, raw, n) == 0 && tc_ws_expect_close(fd, NULL, 0) == code &&
             tc_wait_closed(fd, 3000);
    close(fd);
    return ok;
}

static void cl_violations(tc_env *env)
{
    uint8_t f[64];
    size_t n = tc_ws_frame(f, 0x81, 0, "unmasked", 8);
    TC_CHECK(env, expect_violation(env, f, n, WS_CLOSE_PROTOCOL_ERROR));
    n = tc_ws_frame(f, 0x81, 1, "\xc3\x28", 2);
    TC_CHECK(env, expect_violation(env, f, n, WS_CLOSE_INVALID_DATA));
    n = tc_ws_frame(f, 0xC1, 1, "rsv", 3);
    TC_CHECK(env, expect_violation(env, f, n, WS_CLOSE_PROTOCOL_ERROR));
    /* frame header announcing WS_MAX_FRAME_SIZE + 1 */
    uint8_t big[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4};
    TC_CHECK(env, expect_violation(env, big, sizeof big, WS_CLOSE_TOO_BIG));
    /* message over WS_MAX_MESSAGE_SIZE in two fragments */
    size_t half = WS_MAX_MESSAGE_SIZE / 2 + 1;
    char *p = calloc(1, half);
    uint8_t *two = malloc(2 * half + 64);
    size_t m = tc_ws_frame(two, 0x02, 1, p, half);
    m += tc_ws_frame(two + m, 0x80, 1, p, half);
    int ok = expect_violation(env, two, m, WS_CLOSE_TOO_BIG);
    free(p);
    free(two);
    TC_CHECK(env, ok);
}

static void test_violations(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_violations, NULL);
    assert_int_equal(g_ncloses, 5);
    int want[] = {1002, 1007, 1002, 1009, 1009};
    for (int i = 0; i < 5; i++)
        assert_int_equal(g_close_codes[i], want[i]);
}

static void cl_fanout_refuse(tc_env *env)
{
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = ws_open(env, NULL);
        TC_CHECK(env, fds[i] >= 0);
    }
    TC_CHECK(env, tc_ws_send(fds[1], 0x81, "fanout", 6) == 0);
    for (int i = 0; i < 3; i++)
        TC_CHECK(env, expect_frame(fds[i], 0x81, "fan!", 4));
    for (int i = 0; i < 3; i++) {
        uint8_t cl[] = {0x03, 0xE8};
        TC_CHECK(env, tc_ws_send(fds[i], 0x88, cl, 2) == 0);
        TC_CHECK(env, tc_ws_expect_close(fds[i], NULL, 0) == 1000);
        close(fds[i]);
    }
    /* refused by the handler: plain 403 */
    int fd = tc_connect(env->port);
    tc_resp r;
    char req[512];
    snprintf(req, sizeof req,
             "GET /other HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    TC_CHECK(env, tc_sends(fd, req) == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0 && r.status == 403);
    free(r.body);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* plain GET to the WebSocket endpoint: ws_accept answers 400 */
    fd = tc_connect(env->port);
    TC_CHECK(env, tc_sends(fd, "GET /ws HTTP/1.1\r\n\r\n") == 0);
    TC_CHECK(env, tc_read_response(fd, &r) == 0 && r.status == 400);
    free(r.body);
    close(fd);
    /* unsupported version: 426 with the version we speak */
    fd = tc_connect(env->port);
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
    TC_CHECK(env, tc_sends(fd, req) == 0);
    char v[32];
    TC_CHECK(env, tc_read_response(fd, &r) == 0 && r.status == 426);
    TC_CHECK(env, tc_header(&r, "Sec-WebSocket-Version", v, sizeof v) && strcmp(v, "13") == 0);
    free(r.body);
    close(fd);
}

static void test_fanout_and_refusals(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_fanout_refuse, NULL);
    assert_int_equal(g_accepted, 3);
    assert_int_equal(g_ncloses, 3);
}

static void cl_drain(tc_env *env)
{
    int a = ws_open(env, NULL);
    int b = ws_open(env, NULL);
    TC_CHECK(env, a >= 0 && b >= 0);
    tc_request_drain(env);
    char reason[64];
    TC_CHECK(env, tc_ws_expect_close(a, reason, sizeof reason) == WS_CLOSE_GOING_AWAY);
    TC_CHECK(env, tc_ws_expect_close(b, NULL, 0) == WS_CLOSE_GOING_AWAY);
    uint8_t cl[] = {0x03, 0xE9};
    TC_CHECK(env, tc_ws_send(a, 0x88, cl, 2) == 0);
    TC_CHECK(env, tc_wait_closed(a, 3000));
    /* b never answers: the drain still ends (close timeout) */
    TC_CHECK(env, tc_wait_closed(b, 3000));
    close(a);
    close(b);
}

static void test_drain_going_away(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler, .ws_close_timeout_ms = 300};
    tc_run(&env, &o, cl_drain, NULL);
    assert_int_equal(g_ncloses, 2);
    assert_int_equal(g_close_codes[0], WS_CLOSE_GOING_AWAY);
    assert_int_equal(g_close_codes[1], WS_CLOSE_GOING_AWAY);
}

static void cl_flood(tc_env *env)
{
    int fd = ws_open(env, NULL);
    TC_CHECK(env, fd >= 0);
    TC_CHECK(env, tc_ws_send(fd, 0x81, "flood", 5) == 0);
    usleep(300000); /* do not read while the server floods */
    TC_CHECK(env, tc_wait_closed(fd, 5000));
    close(fd);
    fd = ws_open(env, NULL);
    TC_CHECK(env, fd >= 0);
    TC_CHECK(env, tc_ws_send(fd, 0x81, "flood-small", 11) == 0);
    usleep(300000);
    TC_CHECK(env, tc_wait_closed(fd, 5000));
    close(fd);
}

static void test_slow_reader_dropped(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_flood, NULL);
    assert_int_equal(g_ncloses, 2);
    assert_int_equal(g_close_codes[0], WS_CLOSE_ABNORMAL);
    assert_int_equal(g_close_codes[1], WS_CLOSE_ABNORMAL);
}

/* Echo session under allocation failure at every point: whatever fails,
 * nothing crashes or leaks (ASan) and the loop still ends with no handle. */
static void cl_alloc_session(tc_env *env)
{
    int fd = tc_connect(env->port);
    if (fd < 0) return;
    tc_resp r;
    if (tc_ws_handshake(fd, "/ws", NULL, &r) == 0 && r.status == 101) {
        tc_ws_send(fd, 0x01, "ab", 2);
        tc_ws_send(fd, 0x80, "cd", 2);
        uint8_t b0;
        char *p;
        size_t n;
        if (tc_ws_recv(fd, &b0, &p, &n) == 0) free(p);
        uint8_t cl[] = {0x03, 0xE8};
        tc_ws_send(fd, 0x88, cl, 2);
        tc_wait_closed(fd, 2000);
    }
    free(r.body);
    close(fd);
    int h = tc_connect(env->port);
    if (h >= 0) {
        tc_sends(h, "POST /other HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        if (tc_read_response(h, &r) == 0) free(r.body);
        close(h);
    }
}

static void cl_burst(tc_env *env)
{
    int fd = ws_open(env, NULL);
    TC_CHECK(env, fd >= 0);
    TC_CHECK(env, tc_ws_send(fd, 0x81, "burst", 5) == 0);
    char m[8];
    for (int i = 0; i < BURST_FRAMES; i++) {
        snprintf(m, sizeof m, "m%02d", i);
        TC_CHECK(env, expect_frame(fd, 0x81, m, 3));
    }
    TC_CHECK(env, expect_frame(fd, 0x81, "shared", 6));
    TC_CHECK(env, tc_ws_send(fd, 0x81, "count", 5) == 0);
    uint8_t cl[] = {0x03, 0xE8};
    TC_CHECK(env, tc_ws_send(fd, 0x88, cl, 2) == 0);
    TC_CHECK(env, tc_ws_expect_close(fd, NULL, 0) == 1000);
    close(fd);
}

/* 21 frames queued in one callback reach the socket in one write call. */
static void test_coalesced_burst(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_burst, NULL);
    assert_int_equal(g_burst_calls, 1);
    assert_int_equal(g_ncloses, 1);
    assert_int_equal(g_close_codes[0], 1000);
}

static void cl_partial(tc_env *env)
{
    /* a small receive buffer and no reading yet: the server's write is partial */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int sz = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)env->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TC_CHECK(env, connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    tc_resp r;
    TC_CHECK(env, tc_ws_handshake(fd, "/ws", NULL, &r) == 0 && r.status == 101);
    free(r.body);
    TC_CHECK(env, tc_ws_send(fd, 0x81, "partial-close", 13) == 0);
    usleep(200000);
    char want[PARTIAL_SIZE];
    for (int i = 0; i < PARTIAL_FRAMES; i++) {
        memset(want, i, sizeof want);
        TC_CHECK(env, expect_frame(fd, 0x82, want, sizeof want));
    }
    TC_CHECK(env, expect_frame(fd, 0x81, "tail", 4));
    char reason[64];
    TC_CHECK(env, tc_ws_expect_close(fd, reason, sizeof reason) == 4001);
    TC_CHECK(env, strcmp(reason, "after data") == 0);
    uint8_t cl[] = {0x0F, 0xA1};
    TC_CHECK(env, tc_ws_send(fd, 0x88, cl, 2) == 0);
    TC_CHECK(env, tc_wait_closed(fd, 3000));
    close(fd);
    /* the same burst, and the client leaves without reading: the queued
     * write fails or is cancelled, every frame reference goes (ASan) */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    TC_CHECK(env, connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    TC_CHECK(env, tc_ws_handshake(fd, "/ws", NULL, &r) == 0 && r.status == 101);
    free(r.body);
    TC_CHECK(env, tc_ws_send(fd, 0x81, "partial", 7) == 0);
    usleep(200000);
    close(fd);
    usleep(200000);
}

/* Partial writes of a coalesced burst keep frame order and contents, a
 * close queued behind them goes last, and a close during the queued write
 * frees everything. */
/* An idle WebSocket holds no receive state: only a connection with an
 * incomplete frame or an open fragmented message has one, and gives it up
 * once the input is complete. Connection A leaves input incomplete, B asks
 * the server how many connections hold one. */
static void cl_rx_idle(tc_env *env)
{
    int a = ws_open(env, NULL), b = ws_open(env, NULL);
    TC_CHECK(env, a >= 0 && b >= 0);
    TC_CHECK(env, tc_ws_send(b, 0x81, "rx-held", 7) == 0);
    TC_CHECK(env, expect_frame(b, 0x81, "rx:0", 4));
    /* half a frame */
    uint8_t fr[32];
    size_t n = tc_ws_frame(fr, 0x81, 1, "hello", 5);
    TC_CHECK(env, tc_send(a, fr, 4) == 0);
    usleep(50000);
    TC_CHECK(env, tc_ws_send(b, 0x81, "rx-held", 7) == 0);
    TC_CHECK(env, expect_frame(b, 0x81, "rx:1", 4));
    TC_CHECK(env, tc_send(a, fr + 4, n - 4) == 0);
    TC_CHECK(env, expect_frame(a, 0x81, "hello", 5));
    TC_CHECK(env, tc_ws_send(b, 0x81, "rx-held", 7) == 0);
    TC_CHECK(env, expect_frame(b, 0x81, "rx:0", 4));
    /* an open fragmented message, then its last fragment */
    TC_CHECK(env, tc_ws_send(a, 0x01, "frag", 4) == 0);
    usleep(50000);
    TC_CHECK(env, tc_ws_send(b, 0x81, "rx-held", 7) == 0);
    TC_CHECK(env, expect_frame(b, 0x81, "rx:1", 4));
    TC_CHECK(env, tc_ws_send(a, 0x80, "ment", 4) == 0);
    TC_CHECK(env, expect_frame(a, 0x81, "fragment", 8));
    TC_CHECK(env, tc_ws_send(b, 0x81, "rx-held", 7) == 0);
    TC_CHECK(env, expect_frame(b, 0x81, "rx:0", 4));
    close(a);
    close(b);
    usleep(100000);
}

static void test_rx_state_only_while_incomplete(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler};
    tc_run(&env, &o, cl_rx_idle, NULL);
    assert_int_equal(g_ncloses, 2);
}

static void test_coalesced_partial_and_close(void **state)
{
    (void)state;
    reset();
    tc_env env;
    http_server_opts o = {.on_request = handler, .ws_close_timeout_ms = 2000};
    tc_run(&env, &o, cl_partial, NULL);
    assert_true(g_partial_queued > 0);
    assert_int_equal(g_ncloses, 2);
    assert_int_equal(g_close_codes[0], 4001);
    assert_int_equal(g_close_codes[1], WS_CLOSE_ABNORMAL);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (long n = 1; n <= 60; n++) {
        reset();
        tc_env env;
        http_server_opts o = {.on_request = handler, .ws_close_timeout_ms = 200};
        tc_fail_after = n; /* armed once the server is listening */
        uint64_t t0 = uv_hrtime();
        tc_run(&env, &o, cl_alloc_session, NULL);
        tc_fail_after = 0;
        if (getenv("NET_TEST_VERBOSE"))
            fprintf(stderr, "fail_after %ld: %.0f ms\n", n, (double)(uv_hrtime() - t0) / 1e6);
    }
}

static void test_shared_frame_refcount(void **state)
{
    (void)state;
    ws_frame_shared *f = ws_frame_new_binary("abc", 3);
    assert_non_null(f);
    assert_ptr_equal(ws_frame_ref(f), f);
    ws_frame_release(f);
    ws_frame_release(f); /* freed here; ASan reports a leak or double free otherwise */
    ws_frame_release(NULL);
    cd_alloc_fail_after(1);
    assert_null(ws_frame_new_text("x", 1));
    cd_alloc_fail_after(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_echo),
        cmocka_unit_test(test_server_close_and_timeout),
        cmocka_unit_test(test_violations),
        cmocka_unit_test(test_fanout_and_refusals),
        cmocka_unit_test(test_drain_going_away),
        cmocka_unit_test(test_slow_reader_dropped),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_shared_frame_refcount),
        cmocka_unit_test(test_coalesced_burst),
        cmocka_unit_test(test_coalesced_partial_and_close),
        cmocka_unit_test(test_rx_state_only_while_incomplete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
