/*
 * http.c — HTTP/1.1 server: listener, connections, request parsing with
 * llhttp (http_rx), limits and timeouts, responses, graceful drain.
 *
 * Invariants:
 * - One request at a time per connection. When a request is complete the
 *   parser is paused (on_message_complete returns HPE_PAUSED) and the
 *   request goes to the handler; bytes that arrive meanwhile are kept in
 *   conn->pending (bounded by HTTP_MAX_PENDING_BYTES). The next request is
 *   parsed from the write callback of the response, so handlers are never
 *   re-entered from http_respond().
 * - Reads land in the server's scratch buffer; nothing per connection is
 *   allocated while idle except the small http_conn (llhttp state).
 * - Memory of a connection is freed only in net_conn_close_cb. A request at
 *   the handler outlives its connection: on disconnect it is detached
 *   (conn = NULL, abort callback) and freed by http_respond().
 * - Timeouts are deadlines (core/deadline.h) in one per-server heap, with
 *   one timer armed at the earliest (no timer handle per connection, no
 *   periodic walk over them). The heap has room for every connection
 *   (reserved at accept), so setting a deadline never fails.
 * - WebSocket output is queued per connection during a loop turn and
 *   flushed by the prepare/check handles (ws.c: net_ws_flush_all).
 */
#include "net/http.h"

#include <ctype.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/arena.h"
#include "core/core.h"
#include "core/log.h"
#include "core/pool.h"
#include "net/net_internal.h"

#define HTTP_REQ_ARENA_BLOCK 2048

/* ------------------------------------------------------------------ */
/* request parsing (socket-free)                                       */
/* ------------------------------------------------------------------ */

static http_rx *rx_of(llhttp_t *p)
{
    return (http_rx *)p->data;
}

void http_req_free(http_req_impl *r)
{
    if (!r) return;
    cd_buf_free(&r->body);
    cd_arena_free(&r->arena);
    cd_free(r);
}

/* The request whose bytes the parser is on: one being parsed, or one at
 * the handler whose body streams. */
static http_req_impl *rx_cur(http_rx *rx)
{
    return rx->req ? rx->req : rx->stream_req;
}

static int rx_fail(http_rx *rx, int status)
{
    if (!rx->error) rx->error = status;
    return -1;
}

static int rx_on_message_begin(llhttp_t *p)
{
    http_rx *rx = rx_of(p);
    http_req_impl *r = cd_calloc(1, sizeof *r);
    if (!r) return rx_fail(rx, 503);
    cd_arena_init(&r->arena, HTTP_REQ_ARENA_BLOCK);
    cd_buf_init(&r->body);
    r->pub.arena = &r->arena;
    r->pub.query = "";
    r->pub.path = "";
    r->pub.body = "";
    r->pub.client_ip = "";
    rx->req = r;
    rx->stage = HTTP_RX_HEADERS;
    rx->header_bytes = rx->url_bytes = 0;
    rx->hdr_cap = 0;
    rx->cur_name = NULL;
    cd_buf_reset(&rx->tmp);
    return 0;
}

static int rx_tmp_append(http_rx *rx, const char *at, size_t len)
{
    cd_buf_append(&rx->tmp, at, len);
    return cd_buf_failed(&rx->tmp) ? rx_fail(rx, 503) : 0;
}

static int rx_on_url(llhttp_t *p, const char *at, size_t len)
{
    http_rx *rx = rx_of(p);
    rx->url_bytes += len;
    rx->header_bytes += len;
    if (rx->url_bytes > HTTP_MAX_URL_BYTES) return rx_fail(rx, 414);
    return rx_tmp_append(rx, at, len);
}

static int rx_on_url_complete(llhttp_t *p)
{
    http_rx *rx = rx_of(p);
    http_req_impl *r = rx->req;
    const char *u = rx->tmp.data ? rx->tmp.data : "";
    size_t n = rx->tmp.len;
    /* absolute-form (RFC 9112 §3.2.2): keep only path and query */
    if ((n > 7 && strncasecmp(u, "http://", 7) == 0) ||
        (n > 8 && strncasecmp(u, "https://", 8) == 0)) {
        const char *auth = memchr(u, '/', n) + 2;
        const char *slash = memchr(auth, '/', n - (size_t)(auth - u));
        const char *qm = memchr(auth, '?', n - (size_t)(auth - u));
        const char *start = slash && (!qm || slash < qm) ? slash : qm;
        if (!start) {
            u = "/";
            n = 1;
        } else if (start == qm) {
            /* "http://host?x": path is "/" — rebuild as "/?x" in the arena */
            char *t = cd_arena_alloc(&r->arena, n - (size_t)(qm - u) + 2);
            if (!t) return rx_fail(rx, 503);
            t[0] = '/';
            memcpy(t + 1, qm, n - (size_t)(qm - u));
            n = n - (size_t)(qm - u) + 1;
            t[n] = 0;
            u = t;
        } else {
            n -= (size_t)(start - u);
            u = start;
        }
    }
    const char *q = memchr(u, '?', n);
    size_t plen = q ? (size_t)(q - u) : n;
    char *path = cd_arena_strndup(&r->arena, u, plen);
    char *query = q ? cd_arena_strndup(&r->arena, q + 1, n - plen - 1) : (char *)"";
    if (!path || !query) return rx_fail(rx, 503);
    /* a fragment is never sent by clients; drop it if one is */
    char *hash = strchr(query, '#');
    if (hash) *hash = '\0';
    r->pub.path = path;
    r->pub.query = query;
    cd_buf_reset(&rx->tmp);
    return 0;
}

static int rx_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_rx *rx = rx_of(p);
    rx->header_bytes += len;
    if (rx->header_bytes > HTTP_MAX_HEADER_BYTES) return rx_fail(rx, 431);
    return rx_tmp_append(rx, at, len);
}

static int rx_on_header_field_complete(llhttp_t *p)
{
    http_rx *rx = rx_of(p);
    http_req_impl *r = rx->req;
    if (r->pub.nheaders >= HTTP_MAX_HEADERS) return rx_fail(rx, 431);
    rx->cur_name_len = rx->tmp.len;
    rx->cur_name = cd_arena_strndup(&r->arena, rx->tmp.data ? rx->tmp.data : "", rx->tmp.len);
    if (!rx->cur_name) return rx_fail(rx, 503);
    cd_buf_reset(&rx->tmp);
    return 0;
}

static int rx_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    return rx_on_header_field(p, at, len); /* same accounting and buffer */
}

static int rx_on_header_value_complete(llhttp_t *p)
{
    http_rx *rx = rx_of(p);
    http_req_impl *r = rx->req;
    if (!rx->cur_name) return rx_fail(rx, 400);
    if (r->pub.nheaders == rx->hdr_cap) {
        size_t cap = rx->hdr_cap ? rx->hdr_cap * 2 : 16;
        http_header *h = cd_arena_alloc(&r->arena, cap * sizeof *h);
        if (!h) return rx_fail(rx, 503);
        if (r->pub.nheaders) memcpy(h, r->hdrs, r->pub.nheaders * sizeof *h);
        r->hdrs = h;
        r->pub.headers = h;
        rx->hdr_cap = cap;
    }
    /* llhttp strips leading whitespace; strip trailing OWS too */
    size_t vlen = rx->tmp.len;
    const char *v = rx->tmp.data ? rx->tmp.data : "";
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    char *value = cd_arena_strndup(&r->arena, v, vlen);
    if (!value) return rx_fail(rx, 503);
    http_header *h = &r->hdrs[r->pub.nheaders++];
    h->name = rx->cur_name;
    h->name_len = rx->cur_name_len;
    h->value = value;
    h->value_len = vlen;
    rx->cur_name = NULL;
    cd_buf_reset(&rx->tmp);
    return 0;
}

bool net_header_has_token(const char *value, const char *token)
{
    if (!value) return false;
    size_t tlen = strlen(token);
    const char *s = value;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *end = e;
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - s) == tlen && strncasecmp(s, token, tlen) == 0) return true;
        s = e;
    }
    return false;
}

static bool req_is_websocket(const http_req_impl *r)
{
    const http_request *q = &r->pub;
    if (strcmp(q->method, "GET") != 0 || q->http_minor < 1) return false;
    const char *key = http_req_header(q, "Sec-WebSocket-Key");
    const char *ver = http_req_header(q, "Sec-WebSocket-Version");
    return net_header_has_token(http_req_header(q, "Upgrade"), "websocket") &&
           net_header_has_token(http_req_header(q, "Connection"), "upgrade") && key &&
           strlen(key) == 24 && ver && strcmp(ver, "13") == 0;
}

static int rx_on_headers_complete(llhttp_t *p)
{
    http_rx *rx = rx_of(p);
    http_req_impl *r = rx->req;
    r->pub.method = llhttp_method_name((llhttp_method_t)p->method);
    r->pub.http_minor = p->http_major == 1 ? p->http_minor : 1;
    r->is_head = p->method == HTTP_HEAD;
    r->content_length = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : -1;
    if (rx->stream_fn && !(p->upgrade) && rx->stream_fn(&r->pub, rx->stream_ud)) {
        const char *expect = http_req_header(&r->pub, "Expect");
        if (expect) {
            if (strcasecmp(expect, "100-continue") != 0) return rx_fail(rx, 417);
            if (p->http_minor >= 1) rx->expect_continue = true;
        }
        r->pub.streaming = true;
        rx->stage = HTTP_RX_BODY;
        rx->paused = true;
        return HPE_PAUSED; /* to the handler now; the body follows */
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > HTTP_MAX_BODY_BYTES)
        return rx_fail(rx, 413);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0 &&
        cd_buf_reserve(&r->body, (size_t)p->content_length) != 0)
        return rx_fail(rx, 503);
    const char *expect = http_req_header(&r->pub, "Expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) return rx_fail(rx, 417);
        if (p->http_minor >= 1) rx->expect_continue = true;
    }
    r->pub.is_websocket = req_is_websocket(r);
    rx->stage = HTTP_RX_BODY;
    return 0;
}

static int rx_on_body(llhttp_t *p, const char *at, size_t len)
{
    http_rx *rx = rx_of(p);
    http_req_impl *r = rx_cur(rx);
    if (!r) return rx_fail(rx, 400);
    if (!r->pub.streaming && r->body.len + len > HTTP_MAX_BODY_BYTES) return rx_fail(rx, 413);
    cd_buf_append(&r->body, at, len);
    return cd_buf_failed(&r->body) ? rx_fail(rx, 503) : 0;
}

static int rx_on_message_complete(llhttp_t *p)
{
    http_rx *rx = rx_of(p);
    http_req_impl *r = rx_cur(rx);
    if (!r) return rx_fail(rx, 400);
    r->keep_alive = llhttp_should_keep_alive(p) != 0;
    r->upgrade = p->upgrade != 0;
    if (r->pub.streaming) {
        r->body_complete = true;
        rx->stream_req = NULL;
        rx->paused = true;
        return HPE_PAUSED;
    }
    if (r->body.len) {
        r->pub.body = r->body.data;
        r->pub.body_len = r->body.len;
    }
    cd_buf_free(&rx->tmp);
    rx->paused = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t rx_settings = {
    .on_message_begin = rx_on_message_begin,
    .on_url = rx_on_url,
    .on_url_complete = rx_on_url_complete,
    .on_header_field = rx_on_header_field,
    .on_header_field_complete = rx_on_header_field_complete,
    .on_header_value = rx_on_header_value,
    .on_header_value_complete = rx_on_header_value_complete,
    .on_headers_complete = rx_on_headers_complete,
    .on_body = rx_on_body,
    .on_message_complete = rx_on_message_complete,
};

void http_rx_init(http_rx *rx)
{
    memset(rx, 0, sizeof *rx);
    llhttp_init(&rx->parser, HTTP_REQUEST, &rx_settings);
    rx->parser.data = rx;
    cd_buf_init(&rx->tmp);
}

int http_rx_feed(http_rx *rx, const char *buf, size_t len, size_t *used)
{
    *used = 0;
    if (rx->paused) return HTTP_RX_REQUEST;
    if (rx->error) return rx->error;
    /* a streamed body with no bytes left to come (Content-Length: 0) still
     * needs the parser to run once to reach the message end */
    if (len == 0 && !rx->stream_req) return HTTP_RX_AGAIN;
    llhttp_errno_t e = llhttp_execute(&rx->parser, len ? buf : "", len);
    if (e == HPE_OK) {
        *used = len;
        return HTTP_RX_AGAIN;
    }
    if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && rx->paused) {
        const char *pos = llhttp_get_error_pos(&rx->parser);
        *used = pos ? (size_t)(pos - buf) : len;
        return HTTP_RX_REQUEST;
    }
    if (!rx->error) rx->error = 400;
    return rx->error;
}

http_req_impl *http_rx_take(http_rx *rx)
{
    http_req_impl *r = rx->req;
    rx->req = NULL;
    rx->stage = HTTP_RX_IDLE;
    return r;
}

void http_rx_resume(http_rx *rx)
{
    if (!rx->paused) return;
    rx->paused = false;
    rx->expect_continue = false;
    llhttp_resume(&rx->parser);
}

void http_rx_free(http_rx *rx)
{
    http_req_free(rx->req);
    rx->req = NULL;
    cd_buf_free(&rx->tmp);
}

/* ------------------------------------------------------------------ */
/* request helpers                                                     */
/* ------------------------------------------------------------------ */

const char *http_req_header(const http_request *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header *h = &req->headers[i];
        if (h->name_len == n && strncasecmp(h->name, name, n) == 0) return h->value;
    }
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *http_url_decode(cd_arena *a, const char *src, size_t len, bool plus_is_space, size_t *out_len)
{
    char *out = cd_arena_alloc(a, len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len) return NULL;
            int hi = hexval((unsigned char)src[i + 1]), lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0) return NULL;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

int http_req_query_param(const http_request *req, const char *name, const char **out,
                         size_t *out_len)
{
    const char *s = req->query;
    size_t nlen = strlen(name);
    while (*s) {
        const char *e = strchr(s, '&');
        if (!e) e = s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(e - s));
        const char *kend = eq ? eq : e;
        size_t klen;
        char *key = http_url_decode(req->arena, s, (size_t)(kend - s), true, &klen);
        if (!key) return CD_EBAD;
        if (klen == nlen && memcmp(key, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : e;
            char *val = http_url_decode(req->arena, v, (size_t)(e - v), true, out_len);
            if (!val) return CD_EBAD;
            *out = val;
            return 0;
        }
        s = *e ? e + 1 : e;
    }
    return CD_ENOENT;
}

void http_req_on_abort(http_request *req, http_abort_fn fn, void *arg)
{
    http_req_impl *r = (http_req_impl *)req;
    r->abort_fn = fn;
    r->abort_arg = arg;
}

bool http_req_aborted(const http_request *req)
{
    return ((const http_req_impl *)req)->aborted;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* ------------------------------------------------------------------ */
/* connections                                                         */
/* ------------------------------------------------------------------ */

static size_t http_conn_feed(net_conn *c, const char *data, size_t len);
static void http_conn_send_error(net_conn *c, int status);
static void srv_maybe_finish(http_server *srv);

static unsigned opt_ms(unsigned v, unsigned def)
{
    return v ? v : def;
}

unsigned http_server_ws_close_timeout(const http_server *srv)
{
    return opt_ms(srv->opts.ws_close_timeout_ms, WS_CLOSE_TIMEOUT_MS);
}

static void srv_timer_cb(uv_timer_t *t);

static void trim_cb(uv_timer_t *t)
{
    http_server *srv = t->data;
    bool burst = srv->churn >= HTTP_TRIM_MIN_CHURN;
    srv->churn = 0;
    if (!burst && !srv->trim_final) return; /* quiet: stop until the next burst */
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    srv->trim_final = burst;
    uv_timer_start(&srv->trim, trim_cb, HTTP_TRIM_INTERVAL_MS, 0);
}

/* Counts a connection opened or closed (see HTTP_TRIM_MIN_CHURN). */
static void srv_churn(http_server *srv)
{
    srv->churn++;
    if (!uv_is_active((uv_handle_t *)&srv->trim) && !srv->draining)
        uv_timer_start(&srv->trim, trim_cb, HTTP_TRIM_INTERVAL_MS, 0);
}

/* Arms the server timer at the earliest deadline (or the drain deadline). */
static void srv_arm(http_server *srv)
{
    cd_deadline *first = cd_deadlines_first(&srv->deadlines);
    uint64_t due = first ? first->due : 0;
    if (srv->draining && srv->drain_deadline && (!due || srv->drain_deadline < due))
        due = srv->drain_deadline;
    if (srv->draining && srv->drain_idle_deadline && (!due || srv->drain_idle_deadline < due))
        due = srv->drain_idle_deadline;
    if (due == srv->timer_due) return;
    srv->timer_due = due;
    if (!due) {
        uv_timer_stop(&srv->timer);
        return;
    }
    uint64_t now = uv_now(srv->loop);
    uv_timer_start(&srv->timer, srv_timer_cb, due > now ? due - now : 0, 0);
}

void net_conn_set_timeout(net_conn *c, unsigned ms)
{
    http_server *srv = conn_srv(c);
    if (!ms) {
        /* a timer that fires early finds nothing due and re-arms */
        cd_deadline_clear(&srv->deadlines, &c->timer);
        return;
    }
    uint64_t due = uv_now(srv->loop) + ms;
    cd_deadline_set(&srv->deadlines, &c->timer, due); /* room reserved at accept */
    if (!srv->timer_due || due < srv->timer_due) srv_arm(srv);
}

static void conn_set_deadline(net_conn *c, unsigned ms)
{
    net_conn_set_timeout(c, ms);
}

void net_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    net_conn *c = (net_conn *)h;
    /* keep one byte spare: parsers NUL-terminate in place */
    buf->base = conn_srv(c)->scratch;
    buf->len = HTTP_SCRATCH_BYTES - 1;
}

int net_conn_pend(net_conn *c, const char *data, size_t len)
{
    if (len == 0) return 0;
    net_pend *p = c->pending;
    if (p && p->off) {
        /* drop the consumed prefix before growing */
        p->len -= p->off;
        memmove(p->data, p->data + p->off, p->len);
        p->off = 0;
    }
    size_t have = p ? p->len : 0;
    net_pend *q = cd_realloc(p, sizeof *q + have + len + 1);
    if (!q) return CD_ENOMEM;
    if (!p) q->len = q->off = 0;
    memcpy(q->data + q->len, data, len);
    q->len += (uint32_t)len;
    c->pending = q;
    return 0;
}

static void conn_read_start(net_conn *c)
{
    if (c->reading || c->closing) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, net_alloc_cb, net_read_cb) == 0) c->reading = true;
}

static void conn_read_stop(net_conn *c)
{
    if (!c->reading) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void net_conn_close_cb(uv_handle_t *h)
{
    net_conn *c = (net_conn *)h;
    http_server *srv = conn_srv(c);
    if (c->kind == NET_KIND_WS) ws_conn_on_closed(c);
    if (c->http) {
        http_rx_free(&c->http->rx);
        cd_free(c->http);
    }
    cd_deadline_clear(&srv->deadlines, &c->timer);
    net_ws_drop_output(c);
    cd_free(c->pending);
    cd_free(c->ws.close_reason);
    if (c->ws.rx) {
        ws_rx_free(c->ws.rx);
        cd_free(c->ws.rx);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->nconns--;
    srv_churn(srv);
    cd_deadlines_reserve(&srv->deadlines, (uint32_t)srv->nconns); /* lowers: cannot fail */
    if (*c->addr) cd_tally_sub(&srv->addrs, c->addr); /* (c->addr is the tally's copy) */
    cd_pool_free(c);
    srv_maybe_finish(srv);
}

static void conn_close(net_conn *c, bool reset);

void net_conn_close(net_conn *c)
{
    conn_close(c, false);
}

void net_conn_reset(net_conn *c)
{
    conn_close(c, true);
}

static void conn_close(net_conn *c, bool reset)
{
    if (c->closing) return;
    /* what this turn queued goes out first (uv_close cancels what the
     * socket does not take now); a reset drops it */
    if (reset)
        net_ws_drop_output(c);
    else
        net_ws_flush(c);
    if (c->closing) return; /* the flush failed and closed it */
    c->closing = true;
    c->reading = false;
    if (c->http && c->http->active) {
        /* the handler still holds the request: detach and tell it */
        http_req_impl *r = c->http->active;
        c->http->active = NULL;
        r->conn = NULL;
        r->aborted = true;
        if (r->abort_fn) r->abort_fn(&r->pub, r->abort_arg);
    }
    if (!reset || uv_tcp_close_reset(&c->tcp, net_conn_close_cb) != 0)
        uv_close((uv_handle_t *)&c->tcp, net_conn_close_cb);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)status;
    cd_free(req);
    /* The connection stays open to read the peer's EOF (lingering close);
     * the deadline set by net_conn_close_graceful bounds the wait. */
}

void net_conn_close_graceful(net_conn *c, unsigned timeout_ms)
{
    if (c->closing) return;
    conn_set_deadline(c, timeout_ms);
    if (c->shutting) return;
    net_ws_flush(c); /* queued frames (our close) before the FIN */
    if (c->closing) return;
    uv_shutdown_t *req = cd_malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
        cd_free(req);
        net_conn_close(c);
        return;
    }
    c->shutting = true;
    conn_read_start(c); /* watch for the peer's EOF */
}

/* Keeps unconsumed input for later; pauses reading when too much waits. */
static void http_conn_keep(net_conn *c, const char *data, size_t len)
{
    if (net_conn_pend(c, data, len) != 0) {
        net_conn_close(c);
        return;
    }
    if (net_pend_left(c) >= HTTP_MAX_PENDING_BYTES) conn_read_stop(c);
}

static void body_pump(net_conn *c);

/* A streamed body the handler started during dispatch: pump it now. */
static void body_pump_if_started(net_conn *c)
{
    if (c->closing || !c->http || c->http->phase != HTTP_PH_HANDLER) return;
    http_req_impl *r = c->http->active;
    if (r && r->body_fn && !r->body_busy && !r->body_ended) body_pump(c);
}

void net_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    net_conn *c = (net_conn *)s;
    if (c->closing) return;
    if (nread < 0) {
        if (c->kind == NET_KIND_WS)
            ws_conn_on_eof(c);
        else
            net_conn_close(c);
        return;
    }
    if (nread == 0) return;
    if (c->kind == NET_KIND_WS) {
        ws_conn_on_data(c, buf->base, (size_t)nread);
        return;
    }
    http_conn *h = c->http;
    switch (h->phase) {
    case HTTP_PH_READ: {
        size_t used = http_conn_feed(c, buf->base, (size_t)nread);
        /* (the handler may have upgraded the connection: re-read c->http) */
        if (c->closing || (c->http && c->http->phase == HTTP_PH_LINGER)) break;
        http_conn_keep(c, buf->base + used, (size_t)nread - used);
        body_pump_if_started(c);
        break;
    }
    case HTTP_PH_LINGER:
        break; /* discard */
    default:   /* request at the handler or response in flight: keep for later */
        http_conn_keep(c, buf->base, (size_t)nread);
        if (h->phase == HTTP_PH_HANDLER && h->active && h->active->body_fn) body_pump(c);
        break;
    }
}

/* Date header value, cached per second. */
static const char *srv_date(http_server *srv)
{
    time_t now = time(NULL);
    if (now != srv->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(srv->date, sizeof srv->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        srv->date_sec = now;
    }
    return srv->date;
}

enum { HTTP_W_RESPONSE, HTTP_W_UPGRADE, HTTP_W_INTERIM, HTTP_W_CHUNK };

typedef struct http_write {
    uv_write_t req;
    net_conn *conn;
    char *owned_body;         /* cd_free after the write, or NULL */
    uint8_t kind;             /* HTTP_W_* */
    http_req_impl *chunk_req; /* HTTP_W_CHUNK: the request and its callback */
    http_chunk_fn chunk_done;
    void *chunk_arg;
    char head[]; /* response head (+ copied body) */
} http_write;

static void http_dispatch_next(net_conn *c);

static void http_write_cb(uv_write_t *wr, int status)
{
    http_write *w = (http_write *)wr;
    net_conn *c = w->conn;
    uint8_t kind = w->kind;
    http_req_impl *creq = w->chunk_req;
    http_chunk_fn cdone = w->chunk_done;
    void *carg = w->chunk_arg;
    cd_free(w->owned_body);
    cd_free(w);
    if (kind == HTTP_W_CHUNK) {
        if (status < 0 || c->closing) {
            if (!c->closing) net_conn_close(c); /* marks the request aborted */
            cdone(&creq->pub, carg, status < 0 ? status : UV_ECANCELED);
            return;
        }
        conn_set_deadline(c, opt_ms(conn_srv(c)->opts.write_timeout_ms, HTTP_WRITE_TIMEOUT_MS));
        cdone(&creq->pub, carg, 0);
        return;
    }
    if (status < 0 || c->closing) {
        if (!c->closing) net_conn_close(c);
        return;
    }
    if (kind == HTTP_W_INTERIM) return;
    if (kind == HTTP_W_UPGRADE) {
        ws_conn_on_data(c, NULL, 0); /* process frames that arrived early */
        return;
    }
    http_conn *h = c->http;
    if (!h || h->phase != HTTP_PH_WRITING) return;
    if (h->close_after && h->linger_after) {
        /* a body was left unread: discard it a while so the client, still
         * sending, reads the response instead of a reset */
        h->phase = HTTP_PH_LINGER;
        net_pend_drop(c);
        net_conn_close_graceful(c, HTTP_LINGER_MS);
        return;
    }
    if (h->close_after) {
        net_conn_close(c);
        return;
    }
    h->phase = HTTP_PH_READ;
    http_rx_resume(&h->rx);
    conn_set_deadline(c, opt_ms(conn_srv(c)->opts.keepalive_timeout_ms, HTTP_KEEPALIVE_TIMEOUT_MS));
    http_dispatch_next(c);
}

/* Continues with bytes buffered while the previous request was handled. */
static void http_dispatch_next(net_conn *c)
{
    if (net_pend_left(c) > 0) {
        /* parse in place: the buffer only shrinks (offset) while we do */
        net_pend *p = c->pending;
        size_t used = http_conn_feed(c, p->data + p->off, p->len - p->off);
        p = c->pending; /* (the same block: nothing takes it meanwhile) */
        if (p) p->off += (uint32_t)used;
        if (!p || p->off == p->len || c->closing || (c->http && c->http->phase == HTTP_PH_LINGER))
            net_pend_drop(c);
        body_pump_if_started(c);
    }
    if (!c->closing && c->http && c->http->phase == HTTP_PH_READ) conn_read_start(c);
}

/* Queues head + body as one uv_write. On failure closes the connection. */
static int conn_write(net_conn *c, const char *head, size_t head_len, const void *body,
                      size_t body_len, char *owned_body, bool is_upgrade)
{
    bool copy = body_len && !owned_body;
    http_write *w = cd_malloc(sizeof *w + head_len + (copy ? body_len : 0));
    if (!w) {
        cd_free(owned_body);
        net_conn_close(c);
        return CD_ENOMEM;
    }
    w->conn = c;
    w->owned_body = owned_body;
    w->kind = is_upgrade ? HTTP_W_UPGRADE : HTTP_W_RESPONSE;
    w->chunk_req = NULL;
    w->chunk_done = NULL;
    w->chunk_arg = NULL;
    memcpy(w->head, head, head_len);
    uv_buf_t bufs[2];
    unsigned nbufs = 1;
    bufs[0] = uv_buf_init(w->head, (unsigned)head_len);
    if (body_len) {
        const char *b = owned_body ? owned_body : w->head + head_len;
        if (copy) memcpy(w->head + head_len, body, body_len);
        bufs[1] = uv_buf_init((char *)b, (unsigned)body_len);
        nbufs = 2;
    }
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, nbufs, http_write_cb) != 0) {
        cd_free(w->owned_body);
        cd_free(w);
        net_conn_close(c);
        return CD_EIO;
    }
    return 0;
}

static void write_static(net_conn *c, const char *s)
{
    uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));
    /* tiny interim responses: try a direct write, fall back to a queued one */
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)b.len) return;
    if (n < 0) n = 0;
    http_write *w = cd_malloc(sizeof *w + b.len - (size_t)n);
    if (!w) {
        net_conn_close(c);
        return;
    }
    w->conn = c;
    w->owned_body = NULL;
    w->kind = HTTP_W_INTERIM;
    w->chunk_req = NULL;
    w->chunk_done = NULL;
    w->chunk_arg = NULL;
    memcpy(w->head, s + n, b.len - (size_t)n);
    uv_buf_t wb = uv_buf_init(w->head, b.len - (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &wb, 1, http_write_cb) != 0) {
        cd_free(w);
        net_conn_close(c);
    }
}

/* Formats the response head; returns its length or 0 if it does not fit. */
static size_t format_head(http_server *srv, char *out, size_t cap, int status,
                          const char *content_type, const char *extra, size_t body_len, bool close,
                          bool keepalive_10)
{
    int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, http_status_text(status),
                     srv_date(srv));
    size_t o = (size_t)n;
    if (content_type && o < cap)
        o += (size_t)snprintf(out + o, cap - o, "Content-Type: %s\r\n", content_type);
    bool no_body = status < 200 || status == 204 || status == 304;
    if (!no_body && o < cap)
        o += (size_t)snprintf(out + o, cap - o, "Content-Length: %zu\r\n", body_len);
    if (o < cap && close)
        o += (size_t)snprintf(out + o, cap - o, "Connection: close\r\n");
    else if (o < cap && keepalive_10)
        o += (size_t)snprintf(out + o, cap - o, "Connection: keep-alive\r\n");
    if (extra && o < cap) o += (size_t)snprintf(out + o, cap - o, "%s", extra);
    if (o < cap) o += (size_t)snprintf(out + o, cap - o, "\r\n");
    return o < cap ? o : 0;
}

static void http_conn_send_error(net_conn *c, int status)
{
    http_conn *h = c->http;
    char head[256];
    const char *text = http_status_text(status);
    char body[64];
    int blen = snprintf(body, sizeof body, "%d %s\n", status, text);
    size_t hl = format_head(conn_srv(c), head, sizeof head, status, "text/plain; charset=utf-8",
                            NULL, (size_t)blen, true, false);
    h->phase = HTTP_PH_LINGER;
    h->close_after = true;
    conn_set_deadline(c, 0);
    if (conn_write(c, head, hl, body, (size_t)blen, NULL, false) != 0) return;
    net_conn_close_graceful(c, HTTP_LINGER_MS);
}

/* Parses requests from data until one is handed to the handler (or an error
 * is answered, or the input ends). Returns the bytes consumed; the caller
 * keeps the rest in c->pending. */
static size_t http_conn_feed(net_conn *c, const char *data, size_t len)
{
    const char *start = data;
    http_conn *h = c->http;
    http_server *srv = conn_srv(c);
    while (!c->closing && h->phase == HTTP_PH_READ) {
        uint8_t stage = h->rx.stage;
        size_t used;
        int r = http_rx_feed(&h->rx, data, len, &used);
        data += used;
        len -= used;
        if (h->rx.stage != stage) {
            if (h->rx.stage == HTTP_RX_HEADERS)
                conn_set_deadline(c, opt_ms(srv->opts.header_timeout_ms, HTTP_HEADER_TIMEOUT_MS));
            else if (h->rx.stage == HTTP_RX_BODY)
                conn_set_deadline(c, opt_ms(srv->opts.body_timeout_ms, HTTP_BODY_TIMEOUT_MS));
        }
        if (h->rx.expect_continue && r == HTTP_RX_AGAIN) {
            h->rx.expect_continue = false;
            write_static(c, "HTTP/1.1 100 Continue\r\n\r\n");
        }
        if (r == HTTP_RX_AGAIN) break;
        if (r >= 400) {
            http_conn_send_error(c, r);
            break;
        }
        /* a complete request */
        http_req_impl *req = http_rx_take(&h->rx);
        if (req->pub.streaming) h->rx.stream_req = req;
        req->conn = c;
        req->pub.server = srv;
        char *ipc = cd_arena_strdup(&req->arena, c->addr);
        req->pub.client_ip = ipc ? ipc : "";
        h->active = req;
        h->phase = HTTP_PH_HANDLER;
        conn_set_deadline(c, 0);
        /* bytes after the headers are moved to `pending` only when this
         * returns: a streamed body the handler starts now is pumped then */
        h->dispatching = true;
        srv->opts.on_request(&req->pub, srv->opts.user);
        if (c->http) c->http->dispatching = false;
        break; /* continues from the response's write callback */
    }
    return (size_t)(data - start);
}

static void on_connection(uv_stream_t *ls, int status);

static void reject_close_cb(uv_handle_t *h)
{
    http_server *srv = (http_server *)h->data;
    srv->reject_busy = false;
    /* a connection may be waiting for uv_accept; uv_accept says EAGAIN if not */
    if (!srv->draining && srv->reject_retry) on_connection((uv_stream_t *)&srv->listener, 0);
    srv_maybe_finish(srv);
}

static void on_connection(uv_stream_t *ls, int status)
{
    http_server *srv = (http_server *)ls->data;
    if (status < 0 || srv->draining) return;
    _Static_assert(sizeof(net_conn) <= CD_POOL_MAX, "net_conn in the pool");
    /* beyond libuv's handle: 104 bytes (the pool's 352-byte class with
     * libuv 1.x's 248-byte uv_tcp_t on x86-64) */
    _Static_assert(sizeof(net_conn) <= sizeof(uv_tcp_t) + 104, "net_conn beyond its handle");
    net_conn *c = cd_pool_calloc(sizeof *c); /* long-lived: packed with its kind */
    /* room for its deadline too, so that setting one never fails */
    if (c && cd_deadlines_reserve(&srv->deadlines, (uint32_t)srv->nconns + 1) != 0) {
        cd_pool_free(c);
        c = NULL;
    }
    if (!c) {
        /* No memory: accept into the server's spare handle and close it, so
         * the client is told at once and libuv (which pauses the listener
         * until the pending connection is taken) keeps accepting. */
        if (!srv->reject_busy && uv_tcp_init(srv->loop, &srv->reject) == 0) {
            srv->reject_busy = true;
            srv->reject.data = srv;
            srv->reject_retry = uv_accept(ls, (uv_stream_t *)&srv->reject) == 0;
            uv_close((uv_handle_t *)&srv->reject, reject_close_cb);
        }
        return;
    }
    if (uv_tcp_init(srv->loop, &c->tcp) != 0) {
        cd_pool_free(c);
        return;
    }
    c->tcp.data = srv;
    c->addr = "";
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    srv_churn(srv);
    c->kind = NET_KIND_HTTP;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        net_conn_close(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char addr[48] = "";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, addr, sizeof addr);
        else
            uv_ip4_name((struct sockaddr_in *)&ss, addr, sizeof addr);
    }
    if (*addr) c->addr = cd_tally_add_key(&srv->addrs, addr);
    if (!c->addr) c->addr = "";
    c->http = cd_calloc(1, sizeof *c->http);
    if (!c->http) {
        net_conn_close(c);
        return;
    }
    http_rx_init(&c->http->rx);
    c->http->rx.stream_fn = srv->opts.stream_body;
    c->http->rx.stream_ud = srv->opts.user;
    uv_tcp_nodelay(&c->tcp, 1);
    conn_set_deadline(c, opt_ms(srv->opts.header_timeout_ms, HTTP_HEADER_TIMEOUT_MS));
    conn_read_start(c);
    if (!c->reading) net_conn_close(c);
}

/* ------------------------------------------------------------------ */
/* responses                                                           */
/* ------------------------------------------------------------------ */

static int respond(http_request *req, int status, const char *content_type,
                   const char *extra_headers, const void *body, size_t len, char *owned)
{
    http_req_impl *r = (http_req_impl *)req;
    net_conn *c = r->conn;
    if (!c || r->aborted) {
        cd_free(owned);
        http_req_free(r);
        return CD_ECLOSED;
    }
    http_conn *h = c->http;
    h->active = NULL;
    r->conn = NULL;
    http_server *srv = conn_srv(c);
    bool unread = r->pub.streaming && !r->body_complete;
    if (unread) {
        h->rx.stream_req = NULL; /* never parsed further: the connection closes */
        r->body_fn = NULL;
    }
    h->linger_after = unread;
    bool close = !r->keep_alive || r->upgrade || srv->draining || unread;
    bool ka10 = !close && r->pub.http_minor == 0;
    bool is_head = r->is_head;
    size_t cap = 256 + (content_type ? strlen(content_type) : 0) +
                 (extra_headers ? strlen(extra_headers) : 0);
    char stackbuf[1024];
    char *head = cap <= sizeof stackbuf ? stackbuf : cd_malloc(cap);
    if (!head) {
        cd_free(owned);
        http_req_free(r);
        net_conn_close(c);
        return CD_ENOMEM;
    }
    size_t hl = format_head(srv, head, cap, status, content_type, extra_headers, len, close, ka10);
    h->phase = HTTP_PH_WRITING;
    h->close_after = close;
    conn_set_deadline(c, opt_ms(srv->opts.write_timeout_ms, HTTP_WRITE_TIMEOUT_MS));
    bool no_body = is_head || status < 200 || status == 204 || status == 304;
    int rc;
    if (no_body) {
        cd_free(owned);
        rc = conn_write(c, head, hl, NULL, 0, NULL, false);
    } else {
        rc = conn_write(c, head, hl, owned ? owned : body, len, owned, false);
    }
    if (head != stackbuf) cd_free(head);
    http_req_free(r); /* after the copy: body may point into the request */
    return rc;
}

int http_respond(http_request *req, int status, const char *content_type, const char *extra_headers,
                 const void *body, size_t len)
{
    return respond(req, status, content_type, extra_headers, body, len, NULL);
}

int http_respond_buf(http_request *req, int status, const char *content_type,
                     const char *extra_headers, char *body, size_t len)
{
    if (!body) len = 0;
    return respond(req, status, content_type, extra_headers, NULL, len, body);
}

/* ------------------------------------------------------------------ */
/* streaming bodies and responses                                      */
/* ------------------------------------------------------------------ */

int64_t http_req_content_length(const http_request *req)
{
    return ((const http_req_impl *)req)->content_length;
}

static void body_deliver_end(http_req_impl *r, int status)
{
    net_conn *c = r->conn;
    r->body_ended = true;
    if (c) conn_set_deadline(c, 0);
    if (status && c && c->http) {
        c->http->rx.stream_req = NULL;
        conn_read_stop(c);
    }
    http_body_fn fn = r->body_fn;
    r->body_busy = true;
    if (fn) fn(&r->pub, r->body_arg, NULL, 0, status);
}

/* Delivers what is parsed, parses what is pending, or reads more. */
static void body_pump(net_conn *c)
{
    http_conn *h = c->http;
    http_req_impl *r = h ? h->active : NULL;
    while (r && r->body_fn && !r->body_busy && !r->body_ended && !c->closing) {
        if (r->body.len > 0) {
            r->body_busy = true;
            conn_set_deadline(c, 0);
            r->body_fn(&r->pub, r->body_arg, r->body.data, r->body.len, 0);
            return;
        }
        if (r->body_complete) {
            body_deliver_end(r, 0);
            return;
        }
        if (net_pend_left(c) > 0) {
            size_t used;
            net_pend *p = c->pending;
            int rc = http_rx_feed(&h->rx, p->data + p->off, p->len - p->off, &used);
            p = c->pending;
            if (p) p->off += (uint32_t)used;
            if (p && p->off == p->len) net_pend_drop(c);
            if (rc >= 400) {
                body_deliver_end(r, rc);
                return;
            }
            if (cd_buf_failed(&r->body)) {
                body_deliver_end(r, 503);
                return;
            }
            continue;
        }
        if (!r->body_probed) {
            /* the parser may be at the message end without another byte */
            r->body_probed = true;
            size_t used;
            int rc = http_rx_feed(&h->rx, "", 0, &used);
            if (rc >= 400) {
                body_deliver_end(r, rc);
                return;
            }
            if (r->body_complete) continue;
        }
        /* nothing buffered: wait for the peer */
        conn_set_deadline(c, opt_ms(conn_srv(c)->opts.body_timeout_ms, HTTP_BODY_TIMEOUT_MS));
        conn_read_start(c);
        return;
    }
}

void http_req_body_start(http_request *req, http_body_fn fn, void *arg)
{
    http_req_impl *r = (http_req_impl *)req;
    net_conn *c = r->conn;
    if (!req->streaming || r->body_fn || !c || r->aborted) return;
    r->body_fn = fn;
    r->body_arg = arg;
    http_conn *h = c->http;
    if (h->rx.expect_continue) write_static(c, "HTTP/1.1 100 Continue\r\n\r\n");
    http_rx_resume(&h->rx);            /* paused at the end of the headers */
    if (!h->dispatching) body_pump(c); /* else when the dispatch returns */
}

void http_req_body_next(http_request *req)
{
    http_req_impl *r = (http_req_impl *)req;
    if (!r->body_busy || r->body_ended) return;
    r->body_busy = false;
    cd_buf_reset(&r->body);
    if (r->conn && !r->aborted) body_pump(r->conn);
}

int http_respond_start(http_request *req, int status, const char *content_type,
                       const char *extra_headers, uint64_t len)
{
    http_req_impl *r = (http_req_impl *)req;
    net_conn *c = r->conn;
    if (!c || r->aborted) {
        http_req_free(r);
        return CD_ECLOSED;
    }
    if (r->is_head || len == 0) {
        /* head only: an ordinary response (Content-Length of the entity) */
        http_conn *h = c->http;
        h->active = NULL;
        r->conn = NULL;
        bool close = !r->keep_alive || r->upgrade || conn_srv(c)->draining;
        size_t cap = 256 + (content_type ? strlen(content_type) : 0) +
                     (extra_headers ? strlen(extra_headers) : 0);
        char *head = cd_malloc(cap);
        if (!head) {
            http_req_free(r);
            net_conn_close(c);
            return CD_ENOMEM;
        }
        size_t hl = format_head(conn_srv(c), head, cap, status, content_type, extra_headers,
                                (size_t)len, close, !close && r->pub.http_minor == 0);
        h->phase = HTTP_PH_WRITING;
        h->close_after = close;
        h->linger_after = false;
        conn_set_deadline(c, opt_ms(conn_srv(c)->opts.write_timeout_ms, HTTP_WRITE_TIMEOUT_MS));
        int rc = conn_write(c, head, hl, NULL, 0, NULL, false);
        cd_free(head);
        http_req_free(r);
        return rc == 0 ? 1 : rc;
    }
    http_conn *h = c->http;
    bool close = !r->keep_alive || r->upgrade || conn_srv(c)->draining;
    size_t cap = 256 + (content_type ? strlen(content_type) : 0) +
                 (extra_headers ? strlen(extra_headers) : 0);
    char *head = cd_malloc(cap);
    if (!head) {
        h->active = NULL;
        r->conn = NULL;
        http_req_free(r);
        net_conn_close(c);
        return CD_ENOMEM;
    }
    size_t hl = format_head(conn_srv(c), head, cap, status, content_type, extra_headers,
                            (size_t)len, close, !close && r->pub.http_minor == 0);
    h->close_after = close;
    h->linger_after = false;
    r->resp_streaming = true;
    r->resp_left = len;
    /* the head goes out as an interim write: the phase stays HANDLER
     * until the last piece */
    http_write *w = cd_malloc(sizeof *w + hl);
    if (!w) {
        cd_free(head);
        h->active = NULL;
        r->conn = NULL;
        http_req_free(r);
        net_conn_close(c);
        return CD_ENOMEM;
    }
    w->conn = c;
    w->owned_body = NULL;
    w->kind = HTTP_W_INTERIM;
    w->chunk_req = NULL;
    w->chunk_done = NULL;
    w->chunk_arg = NULL;
    memcpy(w->head, head, hl);
    cd_free(head);
    uv_buf_t b = uv_buf_init(w->head, (unsigned)hl);
    conn_set_deadline(c, opt_ms(conn_srv(c)->opts.write_timeout_ms, HTTP_WRITE_TIMEOUT_MS));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, http_write_cb) != 0) {
        cd_free(w);
        net_conn_close(c); /* aborts r: the handler's abort callback runs */
        return CD_EIO;
    }
    return 0;
}

/* Writes one piece of a streamed response (data owned: freed by the write's
 * callback, or here on failure, which closes the connection). */
static int chunk_write(net_conn *c, char *data, size_t n, int kind, http_req_impl *r,
                       http_chunk_fn done, void *arg)
{
    http_write *w = cd_malloc(sizeof *w);
    if (!w) {
        cd_free(data);
        net_conn_close(c);
        return CD_ENOMEM;
    }
    w->conn = c;
    w->owned_body = data;
    w->kind = kind;
    w->chunk_req = r;
    w->chunk_done = done;
    w->chunk_arg = arg;
    uv_buf_t b = uv_buf_init(data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, http_write_cb) != 0) {
        cd_free(data);
        cd_free(w);
        net_conn_close(c);
        return CD_EIO;
    }
    return 0;
}

int http_respond_chunk(http_request *req, char *data, size_t n, http_chunk_fn done, void *arg)
{
    http_req_impl *r = (http_req_impl *)req;
    net_conn *c = r->conn;
    if (!c || r->aborted || !r->resp_streaming || n == 0 || n > r->resp_left) {
        cd_free(data);
        if (c && !r->aborted) net_conn_close(c);
        return CD_ECLOSED; /* the caller still ends the request */
    }
    r->resp_left -= n;
    if (r->resp_left == 0) {
        /* the last piece: an ordinary response write that completes req */
        http_conn *h = c->http;
        h->active = NULL;
        r->conn = NULL;
        h->phase = HTTP_PH_WRITING;
        conn_set_deadline(c, opt_ms(conn_srv(c)->opts.write_timeout_ms, HTTP_WRITE_TIMEOUT_MS));
        http_req_free(r);
        int rc = chunk_write(c, data, n, HTTP_W_RESPONSE, NULL, NULL, NULL);
        return rc == 0 ? 1 : rc;
    }
    return chunk_write(c, data, n, HTTP_W_CHUNK, r, done, arg);
}

void http_respond_end(http_request *req)
{
    http_req_impl *r = (http_req_impl *)req;
    net_conn *c = r->conn;
    if (c && !r->aborted) net_conn_close(c); /* detaches r (abort callback) */
    http_req_free(r);
}

net_conn *http_upgrade(http_request *req, const char *head, size_t head_len)
{
    http_req_impl *r = (http_req_impl *)req;
    net_conn *c = r->conn;
    if (!c || r->aborted) {
        http_req_free(r);
        return NULL;
    }
    c->http->active = NULL;
    r->conn = NULL;
    http_req_free(r);
    http_rx_free(&c->http->rx);
    cd_free(c->http);
    c->http = NULL;
    c->kind = NET_KIND_WS;
    conn_set_deadline(c, 0);
    if (conn_write(c, head, head_len, NULL, 0, NULL, true) != 0) return NULL;
    conn_read_start(c);
    return c;
}

/* ------------------------------------------------------------------ */
/* server                                                              */
/* ------------------------------------------------------------------ */

static void body_deliver_end(http_req_impl *r, int status);

/* One connection's deadline passed. */
static void conn_timeout(net_conn *c)
{
    if (c->closing) return;
    if (c->kind == NET_KIND_WS) {
        ws_conn_on_timeout(c);
    } else if (c->shutting || c->http->phase == HTTP_PH_LINGER ||
               c->http->phase == HTTP_PH_WRITING) {
        net_conn_close(c);
    } else if (c->http->phase == HTTP_PH_HANDLER && c->http->active) {
        http_req_impl *r = c->http->active;
        if (r->resp_streaming)
            net_conn_close(c); /* a download nobody reads */
        else if (r->body_fn && !r->body_ended)
            body_deliver_end(r, 408); /* a streamed body stalled */
    } else if (c->http->phase == HTTP_PH_READ) {
        if (c->http->rx.stage == HTTP_RX_IDLE)
            net_conn_close(c);
        else
            http_conn_send_error(c, 408);
    }
}

/* Takes the expired deadlines only (earliest first); the drain deadline
 * closes whatever is left, once. */
static void srv_timer_cb(uv_timer_t *t)
{
    http_server *srv = (http_server *)t->data;
    uint64_t now = uv_now(srv->loop);
    srv->timer_due = 0;
    cd_deadline *d;
    while ((d = cd_deadlines_pop(&srv->deadlines, now)))
        conn_timeout((net_conn *)((char *)d - offsetof(net_conn, timer)));
    if (srv->draining && srv->drain_idle_deadline && now >= srv->drain_idle_deadline) {
        /* drain: HTTP connections still idle or still receiving after
         * drain_idle_ms are closed (a request completed before was answered
         * with Connection: close) */
        srv->drain_idle_deadline = 0;
        for (net_conn *c = srv->conns, *next; c; c = next) {
            next = c->next;
            if (!c->closing && c->kind != NET_KIND_WS && c->http->phase == HTTP_PH_READ)
                net_conn_close(c);
        }
    }
    if (srv->draining && srv->drain_deadline && now >= srv->drain_deadline) {
        srv->drain_deadline = 0;
        for (net_conn *c = srv->conns, *next; c; c = next) {
            next = c->next;
            if (!c->closing) net_conn_close(c);
        }
    }
    srv_arm(srv);
}

static void srv_free_cb(uv_handle_t *h)
{
    http_server *srv = (http_server *)h->data;
    if (h == (uv_handle_t *)&srv->listener) {
        srv->listener_closed = true;
        srv_maybe_finish(srv);
        return;
    }
    /* timer and flush handles: the last one frees the server */
    if (--srv->open_handles) return;
    cd_deadlines_free(&srv->deadlines);
    cd_free(srv->dirty);
    if (srv->drain_cb) srv->drain_cb(srv, srv->drain_arg);
    cd_free(srv->scratch);
    cd_tally_free(&srv->addrs);
    cd_free(srv);
}

static void srv_maybe_finish(http_server *srv)
{
    if (!srv->draining || srv->finishing || srv->nconns || !srv->listener_closed ||
        srv->reject_busy)
        return;
    srv->finishing = true;
    srv->open_handles = 4;
    uv_close((uv_handle_t *)&srv->trim, srv_free_cb);
    uv_close((uv_handle_t *)&srv->timer, srv_free_cb);
    uv_close((uv_handle_t *)&srv->flush_prep, srv_free_cb);
    uv_close((uv_handle_t *)&srv->flush_check, srv_free_cb);
}

static void start_fail_close_cb(uv_handle_t *h)
{
    cd_free(h->data); /* the server */
}

int http_server_start(uv_loop_t *loop, const http_server_opts *opts, http_server **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    const char *host = opts->host ? opts->host : "0.0.0.0";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip4_addr(host, opts->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, opts->port, (struct sockaddr_in6 *)&ss) != 0) {
        if (err) snprintf(err, errlen, "listen %s:%d: not an IP address", host, opts->port);
        return CD_EBAD;
    }
    if (!opts->on_request) {
        if (err) snprintf(err, errlen, "http server: no request handler");
        return CD_EBAD;
    }
    http_server *srv = cd_calloc(1, sizeof *srv);
    char *scratch = cd_malloc(HTTP_SCRATCH_BYTES);
    if (!srv || !scratch) {
        cd_free(srv);
        cd_free(scratch);
        if (err) snprintf(err, errlen, "http server: out of memory");
        return CD_ENOMEM;
    }
    srv->loop = loop;
    srv->opts = *opts;
    srv->opts.host = NULL; /* not kept */
    srv->scratch = scratch;
    srv->date_sec = -1;
    int rc = uv_tcp_init_ex(loop, &srv->listener, ss.ss_family);
    if (rc != 0) {
        if (err) snprintf(err, errlen, "socket %s:%d: %s", host, opts->port, uv_strerror(rc));
        cd_free(scratch);
        cd_free(srv);
        return CD_EIO;
    }
    srv->listener.data = srv;
    const char *what = "bind";
    if (opts->reuseport) {
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno((uv_handle_t *)&srv->listener, &fd) == 0)
            rc = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0 ? 0 : UV_EINVAL;
        what = "SO_REUSEPORT";
    }
    if (rc == 0) {
        what = "bind";
        rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    }
    if (rc == 0) {
        what = "listen";
        rc = uv_listen((uv_stream_t *)&srv->listener, opts->backlog ? opts->backlog : 511,
                       on_connection);
    }
    if (rc != 0) {
        if (err) snprintf(err, errlen, "%s %s:%d: %s", what, host, opts->port, uv_strerror(rc));
        /* close the listener; the server memory goes in its close callback */
        cd_free(scratch);
        uv_close((uv_handle_t *)&srv->listener, start_fail_close_cb);
        return rc == UV_EADDRINUSE ? CD_EEXIST : CD_EIO;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen);
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(loop, &srv->timer);
    srv->timer.data = srv;
    uv_unref((uv_handle_t *)&srv->timer); /* the listener keeps the loop alive */
    uv_timer_init(loop, &srv->trim);
    srv->trim.data = srv;
    uv_unref((uv_handle_t *)&srv->trim);
    uv_prepare_init(loop, &srv->flush_prep);
    srv->flush_prep.data = srv;
    uv_check_init(loop, &srv->flush_check);
    srv->flush_check.data = srv;
    *out = srv;
    return 0;
}

int http_server_port(const http_server *srv)
{
    return srv->port;
}

size_t http_server_conn_count(const http_server *srv)
{
    return srv->nconns;
}

void http_req_close_after(http_request *req)
{
    ((http_req_impl *)req)->keep_alive = false;
}

size_t http_req_addr_conns(const http_request *req)
{
    return req->client_ip ? cd_tally_get(&req->server->addrs, req->client_ip) : 0;
}

uv_loop_t *http_server_loop(const http_server *srv)
{
    return srv->loop;
}

int http_server_drain(http_server *srv, unsigned timeout_ms, http_drain_fn done, void *arg)
{
    if (srv->draining) return CD_ESTATE;
    srv->draining = true;
    srv->drain_cb = done;
    srv->drain_arg = arg;
    /* the graces count from now, not from the start of this loop turn */
    uv_update_time(srv->loop);
    srv->drain_deadline = timeout_ms ? uv_now(srv->loop) + timeout_ms : 0;
    srv->drain_idle_deadline =
        srv->opts.drain_idle_ms ? uv_now(srv->loop) + srv->opts.drain_idle_ms : 0;
    uv_ref((uv_handle_t *)&srv->timer);
    srv_arm(srv);
    uv_close((uv_handle_t *)&srv->listener, srv_free_cb);
    for (net_conn *c = srv->conns; c; c = c->next) {
        if (c->closing) continue;
        if (c->kind == NET_KIND_WS) {
            ws_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
        } else if (c->http->phase == HTTP_PH_READ) {
            /* idle or partial request: closed now, or by the drain-idle deadline once
             * drain_idle_ms have passed (a request completed before is
             * answered with Connection: close) */
            if (!srv->opts.drain_idle_ms) net_conn_close(c);
        } else if (c->http->phase == HTTP_PH_WRITING) {
            c->http->close_after = true;
        }
        /* HANDLER: the response will carry Connection: close; LINGER ends by itself */
    }
    srv_maybe_finish(srv);
    return 0;
}
