/*
 * subscribe.c — subscriptions (subscribe.h): the registry of event sources,
 * and the operations of graphql-transport-ws connections (struct proto_sub,
 * one per subscribe id; subscribe_internal.h) that run them. Queries and
 * mutations run once and answer next + complete; subscriptions start a
 * registered source whose events are executed one at a time, in order.
 *
 * Lifetimes: an operation holds a reference on its gqlws_conn (gqlws_conn.h)
 * while allocated. It may outlive its WebSocket while a resolver run is in
 * flight (resolvers must complete; their result is then dropped), and it
 * keeps the conn — and so the proto_caller resolvers read — alive until
 * then. An operation ends by proto_sub_cancel (client complete, close,
 * drain: the source's stop runs) or by finishing (source completed / single
 * result sent); its memory is freed in op_release once no run is in flight
 * and no loop is pumping it.
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
 * The registry is a fixed table, filled at start-up by role code; lookups
 * are linear (a few dozen fields at most).
 */
#include "protocol/subscribe.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "core/text.h"
#include "net/ws.h"
#include "protocol/gqlws_conn.h"
#include "protocol/subscribe_internal.h"

/* Hash buckets of one shared event's result groups (allocated on its first
 * shared execution): one event to thousands of subscribers of distinct
 * users makes as many groups, and a lookup must stay cheap. */
#define GQLWS_RESULT_BUCKETS 256u

/* ---- the registry of sources ---- */

static proto_sub_source proto_sources[PROTO_SUB_MAX_SOURCES];
static unsigned proto_nsources;

int proto_sub_register(const char *field, proto_sub_start_fn start, proto_sub_stop_fn stop,
                       void *ud)
{
    if (!field || !*field || !start || !stop) return CD_EBAD;
    if (proto_sub_lookup(field)) return CD_EEXIST;
    if (proto_nsources >= PROTO_SUB_MAX_SOURCES) return CD_ELIMIT;
    proto_sources[proto_nsources++] =
        (proto_sub_source){.field = field, .start = start, .stop = stop, .ud = ud};
    return 0;
}

void proto_sub_registry_clear(void)
{
    memset(proto_sources, 0, sizeof proto_sources);
    proto_nsources = 0;
}

const proto_sub_source *proto_sub_lookup(const char *field)
{
    for (unsigned i = 0; i < proto_nsources; i++)
        if (strcmp(proto_sources[i].field, field) == 0) return &proto_sources[i];
    return NULL;
}

/* ---- state ---- */

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
    uint64_t k1, k2;     /* document key (the operation's proto_prep) */
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
 * run of a query or mutation (root = {}). What only a run in flight needs is
 * here, not in the operation (an idle subscription holds no event): the
 * shared result the run fills, the link in a pending result's waiters, and
 * when a query or mutation began (its duration metric). */
typedef struct gqlws_event {
    struct gqlws_event *next;
    proto_event *ev;
    gql_kv kv;
    gql_value root;
    gqlws_result *res;           /* the shared result this run fills */
    struct proto_sub *wait_next; /* the next waiter of a pending result */
    uint64_t t0_ns;              /* single run: when the operation began */
} gqlws_event;

/* A prepared subscription shared by the operations of one server with the
 * same document key (query, operation name, variables): its exec holds the
 * cached document, coerced variables, plans and root arguments and never
 * runs; each operation borrows it for a run (gql_exec_borrow) and frees the
 * borrower when idle, so an idle subscription holds no GraphQL state of its
 * own. Caller-independent: who asks only matters at run time. */
typedef struct proto_prep {
    struct proto_prep *next; /* bucket chain */
    const proto_server *srv;
    uint64_t k1, k2;
    uint32_t refs; /* operations using it */
    gql_exec *ex;
} proto_prep;

#define PROTO_PREP_BUCKETS 4096u /* power of two */
static proto_prep *prep_table[PROTO_PREP_BUCKETS];

static proto_prep **prep_slot(const proto_server *srv, uint64_t k1, uint64_t k2)
{
    proto_prep **pp = &prep_table[(k1 ^ (k2 >> 17)) & (PROTO_PREP_BUCKETS - 1)];
    while (*pp && ((*pp)->srv != srv || (*pp)->k1 != k1 || (*pp)->k2 != k2))
        pp = &(*pp)->next;
    return pp;
}

static void prep_unref(proto_prep *p)
{
    if (!p || --p->refs) return;
    proto_prep **pp = prep_slot(p->srv, p->k1, p->k2);
    if (*pp == p) *pp = p->next;
    gql_exec_free(p->ex); /* stays until a borrower still running is done */
    cd_pool_free(p);
}

/* Why an operation's source failed (its error, sent before `complete`). */
struct proto_fail {
    const char *code; /* static */
    char msg[];
};

/* An operation. Its document key (for shared results) is its prep's; an
 * operation without a prep never shares results. The state of a run in
 * flight (shared result, waiter link, start time) is in its running event. */
struct proto_sub {
    struct proto_sub *next, *prev; /* conn->ops while active */
    gqlws_conn *conn;
    gql_exec *ex;     /* own exec, or a borrower of prep's while running */
    proto_prep *prep; /* shared prepared state (subscriptions), or NULL */
    const char *field;
    void *src_state;
    struct proto_fail *fail; /* cd_malloc'd, when the source failed */
    gqlws_event *q_head, *q_tail, *running_ev;
    uint16_t q_len; /* <= GQLWS_MAX_PENDING_EVENTS */
    uint8_t kind;   /* gql_op_kind */
    uint8_t src;    /* its source: proto_sources[src] (while src_active) */
    /* flags in one byte */
    bool src_active : 1;  /* start succeeded, neither stop nor source end yet */
    bool source_done : 1; /* source completed or failed */
    bool running : 1;     /* gql_exec_run in flight */
    bool pumping : 1;
    bool in_start : 1;
    bool active : 1; /* linked in conn->ops */
    bool ended : 1;  /* cancelled or finished: release when idle */
    uint8_t id_form; /* proto_opid_form of id */
    /* the subscribe id, inline (one allocation per operation): its text and a
     * NUL, or PROTO_OPID_BIN bytes for a canonical UUID in one letter case */
    char id[];
};
_Static_assert(GQLWS_MAX_PENDING_EVENTS <= UINT16_MAX, "proto_sub.q_len");
_Static_assert(PROTO_SUB_MAX_SOURCES <= UINT8_MAX + 1u, "proto_sub.src");
/* with a one-byte id an operation takes the pool's 96-byte class, with a
 * UUID id (graphql-ws clients' default) the 112-byte class */
_Static_assert(offsetof(struct proto_sub, id) + 2 <= 96, "proto_sub: 96 bytes");
_Static_assert(offsetof(struct proto_sub, id) + PROTO_OPID_BIN <= 112, "proto_sub: 112 bytes");

/* ---- operation ids ---- */

proto_opid_form proto_opid_pack(const char *id, size_t len, uint8_t bin[PROTO_OPID_BIN])
{
    switch (cd_uuid_parse(id, len, bin)) {
    case CD_UUID_LOWER:
        return PROTO_OPID_UUID_LOWER;
    case CD_UUID_UPPER:
        return PROTO_OPID_UUID_UPPER;
    default:
        return PROTO_OPID_TEXT; /* mixed case or not a UUID: kept as text */
    }
}

void proto_opid_unpack(proto_opid_form form, const uint8_t bin[PROTO_OPID_BIN],
                       char out[PROTO_OPID_UUID_LEN + 1])
{
    cd_uuid_format(bin, form == PROTO_OPID_UUID_UPPER, out);
}

static size_t op_size(proto_opid_form form, size_t len)
{
    return offsetof(struct proto_sub, id) + (form != PROTO_OPID_TEXT ? PROTO_OPID_BIN : len + 1);
}

size_t proto_sub_alloc_size(const char *id, size_t len)
{
    uint8_t bin[PROTO_OPID_BIN];
    return op_size(proto_opid_pack(id, len, bin), len);
}

/* op's id as the client sent it: its inline text, or a UUID's rendered into buf. */
static const char *op_id(const struct proto_sub *op, char buf[PROTO_OPID_UUID_LEN + 1])
{
    if (op->id_form == PROTO_OPID_TEXT) return op->id;
    proto_opid_unpack((proto_opid_form)op->id_form, (const uint8_t *)op->id, buf);
    return buf;
}
#define OP_ID(op) op_id((op), (char[PROTO_OPID_UUID_LEN + 1]){0})

/* ---- events ---- */

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

/* ---- operation lifecycle ---- */

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
    prep_unref(op->prep);
    cd_free(op->fail);
    gqlws_conn *c = op->conn;
    cd_pool_free(op);
    gqlws_conn_unref(c);
}

void proto_sub_cancel(proto_sub *op)
{
    if (op->ended) return;
    op->ended = true;
    op_unlink(op);
    if (op->src_active) {
        op->src_active = false;
        const proto_sub_source *src = &proto_sources[op->src];
        if (src->stop) src->stop(op->src_state, src->ud); /* (gone: registry cleared) */
    }
    op_release(op);
}

/* Normal end: `complete` to the client, then release. */
static void op_finish(struct proto_sub *op)
{
    if (op->ended) return;
    op->ended = true;
    if (op->conn->ws) gqlws_send_simple(op->conn, "complete", OP_ID(op), NULL);
    op_unlink(op);
    op_release(op);
}

static void op_pump(struct proto_sub *op);

void proto_sub_cancel_all(gqlws_conn *c)
{
    while (c->ops)
        proto_sub_cancel(c->ops);
}

/* ---- shared results (see the file comment) ---- */

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
    uint64_t h = op->prep->k1;
    for (const char *p = op->conn->caller.user_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return (unsigned)(h ^ (h >> 32)) % GQLWS_RESULT_BUCKETS;
}

static gqlws_result *result_find(proto_event *ev, const struct proto_sub *op)
{
    if (!ev->results) return NULL;
    const proto_caller *c = &op->conn->caller;
    const char *svc = gqlws_conn_service(op->conn);
    for (gqlws_result *r = ev->results[result_bucket(op)]; r; r = r->next)
        if (r->k1 == op->prep->k1 && r->k2 == op->prep->k2 && r->service == svc &&
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
    r->k1 = op->prep->k1;
    r->k2 = op->prep->k2;
    r->service = gqlws_conn_service(op->conn);
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
    gqlws_send_payload(op->conn, "next", OP_ID(op), json, len);
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
        gqlws_event *e = w->running_ev;
        struct proto_sub *next = e->wait_next;
        e->wait_next = NULL;
        w->running = false;
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

/* An idle subscription keeps only its prepared state: a borrowed exec is
 * freed (the shared prepared one stays), an own exec drops its last result. */
static void op_idle_exec(struct proto_sub *op)
{
    if (op->prep) {
        gql_exec_free(op->ex);
        op->ex = NULL;
    } else {
        gql_exec_trim(op->ex);
    }
}

static void op_run_done(gql_exec *ex, void *ud)
{
    struct proto_sub *op = ud;
    op->running = false;
    /* the result may point into the event's value: free it after writing */
    gqlws_event *done_ev = op->running_ev;
    op->running_ev = NULL;
    gqlws_result *res = done_ev->res;
    done_ev->res = NULL;
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
        if (!op->q_head && !op->ended) op_idle_exec(op);
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
                gqlws_send_payload(op->conn, "next", OP_ID(op), b.data, b.len);
        }
        cd_buf_free(&b);
        if (op->kind != GQL_SUBSCRIPTION) {
            uint32_t nerr = 0;
            gql_exec_errors(ex, &nerr);
            uint64_t dt = uv_hrtime() - done_ev->t0_ns;
            cd_metrics_operation((int)op->kind, nerr ? CD_MO_ERROR : CD_MO_OK, (double)dt / 1e9);
            op->source_done = true; /* one result only */
        } else if (!op->q_head) {
            op_idle_exec(op); /* idle subscription: keep only the prepared state */
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
            if (e->ev && op->prep) {
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
                        res->waiters_tail->running_ev->wait_next = op;
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
            e->res = res;
            if (op->kind == GQL_SUBSCRIPTION) cd_metrics_g.sub_executions++;
            gql_exec_opts o = {.service = gqlws_conn_service(op->conn),
                               .context = &op->conn->caller,
                               .no_introspection = !op->conn->caller.srv->cfg->introspection};
            if (!op->ex && op->prep) op->ex = gql_exec_borrow(op->prep->ex);
            int rc = op->ex ? gql_exec_run(op->ex, &e->root, &o, op_run_done, op) : CD_ENOMEM;
            if (rc != 0) {
                op->running = false;
                if (e->res) { /* not started: nobody can be waiting yet */
                    result_unlink(e->ev, op, e->res);
                    cd_free(e->res);
                    e->res = NULL;
                }
                ev_free(op->running_ev);
                op->running_ev = NULL;
                cd_error("gqlws", "gql_exec_run failed: %s", cd_strerror(rc));
            }
            continue;
        }
        if (op->source_done) {
            if (op->fail && op->conn->ws) {
                cd_buf b;
                cd_buf_init(&b);
                cd_buf_puts(&b, "{\"errors\":[");
                gqlws_write_error_obj(&b, op->fail->msg, op->fail->code, op->field, NULL);
                cd_buf_puts(&b, "]}");
                if (!cd_buf_failed(&b))
                    gqlws_send_payload(op->conn, "next", OP_ID(op), b.data, b.len);
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
        gqlws_conn_close(op->conn, GQLWS_CLOSE_SLOW_CONSUMER,
                         "Slow consumer: too many pending events");
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

/* Keeps the failure op reports before `complete` (none when out of
 * memory: the operation still completes). */
static void op_set_fail(proto_sub *op, const char *code, const char *message)
{
    size_t n = strlen(message);
    cd_free(op->fail);
    op->fail = cd_malloc(sizeof *op->fail + n + 1);
    if (!op->fail) return;
    op->fail->code = code ? code : "INTERNAL_SERVER_ERROR";
    memcpy(op->fail->msg, message, n + 1);
}

void proto_sub_fail(proto_sub *op, const char *code, const char *message)
{
    if (op->ended || op->source_done) return;
    op->source_done = true;
    op->src_active = false;
    op_set_fail(op, code, message);
    op_pump(op);
}

const proto_caller *proto_sub_caller(const proto_sub *op)
{
    return &op->conn->caller;
}

const gql_value *proto_sub_args(const proto_sub *op)
{
    gql_exec *ex = op->prep ? op->prep->ex : op->ex;
    static const gql_value none = {.kind = GQL_V_OBJECT}; /* {} */
    const gql_value *args = &none;
    if (ex && op->field) gql_exec_root_field(ex, &args);
    return args;
}

uv_loop_t *proto_sub_loop(const proto_sub *op)
{
    return op->conn->caller.srv->loop;
}

proto_sub *proto_sub_find(gqlws_conn *c, const char *id, size_t len)
{
    /* a string has one stored form, so equal forms and bytes ⇔ equal ids */
    uint8_t bin[PROTO_OPID_BIN];
    proto_opid_form form = proto_opid_pack(id, len, bin);
    for (struct proto_sub *op = c->ops; op; op = op->next) {
        if (op->id_form != form) continue;
        if (form != PROTO_OPID_TEXT ? memcmp(op->id, bin, PROTO_OPID_BIN) == 0
                                    : strlen(op->id) == len && memcmp(op->id, id, len) == 0)
            return op;
    }
    return NULL;
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

/* ---- starting an operation (proto_sub_begin) ---- */

/* The document key of a subscribe message while its operation starts. */
typedef struct op_key {
    uint64_t k1, k2;
    bool ok; /* built: the operation may use and create a shared prep */
} op_key;

/* A new operation for m's id with a fresh exec (or the prep of its key),
 * holding a reference on c; not active yet. NULL on no memory. */
static struct proto_sub *op_new(gqlws_conn *c, const gqlws_msg *m, const op_key *key)
{
    _Static_assert(offsetof(struct proto_sub, id) + GQLWS_MAX_ID_LEN + 1 <= CD_POOL_MAX,
                   "proto_sub in the pool");
    uint8_t bin[PROTO_OPID_BIN];
    proto_opid_form form = proto_opid_pack(m->id, m->id_len, bin);
    struct proto_sub *op = cd_pool_calloc(op_size(form, m->id_len));
    if (!op) return NULL;
    proto_prep *p = key->ok ? *prep_slot(c->caller.srv, key->k1, key->k2) : NULL;
    if (p) { /* prepared before, with the same outcome: nothing to parse */
        p->refs++;
        op->prep = p;
        op->kind = GQL_SUBSCRIPTION;
    } else {
        gql_exec *ex = gql_exec_new(c->caller.srv->schema, c->caller.srv->cache);
        if (!ex) {
            cd_pool_free(op);
            return NULL;
        }
        gql_exec_limits lim = {c->caller.srv->cfg->max_query_cost,
                               c->caller.srv->cfg->max_response_bytes};
        gql_exec_set_limits(ex, &lim);
        op->ex = ex;
    }
    op->id_form = (uint8_t)form;
    if (form != PROTO_OPID_TEXT)
        memcpy(op->id, bin, PROTO_OPID_BIN);
    else
        memcpy(op->id, m->id, m->id_len + 1);
    op->conn = c;
    c->refs++;
    return op;
}

/* Parses and validates the document and coerces the variables. False after
 * answering `error` with the request errors (op released). */
static bool op_prepare(struct proto_sub *op, const gqlws_msg *m, const op_key *key)
{
    if (op->prep) return true;
    if (gql_exec_prepare(op->ex, m->query, m->query_len, m->operation_name) != 0 ||
        gql_exec_set_variables(op->ex, m->variables) != 0 ||
        gql_exec_compact(op->ex, m->query, m->query_len, m->operation_name, m->variables) != 0) {
        gqlws_send_request_errors(op->conn, OP_ID(op), op->ex);
        cd_metrics_operation(GQL_QUERY, CD_MO_REJECTED, -1);
        op->ended = true;
        op_release(op);
        return false;
    }
    op->kind = gql_exec_op(op->ex);
    if (op->kind != GQL_SUBSCRIPTION || !key->ok || !gql_exec_root_field(op->ex, NULL)) return true;
    /* the first subscription of this document key: its prepared exec becomes
     * the shared one (without memory it just stays the op's own) */
    proto_prep *p = cd_pool_calloc(sizeof *p); /* long-lived: in the pool */
    if (!p) return true;
    p->srv = op->conn->caller.srv;
    p->k1 = key->k1;
    p->k2 = key->k2;
    p->refs = 1;
    p->ex = op->ex;
    proto_prep **pp = prep_slot(p->srv, p->k1, p->k2);
    p->next = *pp;
    *pp = p;
    op->prep = p;
    op->ex = NULL;
    return true;
}

/* Reserves the id: links op into its connection's operations. */
static void op_reserve(struct proto_sub *op)
{
    gqlws_conn *c = op->conn;
    op->active = true;
    op->next = c->ops;
    if (c->ops) c->ops->prev = op;
    c->ops = op;
    c->nops++;
    if (op->kind == GQL_SUBSCRIPTION) cd_metrics_g.subscriptions++;
}

/* A query or mutation (or a subscription selecting only __typename): one
 * result, then complete. */
static void op_run_once(struct proto_sub *op, uint64_t t0_ns)
{
    gqlws_event *e = cd_calloc(1, sizeof *e);
    if (!e) {
        gqlws_conn *c = op->conn;
        proto_sub_cancel(op);
        gqlws_conn_close(c, GQLWS_CLOSE_INTERNAL, "Internal server error");
        return;
    }
    e->root.kind = GQL_V_OBJECT; /* {} */
    e->t0_ns = t0_ns;
    op->q_head = op->q_tail = e;
    op->q_len = 1;
    op->source_done = true;
    op_pump(op);
}

/* False after ending op with WRONG_SERVICE (`next` with the error, then
 * `complete`) when another role serves its Subscription field. */
static bool op_served_here(struct proto_sub *op)
{
    proto_server *srv = op->conn->caller.srv;
    char coord[160];
    snprintf(coord, sizeof coord, "Subscription.%s", op->field);
    const char *owner = gql_schema_owner(srv->schema, coord);
    /* the connection's own service: an embedded (compat) connection names
     * the role it acts for even in a process serving every role */
    const char *service = gqlws_conn_service(op->conn);
    if (!service || !owner || strcmp(owner, service) == 0) return true;
    char msg[200];
    snprintf(msg, sizeof msg, "Field \"%s\" is served by the %s service", op->field, owner);
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"errors\":[");
    gqlws_write_error_obj(&b, msg, "WRONG_SERVICE", op->field, owner);
    cd_buf_puts(&b, "]}");
    if (!cd_buf_failed(&b)) gqlws_send_payload(op->conn, "next", OP_ID(op), b.data, b.len);
    cd_buf_free(&b);
    cd_metrics_operation(GQL_SUBSCRIPTION, CD_MO_ERROR, -1);
    op_finish(op);
    return false;
}

/* Calls the start() of the field's registered source; a refusal ends the
 * stream with its error, a field without a source with NOT_IMPLEMENTED. */
static void op_start_source(struct proto_sub *op)
{
    const proto_sub_source *src = proto_sub_lookup(op->field);
    if (!src) {
        char msg[200];
        snprintf(msg, sizeof msg, "Subscription field \"%s\" has no event source in this process",
                 op->field);
        proto_sub_fail(op, "NOT_IMPLEMENTED", msg);
        cd_metrics_operation(GQL_SUBSCRIPTION, CD_MO_ERROR, -1);
        return;
    }
    op->src = (uint8_t)(src - proto_sources);
    op->in_start = true;
    const char *code = NULL;
    char err[256] = "";
    void *state = NULL;
    int rc = src->start(op, proto_sub_args(op), &op->conn->caller, src->ud, &state, &code, err,
                        sizeof err);
    op->in_start = false;
    if (rc != 0) {
        if (!op->source_done) {
            op->source_done = true;
            op_set_fail(op, code, err[0] ? err : cd_strerror(rc));
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

void proto_sub_begin(gqlws_conn *c, const gqlws_msg *m)
{
    uint64_t t0_ns = uv_hrtime();
    op_key key;
    key.ok = doc_key(m, &key.k1, &key.k2);
    struct proto_sub *op = op_new(c, m, &key);
    if (!op) {
        gqlws_conn_close(c, GQLWS_CLOSE_INTERNAL, "Internal server error");
        return;
    }
    if (!op_prepare(op, m, &key)) return;
    op_reserve(op);
    gql_exec *prepared = op->prep ? op->prep->ex : op->ex;
    const char *field = op->kind == GQL_SUBSCRIPTION ? gql_exec_root_field(prepared, NULL) : NULL;
    if (!field) {
        op_run_once(op, t0_ns);
        return;
    }
    op->field = field;
    if (op_served_here(op)) op_start_source(op);
}
