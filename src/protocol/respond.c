/*
 * respond.c — every HTTP answer of the protocol module goes through here, so
 * each one is logged (debug) and counted by status (see respond.h).
 */
#include "protocol/respond.h"

#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "protocol/protocol.h"

static void access_log(const http_request *req, int status, size_t len)
{
    cd_debug("http", "%s %s %d %zu bytes ip=%s", req->method, req->path, status, len,
             req->client_ip ? req->client_ip : "?");
}

void proto_respond(http_request *req, int status, const char *ct, const char *extra,
                   const char *body, size_t len)
{
    access_log(req, status, len);
    cd_metrics_http_status(status);
    http_respond(req, status, ct, extra, body, len);
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
    http_respond_buf(req, status, ct, extra, data, len);
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
