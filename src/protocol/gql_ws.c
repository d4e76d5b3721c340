/*
 * gql_ws.c — graphql-transport-ws (graphql-ws's PROTOCOL.md) on ws.h.
 *
 * Per connection (gqlws_conn): the init state, the caller identity, a token
 * bucket for the inbound message rate, and the list of active operations
 * (struct proto_sub, one per subscribe id). Queries and mutations run once
 * and answer next + complete; subscriptions start a registered source
 * (subscribe.h) whose events are executed one at a time, in order.
 *
 * Lifetimes: a gqlws_conn is reference-counted: one reference while the
 * WebSocket is open, one per operation still allocated. An operation may
 * outlive its WebSocket while a resolver run is in flight (resolvers must
 * complete; their result is then dropped), and it keeps the conn — and so
 * the proto_caller resolvers read — alive until then. An operation ends by
 * op_cancel (client complete, close, drain: the source's stop runs) or by
 * finishing (source completed / single result sent); its memory is freed in
 * op_release once no run is in flight and no loop is pumping it.
 *
 * Fan-out: one event shared by many subscriptions (proto_event) carries a
 * small cache of serialised results. Subscriptions whose document, variables
 * (a 128-bit hash of query text, operation name and variables JSON) and
 * caller (user id, username, client ip, auth flags, exec service — compared
 * exactly, since resolvers such as User.email and unreadCount read the
 * caller) are equal execute that event once: the first runs it, the others
 * reuse its `payload` text, or wait for it while it is still running (a
 * waiter counts as running: its queue order is kept). Each socket still gets
 * its own frame, as the ids differ.
 *
 * Close codes: see protocol.h and docs/api.md.
 */
#include "protocol/gql_ws.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "net/ws.h"
#include "protocol/protocol.h"
#include "protocol/subscribe.h"

#define GQLWS_PROTOCOL "graphql-transport-ws"
#define GQLWS_SWEEP_MS 100u /* init-timeout sweep period */
/* Hash buckets of one shared event's result groups (allocated on its first
 * shared execution): one event to thousands of subscribers of distinct
 * users makes as many groups, and a lookup must stay cheap. */
#define GQLWS_RESULT_BUCKETS 256u

/* ------------------------------------------------------------------ */
/* message classification                                              */

static const gql_value *obj_get(const gql_value *o, const char *k)
{
    return o->kind == GQL_V_OBJECT ? gql_obj_get(o, k) : NULL;
}

static const char *kind_name(const gql_value *v)
{
    if (!v) return "undefined";
    switch (v->kind) {
    case GQL_V_NULL:
        return "null";
    case GQL_V_BOOL:
        return "boolean";
    case GQL_V_INT:
    case GQL_V_FLOAT:
        return "number";
    case GQL_V_STRING:
        return "string";
    case GQL_V_LIST:
        return "array";
    case GQL_V_OBJECT:
        return "object";
    default:
        return "unknown";
    }
}

static int bad(char *reason, size_t rlen, const char *fmt, const char *a, const char *b)
{
    snprintf(reason, rlen, fmt, a, b);
    return CD_EBAD;
}

int gqlws_parse_message(cd_arena *a, const char *data, size_t len, gqlws_msg *out, char *reason,
                        size_t rlen)
{
    memset(out, 0, sizeof *out);
    gql_value v;
    char jerr[128];
    int rc = gql_json_parse(a, data, len, &v, jerr, sizeof jerr);
    if (rc == CD_ENOMEM) return rc;
    if (rc != 0) return bad(reason, rlen, "Invalid message received: %s%s", jerr, "");
    if (v.kind != GQL_V_OBJECT)
        return bad(reason, rlen, "Message is expected to be an object, but got %s%s", kind_name(&v),
                   "");
    const gql_value *type = gql_obj_get(&v, "type");
    if (!type || (type->kind == GQL_V_STRING && type->len == 0))
        return bad(reason, rlen, "Message is missing the 'type' property%s%s", "", "");
    if (type->kind != GQL_V_STRING)
        return bad(reason, rlen, "Message expects the 'type' property to be a string, but got %s%s",
                   kind_name(type), "");
    const char *t = type->u.s;
    const gql_value *payload = gql_obj_get(&v, "payload");
    if (payload && payload->kind == GQL_V_NULL) payload = NULL;

    if (!strcmp(t, "connection_init") || !strcmp(t, "ping") || !strcmp(t, "pong")) {
        if (payload && payload->kind != GQL_V_OBJECT)
            return bad(reason, rlen,
                       "\"%s\" message expects the 'payload' property to be an object or "
                       "nullish or missing, but got %s",
                       t, kind_name(payload));
        out->type = t[0] == 'c'   ? GQLWS_MSG_CONNECTION_INIT
                    : t[1] == 'i' ? GQLWS_MSG_PING
                                  : GQLWS_MSG_PONG;
        out->payload = payload;
        return 0;
    }
    bool is_sub = !strcmp(t, "subscribe");
    if (!is_sub && strcmp(t, "complete") != 0) {
        if (!strcmp(t, "next") || !strcmp(t, "error") || !strcmp(t, "connection_ack"))
            return bad(reason, rlen, "Unexpected message of type \"%s\" from a client%s", t, "");
        return bad(reason, rlen, "Invalid message 'type' property \"%.64s\"%s", t, "");
    }
    const gql_value *id = gql_obj_get(&v, "id");
    if (!id || id->kind != GQL_V_STRING)
        return bad(reason, rlen,
                   "\"%s\" message expects the 'id' property to be a string, but got %s", t,
                   kind_name(id));
    if (id->len == 0)
        return bad(reason, rlen, "\"%s\" message requires a non-empty 'id' property%s", t, "");
    if (id->len > GQLWS_MAX_ID_LEN)
        return bad(reason, rlen, "\"%s\" message 'id' is longer than the limit%s", t, "");
    out->id = id->u.s;
    out->id_len = id->len;
    if (!is_sub) {
        out->type = GQLWS_MSG_COMPLETE;
        return 0;
    }
    if (!payload || payload->kind != GQL_V_OBJECT)
        return bad(
            reason, rlen,
            "\"subscribe\" message expects the 'payload' property to be an object, but got %s%s",
            kind_name(payload ? payload : gql_obj_get(&v, "payload")), "");
    const gql_value *q = obj_get(payload, "query");
    if (!q || q->kind != GQL_V_STRING)
        return bad(reason, rlen,
                   "\"subscribe\" message payload expects the 'query' property to be a string, but "
                   "got %s%s",
                   kind_name(q), "");
    const gql_value *vars = obj_get(payload, "variables");
    if (vars && vars->kind != GQL_V_NULL && vars->kind != GQL_V_OBJECT)
        return bad(
            reason, rlen,
            "\"subscribe\" message payload expects the 'variables' property to be an object or "
            "nullish or missing, but got %s%s",
            kind_name(vars), "");
    const gql_value *opn = obj_get(payload, "operationName");
    if (opn && opn->kind != GQL_V_NULL && opn->kind != GQL_V_STRING)
        return bad(
            reason, rlen,
            "\"subscribe\" message payload expects the 'operationName' property to be a string "
            "or nullish or missing, but got %s%s",
            kind_name(opn), "");
    const gql_value *ext = obj_get(payload, "extensions");
    if (ext && ext->kind != GQL_V_NULL && ext->kind != GQL_V_OBJECT)
        return bad(
            reason, rlen,
            "\"subscribe\" message payload expects the 'extensions' property to be an object or "
            "nullish or missing, but got %s%s",
            kind_name(ext), "");
    out->type = GQLWS_MSG_SUBSCRIBE;
    out->payload = payload;
    out->query = q->u.s;
    out->query_len = q->len;
    out->operation_name = (opn && opn->kind == GQL_V_STRING) ? opn->u.s : NULL;
    out->variables = (vars && vars->kind == GQL_V_OBJECT) ? vars : NULL;
    out->extensions = (ext && ext->kind == GQL_V_OBJECT) ? ext : NULL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* connection and operation state                                      */

/* A shared event value (subscribe.h): deep-copied once, referenced by every
 * operation that queued it. */
typedef struct gqlws_result gqlws_result;
struct proto_event {
    uint32_t refs;
    cd_arena arena;
    gql_value *value;
    gqlws_result **results; /* GQLWS_RESULT_BUCKETS chains of serialised
                             * payloads by (document, caller); NULL until used */
};

/* One execution of a shared event for one (document + variables, caller)
 * group. Pending while its runner's exec is in flight; then json holds the
 * `payload` text (NULL when writing it failed: waiters run themselves). */
struct gqlws_result {
    gqlws_result *next;
    uint64_t k1, k2;     /* document key (proto_sub.k1/k2) */
    const char *service; /* exec service (static) */
    bool authenticated, trust;
    bool done;
    struct proto_sub *waiters, *waiters_tail;
    char *json;
    size_t len;
    char caller[]; /* user_id \0 username \0 client_ip \0 */
};

/* One queued execution of an operation: root = {"<field>": *ev->value}
 * built in place (no allocation besides this struct); ev NULL for the single
 * run of a query or mutation (root = {}). */
typedef struct gqlws_event {
    struct gqlws_event *next;
    proto_event *ev;
    gql_kv kv;
    gql_value root;
} gqlws_event;

struct gqlws_conn {
    gqlws_conn *next, *prev; /* awaiting init: gqlws_state->init_head; then
                              * srv->ws_head (only while ws is open) */
    bool in_init_list;
    uint64_t last_rx_ms; /* last frame from the peer (heartbeat) */
    proto_server *srv;
    ws_conn *ws;   /* NULL after on_close */
    uint32_t refs; /* 1 for the open ws + 1 per allocated op */
    bool init_received;
    bool acked;
    uint64_t opened_ms;
    double tokens; /* rate-limit bucket */
    uint64_t tokens_ms;
    struct proto_sub *ops; /* active operations (ids reserved) */
    uint32_t nops;
    proto_caller caller;
    /* Embedded mode (proto_ws_attach, compat_ws.c): outbound messages go to
     * tap instead of the socket; the socket's callbacks belong to the
     * embedding transport, which feeds messages in with proto_ws_feed. */
    proto_ws_tap_fn tap;
    void *tap_ud;
    const char *service; /* exec service for this conn's operations */
};

struct proto_sub {
    struct proto_sub *next, *prev; /* conn->ops while active */
    gqlws_conn *conn;
    char *id;
    gql_exec *ex;
    gql_op_kind kind;
    const char *field;
    const gql_value *args;
    const proto_sub_source *src;
    void *src_state;
    bool src_active;  /* start succeeded, neither stop nor source end yet */
    bool source_done; /* source completed or failed */
    char *fail_msg;   /* cd_malloc'd, when the source failed */
    const char *fail_code;
    gqlws_event *q_head, *q_tail, *running_ev;
    uint32_t q_len;
    bool running; /* gql_exec_run in flight */
    bool pumping;
    bool in_start;
    bool active; /* linked in conn->ops */
    bool ended;  /* cancelled or finished: release when idle */
    uint64_t t0_ns;
    uint64_t k1, k2;             /* document key: hash of query, operation name, variables */
    bool shareable;              /* k1/k2 are set: events may reuse a group's result */
    gqlws_result *running_res;   /* the shared result this op's run fills */
    struct proto_sub *wait_next; /* in a pending result's waiter list */
};

typedef struct gqlws_server_state {
    uv_timer_t timer;
    bool timer_on;
    gqlws_conn *init_head; /* connections that have not sent connection_init */
    uint64_t next_hb_ms;   /* next heartbeat pass over srv->ws_head */
} gqlws_server_state;

static gqlws_server_state *gqlws_state; /* one per process (one loop) */

static void list_push(gqlws_conn **head, gqlws_conn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head) (*head)->prev = c;
    *head = c;
}

static void list_unlink(gqlws_conn **head, gqlws_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (*head == c)
        *head = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* Moves a connection from the init list to the server's list. */
static void conn_promote(gqlws_conn *c)
{
    if (!c->in_init_list) return;
    c->in_init_list = false;
    list_unlink(&gqlws_state->init_head, c);
    list_push(&c->srv->ws_head, c);
}

static void conn_unref(gqlws_conn *c)
{
    if (--c->refs == 0) {
        proto_caller_free(&c->caller);
        cd_free(c);
    }
}

static void conn_close(gqlws_conn *c, int code, const char *reason)
{
    if (!c->ws || ws_conn_closing(c->ws)) return;
    cd_metrics_ws_close(code);
    cd_debug("gqlws", "close code=%d reason=\"%s\"", code, reason);
    ws_close(c->ws, code, reason);
}

/* Sends one text frame unless the connection is gone or over its queue
 * limit (then closes it 4008). Returns 0 or a negative code. */
static int conn_send(gqlws_conn *c, const char *data, size_t len)
{
    if (!c->ws || ws_conn_closing(c->ws)) return CD_ECLOSED;
    if (c->tap) return c->tap(c->tap_ud, data, len);
    if (ws_conn_write_queue(c->ws) + len > c->srv->cfg->ws_max_queued) {
        cd_warn("gqlws", "slow consumer: %zu bytes queued, closing", ws_conn_write_queue(c->ws));
        conn_close(c, GQLWS_CLOSE_SLOW_CONSUMER, "Slow consumer: outbound queue limit exceeded");
        return CD_ELIMIT;
    }
    int rc = ws_send_text(c->ws, data, len);
    if (rc == 0) cd_metrics_g.ws_messages_out++;
    return rc;
}

static void send_simple(gqlws_conn *c, const char *type, const char *id, const gql_value *payload)
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
    if (!cd_buf_failed(&b)) conn_send(c, b.data, b.len);
    cd_buf_free(&b);
}

/* {"id":..,"type":"next"|"error","payload":<json>} with payload text given. */
static void send_payload(gqlws_conn *c, const char *type, const char *id, const char *json,
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
        if (conn_send(c, b.data, b.len) == 0 && type[0] == 'n') cd_metrics_g.events_delivered++;
    }
    cd_buf_free(&b);
}

/* One error object (no location): {"message":..,"extensions":{"code":..}}. */
static void write_error_obj(cd_buf *b, const char *msg, const char *code, const char *path0,
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

static uint64_t now_ms(const proto_server *srv)
{
    return uv_now(srv->loop);
}

/* ---- operations ---- */

proto_event *proto_event_new(const gql_value *value)
{
    proto_event *ev = cd_calloc(1, sizeof *ev);
    if (!ev) return NULL;
    ev->refs = 1;
    cd_arena_init(&ev->arena, 1024);
    ev->value = gql_value_clone(&ev->arena, value);
    if (!ev->value) {
        cd_arena_free(&ev->arena);
        cd_free(ev);
        return NULL;
    }
    return ev;
}

void proto_event_release(proto_event *ev)
{
    if (!ev || --ev->refs > 0) return;
    for (unsigned i = 0; ev->results && i < GQLWS_RESULT_BUCKETS; i++) {
        while (ev->results[i]) {
            gqlws_result *r = ev->results[i];
            ev->results[i] = r->next;
            cd_free(r->json);
            cd_free(r);
        }
    }
    cd_free(ev->results);
    cd_arena_free(&ev->arena);
    cd_free(ev);
}

static void ev_free(gqlws_event *e)
{
    if (!e) return;
    proto_event_release(e->ev);
    cd_free(e);
}

static void op_unlink(struct proto_sub *op)
{
    if (!op->active) return;
    gqlws_conn *c = op->conn;
    if (op->prev)
        op->prev->next = op->next;
    else
        c->ops = op->next;
    if (op->next) op->next->prev = op->prev;
    op->next = op->prev = NULL;
    op->active = false;
    c->nops--;
    if (op->kind == GQL_SUBSCRIPTION) cd_metrics_g.subscriptions--;
}

static void op_release(struct proto_sub *op)
{
    if (!op->ended || op->running || op->pumping || op->in_start) return;
    op_unlink(op);
    while (op->q_head) {
        gqlws_event *e = op->q_head;
        op->q_head = e->next;
        ev_free(e);
    }
    ev_free(op->running_ev);
    if (op->ex) gql_exec_free(op->ex);
    cd_free(op->fail_msg);
    cd_free(op->id);
    gqlws_conn *c = op->conn;
    cd_free(op);
    conn_unref(c);
}

/* Stops the operation (client complete, close, drain): the source's stop
 * runs now, queued events are dropped, a run in flight finishes unseen. */
static void op_cancel(struct proto_sub *op)
{
    if (op->ended) return;
    op->ended = true;
    op_unlink(op);
    if (op->src_active) {
        op->src_active = false;
        op->src->stop(op->src_state, op->src->ud);
    }
    op_release(op);
}

/* Normal end: `complete` to the client, then release. */
static void op_finish(struct proto_sub *op)
{
    if (op->ended) return;
    op->ended = true;
    if (op->conn->ws) send_simple(op->conn, "complete", op->id, NULL);
    op_unlink(op);
    op_release(op);
}

static void op_pump(struct proto_sub *op);

/* ---- shared results (see the file comment) ---- */

static const char *op_service(const struct proto_sub *op)
{
    return op->conn->tap ? op->conn->service : op->conn->srv->service;
}

static bool caller_is(const gqlws_result *r, const proto_caller *c)
{
    const char *p = r->caller;
    if (strcmp(p, c->user_id) != 0) return false;
    p += strlen(p) + 1;
    if (strcmp(p, c->username) != 0) return false;
    p += strlen(p) + 1;
    return strcmp(p, c->client_ip) == 0;
}

/* The bucket of op's group: its document key mixed with its user id. */
static unsigned result_bucket(const struct proto_sub *op)
{
    uint64_t h = op->k1;
    for (const char *p = op->conn->caller.user_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return (unsigned)(h ^ (h >> 32)) % GQLWS_RESULT_BUCKETS;
}

static gqlws_result *result_find(proto_event *ev, const struct proto_sub *op)
{
    if (!ev->results) return NULL;
    const proto_caller *c = &op->conn->caller;
    const char *svc = op_service(op);
    for (gqlws_result *r = ev->results[result_bucket(op)]; r; r = r->next)
        if (r->k1 == op->k1 && r->k2 == op->k2 && r->service == svc &&
            r->authenticated == c->authenticated && r->trust == c->trust && caller_is(r, c))
            return r;
    return NULL;
}

/* A pending result for op's group, linked on the event; NULL on OOM (the op
 * then runs unshared). */
static gqlws_result *result_new(proto_event *ev, const struct proto_sub *op)
{
    const proto_caller *c = &op->conn->caller;
    if (!ev->results) {
        ev->results = cd_calloc(GQLWS_RESULT_BUCKETS, sizeof *ev->results);
        if (!ev->results) return NULL;
    }
    size_t lu = strlen(c->user_id), ln = strlen(c->username), li = strlen(c->client_ip);
    gqlws_result *r = cd_calloc(1, sizeof *r + lu + ln + li + 3);
    if (!r) return NULL;
    r->k1 = op->k1;
    r->k2 = op->k2;
    r->service = op_service(op);
    r->authenticated = c->authenticated;
    r->trust = c->trust;
    memcpy(r->caller, c->user_id, lu + 1);
    memcpy(r->caller + lu + 1, c->username, ln + 1);
    memcpy(r->caller + lu + ln + 2, c->client_ip, li + 1);
    unsigned b = result_bucket(op);
    r->next = ev->results[b];
    ev->results[b] = r;
    return r;
}

static void result_unlink(proto_event *ev, const struct proto_sub *op, gqlws_result *r)
{
    for (gqlws_result **pp = &ev->results[result_bucket(op)]; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            return;
        }
}

/* Sends one subscription event's payload text as `next`. */
static void op_send_event(struct proto_sub *op, const char *json, size_t len)
{
    if (op->ended || !op->conn->ws) return;
    send_payload(op->conn, "next", op->id, json, len);
    cd_metrics_g.sub_deliveries++;
}

/* The runner's result is known (or failed: json NULL): hand it to every op
 * that waited for it. A waiter whose result failed gets its event back at
 * the head of its queue and runs it itself. */
static void result_wake(gqlws_result *r)
{
    struct proto_sub *w = r->waiters;
    r->waiters = r->waiters_tail = NULL;
    while (w) {
        struct proto_sub *next = w->wait_next;
        w->wait_next = NULL;
        w->running = false;
        gqlws_event *e = w->running_ev;
        w->running_ev = NULL;
        if (r->json) {
            op_send_event(w, r->json, r->len);
            ev_free(e);
        } else if (e) {
            e->next = w->q_head;
            w->q_head = e;
            if (!w->q_tail) w->q_tail = e;
            w->q_len++;
        }
        if (w->ended)
            op_release(w);
        else
            op_pump(w);
        w = next;
    }
}

static void op_run_done(gql_exec *ex, void *ud)
{
    struct proto_sub *op = ud;
    op->running = false;
    /* the result may point into the event's value: free it after writing */
    gqlws_event *done_ev = op->running_ev;
    op->running_ev = NULL;
    gqlws_result *res = op->running_res;
    op->running_res = NULL;
    if (res) {
        /* shared: serialise once even if this op ended meanwhile */
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(ex, &b);
        if (!cd_buf_failed(&b)) res->json = cd_buf_steal(&b, &res->len);
        cd_buf_free(&b);
        res->done = true;
        if (!res->json) result_unlink(done_ev->ev, op, res);
        if (res->json) op_send_event(op, res->json, res->len);
        if (!op->q_head && !op->ended) gql_exec_trim(ex);
        bool was_pumping = op->pumping;
        op->pumping = true; /* waiters may re-enter; keep this op alive */
        result_wake(res);
        op->pumping = was_pumping;
        if (!res->json) cd_free(res);
    } else if (!op->ended && op->conn->ws) {
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(ex, &b);
        if (!cd_buf_failed(&b)) {
            if (op->kind == GQL_SUBSCRIPTION)
                op_send_event(op, b.data, b.len);
            else
                send_payload(op->conn, "next", op->id, b.data, b.len);
        }
        cd_buf_free(&b);
        if (op->kind != GQL_SUBSCRIPTION) {
            uint32_t nerr = 0;
            gql_exec_errors(ex, &nerr);
            uint64_t dt = uv_hrtime() - op->t0_ns;
            cd_metrics_operation((int)op->kind, nerr ? CD_MO_ERROR : CD_MO_OK, (double)dt / 1e9);
            op->source_done = true; /* one result only */
        } else if (!op->q_head) {
            gql_exec_trim(ex); /* idle subscription: keep only the prepared state */
        }
    }
    ev_free(done_ev);
    if (op->ended) {
        op_release(op);
        return;
    }
    op_pump(op);
}

/* Runs queued events one at a time; finishes once the source is done and
 * the queue is empty. Re-entrant calls (a synchronous run completing inside
 * gql_exec_run) return at once; the outer loop continues. */
static void op_pump(struct proto_sub *op)
{
    if (op->pumping || op->in_start) return;
    op->pumping = true;
    while (!op->ended && !op->running) {
        if (op->q_head) {
            gqlws_event *e = op->q_head;
            op->q_head = e->next;
            if (!op->q_head) op->q_tail = NULL;
            op->q_len--;
            gqlws_result *res = NULL;
            if (e->ev && op->shareable) {
                res = result_find(e->ev, op);
                if (res && res->done) { /* executed for another subscriber */
                    op_send_event(op, res->json, res->len);
                    ev_free(e);
                    continue;
                }
                if (res) { /* running for another subscriber: wait for it */
                    op->running_ev = e;
                    op->running = true;
                    if (res->waiters_tail)
                        res->waiters_tail->wait_next = op;
                    else
                        res->waiters = op;
                    res->waiters_tail = op;
                    continue;
                }
                /* worth keeping only if someone else holds the event */
                if (e->ev->refs > 1) res = result_new(e->ev, op);
            }
            op->running_ev = e;
            op->running = true;
            op->running_res = res;
            if (op->kind == GQL_SUBSCRIPTION) cd_metrics_g.sub_executions++;
            gql_exec_opts o = {.service =
                                   op->conn->tap ? op->conn->service : op->conn->srv->service,
                               .context = &op->conn->caller,
                               .no_introspection = !op->conn->srv->cfg->introspection};
            int rc = gql_exec_run(op->ex, &e->root, &o, op_run_done, op);
            if (rc != 0) {
                op->running = false;
                if (op->running_res) { /* not started: nobody can be waiting yet */
                    result_unlink(e->ev, op, op->running_res);
                    cd_free(op->running_res);
                    op->running_res = NULL;
                }
                ev_free(op->running_ev);
                op->running_ev = NULL;
                cd_error("gqlws", "gql_exec_run failed: %s", cd_strerror(rc));
            }
            continue;
        }
        if (op->source_done) {
            if (op->fail_msg && op->conn->ws) {
                cd_buf b;
                cd_buf_init(&b);
                cd_buf_puts(&b, "{\"errors\":[");
                write_error_obj(&b, op->fail_msg, op->fail_code, op->field, NULL);
                cd_buf_puts(&b, "]}");
                if (!cd_buf_failed(&b)) send_payload(op->conn, "next", op->id, b.data, b.len);
                cd_buf_free(&b);
            }
            op->pumping = false;
            op_finish(op);
            return;
        }
        break;
    }
    op->pumping = false;
    if (op->ended) op_release(op);
}

/* ---- source API (subscribe.h) ---- */

int proto_sub_emit_event(proto_sub *op, proto_event *ev)
{
    if (op->ended || op->source_done || !op->conn->ws || ws_conn_closing(op->conn->ws))
        return CD_ECLOSED;
    if (op->q_len >= GQLWS_MAX_PENDING_EVENTS) {
        conn_close(op->conn, GQLWS_CLOSE_SLOW_CONSUMER, "Slow consumer: too many pending events");
        return CD_ELIMIT;
    }
    gqlws_event *e = cd_calloc(1, sizeof *e);
    if (!e) return CD_ENOMEM;
    ev->refs++;
    e->ev = ev;
    e->kv.name = op->field;
    e->kv.value = *ev->value;
    e->root.kind = GQL_V_OBJECT;
    e->root.len = 1;
    e->root.u.fields = &e->kv;
    if (op->q_tail)
        op->q_tail->next = e;
    else
        op->q_head = e;
    op->q_tail = e;
    op->q_len++;
    op_pump(op);
    return 0;
}

int proto_sub_emit(proto_sub *op, const gql_value *value)
{
    if (op->ended || op->source_done || !op->conn->ws || ws_conn_closing(op->conn->ws))
        return CD_ECLOSED;
    proto_event *ev = proto_event_new(value);
    if (!ev) return CD_ENOMEM;
    int rc = proto_sub_emit_event(op, ev);
    proto_event_release(ev);
    return rc;
}

void proto_sub_complete(proto_sub *op)
{
    if (op->ended || op->source_done) return;
    op->source_done = true;
    op->src_active = false;
    op_pump(op);
}

void proto_sub_fail(proto_sub *op, const char *code, const char *message)
{
    if (op->ended || op->source_done) return;
    op->source_done = true;
    op->src_active = false;
    op->fail_code = code ? code : "INTERNAL_SERVER_ERROR";
    size_t n = strlen(message);
    op->fail_msg = cd_malloc(n + 1);
    if (op->fail_msg) memcpy(op->fail_msg, message, n + 1);
    op_pump(op);
}

const proto_caller *proto_sub_caller(const proto_sub *op)
{
    return &op->conn->caller;
}

const gql_value *proto_sub_args(const proto_sub *op)
{
    return op->args;
}

uv_loop_t *proto_sub_loop(const proto_sub *op)
{
    return op->conn->srv->loop;
}

/* ---- message handlers ---- */

/* Sets a caller field from a string value when present (absent keys keep
 * what the upgrade request's headers gave). */
static void copy_str(proto_caller *c, proto_caller_field f, const gql_value *v)
{
    if (!v || v->kind != GQL_V_STRING) return;
    proto_caller_set(c, NULL, f, v->u.s, v->len);
}

static void handle_init(gqlws_conn *c, const gqlws_msg *m)
{
    if (c->init_received) {
        conn_close(c, GQLWS_CLOSE_TOO_MANY_INITS, "Too many initialisation requests");
        return;
    }
    c->init_received = true;
    conn_promote(c);
    const cd_config *cfg = c->srv->cfg;
    const gql_value *p = m->payload;
    if (cfg->auth == CD_AUTH_TOKEN) {
        const gql_value *tok = p ? gql_obj_get(p, "authToken") : NULL;
        const char *t = NULL;
        size_t tl = 0;
        if (tok && tok->kind == GQL_V_STRING) {
            t = tok->u.s;
            tl = tok->len;
        } else {
            const gql_value *h = p ? gql_obj_get(p, "Authorization") : NULL;
            if (!h && p) h = gql_obj_get(p, "authorization");
            if (h && h->kind == GQL_V_STRING && auth_bearer(h->u.s, h->len, &t, &tl) != 0) {
                t = h->u.s; /* a bare token */
                tl = h->len;
            }
        }
        auth_identity id;
        const char *why = "missing token";
        if (!t || !cfg->jwt_secret || auth_verify(cfg->jwt_secret, t, tl, 0, &id, &why) != 0) {
            cd_info("gqlws", "connection_init refused: %s", why);
            conn_close(c, GQLWS_CLOSE_FORBIDDEN, "Forbidden");
            return;
        }
        c->caller.authenticated = true;
        proto_caller_set(&c->caller, NULL, PROTO_CALLER_USER_ID, id.sub, strlen(id.sub));
        proto_caller_set(&c->caller, NULL, PROTO_CALLER_USERNAME, id.username, strlen(id.username));
        c->caller.token_exp = id.exp;
    } else if (p) {
        const gql_value *u = gql_obj_get(p, "user-id");
        if (!u) u = gql_obj_get(p, "userId");
        copy_str(&c->caller, PROTO_CALLER_USER_ID, u);
        copy_str(&c->caller, PROTO_CALLER_USERNAME, gql_obj_get(p, "username"));
    }
    c->acked = true;
    send_simple(c, "connection_ack", NULL, NULL);
}

static struct proto_sub *op_find(gqlws_conn *c, const char *id, size_t len)
{
    for (struct proto_sub *op = c->ops; op; op = op->next)
        if (strlen(op->id) == len && memcmp(op->id, id, len) == 0) return op;
    return NULL;
}

/* Sends `error` with the exec's request errors (an array). */
static void send_request_errors(gqlws_conn *c, const char *id, gql_exec *ex)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    /* without data the writer emits exactly {"errors":[...]} */
    static const char pre[] = "{\"errors\":";
    if (!cd_buf_failed(&b) && b.len > sizeof pre && memcmp(b.data, pre, sizeof pre - 1) == 0 &&
        b.data[b.len - 1] == '}')
        send_payload(c, "error", id, b.data + sizeof pre - 1, b.len - sizeof pre);
    else
        send_payload(c, "error", id, "[{\"message\":\"Internal server error\"}]", 38);
    cd_buf_free(&b);
}

static void send_error_one(gqlws_conn *c, const char *id, const char *msg, const char *code)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_putc(&b, '[');
    write_error_obj(&b, msg, code, NULL, NULL);
    cd_buf_putc(&b, ']');
    if (!cd_buf_failed(&b)) send_payload(c, "error", id, b.data, b.len);
    cd_buf_free(&b);
}

/* Two independent 64-bit hashes of one byte run (FNV-1a; a multiplicative
 * hash with a splitmix finaliser), chained over several runs. */
static void key_mix(uint64_t *k1, uint64_t *k2, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *k1 = (*k1 ^ b[i]) * 0x100000001b3ull;
        *k2 = (*k2 + b[i] + 1) * 0x9e3779b97f4a7c15ull;
        *k2 ^= *k2 >> 29;
    }
    uint64_t len = n;
    *k1 = (*k1 ^ len) * 0x100000001b3ull; /* run boundary: "ab"+"c" != "a"+"bc" */
    *k2 = (*k2 ^ (len + 0x5851f42d4c957f2dull)) * 0xbf58476d1ce4e5b9ull;
    *k2 ^= *k2 >> 31;
}

/* The document key of a subscription: query text, operation name and the
 * variables as sent (coercion is deterministic, so equal inputs give equal
 * coerced variables). False when it could not be built (the op then never
 * shares results). */
static bool doc_key(const gqlws_msg *m, uint64_t *k1, uint64_t *k2)
{
    *k1 = 0xcbf29ce484222325ull;
    *k2 = 0x2545f4914f6cdd1dull;
    key_mix(k1, k2, m->query, m->query_len);
    const char *opn = m->operation_name;
    key_mix(k1, k2, opn ? "1" : "0", 1);
    if (opn) key_mix(k1, k2, opn, strlen(opn));
    cd_buf b;
    cd_buf_init(&b);
    if (m->variables) gql_json_write(&b, m->variables);
    bool ok = !cd_buf_failed(&b);
    if (ok) key_mix(k1, k2, b.data ? b.data : "", b.len);
    cd_buf_free(&b);
    return ok;
}

static void handle_subscribe(gqlws_conn *c, const gqlws_msg *m)
{
    proto_server *srv = c->srv;
    if (!c->acked) {
        conn_close(c, GQLWS_CLOSE_UNAUTHORIZED, "Unauthorized");
        return;
    }
    if (op_find(c, m->id, m->id_len)) {
        char reason[GQLWS_MAX_ID_LEN + 40];
        snprintf(reason, sizeof reason, "Subscriber for %s already exists", m->id);
        conn_close(c, GQLWS_CLOSE_SUBSCRIBER_EXISTS, reason);
        return;
    }
    if (c->nops >= srv->cfg->max_subscriptions) {
        char msg[128];
        snprintf(msg, sizeof msg, "Too many active operations on this connection (limit %u)",
                 srv->cfg->max_subscriptions);
        send_error_one(c, m->id, msg, "TOO_MANY_OPERATIONS");
        cd_metrics_operation(GQL_SUBSCRIPTION, CD_MO_REJECTED, -1);
        return;
    }
    struct proto_sub *op = cd_calloc(1, sizeof *op);
    char *id = cd_malloc(m->id_len + 1);
    gql_exec *ex = gql_exec_new(srv->schema, srv->cache);
    if (!op || !id || !ex) {
        cd_free(op);
        cd_free(id);
        if (ex) gql_exec_free(ex);
        conn_close(c, GQLWS_CLOSE_INTERNAL, "Internal server error");
        return;
    }
    memcpy(id, m->id, m->id_len + 1);
    op->id = id;
    op->ex = ex;
    op->conn = c;
    op->t0_ns = uv_hrtime();
    c->refs++;

    if (gql_exec_prepare(ex, m->query, m->query_len, m->operation_name) != 0 ||
        gql_exec_set_variables(ex, m->variables) != 0) {
        send_request_errors(c, id, ex);
        cd_metrics_operation(GQL_QUERY, CD_MO_REJECTED, -1);
        op->ended = true;
        op_release(op);
        return;
    }
    op->kind = gql_exec_op(ex);
    /* reserve the id */
    op->active = true;
    op->next = c->ops;
    if (c->ops) c->ops->prev = op;
    c->ops = op;
    c->nops++;
    if (op->kind == GQL_SUBSCRIPTION) cd_metrics_g.subscriptions++;

    const gql_value *args = NULL;
    const char *field = op->kind == GQL_SUBSCRIPTION ? gql_exec_root_field(ex, &args) : NULL;
    if (op->kind != GQL_SUBSCRIPTION || !field) {
        /* query / mutation (or a subscription selecting only __typename):
         * one result, then complete */
        gqlws_event *e = cd_calloc(1, sizeof *e);
        if (!e) {
            op_cancel(op);
            conn_close(c, GQLWS_CLOSE_INTERNAL, "Internal server error");
            return;
        }
        e->root.kind = GQL_V_OBJECT; /* {} */
        op->q_head = op->q_tail = e;
        op->q_len = 1;
        op->source_done = true;
        op_pump(op);
        return;
    }
    op->field = field;
    op->args = args;
    op->shareable = doc_key(m, &op->k1, &op->k2);

    char coord[160];
    snprintf(coord, sizeof coord, "Subscription.%s", field);
    const char *owner = gql_schema_owner(srv->schema, coord);
    const char *service = c->tap ? c->service : srv->service;
    if (service && owner && strcmp(owner, srv->service) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "Field \"%s\" is served by the %s service", field, owner);
        cd_buf b;
        cd_buf_init(&b);
        cd_buf_puts(&b, "{\"errors\":[");
        write_error_obj(&b, msg, "WRONG_SERVICE", field, owner);
        cd_buf_puts(&b, "]}");
        if (!cd_buf_failed(&b)) send_payload(c, "next", id, b.data, b.len);
        cd_buf_free(&b);
        cd_metrics_operation(GQL_SUBSCRIPTION, CD_MO_ERROR, -1);
        op_finish(op);
        return;
    }
    const proto_sub_source *src = proto_sub_lookup(field);
    if (!src) {
        char msg[200];
        snprintf(msg, sizeof msg, "Subscription field \"%s\" has no event source in this process",
                 field);
        proto_sub_fail(op, "NOT_IMPLEMENTED", msg);
        cd_metrics_operation(GQL_SUBSCRIPTION, CD_MO_ERROR, -1);
        return;
    }
    op->src = src;
    op->in_start = true;
    const char *code = NULL;
    char err[256] = "";
    void *state = NULL;
    int rc = src->start(op, args, &c->caller, src->ud, &state, &code, err, sizeof err);
    op->in_start = false;
    if (rc != 0) {
        if (!op->source_done) {
            op->source_done = true;
            op->fail_code = code ? code : "INTERNAL_SERVER_ERROR";
            size_t n = strlen(err[0] ? err : cd_strerror(rc));
            op->fail_msg = cd_malloc(n + 1);
            if (op->fail_msg) memcpy(op->fail_msg, err[0] ? err : cd_strerror(rc), n + 1);
        }
        cd_metrics_operation(GQL_SUBSCRIPTION, CD_MO_ERROR, -1);
    } else {
        op->src_state = state;
        if (!op->source_done && !op->ended) op->src_active = true;
        cd_metrics_operation(GQL_SUBSCRIPTION, CD_MO_OK, -1);
    }
    if (op->ended)
        op_release(op);
    else
        op_pump(op);
}

static bool rate_ok(gqlws_conn *c)
{
    const cd_config *cfg = c->srv->cfg;
    if (!cfg->ws_rate) return true;
    uint64_t now = now_ms(c->srv);
    double add = (double)(now - c->tokens_ms) * cfg->ws_rate / 1000.0;
    c->tokens_ms = now;
    c->tokens += add;
    if (c->tokens > cfg->ws_burst) c->tokens = cfg->ws_burst;
    if (c->tokens < 1.0) return false;
    c->tokens -= 1.0;
    return true;
}

static void conn_message(gqlws_conn *c, const char *data, size_t len)
{
    if (!c->tap) cd_metrics_g.ws_messages_in++;
    c->last_rx_ms = now_ms(c->srv);
    if (len > c->srv->cfg->max_ws_message) {
        conn_close(c, WS_CLOSE_TOO_BIG, "Message too big");
        return;
    }
    if (!c->tap && !rate_ok(c)) {
        conn_close(c, GQLWS_CLOSE_RATE_LIMITED, "Too many messages");
        return;
    }
    cd_arena a;
    cd_arena_init(&a, len + 512);
    gqlws_msg m;
    char reason[200];
    int rc = gqlws_parse_message(&a, data, len, &m, reason, sizeof reason);
    if (rc == CD_ENOMEM) {
        conn_close(c, GQLWS_CLOSE_INTERNAL, "Internal server error");
    } else if (rc != 0) {
        conn_close(c, GQLWS_CLOSE_BAD_REQUEST, reason);
    } else {
        c->refs++; /* handlers may trigger on_close synchronously */
        switch (m.type) {
        case GQLWS_MSG_CONNECTION_INIT:
            handle_init(c, &m);
            break;
        case GQLWS_MSG_PING:
            send_simple(c, "pong", NULL, m.payload);
            break;
        case GQLWS_MSG_PONG:
            break;
        case GQLWS_MSG_SUBSCRIBE:
            handle_subscribe(c, &m);
            break;
        case GQLWS_MSG_COMPLETE: {
            struct proto_sub *op = op_find(c, m.id, m.id_len);
            if (op) op_cancel(op);
            break;
        }
        case GQLWS_MSG_INVALID:
            break;
        }
        conn_unref(c);
    }
    cd_arena_free(&a);
}

static void on_message(ws_conn *ws, bool is_text, const char *data, size_t len)
{
    CD_UNUSED(is_text);
    gqlws_conn *c = ws_conn_user(ws);
    if (!c || ws_conn_closing(ws)) return;
    conn_message(c, data, len);
}

static void conn_closed(gqlws_conn *c);

static void on_close(ws_conn *ws, int code, const char *reason, size_t reason_len)
{
    CD_UNUSED(reason_len);
    gqlws_conn *c = ws_conn_user(ws);
    if (!c) { /* refused subprotocol (4406) */
        cd_metrics_conn_close(CD_MT_WS);
        return;
    }
    cd_debug("gqlws", "closed code=%d reason=\"%s\" ops=%u", code, reason, c->nops);
    ws_conn_set_user(ws, NULL);
    conn_closed(c);
}

/* The socket is gone: cancel every operation, unlink, drop the open ref. */
static void conn_closed(gqlws_conn *c)
{
    c->refs++;
    while (c->ops)
        op_cancel(c->ops);
    c->ws = NULL;
    proto_server *srv = c->srv;
    if (c->in_init_list) {
        c->in_init_list = false;
        list_unlink(&gqlws_state->init_head, c);
    } else {
        list_unlink(&srv->ws_head, c);
    }
    if (!c->tap) cd_metrics_conn_close(CD_MT_WS);
    conn_unref(c); /* our temporary ref */
    conn_unref(c); /* the open-ws ref */
}

static void on_pong(ws_conn *ws, const char *data, size_t len)
{
    CD_UNUSED(data);
    CD_UNUSED(len);
    gqlws_conn *c = ws_conn_user(ws);
    if (c) c->last_rx_ms = now_ms(c->srv);
}

static const ws_callbacks gqlws_callbacks = {
    .on_message = on_message, .on_close = on_close, .on_pong = on_pong};

/* The server-wide sweep. Every GQLWS_SWEEP_MS: connections that sent no
 * connection_init within the timeout are closed 4408 (only the init list is
 * walked). Every ws_ping_ms/2: a WebSocket ping to each connection silent
 * for ws_ping_ms, close 4504 for one silent for twice that (a dead peer
 * would otherwise hold its subscriptions forever). Unreferenced: the timer
 * never keeps the loop alive. */
static void sweep_cb(uv_timer_t *t)
{
    proto_server *srv = t->data;
    uint64_t now = now_ms(srv);
    for (gqlws_conn *c = gqlws_state->init_head; c;) {
        gqlws_conn *next = c->next;
        if (c->ws && !ws_conn_closing(c->ws) && now - c->opened_ms >= srv->cfg->ws_init_timeout_ms)
            conn_close(c, GQLWS_CLOSE_INIT_TIMEOUT, "Connection initialisation timeout");
        c = next;
    }
    uint32_t ping = srv->cfg->ws_ping_ms;
    if (!ping || now < gqlws_state->next_hb_ms) return;
    gqlws_state->next_hb_ms = now + ping / 2;
    for (gqlws_conn *c = srv->ws_head; c;) {
        gqlws_conn *next = c->next;
        if (c->ws && !ws_conn_closing(c->ws)) {
            uint64_t silent = now - c->last_rx_ms;
            if (silent >= 2ull * ping)
                conn_close(c, GQLWS_CLOSE_PING_TIMEOUT, "Ping timeout");
            else if (silent >= ping)
                ws_ping(c->ws, NULL, 0);
        }
        c = next;
    }
}

static void ensure_sweep(proto_server *srv)
{
    if (gqlws_state) return;
    gqlws_state = cd_calloc(1, sizeof *gqlws_state);
    if (!gqlws_state) return;
    uv_timer_init(srv->loop, &gqlws_state->timer);
    gqlws_state->timer.data = srv;
    unsigned period = GQLWS_SWEEP_MS;
    if (srv->cfg->ws_init_timeout_ms < 4 * period) period = srv->cfg->ws_init_timeout_ms / 4 + 1;
    if (srv->cfg->ws_ping_ms && srv->cfg->ws_ping_ms < 4 * period)
        period = srv->cfg->ws_ping_ms / 4 + 1;
    uv_timer_start(&gqlws_state->timer, sweep_cb, period, period);
    uv_unref((uv_handle_t *)&gqlws_state->timer);
    gqlws_state->timer_on = true;
}

static void state_closed(uv_handle_t *h)
{
    CD_UNUSED(h);
    cd_free(gqlws_state);
    gqlws_state = NULL;
}

void proto_ws_shutdown(proto_server *srv)
{
    for (gqlws_conn *c = srv->ws_head; c; c = c->next) {
        while (c->ops)
            op_cancel(c->ops);
    }
    /* the state goes away with its timer: connections still waiting for
     * connection_init move to the server's list (the net layer closes them) */
    while (gqlws_state && gqlws_state->init_head)
        conn_promote(gqlws_state->init_head);
    if (gqlws_state && gqlws_state->timer_on) {
        gqlws_state->timer_on = false;
        uv_timer_stop(&gqlws_state->timer);
        uv_close((uv_handle_t *)&gqlws_state->timer, state_closed);
    }
}

void proto_ws_upgrade(proto_server *srv, http_request *req)
{
    static const char *const protos[] = {GQLWS_PROTOCOL, NULL};
    const char *proto = ws_select_protocol(req, protos);
    gqlws_conn *c = NULL;
    if (proto) {
        c = cd_calloc(1, sizeof *c);
        if (!c) {
            http_respond(req, 503, "text/plain", NULL, "out of memory\n", 14);
            return;
        }
        c->srv = srv;
        c->refs = 1;
        proto_caller_init(&c->caller, srv);
        c->caller.trust = srv->cfg->auth == CD_AUTH_TRUST;
        c->caller.transport = c;
        if (req->client_ip)
            proto_caller_set(&c->caller, NULL, PROTO_CALLER_CLIENT_IP, req->client_ip,
                             strlen(req->client_ip));
        c->opened_ms = now_ms(srv);
        c->last_rx_ms = c->opened_ms;
        c->tokens = srv->cfg->ws_burst;
        c->tokens_ms = c->opened_ms;
        if (c->caller.trust) {
            /* the seed's client sends identity headers on the upgrade too */
            const char *u = http_req_header(req, "user-id");
            const char *n = http_req_header(req, "username");
            if (u) proto_caller_set(&c->caller, NULL, PROTO_CALLER_USER_ID, u, strlen(u));
            if (n) proto_caller_set(&c->caller, NULL, PROTO_CALLER_USERNAME, n, strlen(n));
        }
    }
    ws_conn *ws = NULL;
    int rc = ws_accept(req, proto, &gqlws_callbacks, c, &ws);
    if (rc != 0 || !ws) {
        if (c) {
            proto_caller_free(&c->caller);
            cd_free(c);
        }
        return;
    }
    cd_metrics_conn_open(CD_MT_WS);
    if (!c) {
        /* like graphql-ws: accept, then close with 4406 */
        ws_close(ws, GQLWS_CLOSE_SUBPROTOCOL, "Subprotocol not acceptable");
        cd_metrics_ws_close(GQLWS_CLOSE_SUBPROTOCOL);
        return;
    }
    c->ws = ws;
    ensure_sweep(srv);
    if (!gqlws_state) { /* no memory for the sweep: keep the conn usable */
        list_push(&srv->ws_head, c);
    } else {
        c->in_init_list = true;
        list_push(&gqlws_state->init_head, c);
    }
    srv->ws_count++;
}

/* Added for the user role (src/chat): a removed or deactivated account's
 * live connections are closed. The list may lose the closed entry
 * synchronously (on_close), so the next pointer is read first. */
int proto_ws_close_user(proto_server *srv, const char *user_id, int code, const char *reason)
{
    int n = 0;
    if (!user_id || !*user_id) return 0;
    for (gqlws_conn *c = srv->ws_head; c;) {
        gqlws_conn *next = c->next;
        if (c->ws && !ws_conn_closing(c->ws) && strcmp(c->caller.user_id, user_id) == 0) {
            conn_close(c, code, reason);
            n++;
        }
        c = next;
    }
    return n;
}

/* ---- embedded connections (protocol.h: proto_ws_attach) ---- */

gqlws_conn *proto_ws_attach(proto_server *srv, ws_conn *ws, const proto_caller *caller,
                            const char *service, proto_ws_tap_fn tap, void *ud)
{
    gqlws_conn *c = cd_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = srv;
    c->refs = 1;
    c->ws = ws;
    c->tap = tap;
    c->tap_ud = ud;
    c->service = service;
    proto_caller_init(&c->caller, srv);
    c->caller.trust = caller->trust;
    c->caller.authenticated = caller->authenticated;
    c->caller.token_exp = caller->token_exp;
    c->caller.transport = c;
    proto_caller_set(&c->caller, NULL, PROTO_CALLER_USER_ID, caller->user_id,
                     strlen(caller->user_id));
    proto_caller_set(&c->caller, NULL, PROTO_CALLER_USERNAME, caller->username,
                     strlen(caller->username));
    proto_caller_set(&c->caller, NULL, PROTO_CALLER_CLIENT_IP, caller->client_ip,
                     strlen(caller->client_ip));
    c->opened_ms = now_ms(srv);
    c->last_rx_ms = c->opened_ms;
    c->init_received = true;
    c->acked = true;
    ensure_sweep(srv);
    list_push(&srv->ws_head, c);
    srv->ws_count++;
    return c;
}

void proto_ws_feed(gqlws_conn *c, const char *data, size_t len)
{
    if (!c || !c->ws || ws_conn_closing(c->ws)) return;
    conn_message(c, data, len);
}

void proto_ws_touch(gqlws_conn *c)
{
    if (c) c->last_rx_ms = now_ms(c->srv);
}

void proto_ws_detach(gqlws_conn *c)
{
    if (c && c->ws) conn_closed(c);
}
