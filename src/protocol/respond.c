/*
 * respond.c — every HTTP answer of chatd goes through here (the router, the
 * GraphQL transport and the modules mounted on the router), so each one is
 * counted by status, carries its request id (X-Request-Id) and writes one
 * access log line; and the access log of WebSocket sessions (protocol.h).
 *
 * The per-request state (proto_req_info) lives in the request's arena and
 * is reached through req->user, which nothing else in src/protocol uses.
 */
#include "protocol/respond.h"

#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "protocol/protocol.h"

#define PROTO_REQUEST_ID_HEADER "x-request-id"

/* ---- request ids ---- */

proto_req_info *proto_req_begin(http_request *req)
{
    proto_req_info *ri = cd_arena_calloc(req->arena, 1, sizeof *ri);
    if (!ri) return NULL;
    ri->t0_ns = uv_hrtime();
    const char *h = http_req_header(req, PROTO_REQUEST_ID_HEADER);
    size_t n = h ? strlen(h) : 0;
    if (n && cd_request_id_valid(h, n))
        memcpy(ri->request_id, h, n + 1);
    else
        cd_request_id_new(ri->request_id);
    req->user = ri;
    return ri;
}

proto_req_info *proto_req_info_of(http_request *req)
{
    return req ? req->user : NULL;
}

void proto_req_set_caller(http_request *req, const proto_caller *c)
{
    proto_req_info *ri = proto_req_info_of(req);
    if (ri) ri->caller = c;
}

/* ---- the access log ---- */

static bool is_probe(const char *path)
{
    return !strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/metrics");
}

static const char *caller_user(const proto_caller *c)
{
    return c && c->user_id && *c->user_id ? c->user_id : NULL;
}

static double ms_since(uint64_t t0_ns)
{
    return t0_ns ? (double)(uv_hrtime() - t0_ns) / 1e6 : 0.0;
}

static void access_log(http_request *req, int status, size_t len)
{
    /* load balancer probes and scrapes would drown the log at info */
    cd_log_level lvl = status < 300 && is_probe(req->path) ? CD_LOG_DEBUG : CD_LOG_INFO;
    if (!cd_log_enabled(lvl)) return;
    const proto_req_info *ri = proto_req_info_of(req);
    cd_log_field f[] = {
        CD_LF_S("method", req->method),
        CD_LF_S("path", req->path),
        CD_LF_I("status", status),
        CD_LF_I("bytes", len),
        CD_LF_N("duration_ms", ri ? ms_since(ri->t0_ns) : 0.0),
        CD_LF_S("user_id", ri ? caller_user(ri->caller) : NULL),
        CD_LF_S("client_ip", req->client_ip),
    };
    cd_log_ctx saved;
    cd_log_ctx_enter(ri ? ri->request_id : NULL, &saved);
    cd_log_kv(lvl, "http", f, CD_ARRAY_LEN(f), "http request");
    cd_log_ctx_leave(&saved);
}

/* extra plus the X-Request-Id line, in the request's arena (extra alone
 * when there is no id or no memory). */
static const char *with_request_id(http_request *req, const char *extra)
{
    const proto_req_info *ri = proto_req_info_of(req);
    if (!ri || !ri->request_id[0]) return extra;
    const char *e =
        cd_arena_sprintf(req->arena, "%sX-Request-Id: %s\r\n", extra ? extra : "", ri->request_id);
    return e ? e : extra;
}

void proto_respond(http_request *req, int status, const char *ct, const char *extra,
                   const char *body, size_t len)
{
    access_log(req, status, len);
    cd_metrics_http_status(status);
    http_respond(req, status, ct, with_request_id(req, extra), body, len);
}

void proto_respond_buf(http_request *req, int status, const char *ct, const char *extra, cd_buf *b)
{
    if (cd_buf_failed(b)) {
        cd_buf_free(b);
        proto_respond(req, 500, "text/plain", extra, "out of memory\n", 14);
        return;
    }
    cd_metrics_http_status(status);
    size_t len;
    char *data = cd_buf_steal(b, &len);
    access_log(req, status, len);
    http_respond_buf(req, status, ct, with_request_id(req, extra), data, len);
}

/* ---- WebSocket sessions ---- */

static const char *session_id(http_request *req)
{
    const proto_req_info *ri = proto_req_info_of(req);
    return ri ? ri->request_id : "";
}

size_t proto_session_size(http_request *req)
{
    return sizeof(proto_session) + strnlen(session_id(req), CD_REQUEST_ID_MAX) + 1;
}

void proto_session_begin(proto_session *s, http_request *req)
{
    memset(s, 0, sizeof *s);
    s->t0_ns = uv_hrtime();
    const char *id = session_id(req);
    size_t n = strnlen(id, CD_REQUEST_ID_MAX);
    char *text = (char *)(s + 1);
    memcpy(text, id, n);
    text[n] = 0;
}

void proto_session_end(const proto_session *s, const char *path, const proto_caller *c, int code)
{
    if (!cd_log_enabled(CD_LOG_INFO)) return;
    cd_log_field f[] = {
        CD_LF_S("path", path),
        CD_LF_I("status", 101),
        CD_LF_N("duration_ms", ms_since(s->t0_ns)),
        CD_LF_I("bytes_in", s->bytes_in),
        CD_LF_I("bytes_out", s->bytes_out),
        CD_LF_I("messages_in", s->msgs_in),
        CD_LF_I("messages_out", s->msgs_out),
        CD_LF_I("close_code", code),
        CD_LF_S("user_id", caller_user(c)),
        CD_LF_S("client_ip", c && c->client_ip && *c->client_ip ? c->client_ip : NULL),
    };
    cd_log_ctx saved;
    cd_log_ctx_enter(proto_session_id(s), &saved);
    cd_log_kv(CD_LOG_INFO, "ws", f, CD_ARRAY_LEN(f), "websocket session");
    cd_log_ctx_leave(&saved);
}

void proto_write_error_json(cd_buf *out, const char *msg, const char *code)
{
    cd_buf_puts(out, "{\"errors\":[{\"message\":");
    cd_buf_json_str(out, msg, strlen(msg));
    if (code) {
        cd_buf_puts(out, ",\"extensions\":{\"code\":");
        cd_buf_json_str(out, code, strlen(code));
        cd_buf_puts(out, "}");
    }
    cd_buf_puts(out, "}]}");
}
