/*
 * ws.c — WebSocket connections (RFC 6455) on the HTTP server's sockets:
 * handshake, receive path (ws_rx), sends (copied or shared frames), close
 * handshake with timeout.
 *
 * Invariants:
 * - A ws_conn is a net_conn with kind NET_KIND_WS; it is freed only in the
 *   TCP close callback, which first calls the user's on_close exactly once.
 * - Sends try uv_try_write first; only the unwritten rest is queued with a
 *   uv_write request (and for shared frames, a reference), so a fast socket
 *   costs no allocation per message.
 * - After we sent a close frame no data frame is sent and no message is
 *   delivered; after the peer's close frame its input is ignored.
 */
#include "net/ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "core/core.h"
#include "net/net_internal.h"
#include "net/sha1.h"

struct ws_frame_shared {
    uint32_t refs;
    uint32_t len; /* header + payload */
    uint8_t data[];
};

/* A queued write: either owns a copy (data[]) or references a shared frame. */
typedef struct ws_write {
    uv_write_t req;
    net_conn *conn;
    ws_frame_shared *frame;
    uint8_t data[];
} ws_write;

/* ------------------------------------------------------------------ */
/* handshake                                                           */
/* ------------------------------------------------------------------ */

bool ws_is_upgrade(const http_request *req)
{
    return req->is_websocket;
}

const char *ws_select_protocol(const http_request *req, const char *const *supported)
{
    if (!supported) return NULL;
    /* the offer may be split over several header lines */
    for (size_t h = 0; h < req->nheaders; h++) {
        if (strcasecmp(req->headers[h].name, "Sec-WebSocket-Protocol") != 0) continue;
        const char *s = req->headers[h].value;
        while (*s) {
            while (*s == ' ' || *s == '\t' || *s == ',')
                s++;
            const char *e = s;
            while (*e && *e != ',')
                e++;
            const char *end = e;
            while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            size_t n = (size_t)(end - s);
            for (size_t i = 0; n && supported[i]; i++)
                if (strlen(supported[i]) == n && memcmp(supported[i], s, n) == 0)
                    return supported[i];
            s = e;
        }
    }
    return NULL;
}

int ws_accept(http_request *req, const char *subprotocol, const ws_callbacks *cb, void *user,
              ws_conn **out)
{
    if (out) *out = NULL;
    if (http_req_aborted(req)) {
        http_respond(req, 400, NULL, NULL, NULL, 0); /* only frees it */
        return CD_ECLOSED;
    }
    if (!req->is_websocket) {
        const char *ver = http_req_header(req, "Sec-WebSocket-Version");
        if (net_header_has_token(http_req_header(req, "Upgrade"), "websocket") && ver &&
            strcmp(ver, "13") != 0)
            http_respond(req, 426, "text/plain", "Sec-WebSocket-Version: 13\r\n",
                         "unsupported WebSocket version\n", 30);
        else
            http_respond(req, 400, "text/plain", NULL, "not a WebSocket upgrade\n", 24);
        return CD_EBAD;
    }
    const char *key = http_req_header(req, "Sec-WebSocket-Key");
    char accept[WS_ACCEPT_LEN + 1];
    ws_accept_value(key, strlen(key), accept);
    char head[512];
    int n;
    if (subprotocol && strlen(subprotocol) < 200)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n\r\n",
                     accept, subprotocol);
    else
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    net_conn *c = http_upgrade(req, head, (size_t)n);
    if (!c) return CD_ECLOSED;
    c->ws.cb = cb;
    c->ws.user = user;
    if (out) *out = c;
    return 0;
}

/* ------------------------------------------------------------------ */
/* accessors                                                           */
/* ------------------------------------------------------------------ */

void *ws_conn_user(const ws_conn *c)
{
    return c->ws.user;
}
void ws_conn_set_user(ws_conn *c, void *user)
{
    c->ws.user = user;
}
http_server *ws_conn_server(const ws_conn *c)
{
    return c->srv;
}
bool ws_conn_closing(const ws_conn *c)
{
    return c->closing || (c->ws.flags & (WS_F_SENT_CLOSE | WS_F_GOT_CLOSE | WS_F_FAILED));
}
size_t ws_conn_write_queue(const ws_conn *c)
{
    return c->tcp.write_queue_size;
}

int ws_conn_peer_ip(const ws_conn *c, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (len == 0 || uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0) return CD_EIO;
    int rc = ss.ss_family == AF_INET6 ? uv_ip6_name((struct sockaddr_in6 *)&ss, buf, len)
                                      : uv_ip4_name((struct sockaddr_in *)&ss, buf, len);
    return rc == 0 ? 0 : CD_EIO;
}

/* ------------------------------------------------------------------ */
/* sending                                                             */
/* ------------------------------------------------------------------ */

static void ws_write_cb(uv_write_t *wr, int status)
{
    ws_write *w = (ws_write *)wr;
    net_conn *c = w->conn;
    ws_frame_release(w->frame);
    cd_free(w);
    if (status < 0 && !c->closing) net_conn_close(c);
}

/* Writes bufs (total bytes); queues what the socket does not take now.
 * frame: when non-NULL the bytes are frame->data and a reference is kept
 * for the queued part instead of a copy. */
static int ws_write_bufs(net_conn *c, uv_buf_t *bufs, unsigned nbufs, size_t total,
                         ws_frame_shared *frame)
{
    if (c->tcp.write_queue_size + total > WS_MAX_WRITE_QUEUE) {
        /* slow reader: drop it rather than buffer without bound */
        c->ws.close_code = WS_CLOSE_ABNORMAL;
        c->ws.flags |= WS_F_FAILED;
        net_conn_reset(c);
        return CD_ELIMIT;
    }
    int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
    if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
    if (n < 0) {
        net_conn_close(c);
        return CD_ECLOSED;
    }
    if ((size_t)n == total) return 0;
    size_t done = (size_t)n;
    ws_write *w;
    uv_buf_t rest;
    if (frame) {
        w = cd_malloc(sizeof *w);
        if (!w) goto nomem;
        w->frame = ws_frame_ref(frame);
        rest = uv_buf_init((char *)frame->data + done, (unsigned)(total - done));
    } else {
        w = cd_malloc(sizeof *w + total - done);
        if (!w) goto nomem;
        w->frame = NULL;
        size_t o = 0, skip = done;
        for (unsigned i = 0; i < nbufs; i++) {
            size_t l = bufs[i].len;
            if (skip >= l) {
                skip -= l;
                continue;
            }
            memcpy(w->data + o, bufs[i].base + skip, l - skip);
            o += l - skip;
            skip = 0;
        }
        rest = uv_buf_init((char *)w->data, (unsigned)(total - done));
    }
    w->conn = c;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &rest, 1, ws_write_cb) != 0) {
        ws_frame_release(w->frame);
        cd_free(w);
        net_conn_close(c);
        return CD_ECLOSED;
    }
    return 0;
nomem:
    /* part of a frame may be on the wire: the stream cannot continue */
    net_conn_close(c);
    return CD_ENOMEM;
}

static int ws_send_op(net_conn *c, uint8_t op, const void *data, size_t len)
{
    uint8_t hdr[WS_MAX_HEADER_LEN];
    size_t hl = ws_frame_header(hdr, op, true, len);
    uv_buf_t bufs[2] = {uv_buf_init((char *)hdr, (unsigned)hl),
                        uv_buf_init((char *)(len ? data : ""), (unsigned)len)};
    return ws_write_bufs(c, bufs, len ? 2 : 1, hl + len, NULL);
}

static bool ws_can_send(const net_conn *c)
{
    return c->kind == NET_KIND_WS && !c->closing &&
           !(c->ws.flags & (WS_F_SENT_CLOSE | WS_F_FAILED));
}

int ws_send_text(ws_conn *c, const char *data, size_t len)
{
    if (!ws_can_send(c)) return CD_ECLOSED;
    return ws_send_op(c, WS_OP_TEXT, data, len);
}

int ws_send_binary(ws_conn *c, const void *data, size_t len)
{
    if (!ws_can_send(c)) return CD_ECLOSED;
    return ws_send_op(c, WS_OP_BINARY, data, len);
}

static ws_frame_shared *frame_new(uint8_t op, const void *data, size_t len)
{
    if (len > UINT32_MAX - WS_MAX_HEADER_LEN) return NULL;
    uint8_t hdr[WS_MAX_HEADER_LEN];
    size_t hl = ws_frame_header(hdr, op, true, len);
    ws_frame_shared *f = cd_malloc(sizeof *f + hl + len);
    if (!f) return NULL;
    f->refs = 1;
    f->len = (uint32_t)(hl + len);
    memcpy(f->data, hdr, hl);
    if (len) memcpy(f->data + hl, data, len);
    return f;
}

ws_frame_shared *ws_frame_new_text(const char *data, size_t len)
{
    return frame_new(WS_OP_TEXT, data, len);
}

ws_frame_shared *ws_frame_new_binary(const void *data, size_t len)
{
    return frame_new(WS_OP_BINARY, data, len);
}

ws_frame_shared *ws_frame_ref(ws_frame_shared *f)
{
    if (f) f->refs++;
    return f;
}

void ws_frame_release(ws_frame_shared *f)
{
    if (f && --f->refs == 0) cd_free(f);
}

int ws_send_frame(ws_conn *c, ws_frame_shared *f)
{
    if (!ws_can_send(c)) return CD_ECLOSED;
    uv_buf_t b = uv_buf_init((char *)f->data, f->len);
    return ws_write_bufs(c, &b, 1, f->len, f);
}

int ws_ping(ws_conn *c, const void *data, size_t len)
{
    if (len > WS_MAX_CONTROL_PAYLOAD) return CD_ELIMIT;
    if (!ws_can_send(c)) return CD_ECLOSED;
    return ws_send_op(c, WS_OP_PING, data, len);
}

/* Sends our close frame; code 0 = empty payload (answering a 1005 close). */
static void ws_send_close(net_conn *c, int code, const char *reason)
{
    uint8_t p[WS_MAX_CONTROL_PAYLOAD];
    size_t n = 0;
    if (code) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > WS_MAX_CONTROL_PAYLOAD - 2) {
            rl = WS_MAX_CONTROL_PAYLOAD - 2;
            /* do not cut a UTF-8 sequence */
            while (rl > 0 && ((uint8_t)reason[rl] & 0xC0) == 0x80)
                rl--;
        }
        if (rl) memcpy(p + 2, reason, rl);
        n += rl;
    }
    c->ws.flags |= WS_F_SENT_CLOSE;
    ws_send_op(c, WS_OP_CLOSE, p, n);
}

static void ws_set_reason(net_conn *c, const char *reason, size_t len)
{
    cd_free(c->ws.close_reason);
    c->ws.close_reason = NULL;
    if (!reason || !len) return;
    char *r = cd_malloc(len + 1);
    if (!r) return;
    memcpy(r, reason, len);
    r[len] = 0;
    c->ws.close_reason = r;
}

int ws_close(ws_conn *c, int code, const char *reason)
{
    if (c->kind != NET_KIND_WS || c->closing || (c->ws.flags & (WS_F_SENT_CLOSE | WS_F_FAILED)))
        return CD_ECLOSED;
    if (!ws_close_code_valid(code)) code = WS_CLOSE_NORMAL;
    c->ws.close_code = (uint16_t)code;
    ws_set_reason(c, reason, reason ? strlen(reason) : 0);
    ws_send_close(c, code, reason);
    if (c->closing) return 0;
    if (c->ws.flags & WS_F_GOT_CLOSE)
        net_conn_close_graceful(c, http_server_ws_close_timeout(c->srv));
    else
        c->deadline = uv_now(c->srv->loop) + http_server_ws_close_timeout(c->srv);
    return 0;
}

/* ------------------------------------------------------------------ */
/* receiving                                                           */
/* ------------------------------------------------------------------ */

static int rx_message(void *arg, bool is_text, const char *data, size_t len)
{
    net_conn *c = arg;
    if (!(c->ws.flags & WS_F_SENT_CLOSE) && c->ws.cb && c->ws.cb->on_message)
        c->ws.cb->on_message(c, is_text, data, len);
    return c->closing;
}

static int rx_ping(void *arg, const uint8_t *data, size_t len)
{
    net_conn *c = arg;
    if (ws_can_send(c)) ws_send_op(c, WS_OP_PONG, data, len);
    return c->closing;
}

static int rx_pong(void *arg, const uint8_t *data, size_t len)
{
    net_conn *c = arg;
    if (c->ws.cb && c->ws.cb->on_pong) c->ws.cb->on_pong(c, (const char *)data, len);
    return c->closing;
}

static int rx_close(void *arg, int code, const char *reason, size_t len)
{
    net_conn *c = arg;
    c->ws.flags |= WS_F_GOT_CLOSE;
    if (c->ws.flags & WS_F_SENT_CLOSE) {
        /* our close answered: handshake complete; server closes TCP first */
        net_conn_close_graceful(c, http_server_ws_close_timeout(c->srv));
        return 1;
    }
    c->ws.close_code = (uint16_t)code;
    ws_set_reason(c, reason, len);
    ws_send_close(c, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL);
    if (!c->closing) net_conn_close_graceful(c, http_server_ws_close_timeout(c->srv));
    return 1;
}

static const ws_rx_handler ws_handler = {
    .on_message = rx_message,
    .on_ping = rx_ping,
    .on_pong = rx_pong,
    .on_close = rx_close,
};

/* Fails the connection with a protocol error code: close frame, then TCP. */
static void ws_fail(net_conn *c, int code)
{
    c->ws.flags |= WS_F_FAILED;
    if (!(c->ws.flags & WS_F_SENT_CLOSE)) {
        c->ws.close_code = (uint16_t)code;
        ws_set_reason(c, NULL, 0);
        ws_send_close(c, code, NULL);
    }
    if (!c->closing) net_conn_close_graceful(c, http_server_ws_close_timeout(c->srv));
}

static void ws_feed(net_conn *c, char *data, size_t len)
{
    if (c->closing || c->ws.rx.done || (c->ws.flags & WS_F_FAILED)) return;
    int r = ws_rx_feed(&c->ws.rx, (uint8_t *)data, len, &ws_handler, c);
    if (r == 0 || r == WS_RX_STOPPED || c->closing) return;
    ws_fail(c, r == CD_ENOMEM ? WS_CLOSE_INTERNAL_ERROR : r);
}

void ws_conn_on_data(net_conn *c, char *data, size_t len)
{
    if (c->pending_len > c->pending_off) {
        /* bytes that arrived with or right after the upgrade request */
        char *p = c->pending;
        size_t off = c->pending_off, n = c->pending_len - off;
        c->pending = NULL;
        c->pending_len = c->pending_off = 0;
        ws_feed(c, p + off, n); /* net_conn_pend left a spare byte after them */
        cd_free(p);
    }
    if (len) ws_feed(c, data, len);
}

void ws_conn_on_eof(net_conn *c)
{
    if (!(c->ws.flags & (WS_F_SENT_CLOSE | WS_F_GOT_CLOSE))) {
        c->ws.close_code = WS_CLOSE_ABNORMAL;
        ws_set_reason(c, NULL, 0);
    }
    net_conn_close(c);
}

void ws_conn_on_timeout(net_conn *c)
{
    net_conn_close(c);
}

void ws_conn_on_closed(net_conn *c)
{
    int code = c->ws.close_code ? c->ws.close_code : WS_CLOSE_ABNORMAL;
    const char *reason = c->ws.close_reason ? c->ws.close_reason : "";
    if (c->ws.cb && c->ws.cb->on_close) c->ws.cb->on_close(c, code, reason, strlen(reason));
}
