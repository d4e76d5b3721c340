/*
 * gqlws_conn.c — the graphql-transport-ws messages a connection sends, its
 * close and its last reference (see gqlws_conn.h). Embedded connections
 * (proto_ws_attach) hand every message to their tap instead of the socket.
 */
#include "protocol/gqlws_conn.h"

#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/pool.h"

void gqlws_conn_unref(gqlws_conn *c)
{
    if (--c->refs == 0) {
        proto_caller_free(&c->caller);
        cd_pool_free(c); /* with its session or embed part */
    }
}

void gqlws_conn_close(gqlws_conn *c, int code, const char *reason)
{
    if (!c->ws || ws_conn_closing(c->ws)) return;
    cd_metrics_ws_close(code);
    cd_debug("gqlws", "close code=%d reason=\"%s\"", code, reason);
    ws_close(c->ws, code, reason);
}

const char *gqlws_conn_service(const gqlws_conn *c)
{
    return c->embedded ? gqlws_conn_emb(c)->service : c->caller.srv->service;
}

int gqlws_conn_send(gqlws_conn *c, const char *data, size_t len)
{
    if (!c->ws || ws_conn_closing(c->ws)) return CD_ECLOSED;
    if (c->embedded) return gqlws_conn_emb(c)->tap(gqlws_conn_emb(c)->tap_ud, data, len);
    if (ws_conn_write_queue(c->ws) + len > c->caller.srv->cfg->ws_max_queued) {
        cd_warn("gqlws", "slow consumer: %zu bytes queued, closing", ws_conn_write_queue(c->ws));
        gqlws_conn_close(c, GQLWS_CLOSE_SLOW_CONSUMER,
                         "Slow consumer: outbound queue limit exceeded");
        return CD_ELIMIT;
    }
    int rc = ws_send_text(c->ws, data, len);
    if (rc == 0) {
        cd_metrics_g.ws_messages_out++;
        c->sess->msgs_out++;
        c->sess->bytes_out += len;
    }
    return rc;
}

void gqlws_send_simple(gqlws_conn *c, const char *type, const char *id, const gql_value *payload)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{");
    if (id) {
        cd_buf_puts(&b, "\"id\":");
        cd_buf_json_str(&b, id, strlen(id));
        cd_buf_puts(&b, ",");
    }
    cd_buf_printf(&b, "\"type\":\"%s\"", type);
    if (payload) {
        cd_buf_puts(&b, ",\"payload\":");
        gql_json_write(&b, payload);
    }
    cd_buf_puts(&b, "}");
    if (!cd_buf_failed(&b)) gqlws_conn_send(c, b.data, b.len);
    cd_buf_free(&b);
}

void gqlws_send_payload(gqlws_conn *c, const char *type, const char *id, const char *json,
                        size_t len)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"id\":");
    cd_buf_json_str(&b, id, strlen(id));
    cd_buf_printf(&b, ",\"type\":\"%s\",\"payload\":", type);
    cd_buf_append(&b, json, len);
    cd_buf_puts(&b, "}");
    if (!cd_buf_failed(&b)) {
        if (gqlws_conn_send(c, b.data, b.len) == 0 && type[0] == 'n')
            cd_metrics_g.events_delivered++;
    }
    cd_buf_free(&b);
}

void gqlws_write_error_obj(cd_buf *b, const char *msg, const char *code, const char *path0,
                           const char *service)
{
    cd_buf_puts(b, "{\"message\":");
    cd_buf_json_str(b, msg, strlen(msg));
    if (path0) {
        cd_buf_puts(b, ",\"path\":[");
        cd_buf_json_str(b, path0, strlen(path0));
        cd_buf_puts(b, "]");
    }
    if (code) {
        cd_buf_puts(b, ",\"extensions\":{\"code\":");
        cd_buf_json_str(b, code, strlen(code));
        if (service) {
            cd_buf_puts(b, ",\"service\":");
            cd_buf_json_str(b, service, strlen(service));
        }
        cd_buf_puts(b, "}");
    }
    cd_buf_puts(b, "}");
}

void gqlws_send_request_errors(gqlws_conn *c, const char *id, gql_exec *ex)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    /* without data the writer emits exactly {"errors":[...]} */
    static const char pre[] = "{\"errors\":";
    if (!cd_buf_failed(&b) && b.len > sizeof pre && memcmp(b.data, pre, sizeof pre - 1) == 0 &&
        b.data[b.len - 1] == '}')
        gqlws_send_payload(c, "error", id, b.data + sizeof pre - 1, b.len - sizeof pre);
    else
        gqlws_send_payload(c, "error", id, "[{\"message\":\"Internal server error\"}]", 38);
    cd_buf_free(&b);
}

void gqlws_send_error(gqlws_conn *c, const char *id, const char *msg, const char *code)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_putc(&b, '[');
    gqlws_write_error_obj(&b, msg, code, NULL, NULL);
    cd_buf_putc(&b, ']');
    if (!cd_buf_failed(&b)) gqlws_send_payload(c, "error", id, b.data, b.len);
    cd_buf_free(&b);
}
