/*
 * Unit tests for src/net without sockets: the RFC 6455 frame parser (every
 * rule, byte-by-byte feeding, edge sizes, limits at their edges), the ws_rx
 * receive state machine (reassembly, interleaved control frames, UTF-8,
 * close frames), SHA-1/base64 and the handshake accept value, the HTTP
 * request parser (http_rx) and URL/query helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/core.h"
#include "net/http.h"
#include "net/net_internal.h"
#include "net/sha1.h"
#include "net/ws.h"
#include "net/ws_frame.h"

/* Builds a client frame (masked unless mask == false) into out; returns size. */
static size_t mkframe(uint8_t *out, uint8_t b0, bool mask, const void *payload, uint64_t len)
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
            out[o++] = (uint8_t)(len >> (56 - 8 * i));
    }
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (mask) {
        memcpy(out + o, key, 4);
        o += 4;
    }
    if (payload) {
        memcpy(out + o, payload, (size_t)len);
        if (mask) ws_unmask(out + o, (size_t)len, key, 0);
    }
    return o + (size_t)len;
}

/* ---- frame parser ---- */

static void check_size(size_t len)
{
    uint8_t *payload = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    uint8_t *buf = malloc(len + 32);
    size_t n = mkframe(buf, 0x82, true, payload, len);
    size_t want_hl = 2 + (len > 125 ? (len > 0xFFFF ? 8 : 2) : 0) + 4;
    ws_frame f;
    int code = 0;
    /* every strict prefix is partial, the full frame is complete */
    for (size_t k = 0; k < n; k += (k < 64 || n - k < 64) ? 1 : 997)
        assert_int_equal(ws_frame_parse(buf, k, true, WS_MAX_FRAME_SIZE, &f, &code), CD_AGAIN);
    assert_int_equal(ws_frame_parse(buf, n, true, WS_MAX_FRAME_SIZE, &f, &code), (int)n);
    assert_int_equal(f.header_len, want_hl);
    assert_int_equal(f.payload_len, len);
    assert_true(f.fin);
    assert_int_equal(f.opcode, WS_OP_BINARY);
    ws_unmask(f.payload, len, f.mask, 0);
    assert_memory_equal(f.payload, payload, len);
    free(buf);
    free(payload);
}

static void test_frame_edge_sizes(void **state)
{
    (void)state;
    size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 100000};
    for (size_t i = 0; i < CD_ARRAY_LEN(sizes); i++)
        check_size(sizes[i]);
}

static int parse_err(const uint8_t *bytes, size_t n, bool require_mask, uint64_t max)
{
    uint8_t buf[64];
    memcpy(buf, bytes, n);
    ws_frame f;
    int code = 0;
    int r = ws_frame_parse(buf, n, require_mask, max, &f, &code);
    if (r == CD_EBAD) return code;
    return r;
}

static void test_frame_rules(void **state)
{
    (void)state;
    uint8_t b[16];
    /* reserved bits */
    for (uint8_t rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        mkframe(b, (uint8_t)(0x81 | rsv), true, "x", 1);
        assert_int_equal(parse_err(b, 7, true, 1000), WS_CLOSE_PROTOCOL_ERROR);
    }
    /* reserved opcodes */
    int ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < CD_ARRAY_LEN(ops); i++) {
        mkframe(b, (uint8_t)(0x80 | ops[i]), true, "x", 1);
        assert_int_equal(parse_err(b, 7, true, 1000), WS_CLOSE_PROTOCOL_ERROR);
    }
    /* unmasked client frame; accepted when masks are not required */
    size_t n = mkframe(b, 0x81, false, "hi", 2);
    assert_int_equal(parse_err(b, n, true, 1000), WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(parse_err(b, n, false, 1000), (int)n);
    /* fragmented control frames */
    n = mkframe(b, 0x09, true, "p", 1);
    assert_int_equal(parse_err(b, n, true, 1000), WS_CLOSE_PROTOCOL_ERROR);
    n = mkframe(b, 0x08, true, NULL, 0);
    assert_int_equal(parse_err(b, n, true, 1000), WS_CLOSE_PROTOCOL_ERROR);
    /* control payload > 125: the length byte alone decides */
    uint8_t big_ping[] = {0x89, 0x80 | 126, 0x00, 0x7E};
    assert_int_equal(parse_err(big_ping, 2, true, 1000), WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(parse_err(big_ping, 4, true, 1000), WS_CLOSE_PROTOCOL_ERROR);
    /* 125-byte ping is fine (header complete, payload missing) */
    uint8_t ping125[] = {0x89, 0x80 | 125, 1, 2, 3, 4};
    assert_int_equal(parse_err(ping125, 6, true, 1000), CD_AGAIN);
    /* 64-bit length with the top bit set */
    uint8_t huge[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    assert_int_equal(parse_err(huge, sizeof huge, true, UINT64_MAX), WS_CLOSE_PROTOCOL_ERROR);
    /* size limit at its edge (header only is enough to decide) */
    uint8_t lim[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4}; /* 1 MiB */
    assert_int_equal(WS_MAX_FRAME_SIZE, 0x100000);
    assert_int_equal(parse_err(lim, sizeof lim, true, WS_MAX_FRAME_SIZE), CD_AGAIN);
    lim[9] = 1; /* 1 MiB + 1 */
    assert_int_equal(parse_err(lim, sizeof lim, true, WS_MAX_FRAME_SIZE), WS_CLOSE_TOO_BIG);
    /* empty input, one byte */
    assert_int_equal(parse_err(b, 0, true, 1000), CD_AGAIN);
    assert_int_equal(parse_err(b, 1, true, 1000), CD_AGAIN);
}

static void test_frame_encode(void **state)
{
    (void)state;
    uint8_t h[WS_MAX_HEADER_LEN];
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, true, 125), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 125);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, 126), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2] << 8 | h[3], 126);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, false, 65535), 4);
    assert_int_equal(h[0], 0x01);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, true, 65536), 10);
    assert_int_equal(h[1], 127);
    assert_int_equal(h[7], 1);
    /* a server frame parses back when masks are not required */
    uint8_t buf[200];
    size_t hl = ws_frame_header(buf, WS_OP_TEXT, true, 130);
    memset(buf + hl, 'z', 130);
    ws_frame f;
    int code;
    assert_int_equal(ws_frame_parse(buf, hl + 130, false, 1000, &f, &code), (int)(hl + 130));
    assert_int_equal(f.payload_len, 130);
}

static void test_utf8(void **state)
{
    (void)state;
    size_t ok;
    struct {
        const char *s;
        int valid;
    } cases[] = {
        {"hello", 1},
        {"\xc3\xa9", 1},
        {"\xe2\x82\xac", 1},
        {"\xf0\x9f\x98\x80", 1},
        {"\xf4\x8f\xbf\xbf", 1},
        {"\xc0\x80", 0},         /* overlong */
        {"\xc1\xbf", 0},         /* overlong */
        {"\xe0\x80\x80", 0},     /* overlong */
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\xf0\x80\x80\x80", 0}, /* overlong */
        {"\xf4\x90\x80\x80", 0}, /* > U+10FFFF */
        {"\xf8\x88\x80\x80\x80", 0},
        {"\x80", 0},
        {"\xc3\x28", 0},
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(cases); i++) {
        size_t n = strlen(cases[i].s);
        int r = ws_utf8_check((const uint8_t *)cases[i].s, n, &ok);
        if (cases[i].valid) {
            assert_int_equal(r, 0);
            assert_int_equal(ok, n);
        } else {
            assert_true(r != 0 || ok != n);
        }
    }
    /* an incomplete but valid tail is not an error; complete prefix reported */
    assert_int_equal(ws_utf8_check((const uint8_t *)"ab\xf0\x9f", 4, &ok), 0);
    assert_int_equal(ok, 2);
    assert_int_equal(ws_utf8_check((const uint8_t *)"ab\xed\xa0", 4, &ok), -1);
}

static void test_close_codes(void **state)
{
    (void)state;
    int good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                  1010, 1011, 1012, 1013, 1014, 3000, 4999};
    int bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
    for (size_t i = 0; i < CD_ARRAY_LEN(good); i++)
        assert_true(ws_close_code_valid(good[i]));
    for (size_t i = 0; i < CD_ARRAY_LEN(bad); i++)
        assert_false(ws_close_code_valid(bad[i]));
}

/* ---- ws_rx ---- */

typedef struct rx_log {
    char events[4096]; /* "T:<data>|B:<len>|P:<data>|O:<data>|C:<code>:<reason>|" */
    size_t n;
    int stop_after_msg;
} rx_log;

static void logf_(rx_log *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    l->n += (size_t)vsnprintf(l->events + l->n, sizeof l->events - l->n, fmt, ap);
    va_end(ap);
}

static int lg_msg(void *arg, bool is_text, const char *data, size_t len)
{
    rx_log *l = arg;
    assert_int_equal(data[len], 0);
    if (is_text && len < 200)
        logf_(l, "T:%s|", data);
    else
        logf_(l, "%c%zu|", is_text ? 't' : 'B', len);
    return l->stop_after_msg;
}
static int lg_ping(void *arg, const uint8_t *d, size_t n)
{
    logf_(arg, "P:%.*s|", (int)n, (const char *)d);
    return 0;
}
static int lg_pong(void *arg, const uint8_t *d, size_t n)
{
    logf_(arg, "O:%.*s|", (int)n, (const char *)d);
    return 0;
}
static int lg_close(void *arg, int code, const char *reason, size_t n)
{
    assert_int_equal(reason[n], 0);
    logf_(arg, "C:%d:%s|", code, reason);
    return 0;
}
static const ws_rx_handler lg_handler = {lg_msg, lg_ping, lg_pong, lg_close};

/* Feeds the stream whole, byte by byte and in 3-byte pieces; each run must
 * give the same events and result. Returns the result; events in *out. */
static int feed_all_ways(const uint8_t *stream, size_t n, char *out, size_t outlen)
{
    int results[3];
    char logs[3][4096];
    size_t steps[3] = {n ? n : 1, 1, 3};
    for (int w = 0; w < 3; w++) {
        ws_rx rx;
        memset(&rx, 0, sizeof rx);
        rx_log l;
        memset(&l, 0, sizeof l);
        uint8_t *copy = malloc(n + 1);
        memcpy(copy, stream, n);
        int r = 0;
        for (size_t off = 0; off < n && r == 0; off += steps[w]) {
            size_t k = n - off < steps[w] ? n - off : steps[w];
            /* the rx may write one byte past a slice: give it a private copy */
            uint8_t *slice = malloc(k + 1);
            memcpy(slice, copy + off, k);
            r = ws_rx_feed(&rx, slice, k, &lg_handler, &l);
            free(slice);
        }
        results[w] = r;
        memcpy(logs[w], l.events, sizeof l.events);
        if (r == 0 && !rx.done) {
            /* nothing incomplete may be held after complete input */
            assert_null(rx.part);
        }
        ws_rx_free(&rx);
        free(copy);
    }
    assert_int_equal(results[0], results[1]);
    assert_int_equal(results[0], results[2]);
    assert_string_equal(logs[0], logs[1]);
    assert_string_equal(logs[0], logs[2]);
    snprintf(out, outlen, "%s", logs[0]);
    return results[0];
}

static void test_rx_fragments_and_control(void **state)
{
    (void)state;
    uint8_t s[512];
    size_t n = 0;
    n += mkframe(s + n, 0x01, true, "Hel", 3);      /* text, not fin */
    n += mkframe(s + n, 0x89, true, "p1", 2);       /* ping in between */
    n += mkframe(s + n, 0x00, true, "lo, ", 4);     /* continuation */
    n += mkframe(s + n, 0x8A, true, "o1", 2);       /* pong in between */
    n += mkframe(s + n, 0x80, true, "world", 5);    /* final continuation */
    n += mkframe(s + n, 0x82, true, "\x00\x01", 2); /* binary */
    n += mkframe(s + n, 0x81, true, "", 0);         /* empty text */
    uint8_t cl[] = {0x03, 0xE8, 'b', 'y', 'e'};
    n += mkframe(s + n, 0x88, true, cl, 5);
    n += mkframe(s + n, 0x81, true, "ignored", 7); /* after close */
    char ev[4096];
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_RX_STOPPED);
    assert_string_equal(ev, "P:p1|O:o1|T:Hello, world|B2|T:|C:1000:bye|");
}

static void test_rx_utf8_across_fragments(void **state)
{
    (void)state;
    uint8_t s[128];
    char ev[4096];
    /* "é€" split inside code points */
    size_t n = 0;
    n += mkframe(s + n, 0x01, true, "\xc3", 1);
    n += mkframe(s + n, 0x00, true, "\xa9\xe2", 2);
    n += mkframe(s + n, 0x80, true, "\x82\xac", 2);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), 0);
    assert_string_equal(ev, "T:\xc3\xa9\xe2\x82\xac|");
    /* invalid in the middle fragment → 1007 before the message ends */
    n = 0;
    n += mkframe(s + n, 0x01, true, "ok", 2);
    n += mkframe(s + n, 0x00, true, "\xed\xa0\x80", 3);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_INVALID_DATA);
    /* truncated sequence at the end of the message → 1007 */
    n = 0;
    n += mkframe(s + n, 0x01, true, "ok\xe2", 3);
    n += mkframe(s + n, 0x80, true, "\x82", 1);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_INVALID_DATA);
    /* single-frame invalid text */
    n = mkframe(s, 0x81, true, "\xff", 1);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_INVALID_DATA);
    /* binary is not checked */
    n = mkframe(s, 0x82, true, "\xff", 1);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), 0);
    assert_string_equal(ev, "B1|");
}

static void test_rx_sequence_errors(void **state)
{
    (void)state;
    uint8_t s[128];
    char ev[4096];
    size_t n = mkframe(s, 0x80, true, "x", 1); /* continuation without start */
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_PROTOCOL_ERROR);
    n = mkframe(s, 0x01, true, "a", 1);
    n += mkframe(s + n, 0x81, true, "b", 1); /* new message inside a fragmented one */
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_PROTOCOL_ERROR);
    n = mkframe(s, 0x81, false, "a", 1); /* unmasked */
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_PROTOCOL_ERROR);
    /* frames before the error are delivered */
    n = mkframe(s, 0x81, true, "first", 5);
    n += mkframe(s + n, 0xC1, true, "x", 1); /* RSV1 */
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_PROTOCOL_ERROR);
    assert_string_equal(ev, "T:first|");
}

static void test_rx_close_frames(void **state)
{
    (void)state;
    uint8_t s[256];
    char ev[4096];
    size_t n = mkframe(s, 0x88, true, NULL, 0);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_RX_STOPPED);
    assert_string_equal(ev, "C:1005:|");
    n = mkframe(s, 0x88, true, "\x03", 1); /* 1-byte payload */
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_PROTOCOL_ERROR);
    int bad[] = {999, 1004, 1005, 1006, 1015, 2999, 5000};
    for (size_t i = 0; i < CD_ARRAY_LEN(bad); i++) {
        uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        n = mkframe(s, 0x88, true, p, 2);
        assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_PROTOCOL_ERROR);
    }
    uint8_t p4[] = {0x0F, 0xA0, 'o', 'k'}; /* 4000 */
    n = mkframe(s, 0x88, true, p4, 4);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_RX_STOPPED);
    assert_string_equal(ev, "C:4000:ok|");
    uint8_t pbad[] = {0x03, 0xE8, 0xff};
    n = mkframe(s, 0x88, true, pbad, 3);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), WS_CLOSE_INVALID_DATA);
    /* control payload of exactly 125 is fine, 126 is not */
    uint8_t p125[125];
    memset(p125, 'a', sizeof p125);
    n = mkframe(s, 0x89, true, p125, 125);
    assert_int_equal(feed_all_ways(s, n, ev, sizeof ev), 0);
    s[1] = 0x80 | 126;
    assert_int_equal(feed_all_ways(s, 2, ev, sizeof ev), WS_CLOSE_PROTOCOL_ERROR);
}

static void test_rx_message_limit(void **state)
{
    (void)state;
    /* exactly WS_MAX_MESSAGE_SIZE in 4 fragments is fine; one byte more → 1009 */
    size_t total = WS_MAX_MESSAGE_SIZE, q = total / 4;
    uint8_t *payload = calloc(1, q + 16);
    memset(payload, 'a', q + 16);
    uint8_t *s = malloc(total + 256);
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = 0;
        n += mkframe(s + n, 0x01, true, payload, q);
        n += mkframe(s + n, 0x00, true, payload, q);
        n += mkframe(s + n, 0x00, true, payload, q);
        n += mkframe(s + n, 0x80, true, payload, total - 3 * q + (size_t)extra);
        ws_rx rx;
        memset(&rx, 0, sizeof rx);
        rx_log l;
        memset(&l, 0, sizeof l);
        s[n] = 0;
        int r = ws_rx_feed(&rx, s, n, &lg_handler, &l);
        if (!extra) {
            assert_int_equal(r, 0);
            assert_string_equal(l.events, "t1048576|");
        } else {
            assert_int_equal(r, WS_CLOSE_TOO_BIG);
            assert_string_equal(l.events, "");
        }
        assert_null(rx.msg);
        ws_rx_free(&rx);
    }
    /* a single frame over the frame limit */
    size_t n = mkframe(s, 0x82, true, NULL, (uint64_t)WS_MAX_FRAME_SIZE + 1);
    ws_rx rx;
    memset(&rx, 0, sizeof rx);
    rx_log l;
    memset(&l, 0, sizeof l);
    assert_int_equal(ws_rx_feed(&rx, s, n - WS_MAX_FRAME_SIZE, &lg_handler, &l), WS_CLOSE_TOO_BIG);
    ws_rx_free(&rx);
    free(s);
    free(payload);
}

static void test_rx_stop_and_memory(void **state)
{
    (void)state;
    uint8_t s[128];
    size_t n = mkframe(s, 0x81, true, "one", 3);
    n += mkframe(s + n, 0x81, true, "two", 3);
    ws_rx rx;
    memset(&rx, 0, sizeof rx);
    rx_log l;
    memset(&l, 0, sizeof l);
    l.stop_after_msg = 1;
    assert_int_equal(ws_rx_feed(&rx, s, n, &lg_handler, &l), WS_RX_STOPPED);
    assert_string_equal(l.events, "T:one|");
    /* partial frame kept, then released as soon as it completes */
    l.stop_after_msg = 0;
    l.n = 0;
    l.events[0] = 0;
    n = mkframe(s, 0x81, true, "abcdef", 6);
    assert_int_equal(ws_rx_feed(&rx, s, 4, &lg_handler, &l), 0);
    assert_non_null(rx.part);
    assert_int_equal(ws_rx_feed(&rx, s + 4, n - 4, &lg_handler, &l), 0);
    assert_null(rx.part);
    assert_null(rx.msg);
    assert_string_equal(l.events, "T:abcdef|");
    ws_rx_free(&rx);
    /* a header announcing 1 MiB costs only what arrived, not 1 MiB */
    memset(&rx, 0, sizeof rx);
    uint8_t hdr[14] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4};
    assert_int_equal(ws_rx_feed(&rx, hdr, sizeof hdr, &lg_handler, &l), 0);
    assert_true(rx.part_cap < 1024);
    uint8_t more[100] = {0};
    assert_int_equal(ws_rx_feed(&rx, more, 50, &lg_handler, &l), 0);
    assert_true(rx.part_cap < 1024);
    assert_int_equal(rx.part_len, 64);
    ws_rx_free(&rx);
}

static void test_rx_alloc_failure(void **state)
{
    (void)state;
    uint8_t s[64];
    size_t n = mkframe(s, 0x01, true, "abc", 3);
    ws_rx rx;
    memset(&rx, 0, sizeof rx);
    rx_log l;
    memset(&l, 0, sizeof l);
    cd_alloc_fail_after(1);
    int r = ws_rx_feed(&rx, s, n, &lg_handler, &l);
    cd_alloc_fail_after(0);
    assert_int_equal(r, CD_ENOMEM);
    ws_rx_free(&rx);
}

/* ---- SHA-1, base64, accept ---- */

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1_base64(void **state)
{
    (void)state;
    uint8_t d[20];
    char h[41];
    net_sha1("abc", 3, d);
    hex(d, 20, h);
    assert_string_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    net_sha1("", 0, d);
    hex(d, 20, h);
    assert_string_equal(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    net_sha1(m, strlen(m), d);
    hex(d, 20, h);
    assert_string_equal(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    /* one million 'a' fed in odd pieces */
    net_sha1_ctx c;
    net_sha1_init(&c);
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    size_t left = 1000000;
    while (left) {
        size_t k = left < sizeof chunk ? left : sizeof chunk;
        net_sha1_update(&c, chunk, k);
        left -= k;
    }
    net_sha1_final(&c, d);
    hex(d, 20, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");

    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char b[16];
    for (size_t i = 0; i < CD_ARRAY_LEN(in); i++) {
        assert_int_equal(net_base64_encode(in[i], strlen(in[i]), b), strlen(out[i]));
        assert_string_equal(b, out[i]);
    }
    /* RFC 6455 §1.3 example */
    char acc[WS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    ws_accept_value(key, strlen(key), acc);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* ---- HTTP request parsing without sockets ---- */

static int rx_feed_split(http_rx *rx, const char *s, size_t n, size_t step, size_t *consumed)
{
    size_t off = 0;
    *consumed = 0;
    while (off < n) {
        size_t k = n - off < step ? n - off : step;
        size_t used;
        int r = http_rx_feed(rx, s + off, k, &used);
        off += used;
        if (r != HTTP_RX_AGAIN) {
            *consumed = off;
            return r;
        }
    }
    *consumed = off;
    return HTTP_RX_AGAIN;
}

static void test_http_rx_request(void **state)
{
    (void)state;
    const char *raw = "POST /graphql/x?a=1&b=hello%20w+x HTTP/1.1\r\n"
                      "Host: example\r\nX-Long:   padded value  \r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
                      "GET /next HTTP/1.1\r\n\r\n";
    size_t steps[] = {1, 2, 7, 1000};
    for (size_t si = 0; si < CD_ARRAY_LEN(steps); si++) {
        http_rx rx;
        http_rx_init(&rx);
        size_t used;
        int r = rx_feed_split(&rx, raw, strlen(raw), steps[si], &used);
        assert_int_equal(r, HTTP_RX_REQUEST);
        http_req_impl *req = http_rx_take(&rx);
        assert_string_equal(req->pub.method, "POST");
        assert_string_equal(req->pub.path, "/graphql/x");
        assert_string_equal(req->pub.query, "a=1&b=hello%20w+x");
        assert_string_equal(http_req_header(&req->pub, "x-long"), "padded value");
        assert_string_equal(http_req_header(&req->pub, "HOST"), "example");
        assert_null(http_req_header(&req->pub, "missing"));
        assert_int_equal(req->pub.body_len, 7);
        assert_string_equal(req->pub.body, "abcdefg");
        const char *v;
        size_t vlen;
        assert_int_equal(http_req_query_param(&req->pub, "b", &v, &vlen), 0);
        assert_string_equal(v, "hello w x");
        assert_int_equal(http_req_query_param(&req->pub, "a", &v, &vlen), 0);
        assert_string_equal(v, "1");
        assert_int_equal(http_req_query_param(&req->pub, "c", &v, &vlen), CD_ENOENT);
        assert_true(req->keep_alive);
        http_req_free(req);
        http_rx_resume(&rx);
        const char *rest = raw + used;
        r = rx_feed_split(&rx, rest, strlen(rest), steps[si], &used);
        assert_int_equal(r, HTTP_RX_REQUEST);
        req = http_rx_take(&rx);
        assert_string_equal(req->pub.path, "/next");
        assert_string_equal(req->pub.query, "");
        assert_int_equal(req->pub.body_len, 0);
        assert_string_equal(req->pub.body, "");
        http_req_free(req);
        http_rx_free(&rx);
    }
}

static void test_http_rx_absolute_form(void **state)
{
    (void)state;
    const char *raws[] = {"GET http://example.com:4000/graphql?x=1 HTTP/1.1\r\n\r\n",
                          "GET https://h/p HTTP/1.1\r\n\r\n", "GET http://h HTTP/1.1\r\n\r\n",
                          "GET http://h?q=2 HTTP/1.1\r\n\r\n"};
    const char *paths[] = {"/graphql", "/p", "/", "/"};
    const char *queries[] = {"x=1", "", "", "q=2"};
    for (size_t i = 0; i < CD_ARRAY_LEN(raws); i++) {
        http_rx rx;
        http_rx_init(&rx);
        size_t used;
        assert_int_equal(http_rx_feed(&rx, raws[i], strlen(raws[i]), &used), HTTP_RX_REQUEST);
        http_req_impl *req = http_rx_take(&rx);
        assert_string_equal(req->pub.path, paths[i]);
        assert_string_equal(req->pub.query, queries[i]);
        http_req_free(req);
        http_rx_free(&rx);
    }
}

static int rx_status(const char *raw, size_t len)
{
    http_rx rx;
    http_rx_init(&rx);
    size_t used;
    int r = rx_feed_split(&rx, raw, len, 4096, &used);
    if (r == HTTP_RX_REQUEST) http_req_free(http_rx_take(&rx));
    http_rx_free(&rx);
    return r;
}

static void test_http_rx_limits(void **state)
{
    (void)state;
    char *buf = malloc(HTTP_MAX_BODY_BYTES + 4096);
    /* URL exactly at the limit, then one over */
    for (int extra = 0; extra <= 1; extra++) {
        size_t ulen = HTTP_MAX_URL_BYTES + (size_t)extra;
        size_t n = (size_t)sprintf(buf, "GET /");
        memset(buf + n, 'u', ulen - 1);
        n += ulen - 1;
        n += (size_t)sprintf(buf + n, " HTTP/1.1\r\n\r\n");
        assert_int_equal(rx_status(buf, n), extra ? 414 : HTTP_RX_REQUEST);
    }
    /* header bytes: url "/" + name "X" + value */
    for (int extra = 0; extra <= 1; extra++) {
        size_t vlen = HTTP_MAX_HEADER_BYTES - 2 + (size_t)extra;
        size_t n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nX: ");
        memset(buf + n, 'v', vlen);
        n += vlen;
        n += (size_t)sprintf(buf + n, "\r\n\r\n");
        assert_int_equal(rx_status(buf, n), extra ? 431 : HTTP_RX_REQUEST);
    }
    /* header count */
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
        for (int i = 0; i < HTTP_MAX_HEADERS + extra; i++)
            n += (size_t)sprintf(buf + n, "H%d: v\r\n", i);
        n += (size_t)sprintf(buf + n, "\r\n");
        assert_int_equal(rx_status(buf, n), extra ? 431 : HTTP_RX_REQUEST);
    }
    /* Content-Length at the limit (decided from the header) */
    for (int extra = 0; extra <= 1; extra++) {
        size_t blen = HTTP_MAX_BODY_BYTES + (size_t)extra;
        size_t n = (size_t)sprintf(buf, "POST / HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", blen);
        if (!extra) {
            memset(buf + n, 'b', blen);
            n += blen;
        }
        assert_int_equal(rx_status(buf, n), extra ? 413 : HTTP_RX_REQUEST);
    }
    /* chunked body one byte over the limit in two chunks */
    size_t n = (size_t)sprintf(buf, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n",
                               HTTP_MAX_BODY_BYTES);
    memset(buf + n, 'c', HTTP_MAX_BODY_BYTES);
    n += HTTP_MAX_BODY_BYTES;
    n += (size_t)sprintf(buf + n, "\r\n1\r\nx\r\n0\r\n\r\n");
    assert_int_equal(rx_status(buf, n), 413);
    /* malformed */
    assert_int_equal(rx_status("GARBAGE\r\n\r\n", 11), 400);
    assert_int_equal(rx_status("GET / HTTP/1.1\r\nBad Header\r\n\r\n", 31), 400);
    assert_int_equal(rx_status("GET / HTTP/1.1\r\nExpect: weird\r\n\r\n", 33), 417);
    free(buf);
}

static void test_http_rx_websocket_detection(void **state)
{
    (void)state;
    const char *raw = "GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n"
                      "Connection: keep-alive, Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: chat\r\n"
                      "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n\x81\x80";
    http_rx rx;
    http_rx_init(&rx);
    size_t used;
    assert_int_equal(http_rx_feed(&rx, raw, strlen(raw), &used), HTTP_RX_REQUEST);
    assert_int_equal(used, strlen(raw) - 2); /* frame bytes are left over */
    http_req_impl *req = http_rx_take(&rx);
    assert_true(req->pub.is_websocket);
    assert_true(req->upgrade);
    const char *sup[] = {"graphql-ws", "graphql-transport-ws", NULL};
    assert_string_equal(ws_select_protocol(&req->pub, sup), "graphql-transport-ws");
    const char *none[] = {"x", NULL};
    assert_null(ws_select_protocol(&req->pub, none));
    http_req_free(req);
    http_rx_free(&rx);
    assert_true(net_header_has_token("a, Upgrade ,b", "upgrade"));
    assert_false(net_header_has_token("upgrades", "upgrade"));
}

static void test_url_decode(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 256);
    size_t n;
    assert_string_equal(http_url_decode(&a, "a%2Fb+c", 7, true, &n), "a/b c");
    assert_string_equal(http_url_decode(&a, "a%2fb+c", 7, false, &n), "a/b+c");
    assert_null(http_url_decode(&a, "bad%2", 5, true, &n));
    assert_null(http_url_decode(&a, "bad%zz", 6, true, &n));
    char *z = http_url_decode(&a, "x%00y", 5, false, &n);
    assert_int_equal(n, 3);
    assert_int_equal(z[1], 0);
    cd_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_edge_sizes),
        cmocka_unit_test(test_frame_rules),
        cmocka_unit_test(test_frame_encode),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_rx_fragments_and_control),
        cmocka_unit_test(test_rx_utf8_across_fragments),
        cmocka_unit_test(test_rx_sequence_errors),
        cmocka_unit_test(test_rx_close_frames),
        cmocka_unit_test(test_rx_message_limit),
        cmocka_unit_test(test_rx_stop_and_memory),
        cmocka_unit_test(test_rx_alloc_failure),
        cmocka_unit_test(test_sha1_base64),
        cmocka_unit_test(test_http_rx_request),
        cmocka_unit_test(test_http_rx_limits),
        cmocka_unit_test(test_http_rx_absolute_form),
        cmocka_unit_test(test_http_rx_websocket_detection),
        cmocka_unit_test(test_url_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
