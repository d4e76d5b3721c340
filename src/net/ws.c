/*
 * ws.c — WebSocket connections (RFC 6455) on the HTTP server's sockets:
 * handshake, receive path (ws_rx), sends (copied or shared frames), close
 * handshake with timeout.
 *
 * Invariants:
 * - A ws_conn is a net_conn with kind NET_KIND_WS; it is freed only in the
 *   TCP close callback, which first calls the user's on_close exactly once.
 * - Every send is a frame (ws_frame_shared: copied once for ws_send_text,
 *   referenced for fan-out) queued on the connection's net_outq; the
 *   server's prepare/check handles flush each connection once per loop turn
 *   with one uv_try_write of all its frames, and only the unwritten rest
 *   goes on as one uv_write (the outq itself is the request). A queue of
 *   WS_COALESCE_MAX_FRAMES frames or WS_COALESCE_MAX_BYTES bytes is flushed
 *   at once. The write-queue limit counts queued and unflushed bytes alike.
 * - Output queued before a close goes out first: net_conn_close flushes it
 *   (uv_close cancels what the socket does not take), the graceful close
 *   flushes it before the FIN, a reset (slow reader) drops it.
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
    return conn_srv(c);
}
bool ws_conn_closing(const ws_conn *c)
{
    return c->closing || (c->ws_flags & (WS_F_SENT_CLOSE | WS_F_GOT_CLOSE | WS_F_FAILED));
}
size_t ws_conn_write_queue(const ws_conn *c)
{
    return c->tcp.write_queue_size + (c->outq ? c->outq->bytes : 0);
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

/* ---- output coalescing (net_outq, net_internal.h) ---- */

static void outq_release(net_outq *q)
{
    for (uint32_t i = q->head; i < q->n; i++)
        ws_frame_release(q->frames[i]);
    cd_free(q);
}

static void outq_write_cb(uv_write_t *wr, int status)
{
    net_outq *q = (net_outq *)wr;
    net_conn *c = q->conn;
    outq_release(q);
    if (status < 0 && !c->closing) net_conn_close(c);
}

static void flush_prep_cb(uv_prepare_t *h)
{
    net_ws_flush_all(h->data);
}

static void flush_check_cb(uv_check_t *h)
{
    net_ws_flush_all(h->data);
}

/* Puts c on the server's list of connections to flush this turn. */
static int outq_mark(net_conn *c)
{
    http_server *srv = conn_srv(c);
    if (srv->ndirty == srv->dirty_cap) {
        uint32_t cap = srv->dirty_cap ? srv->dirty_cap * 2 : 64;
        net_conn **d = cd_realloc(srv->dirty, (size_t)cap * sizeof *d);
        if (!d) return CD_ENOMEM;
        srv->dirty = d;
        srv->dirty_cap = cap;
    }
    srv->dirty[srv->ndirty++] = c;
    c->dirty_idx = srv->ndirty;
    if (!srv->flush_on) {
        srv->flush_on = true;
        uv_prepare_start(&srv->flush_prep, flush_prep_cb);
        uv_check_start(&srv->flush_check, flush_check_cb);
    }
    return 0;
}

static void outq_unmark(net_conn *c)
{
    if (!c->dirty_idx) return;
    conn_srv(c)->dirty[c->dirty_idx - 1] = NULL;
    c->dirty_idx = 0;
}

void net_ws_drop_output(net_conn *c)
{
    outq_unmark(c);
    if (c->outq) outq_release(c->outq);
    c->outq = NULL;
}

/* uv_bufs for q's unwritten frames; returns their count. */
static unsigned outq_bufs(const net_outq *q, uv_buf_t *bufs)
{
    unsigned nb = 0;
    for (uint32_t i = q->head; i < q->n; i++) {
        const ws_frame_shared *f = q->frames[i];
        uint32_t skip = i == q->head ? q->off : 0;
        bufs[nb++] = uv_buf_init((char *)f->data + skip, f->len - skip);
    }
    return nb;
}

void net_ws_flush(net_conn *c)
{
    net_outq *q = c->outq;
    if (!q) return;
    c->outq = NULL;
    outq_unmark(c);
    http_server *srv = conn_srv(c);
    uv_buf_t bufs[WS_COALESCE_MAX_FRAMES];
    unsigned nb = outq_bufs(q, bufs);
    srv->ws_write_calls++;
    int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nb);
    if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
    if (n < 0) {
        outq_release(q);
        if (!c->closing) net_conn_close(c);
        return;
    }
    /* drop the frames the socket took; a partly written one stays first */
    size_t done = (size_t)n;
    while (q->head < q->n) {
        ws_frame_shared *f = q->frames[q->head];
        size_t left = f->len - q->off;
        if (done < left) {
            q->off += (uint32_t)done;
            break;
        }
        done -= left;
        q->off = 0;
        ws_frame_release(f);
        q->head++;
    }
    q->bytes = 0;
    for (uint32_t i = q->head; i < q->n; i++)
        q->bytes += q->frames[i]->len;
    q->bytes -= q->off;
    if (q->head == q->n || c->closing) {
        outq_release(q);
        return;
    }
    nb = outq_bufs(q, bufs);
    q->conn = c;
    srv->ws_write_calls++;
    if (uv_write(&q->req, (uv_stream_t *)&c->tcp, bufs, nb, outq_write_cb) != 0) {
        outq_release(q);
        net_conn_close(c);
    }
}

void net_ws_flush_all(http_server *srv)
{
    /* (a flush never queues output elsewhere; the bound is re-read anyway) */
    uint32_t used = srv->ndirty;
    for (uint32_t i = 0; i < srv->ndirty; i++)
        if (srv->dirty[i]) net_ws_flush(srv->dirty[i]);
    srv->ndirty = 0;
    if (srv->dirty_cap > 256 && used < srv->dirty_cap / 8) {
        /* after a burst: give the big list back */
        cd_free(srv->dirty);
        srv->dirty = NULL;
        srv->dirty_cap = 0;
    }
    if (srv->flush_on) {
        srv->flush_on = false;
        uv_prepare_stop(&srv->flush_prep);
        uv_check_stop(&srv->flush_check);
    }
}

/* Queues frame f on c for this turn's flush. take: the caller's reference
 * goes to the queue (else one is added). */
static int ws_queue(net_conn *c, ws_frame_shared *f, bool take)
{
    size_t queued = c->tcp.write_queue_size + (c->outq ? c->outq->bytes : 0);
    if (queued + f->len > WS_MAX_WRITE_QUEUE) {
        /* slow reader: drop it rather than buffer without bound */
        if (take) ws_frame_release(f);
        c->ws_close_code = WS_CLOSE_ABNORMAL;
        c->ws_flags |= WS_F_FAILED;
        net_conn_reset(c);
        return CD_ELIMIT;
    }
    net_outq *q = c->outq;
    if (!q || q->n == q->cap) {
        uint32_t cap = q ? q->cap * 2 : 4;
        net_outq *g = cd_realloc(q, sizeof *q + (size_t)cap * sizeof q->frames[0]);
        if (!g) {
            if (take) ws_frame_release(f);
            goto nomem;
        }
        if (!q) memset(g, 0, sizeof *g);
        g->cap = cap;
        c->outq = q = g;
    }
    q->frames[q->n++] = take ? f : ws_frame_ref(f);
    q->bytes += f->len;
    if (q->n == WS_COALESCE_MAX_FRAMES || q->bytes >= WS_COALESCE_MAX_BYTES ||
        (!c->dirty_idx && outq_mark(c) != 0)) {
        net_ws_flush(c); /* full, or no room on the flush list: now */
        return c->closing ? CD_ECLOSED : 0;
    }
    return 0;
nomem:
    /* a message lost in the middle of a stream would go unnoticed: the peer
     * is disconnected instead and resynchronises when it reconnects */
    net_conn_close(c);
    return CD_ENOMEM;
}

static ws_frame_shared *frame_new(uint8_t op, const void *data, size_t len);

static int ws_send_op(net_conn *c, uint8_t op, const void *data, size_t len)
{
    ws_frame_shared *f = frame_new(op, data, len);
    if (!f) {
        net_conn_close(c); /* as in ws_queue: no silent gap in the stream */
        return CD_ENOMEM;
    }
    return ws_queue(c, f, true);
}

static bool ws_can_send(const net_conn *c)
{
    return c->kind == NET_KIND_WS && !c->closing &&
           !(c->ws_flags & (WS_F_SENT_CLOSE | WS_F_FAILED));
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
    return ws_queue(c, f, false);
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
    c->ws_flags |= WS_F_SENT_CLOSE;
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
    if (c->kind != NET_KIND_WS || c->closing || (c->ws_flags & (WS_F_SENT_CLOSE | WS_F_FAILED)))
        return CD_ECLOSED;
    if (!ws_close_code_valid(code)) code = WS_CLOSE_NORMAL;
    c->ws_close_code = (uint16_t)code;
    ws_set_reason(c, reason, reason ? strlen(reason) : 0);
    ws_send_close(c, code, reason);
    if (c->closing) return 0;
    if (c->ws_flags & WS_F_GOT_CLOSE)
        net_conn_close_graceful(c, http_server_ws_close_timeout(conn_srv(c)));
    else
        net_conn_set_timeout(c, http_server_ws_close_timeout(conn_srv(c)));
    return 0;
}

/* ------------------------------------------------------------------ */
/* receiving                                                           */
/* ------------------------------------------------------------------ */

static int rx_message(void *arg, bool is_text, const char *data, size_t len)
{
    net_conn *c = arg;
    if (!(c->ws_flags & WS_F_SENT_CLOSE) && c->ws.cb && c->ws.cb->on_message)
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
    c->ws_flags |= WS_F_GOT_CLOSE;
    if (c->ws_flags & WS_F_SENT_CLOSE) {
        /* our close answered: handshake complete; server closes TCP first */
        net_conn_close_graceful(c, http_server_ws_close_timeout(conn_srv(c)));
        return 1;
    }
    c->ws_close_code = (uint16_t)code;
    ws_set_reason(c, reason, len);
    ws_send_close(c, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL);
    if (!c->closing) net_conn_close_graceful(c, http_server_ws_close_timeout(conn_srv(c)));
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
    c->ws_flags |= WS_F_FAILED;
    if (!(c->ws_flags & WS_F_SENT_CLOSE)) {
        c->ws_close_code = (uint16_t)code;
        ws_set_reason(c, NULL, 0);
        ws_send_close(c, code, NULL);
    }
    if (!c->closing) net_conn_close_graceful(c, http_server_ws_close_timeout(conn_srv(c)));
}

/* True while rx holds an incomplete frame or message (anything but the
 * initial all-zero state besides `done`). */
static bool rx_busy(const ws_rx *rx)
{
    return rx->part || rx->msg || rx->part_len || rx->part_cap || rx->msg_len || rx->msg_cap ||
           rx->msg_checked || rx->msg_op;
}

/* Feeds input to the connection's receive state: a zeroed one on the stack
 * when it has none, moved to the heap only when input stays incomplete,
 * and freed as soon as it is idle again. */
static void ws_feed(net_conn *c, char *data, size_t len)
{
    if (c->closing || (c->ws_flags & (WS_F_RX_DONE | WS_F_FAILED))) return;
    ws_rx idle = {0};
    ws_rx *rx = c->ws.rx ? c->ws.rx : &idle;
    int r = ws_rx_feed(rx, (uint8_t *)data, len, &ws_handler, c);
    if (rx->done) c->ws_flags |= WS_F_RX_DONE;
    if (rx == &idle && rx_busy(rx)) {
        c->ws.rx = cd_malloc(sizeof *c->ws.rx);
        if (c->ws.rx) {
            *c->ws.rx = idle;
        } else {
            ws_rx_free(&idle);
            if (r == 0 || r == WS_RX_STOPPED) r = CD_ENOMEM;
        }
    } else if (rx != &idle && !rx_busy(rx)) {
        ws_rx_free(rx);
        cd_free(rx);
        c->ws.rx = NULL;
    }
    if (r == 0 || r == WS_RX_STOPPED || c->closing) return;
    ws_fail(c, r == CD_ENOMEM ? WS_CLOSE_INTERNAL_ERROR : r);
}

void ws_conn_on_data(net_conn *c, char *data, size_t len)
{
    if (net_pend_left(c) > 0) {
        /* bytes that arrived with or right after the upgrade request */
        net_pend *p = c->pending;
        c->pending = NULL;
        ws_feed(c, p->data + p->off, p->len - p->off); /* (a spare byte after them) */
        cd_free(p);
    }
    if (len) ws_feed(c, data, len);
}

void ws_conn_on_eof(net_conn *c)
{
    if (!(c->ws_flags & (WS_F_SENT_CLOSE | WS_F_GOT_CLOSE))) {
        c->ws_close_code = WS_CLOSE_ABNORMAL;
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
    int code = c->ws_close_code ? c->ws_close_code : WS_CLOSE_ABNORMAL;
    const char *reason = c->ws.close_reason ? c->ws.close_reason : "";
    if (c->ws.cb && c->ws.cb->on_close) c->ws.cb->on_close(c, code, reason, strlen(reason));
}
