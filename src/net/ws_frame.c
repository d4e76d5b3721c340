/*
 * ws_frame.c — RFC 6455 frame parser, encoder, UTF-8 check and the receive
 * state machine (see ws_frame.h).
 *
 * Invariants of ws_rx: part != NULL only while part_len > 0 (an incomplete
 * frame); msg != NULL only while msg_op != 0 (a fragmented message is open).
 * Buffers are detached from the rx before a callback runs and freed after
 * it, so a callback never sees them change underneath it.
 */
#include "net/ws_frame.h"

#include <string.h>

#include "core/arena.h"
#include "core/core.h"
#include "net/ws.h"

int ws_frame_parse(uint8_t *buf, size_t len, bool require_mask, uint64_t max_payload, ws_frame *f,
                   int *close_code)
{
    f->header_len = 0;
    if (len < 2) return CD_AGAIN;
    uint8_t b0 = buf[0], b1 = buf[1];
    f->fin = (b0 & 0x80) != 0;
    f->opcode = b0 & 0x0F;
    f->masked = (b1 & 0x80) != 0;
    uint8_t l7 = b1 & 0x7F;
    if (b0 & 0x70) goto proto; /* RSV1-3: no extension negotiated */
    switch (f->opcode) {
    case WS_OP_CONT:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!f->fin || l7 > WS_MAX_CONTROL_PAYLOAD) goto proto;
        break;
    default:
        goto proto;
    }
    if (require_mask && !f->masked) goto proto;
    size_t hl = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + (f->masked ? 4 : 0);
    if (len < hl) return CD_AGAIN;
    uint64_t plen;
    size_t pos = 2;
    if (l7 == 126) {
        plen = (uint64_t)buf[2] << 8 | buf[3];
        pos = 4;
    } else if (l7 == 127) {
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        pos = 10;
        if (plen >> 63) goto proto;
    } else {
        plen = l7;
    }
    if (plen > max_payload) {
        *close_code = WS_CLOSE_TOO_BIG;
        return CD_EBAD;
    }
    if (f->masked)
        memcpy(f->mask, buf + pos, 4);
    else
        memset(f->mask, 0, 4);
    f->header_len = hl;
    f->payload_len = plen;
    f->payload = buf + hl;
    if (len - hl < plen) return CD_AGAIN;
    return (int)(hl + plen);
proto:
    *close_code = WS_CLOSE_PROTOCOL_ERROR;
    return CD_EBAD;
}

void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], size_t offset)
{
    size_t i = 0;
    /* word-at-a-time when aligned to the mask phase */
    if ((offset & 3) == 0) {
        uint32_t m;
        memcpy(&m, mask, 4);
        for (; i + 4 <= n; i += 4) {
            uint32_t w;
            memcpy(&w, p + i, 4);
            w ^= m;
            memcpy(p + i, &w, 4);
        }
    }
    for (; i < n; i++)
        p[i] ^= mask[(offset + i) & 3];
}

size_t ws_frame_header(uint8_t out[WS_MAX_HEADER_LEN], uint8_t opcode, bool fin, uint64_t len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (len <= 125) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

int ws_utf8_check(const uint8_t *p, size_t n, size_t *complete)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2;
            lo = 0xA0; /* no overlongs */
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            need = 2;
        } else if (c == 0xED) {
            need = 2;
            hi = 0x9F; /* no surrogates */
        } else if (c == 0xF0) {
            need = 3;
            lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3;
            hi = 0x8F; /* ≤ U+10FFFF */
        } else {
            return -1;
        }
        for (size_t j = 1; j <= need; j++) {
            if (i + j >= n) {
                *complete = i;
                return 0;
            }
            uint8_t b = p[i + j];
            if (j == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -1;
        }
        i += need + 1;
    }
    *complete = n;
    return 0;
}

bool ws_close_code_valid(int code)
{
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

void ws_rx_free(ws_rx *rx)
{
    cd_free(rx->part);
    cd_free(rx->msg);
    bool done = rx->done;
    memset(rx, 0, sizeof *rx);
    rx->done = done;
}

static int rx_fail(ws_rx *rx, int code)
{
    ws_rx_free(rx);
    rx->done = true;
    return code;
}

/* Calls on_message with data[len] temporarily NUL; data must have one
 * writable byte after len. */
static int rx_deliver(const ws_rx_handler *h, void *arg, bool is_text, uint8_t *data, size_t len)
{
    if (!h->on_message) return 0;
    uint8_t saved = data[len];
    data[len] = 0;
    int r = h->on_message(arg, is_text, (const char *)data, len);
    data[len] = saved;
    return r ? WS_RX_STOPPED : 0;
}

static int rx_msg_append(ws_rx *rx, const uint8_t *p, size_t n)
{
    size_t need = (size_t)rx->msg_len + n + 1;
    if (need > rx->msg_cap) {
        size_t cap = rx->msg_cap ? rx->msg_cap : 256;
        while (cap < need)
            cap *= 2;
        if (cap > (size_t)WS_MAX_MESSAGE_SIZE + 1) cap = (size_t)WS_MAX_MESSAGE_SIZE + 1;
        uint8_t *m = cd_realloc(rx->msg, cap);
        if (!m) return CD_ENOMEM;
        rx->msg = m;
        rx->msg_cap = (uint32_t)cap;
    }
    memcpy(rx->msg + rx->msg_len, p, n);
    rx->msg_len += (uint32_t)n;
    if (rx->msg_op == WS_OP_TEXT) {
        size_t ok;
        if (ws_utf8_check(rx->msg + rx->msg_checked, rx->msg_len - rx->msg_checked, &ok) != 0)
            return WS_CLOSE_INVALID_DATA;
        rx->msg_checked += (uint32_t)ok;
    }
    return 0;
}

/* One complete frame; payload has a writable byte after it. */
static int rx_frame(ws_rx *rx, ws_frame *f, const ws_rx_handler *h, void *arg)
{
    uint8_t *p = f->payload;
    size_t n = (size_t)f->payload_len;
    if (f->masked) ws_unmask(p, n, f->mask, 0);
    int r;
    switch (f->opcode) {
    case WS_OP_PING:
        return h->on_ping && h->on_ping(arg, p, n) ? WS_RX_STOPPED : 0;
    case WS_OP_PONG:
        return h->on_pong && h->on_pong(arg, p, n) ? WS_RX_STOPPED : 0;
    case WS_OP_CLOSE: {
        int code = WS_CLOSE_NO_STATUS;
        uint8_t *reason = p;
        size_t rlen = 0;
        if (n == 1) return rx_fail(rx, WS_CLOSE_PROTOCOL_ERROR);
        if (n >= 2) {
            code = p[0] << 8 | p[1];
            if (!ws_close_code_valid(code)) return rx_fail(rx, WS_CLOSE_PROTOCOL_ERROR);
            reason = p + 2;
            rlen = n - 2;
            size_t ok;
            if (ws_utf8_check(reason, rlen, &ok) != 0 || ok != rlen)
                return rx_fail(rx, WS_CLOSE_INVALID_DATA);
        }
        ws_rx_free(rx);
        rx->done = true;
        if (h->on_close) {
            uint8_t saved = reason[rlen];
            reason[rlen] = 0;
            h->on_close(arg, code, (const char *)reason, rlen);
            reason[rlen] = saved;
        }
        return WS_RX_STOPPED;
    }
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (rx->msg_op) return rx_fail(rx, WS_CLOSE_PROTOCOL_ERROR);
        if (f->fin) {
            if (f->opcode == WS_OP_TEXT) {
                size_t ok;
                if (ws_utf8_check(p, n, &ok) != 0 || ok != n)
                    return rx_fail(rx, WS_CLOSE_INVALID_DATA);
            }
            return rx_deliver(h, arg, f->opcode == WS_OP_TEXT, p, n);
        }
        rx->msg_op = f->opcode;
        rx->msg_len = rx->msg_checked = 0;
        r = rx_msg_append(rx, p, n);
        return r ? rx_fail(rx, r) : 0;
    default: /* WS_OP_CONT */
        if (!rx->msg_op) return rx_fail(rx, WS_CLOSE_PROTOCOL_ERROR);
        if ((uint64_t)rx->msg_len + n > WS_MAX_MESSAGE_SIZE) return rx_fail(rx, WS_CLOSE_TOO_BIG);
        r = rx_msg_append(rx, p, n);
        if (r) return rx_fail(rx, r);
        if (!f->fin) return 0;
        if (rx->msg_op == WS_OP_TEXT && rx->msg_checked != rx->msg_len)
            return rx_fail(rx, WS_CLOSE_INVALID_DATA);
        uint8_t *m = rx->msg;
        size_t mlen = rx->msg_len;
        bool text = rx->msg_op == WS_OP_TEXT;
        rx->msg = NULL;
        rx->msg_len = rx->msg_cap = rx->msg_checked = 0;
        rx->msg_op = 0;
        r = rx_deliver(h, arg, text, m, mlen);
        cd_free(m);
        return r;
    }
}

/* Grows rx->part to hold at least `need` bytes, doubling up to `max` (the
 * whole frame + 1): memory follows the bytes that actually arrived, not the
 * length a header announces. */
static int rx_part_reserve(ws_rx *rx, size_t need, size_t max)
{
    if (need <= rx->part_cap) return 0;
    size_t cap = rx->part_cap ? (size_t)rx->part_cap * 2 : 64;
    if (cap < need) cap = need;
    if (cap > max) cap = max > need ? max : need;
    uint8_t *p = cd_realloc(rx->part, cap);
    if (!p) return CD_ENOMEM;
    rx->part = p;
    rx->part_cap = (uint32_t)cap;
    return 0;
}

int ws_rx_feed(ws_rx *rx, uint8_t *buf, size_t len, const ws_rx_handler *h, void *arg)
{
    ws_frame f;
    int code = 0;
    while (len > 0 && !rx->done) {
        int r;
        if (rx->part_len > 0) {
            /* complete the buffered frame with as few bytes as it needs */
            for (;;) {
                r = ws_frame_parse(rx->part, rx->part_len, true, WS_MAX_FRAME_SIZE, &f, &code);
                if (r == CD_EBAD) return rx_fail(rx, code);
                if (r > 0) break;
                if (len == 0) return 0;
                size_t want =
                    f.header_len ? f.header_len + (size_t)f.payload_len : (size_t)rx->part_len + 1;
                size_t take = want - rx->part_len;
                if (take > len) take = len;
                if (rx_part_reserve(rx, rx->part_len + take + 1,
                                    f.header_len ? want + 1 : WS_MAX_HEADER_LEN + 1) != 0)
                    return rx_fail(rx, CD_ENOMEM);
                memcpy(rx->part + rx->part_len, buf, take);
                rx->part_len += (uint32_t)take;
                buf += take;
                len -= take;
            }
            uint8_t *part = rx->part;
            rx->part = NULL;
            rx->part_len = rx->part_cap = 0;
            r = rx_frame(rx, &f, h, arg); /* f points into part */
            cd_free(part);
            if (r) return r;
            continue;
        }
        r = ws_frame_parse(buf, len, true, WS_MAX_FRAME_SIZE, &f, &code);
        if (r == CD_EBAD) return rx_fail(rx, code);
        if (r == CD_AGAIN) {
            size_t max =
                f.header_len ? f.header_len + (size_t)f.payload_len + 1 : WS_MAX_HEADER_LEN + 1;
            if (rx_part_reserve(rx, len + 1, max) != 0) return rx_fail(rx, CD_ENOMEM);
            memcpy(rx->part, buf, len);
            rx->part_len = (uint32_t)len;
            return 0;
        }
        r = rx_frame(rx, &f, h, arg);
        if (r) return r;
        buf += (size_t)(f.header_len + f.payload_len);
        len -= (size_t)(f.header_len + f.payload_len);
    }
    return 0;
}
