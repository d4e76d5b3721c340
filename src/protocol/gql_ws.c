/*
 * gql_ws.c — graphql-transport-ws (graphql-ws's PROTOCOL.md) on ws.h: the
 * message classification, the connection lifecycle (upgrade, init, close,
 * embedded connections), the inbound rate limit, and the init timeout and
 * heartbeat as deadlines.
 *
 * Per connection (gqlws_conn, gqlws_conn.h): the init state, the caller
 * identity, a token bucket for the inbound message rate, and the active
 * operations (subscribe.c: one per subscribe id), which hold a reference on
 * the conn while allocated. Connections that have not sent connection_init
 * wait on the init list, the others are on srv->ws_head.
 *
 * Timers without sweeps: each connection has one deadline (gqlws_conn.hb)
 * in a per-process heap (core/deadline.h) with one libuv timer armed at the
 * earliest; no interval walks the connections. Until connection_init the
 * deadline is the init timeout (close 4408). After it, the deadline is
 * last_rx_ms + ws_ping_ms: frames received only update last_rx_ms (no heap
 * operation per message); when the deadline comes, a connection heard from
 * since moves its deadline to last_rx_ms + ws_ping_ms, a silent one gets a
 * WebSocket ping and the deadline last_rx_ms + 2 * ws_ping_ms, and one still
 * silent then is closed 4504.
 *
 * Token lifetime (token mode): each authenticated connection has a deadline
 * at its token's expiry (conn_arm_expiry; a second heap like the heartbeat
 * one, no timer handle per connection); when it passes the socket is closed 4403 "Token
 * expired". A `ping` whose payload carries {"token": "<access token>"} of
 * the same user moves the deadline (proto_ws_refresh) and is answered with
 * a `pong` {"tokenExpiresAt": <unix s>}; another user's or an invalid token
 * closes the socket 4403.
 *
 * Close codes: see protocol.h and docs/api.md.
 */
#include "protocol/gql_ws.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "net/ws.h"
#include "protocol/gqlws_conn.h"
#include "protocol/protocol.h"
#include "protocol/subscribe_internal.h"

#define GQLWS_PROTOCOL "graphql-transport-ws"

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
/* connections                                                         */

/* One ordered set of deadlines with its timer (two per process: the
 * init/heartbeat deadline and the token expiry of each connection). */
typedef struct gqlws_timerq {
    uv_timer_t timer;
    uint64_t due; /* when `timer` fires; 0 = stopped */
    cd_deadlines q;
    size_t node_off; /* offsetof(gqlws_conn, <its cd_deadline>) */
    void (*expired)(gqlws_conn *c, uint64_t now);
} gqlws_timerq;

typedef struct gqlws_server_state {
    gqlws_timerq hb;       /* gqlws_conn.hb: init timeout, then heartbeat */
    gqlws_timerq exp;      /* gqlws_conn.exp: token expiry (token mode) */
    bool timer_on;         /* the timers are open (not shutting down) */
    unsigned closing;      /* timer handles still closing */
    uint32_t nconns;       /* connections counted in the reserved room */
    gqlws_conn *init_head; /* connections that have not sent connection_init */
} gqlws_server_state;

static gqlws_server_state *gqlws_state; /* one per process (one loop) */

/* ---- deadlines: init timeout, heartbeat and token expiry ---- */

static void tq_timer_cb(uv_timer_t *t);

static void tq_arm(gqlws_timerq *tq)
{
    cd_deadline *first = cd_deadlines_first(&tq->q);
    uint64_t due = first ? first->due : 0;
    if (due == tq->due) return;
    tq->due = due;
    if (!due) {
        uv_timer_stop(&tq->timer);
        return;
    }
    uint64_t now = uv_now(tq->timer.loop);
    uv_timer_start(&tq->timer, tq_timer_cb, due > now ? due - now : 0, 0);
}

/* Sets (due > 0) or clears one of c's deadlines. Room is reserved per
 * connection (hb_reserve), so this cannot fail. */
static void tq_set(gqlws_timerq *tq, gqlws_conn *c, uint64_t due)
{
    if (!gqlws_state || !gqlws_state->timer_on) return; /* none during shutdown */
    cd_deadline *d = (cd_deadline *)((char *)c + tq->node_off);
    if (!due) {
        cd_deadline_clear(&tq->q, d);
        return;
    }
    cd_deadline_set(&tq->q, d, due);
    if (!tq->due || due < tq->due) tq_arm(tq);
}

/* Takes only the expired deadlines, earliest first. Unreferenced: the
 * timers never keep the loop alive. */
static void tq_timer_cb(uv_timer_t *t)
{
    gqlws_timerq *tq = t->data;
    uint64_t now = uv_now(t->loop);
    tq->due = 0;
    cd_deadline *d;
    while ((d = cd_deadlines_pop(&tq->q, now)))
        tq->expired((gqlws_conn *)((char *)d - tq->node_off), now);
    tq_arm(tq);
}

static void hb_set(gqlws_conn *c, uint64_t due)
{
    if (gqlws_state) tq_set(&gqlws_state->hb, c, due);
}

/* The heartbeat deadline of an initialised connection (none without pings). */
static void hb_next(gqlws_conn *c)
{
    uint32_t ping = c->caller.srv->cfg->ws_ping_ms;
    hb_set(c, ping ? c->last_rx_ms + ping : 0);
}

/* c's init/heartbeat deadline passed (see the top of this file). */
static void hb_expired(gqlws_conn *c, uint64_t now)
{
    if (!c->ws || ws_conn_closing(c->ws)) return;
    const cd_config *cfg = c->caller.srv->cfg;
    if (c->in_init_list) {
        gqlws_conn_close(c, GQLWS_CLOSE_INIT_TIMEOUT, "Connection initialisation timeout");
        return;
    }
    uint32_t ping = cfg->ws_ping_ms;
    if (!ping) return;
    uint64_t silent = now - c->last_rx_ms;
    if (silent >= 2ull * ping) {
        gqlws_conn_close(c, GQLWS_CLOSE_PING_TIMEOUT, "Ping timeout");
    } else if (silent >= ping) {
        ws_ping(c->ws, NULL, 0);
        hb_set(c, c->last_rx_ms + 2ull * ping);
    } else {
        hb_next(c);
    }
}

static void on_token_expired(gqlws_conn *c, uint64_t now);

/* Keeps room for one more (delta 1) or one less (-1) connection's
 * deadlines. 0 or CD_ENOMEM (only when adding). */
static int hb_reserve(int delta)
{
    if (!gqlws_state || !gqlws_state->timer_on) return delta > 0 ? CD_ENOMEM : 0;
    uint32_t n = delta > 0 ? gqlws_state->nconns + 1 : gqlws_state->nconns - 1;
    if (cd_deadlines_reserve(&gqlws_state->hb.q, n) != 0 ||
        cd_deadlines_reserve(&gqlws_state->exp.q, n) != 0)
        return CD_ENOMEM; /* (a lowered room never fails) */
    gqlws_state->nconns = n;
    return 0;
}

static void tq_init(gqlws_timerq *tq, uv_loop_t *loop, size_t node_off,
                    void (*expired)(gqlws_conn *, uint64_t))
{
    uv_timer_init(loop, &tq->timer);
    tq->timer.data = tq;
    uv_unref((uv_handle_t *)&tq->timer);
    tq->node_off = node_off;
    tq->expired = expired;
}

static void ensure_state(proto_server *srv)
{
    if (gqlws_state) return;
    gqlws_state = cd_calloc(1, sizeof *gqlws_state);
    if (!gqlws_state) return;
    tq_init(&gqlws_state->hb, srv->loop, offsetof(gqlws_conn, hb), hb_expired);
    tq_init(&gqlws_state->exp, srv->loop, offsetof(gqlws_conn, exp), on_token_expired);
    gqlws_state->timer_on = true;
}

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
    list_push(&c->caller.srv->ws_head, c);
    hb_next(c);
}

/* ---- token lifetime ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_arm_expiry(gqlws_conn *c);

static void on_token_expired(gqlws_conn *c, uint64_t now)
{
    CD_UNUSED(now);
    if (!c->ws || ws_conn_closing(c->ws)) return;
    if (c->caller.token_exp * 1000 > wall_ms()) { /* the wall clock was set back */
        conn_arm_expiry(c);
        return;
    }
    cd_info("gqlws", "token of user %s expired: closing its socket", c->caller.user_id);
    gqlws_conn_close(c, GQLWS_CLOSE_FORBIDDEN, GQLWS_REASON_TOKEN_EXPIRED);
}

/* (Re)sets the expiry deadline of an authenticated token-mode connection. */
static void conn_arm_expiry(gqlws_conn *c)
{
    if (!c->caller.authenticated || c->caller.token_exp <= 0 || !gqlws_state) return;
    int64_t ms = c->caller.token_exp * 1000 - wall_ms();
    tq_set(&gqlws_state->exp, c, uv_now(c->caller.srv->loop) + (ms > 0 ? (uint64_t)ms : 0) + 1);
}

static void conn_disarm_expiry(gqlws_conn *c)
{
    if (gqlws_state) tq_set(&gqlws_state->exp, c, 0);
}

int proto_ws_refresh(gqlws_conn *c, const char *token, size_t len, const char **why)
{
    int rc = proto_caller_refresh(&c->caller, token, len, why);
    if (rc == 0) conn_arm_expiry(c);
    return rc;
}

/* ---- WebSockets per user ---- */

bool proto_ws_user_has_room(const proto_server *srv, const char *user_id)
{
    uint32_t cap = srv->cfg->max_ws_per_user;
    return !cap || !*user_id || cd_tally_get(&srv->ws_users, user_id) < cap;
}

/* Counts c for its user (no memory: not counted, never refused for it). */
static void conn_count_user(gqlws_conn *c)
{
    if (*c->caller.user_id && !c->user_counted)
        c->user_counted = cd_tally_add(&c->caller.srv->ws_users, c->caller.user_id) == 0;
}

static void conn_uncount_user(gqlws_conn *c)
{
    if (!c->user_counted) return;
    c->user_counted = false;
    cd_tally_sub(&c->caller.srv->ws_users, c->caller.user_id);
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
        gqlws_conn_close(c, GQLWS_CLOSE_TOO_MANY_INITS, "Too many initialisation requests");
        return;
    }
    c->init_received = true;
    conn_promote(c);
    const cd_config *cfg = c->caller.srv->cfg;
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
        const char *why = "missing token";
        if (!t || !cfg->jwt_secret || proto_caller_verify(&c->caller, NULL, t, tl, &why) != 0) {
            cd_info("gqlws", "connection_init refused: %s", why);
            gqlws_conn_close(c, GQLWS_CLOSE_FORBIDDEN, "Forbidden");
            return;
        }
        conn_arm_expiry(c);
    } else if (p) {
        const gql_value *u = gql_obj_get(p, "user-id");
        if (!u) u = gql_obj_get(p, "userId");
        copy_str(&c->caller, PROTO_CALLER_USER_ID, u);
        copy_str(&c->caller, PROTO_CALLER_USERNAME, gql_obj_get(p, "username"));
    }
    if (!proto_ws_user_has_room(c->caller.srv, c->caller.user_id)) {
        cd_info("gqlws", "connection_init refused: user %s holds %u WebSockets", c->caller.user_id,
                cfg->max_ws_per_user);
        gqlws_conn_close(c, GQLWS_CLOSE_TRY_AGAIN, GQLWS_REASON_USER_CAP);
        return;
    }
    conn_count_user(c);
    c->acked = true;
    gqlws_send_simple(c, "connection_ack", NULL, NULL);
}

/* A subscribe message is refused (close 4401 before the ack, 4409 for an id
 * in use) or answered `error` (the operation limit); true when it may run. */
static bool subscribe_allowed(gqlws_conn *c, const gqlws_msg *m)
{
    const cd_config *cfg = c->caller.srv->cfg;
    if (!c->acked) {
        gqlws_conn_close(c, GQLWS_CLOSE_UNAUTHORIZED, "Unauthorized");
        return false;
    }
    if (proto_sub_find(c, m->id, m->id_len)) {
        char reason[GQLWS_MAX_ID_LEN + 40];
        snprintf(reason, sizeof reason, "Subscriber for %s already exists", m->id);
        gqlws_conn_close(c, GQLWS_CLOSE_SUBSCRIBER_EXISTS, reason);
        return false;
    }
    if (c->nops >= cfg->max_subscriptions) {
        char msg[128];
        snprintf(msg, sizeof msg, "Too many active operations on this connection (limit %u)",
                 cfg->max_subscriptions);
        gqlws_send_error(c, m->id, msg, "TOO_MANY_OPERATIONS");
        cd_metrics_operation(GQL_SUBSCRIPTION, CD_MO_REJECTED, -1);
        return false;
    }
    return true;
}

static void handle_subscribe(gqlws_conn *c, const gqlws_msg *m)
{
    if (subscribe_allowed(c, m)) proto_sub_begin(c, m);
}

/* A ping: answered with a pong carrying its payload, unless the payload
 * holds a token (`token`, or `authToken` as in connection_init) in token
 * mode: then it is an in-band refresh (see the top of this file). */
static void handle_ping(gqlws_conn *c, const gqlws_msg *m)
{
    const gql_value *tok = m->payload ? gql_obj_get(m->payload, "token") : NULL;
    if (!tok && m->payload) tok = gql_obj_get(m->payload, "authToken");
    if (!tok || c->caller.srv->cfg->auth != CD_AUTH_TOKEN) {
        gqlws_send_simple(c, "pong", NULL, m->payload);
        return;
    }
    if (!c->acked) {
        gqlws_conn_close(c, GQLWS_CLOSE_UNAUTHORIZED, "Unauthorized");
        return;
    }
    const char *why = "token is not a string";
    int rc = CD_EAUTH;
    if (tok->kind == GQL_V_STRING && c->caller.srv->cfg->jwt_secret)
        rc = proto_ws_refresh(c, tok->u.s, tok->len, &why);
    if (rc != 0) {
        cd_info("gqlws", "token refresh refused: %s", why);
        gqlws_conn_close(c, GQLWS_CLOSE_FORBIDDEN,
                         rc == CD_EPERM ? "Forbidden: token of another user" : "Forbidden");
        return;
    }
    char pong[80];
    int n = snprintf(pong, sizeof pong, "{\"type\":\"pong\",\"payload\":{\"tokenExpiresAt\":%lld}}",
                     (long long)c->caller.token_exp);
    gqlws_conn_send(c, pong, (size_t)n);
}

static bool rate_ok(gqlws_conn *c)
{
    const cd_config *cfg = c->caller.srv->cfg;
    if (!cfg->ws_rate) return true;
    uint64_t now = gqlws_now_ms(c->caller.srv);
    uint32_t elapsed = (uint32_t)now - c->tokens_ms;
    double t = c->tokens + (double)elapsed * cfg->ws_rate / 1000.0;
    c->tokens_ms = (uint32_t)now;
    if (t > cfg->ws_burst) t = cfg->ws_burst;
    bool ok = t >= 1.0;
    c->tokens = (float)(ok ? t - 1.0 : t);
    return ok;
}

static void conn_message(gqlws_conn *c, const char *data, size_t len)
{
    if (!c->embedded) {
        cd_metrics_g.ws_messages_in++;
        c->sess->msgs_in++;
        c->sess->bytes_in += len;
    }
    c->last_rx_ms = gqlws_now_ms(c->caller.srv);
    if (len > c->caller.srv->cfg->max_ws_message) {
        gqlws_conn_close(c, WS_CLOSE_TOO_BIG, "Message too big");
        return;
    }
    if (!c->embedded && !rate_ok(c)) {
        gqlws_conn_close(c, GQLWS_CLOSE_RATE_LIMITED, "Too many messages");
        return;
    }
    cd_arena a;
    cd_arena_init(&a, len + 512);
    gqlws_msg m;
    char reason[200];
    int rc = gqlws_parse_message(&a, data, len, &m, reason, sizeof reason);
    if (rc == CD_ENOMEM) {
        gqlws_conn_close(c, GQLWS_CLOSE_INTERNAL, "Internal server error");
    } else if (rc != 0) {
        gqlws_conn_close(c, GQLWS_CLOSE_BAD_REQUEST, reason);
    } else {
        c->refs++; /* handlers may trigger on_close synchronously */
        switch (m.type) {
        case GQLWS_MSG_CONNECTION_INIT:
            handle_init(c, &m);
            break;
        case GQLWS_MSG_PING:
            handle_ping(c, &m);
            break;
        case GQLWS_MSG_PONG:
            break;
        case GQLWS_MSG_SUBSCRIBE:
            handle_subscribe(c, &m);
            break;
        case GQLWS_MSG_COMPLETE: {
            proto_sub *op = proto_sub_find(c, m.id, m.id_len);
            if (op) proto_sub_cancel(op);
            break;
        }
        case GQLWS_MSG_INVALID:
            break;
        }
        gqlws_conn_unref(c);
    }
    cd_arena_free(&a);
}

/* The session's request id is the log context of its messages (and of the
 * queries they start). */
static void on_message(ws_conn *ws, bool is_text, const char *data, size_t len)
{
    CD_UNUSED(is_text);
    gqlws_conn *c = ws_conn_user(ws);
    if (!c || ws_conn_closing(ws)) return;
    cd_log_ctx saved;
    cd_log_ctx_enter(proto_session_id(c->sess), &saved);
    conn_message(c, data, len);
    cd_log_ctx_leave(&saved);
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
    proto_session_end(c->sess, "/graphql", &c->caller, code);
    ws_conn_set_user(ws, NULL);
    conn_closed(c);
}

/* The socket is gone: cancel every operation, unlink, drop the open ref. */
static void conn_closed(gqlws_conn *c)
{
    c->refs++;
    proto_sub_cancel_all(c);
    conn_disarm_expiry(c);
    conn_uncount_user(c);
    c->ws = NULL;
    proto_server *srv = c->caller.srv;
    hb_set(c, 0);
    if (c->hb_counted) {
        c->hb_counted = false;
        hb_reserve(-1);
    }
    if (c->in_init_list) {
        c->in_init_list = false;
        list_unlink(&gqlws_state->init_head, c);
    } else {
        list_unlink(&srv->ws_head, c);
    }
    if (!c->embedded) cd_metrics_conn_close(CD_MT_WS);
    gqlws_conn_unref(c); /* our temporary ref */
    gqlws_conn_unref(c); /* the open-ws ref */
}

static void on_pong(ws_conn *ws, const char *data, size_t len)
{
    CD_UNUSED(data);
    CD_UNUSED(len);
    gqlws_conn *c = ws_conn_user(ws);
    if (c) c->last_rx_ms = gqlws_now_ms(c->caller.srv);
}

static const ws_callbacks gqlws_callbacks = {
    .on_message = on_message, .on_close = on_close, .on_pong = on_pong};

static void state_closed(uv_handle_t *h)
{
    CD_UNUSED(h);
    if (--gqlws_state->closing) return;
    cd_free(gqlws_state);
    gqlws_state = NULL;
}

void proto_ws_shutdown(proto_server *srv)
{
    for (gqlws_conn *c = srv->ws_head; c; c = c->next) {
        proto_sub_cancel_all(c);
    }
    /* the state goes away with its timer: connections still waiting for
     * connection_init move to the server's list (the net layer closes them) */
    while (gqlws_state && gqlws_state->init_head)
        conn_promote(gqlws_state->init_head);
    if (gqlws_state && gqlws_state->timer_on) {
        /* the deadlines go with it: connections left keep none */
        gqlws_state->timer_on = false;
        gqlws_state->closing = 2;
        uv_close((uv_handle_t *)&gqlws_state->hb.timer, state_closed);
        uv_close((uv_handle_t *)&gqlws_state->exp.timer, state_closed);
        cd_deadlines_free(&gqlws_state->hb.q);
        cd_deadlines_free(&gqlws_state->exp.q);
    }
}

void proto_ws_upgrade(proto_server *srv, http_request *req)
{
    static const char *const protos[] = {GQLWS_PROTOCOL, NULL};
    const char *proto = ws_select_protocol(req, protos);
    gqlws_conn *c = NULL;
    if (proto) {
        _Static_assert(sizeof(gqlws_conn) + sizeof(proto_session) + CD_REQUEST_ID_MAX + 1 <=
                           CD_POOL_MAX,
                       "gqlws_conn in the pool");
        c = cd_pool_calloc(sizeof *c + proto_session_size(req));
        if (!c) {
            http_respond(req, 503, "text/plain", NULL, "out of memory\n", 14);
            return;
        }
        c->caller.srv = srv;
        c->refs = 1;
        /* trust mode: the seed's client sends identity headers on the upgrade */
        proto_caller_from_request(&c->caller, NULL, srv, req);
        c->last_rx_ms = gqlws_now_ms(srv);
        c->tokens = (float)srv->cfg->ws_burst;
        c->tokens_ms = (uint32_t)c->last_rx_ms;
        /* room for its deadline (init timeout, then heartbeat) */
        ensure_state(srv);
        if (hb_reserve(1) != 0) {
            proto_caller_free(&c->caller);
            cd_pool_free(c);
            http_respond(req, 503, "text/plain", NULL, "out of memory\n", 14);
            return;
        }
        c->hb_counted = true;
        proto_session_begin(c->sess, req);
    }
    ws_conn *ws = NULL;
    int rc = ws_accept(req, proto, &gqlws_callbacks, c, &ws);
    if (rc != 0 || !ws) {
        if (c) {
            hb_reserve(-1);
            proto_caller_free(&c->caller);
            cd_pool_free(c);
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
    c->in_init_list = true;
    list_push(&gqlws_state->init_head, c);
    hb_set(c, c->last_rx_ms + srv->cfg->ws_init_timeout_ms);
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
            gqlws_conn_close(c, code, reason);
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
    ensure_state(srv);
    if (hb_reserve(1) != 0) return NULL;
    gqlws_conn *c = cd_pool_calloc(sizeof *c + sizeof(struct gqlws_embed));
    if (!c) {
        hb_reserve(-1);
        return NULL;
    }
    c->embedded = true;
    c->hb_counted = true;
    c->caller.srv = srv;
    c->refs = 1;
    c->ws = ws;
    struct gqlws_embed *emb = gqlws_conn_emb(c);
    emb->tap = tap;
    emb->tap_ud = ud;
    emb->service = service;
    proto_caller_init(&c->caller, srv);
    c->caller.trust = caller->trust;
    c->caller.authenticated = caller->authenticated;
    c->caller.token_exp = caller->token_exp;
    c->caller.token_ver = caller->token_ver;
    proto_caller_set(&c->caller, NULL, PROTO_CALLER_USER_ID, caller->user_id,
                     strlen(caller->user_id));
    proto_caller_set(&c->caller, NULL, PROTO_CALLER_USERNAME, caller->username,
                     strlen(caller->username));
    proto_caller_set(&c->caller, NULL, PROTO_CALLER_CLIENT_IP, caller->client_ip,
                     strlen(caller->client_ip));
    c->last_rx_ms = gqlws_now_ms(srv);
    c->init_received = true;
    c->acked = true;
    conn_arm_expiry(c);
    conn_count_user(c);
    list_push(&srv->ws_head, c);
    hb_next(c);
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
    if (c) c->last_rx_ms = gqlws_now_ms(c->caller.srv);
}

void proto_ws_detach(gqlws_conn *c)
{
    if (c && c->ws) conn_closed(c);
}
