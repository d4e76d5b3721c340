/*
 * gqlws_conn.h — one graphql-transport-ws connection as the files of the
 * transport share it: its state and the messages it sends. Private to
 * src/protocol: gql_ws.c runs the protocol (messages in, lifecycle,
 * heartbeat), subscribe.c the operations (struct proto_sub) on it.
 *
 * Lifetime: a gqlws_conn is reference-counted: one reference while the
 * WebSocket is open, one per operation still allocated. It is freed, with
 * its caller's strings, by the gqlws_conn_unref that drops the last one.
 */
#ifndef CHATD_PROTO_GQLWS_CONN_H
#define CHATD_PROTO_GQLWS_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/deadline.h"
#include "graphql/graphql.h"
#include "net/ws.h"
#include "protocol/protocol.h"

/* An embedded connection's (proto_ws_attach, compat_ws.c) side block:
 * outbound messages go to tap instead of the socket; the socket's
 * callbacks belong to the embedding transport, which feeds messages in
 * with proto_ws_feed. */
struct gqlws_embed {
    proto_ws_tap_fn tap;
    void *tap_ud;
    const char *service; /* exec service for this conn's operations */
};

struct gqlws_conn {
    gqlws_conn *next, *prev; /* awaiting init: gqlws_state->init_head; then
                              * srv->ws_head (only while ws is open) */
    uint64_t last_rx_ms;     /* last frame from the peer (heartbeat) */
    cd_deadline hb;          /* init timeout, then the next heartbeat check
                              * (gql_ws.c: one heap for all connections) */
    ws_conn *ws;             /* NULL after on_close */
    uint32_t refs;           /* 1 for the open ws + 1 per allocated op */
    uint32_t nops : 24;      /* <= CD_CONFIG_MAX_SUBSCRIPTIONS */
    /* (the flags share nops's 4 bytes: no padding for them) */
    bool in_init_list : 1;
    bool hb_counted : 1; /* holds a place in the deadline heaps' reserved room */
    bool init_received : 1;
    bool acked : 1;
    bool user_counted : 1; /* caller.user_id is counted in srv->ws_users */
    /* Embedded mode (proto_ws_attach, compat_ws.c): its gqlws_embed follows
     * the struct in the same allocation (gqlws_conn_emb). */
    bool embedded : 1;
    /* rate-limit bucket: tokens (a float holds every count up to the burst
     * limit, CHATD_WS_BURST <= 10^7, exactly) as of tokens_ms (uv_now, low
     * 32 bits: elapsed times are taken modulo 2^32 ms, 49.7 days) */
    float tokens;
    uint32_t tokens_ms;
    struct proto_sub *ops; /* active operations (ids reserved) */
    proto_caller caller;
    /* Token lifetime (token mode): closes the socket 4403 when caller's
     * token_exp passes (gql_ws.c: conn_arm_expiry; a deadline in the
     * process's expiry heap, no timer handle per connection). */
    cd_deadline exp;
    /* A plain connection's access log and request id, after the struct in
     * its allocation (proto_session_size); embedded conns have none there. */
    proto_session sess[];
};

/* A plain connection with its session and a generated request id (25
 * bytes) is 218 bytes: the pool's 224-byte class. */
_Static_assert(sizeof(struct gqlws_conn) <= 160, "gqlws_conn: 160 bytes");
_Static_assert(CD_CONFIG_MAX_SUBSCRIPTIONS < (1u << 24), "gqlws_conn.nops");

/* An embedded connection's tap and service, NULL for the others. */
static inline struct gqlws_embed *gqlws_conn_emb(const gqlws_conn *c)
{
    return c->embedded ? (struct gqlws_embed *)(uintptr_t)((const char *)c + sizeof *c) : NULL;
}

/* Drops one reference; the last frees the connection. */
void gqlws_conn_unref(gqlws_conn *c);
/* Starts the close handshake with `code` (nothing when the socket is gone
 * or already closing). */
void gqlws_conn_close(gqlws_conn *c, int code, const char *reason);
/* Sends one message (a text frame, or to the tap of an embedded conn)
 * unless the socket is gone or closing (CD_ECLOSED) or over its outbound
 * queue limit (closes it 4008, CD_ELIMIT). 0 or a negative code. */
int gqlws_conn_send(gqlws_conn *c, const char *data, size_t len);
/* The exec service of c's operations (NULL = every root field). */
const char *gqlws_conn_service(const gqlws_conn *c);

/* {"id":id,"type":type,"payload":payload}; id and payload may be NULL. */
void gqlws_send_simple(gqlws_conn *c, const char *type, const char *id, const gql_value *payload);
/* {"id":id,"type":type,"payload":<json>} with the payload text given. */
void gqlws_send_payload(gqlws_conn *c, const char *type, const char *id, const char *json,
                        size_t len);
/* `error` with the request errors of a failed prepare (an array). */
void gqlws_send_request_errors(gqlws_conn *c, const char *id, gql_exec *ex);
/* `error` with one error {"message":msg,"extensions":{"code":code}}. */
void gqlws_send_error(gqlws_conn *c, const char *id, const char *msg, const char *code);
/* One error object: {"message":..,"path":[path0],"extensions":{"code":..,
 * "service":..}} (path0, code and service may be NULL; service only with a
 * code). */
void gqlws_write_error_obj(cd_buf *b, const char *msg, const char *code, const char *path0,
                           const char *service);

static inline uint64_t gqlws_now_ms(const proto_server *srv)
{
    return uv_now(srv->loop);
}

#endif
