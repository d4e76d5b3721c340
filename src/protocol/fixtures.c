/*
 * fixtures.c — resolvers every role binds (Query.health) and the test
 * fixtures enabled by CHATD_TEST_FIXTURES=1: Query.echo, Query.whoami (the
 * caller's "userId/username"), Query.slow (an
 * asynchronous resolver completing from a uv timer), Mutation.echo and the
 * Mutation.broadcast + Subscription.broadcasts (one shared event fanned out
 * to every subscriber, the receiver's pattern), and the
 * Subscription.countdown source (from..0 every everyMs, default
 * PROTO_COUNTDOWN_INTERVAL_MS, then complete; a large everyMs makes an idle
 * subscription for memory measurements). They let the transports be tested without a database.
 *
 * Timers are heap-allocated and freed in their close callbacks (libuv rule).
 * A slow resolver always completes (the engine drops results of cancelled
 * runs); a countdown stops at once when the transport calls stop.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "protocol/protocol.h"
#include "protocol/subscribe.h"

#define PROTO_COUNTDOWN_INTERVAL_MS 10u
#define PROTO_SLOW_MAX_MS 60000         /* slow(ms:) is clamped to this */
#define PROTO_COUNTDOWN_MAX_FROM 100000 /* countdown(from:) upper bound */

const char proto_fixtures_sdl[] =
    "\n# test fixtures (CHATD_TEST_FIXTURES=1)\n"
    "extend type Query { echo(text: String!): String! slow(ms: Int!): String! whoami: String }\n"
    "extend type Mutation { echo(text: String!): String! "
    "broadcast(text: String!, times: Int = 1): Int! }\n"
    "extend type Subscription { countdown(from: Int!, everyMs: Int = 10): Int! "
    "broadcasts: FixtureNote! }\n"
    "type FixtureNote { text: String! seq: Int! slowText(ms: Int!): String! }\n";

static void health_resolve(gql_rinfo *ri)
{
    proto_server *srv = gql_ri_userdata(ri);
    cd_arena *a = gql_ri_arena(ri);
    gql_value *o = gql_obj_new(a, 3);
    if (!o) {
        gql_ri_error(ri, "INTERNAL_SERVER_ERROR", "out of memory");
        return;
    }
    bool pg_ok = !srv->pg || pg_pool_ready(srv->pg);
    bool rd_ok = !srv->rd || rd_ready(srv->rd);
    const char *status = srv->draining ? "draining" : (pg_ok && rd_ok) ? "ok" : "degraded";
    const char *role = cd_role_name(srv->cfg->role);
    gql_obj_set(o, 0, "status", gql_str_ref(status, strlen(status)));
    gql_obj_set(o, 1, "role", gql_str_ref(role, strlen(role)));
    gql_obj_set(o, 2, "version", gql_str_ref(srv->version, strlen(srv->version)));
    gql_ri_return(ri, *o);
}

static void echo_resolve(gql_rinfo *ri)
{
    const gql_value *t = gql_ri_arg(ri, "text");
    if (!t) {
        gql_ri_return(ri, gql_null());
        return;
    }
    gql_ri_return(ri, *t); /* args live as long as the run */
}

/* The caller's user id as the transport identified it (null if unknown). */
static void whoami_resolve(gql_rinfo *ri)
{
    const proto_caller *c = proto_caller_of(ri);
    if (!c || !c->user_id[0]) {
        gql_ri_return(ri, gql_null());
        return;
    }
    char buf[PROTO_MAX_USER_ID + PROTO_MAX_USERNAME + 2];
    int n = snprintf(buf, sizeof buf, "%s/%s", c->user_id, c->username);
    gql_ri_return(ri, gql_str_dup(gql_ri_arena(ri), buf, (size_t)n));
}

typedef struct slow_req {
    uv_timer_t timer;
    gql_rinfo *ri;
    int64_t ms;
    const gql_value *text; /* FixtureNote.slowText: the parent's text */
} slow_req;

static void slow_closed(uv_handle_t *h)
{
    cd_free(h->data);
}

static void slow_fire(uv_timer_t *t)
{
    slow_req *s = t->data;
    if (s->text) {
        /* the parent (a subscription event) must still be alive: the
         * transport keeps it until the result is written */
        gql_ri_return(s->ri, *s->text);
    } else {
        char buf[48];
        int n = snprintf(buf, sizeof buf, "slept %lld ms", (long long)s->ms);
        gql_ri_return(s->ri, gql_str_dup(gql_ri_arena(s->ri), buf, (size_t)n));
    }
    uv_close((uv_handle_t *)t, slow_closed);
}

/* Query.slow and FixtureNote.slowText: complete after ms from a timer. */
static void slow_resolve(gql_rinfo *ri)
{
    proto_server *srv = gql_ri_userdata(ri);
    const gql_value *ms = gql_ri_arg(ri, "ms");
    int64_t v = ms && ms->kind == GQL_V_INT ? ms->u.i : 0;
    if (v < 0) v = 0;
    if (v > PROTO_SLOW_MAX_MS) v = PROTO_SLOW_MAX_MS;
    slow_req *s = cd_calloc(1, sizeof *s);
    if (!s) {
        gql_ri_error(ri, "INTERNAL_SERVER_ERROR", "out of memory");
        return;
    }
    s->ri = ri;
    s->ms = v;
    if (strcmp(gql_ri_parent_type(ri), "FixtureNote") == 0) {
        s->text = gql_obj_get(gql_ri_parent(ri), "text");
        if (!s->text) {
            cd_free(s);
            gql_ri_error(ri, "INTERNAL_SERVER_ERROR", "note without text");
            return;
        }
    }
    uv_timer_init(srv->loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, slow_fire, (uint64_t)v, 0);
}

/* ---- countdown source ---- */

typedef struct countdown {
    uv_timer_t timer;
    proto_sub *sub;
    int64_t next;
} countdown;

static void countdown_closed(uv_handle_t *h)
{
    cd_free(h->data);
}

static void countdown_tick(uv_timer_t *t)
{
    countdown *cd = t->data;
    gql_value v = gql_int(cd->next);
    int rc = proto_sub_emit(cd->sub, &v);
    if (rc != 0 && rc != CD_ECLOSED) cd_debug("fixtures", "countdown emit: %s", cd_strerror(rc));
    if (cd->next-- <= 0) {
        uv_timer_stop(t);
        proto_sub *sub = cd->sub;
        cd->sub = NULL;
        uv_close((uv_handle_t *)t, countdown_closed);
        proto_sub_complete(sub); /* stop will not be called: we are done */
    }
}

static int countdown_start(proto_sub *sub, const gql_value *args, const proto_caller *caller,
                           void *ud, void **state, const char **code, char *err, size_t errlen)
{
    CD_UNUSED(caller);
    CD_UNUSED(ud);
    const gql_value *from = gql_obj_get(args, "from");
    int64_t f = from && from->kind == GQL_V_INT ? from->u.i : 0;
    if (f < 0 || f > PROTO_COUNTDOWN_MAX_FROM) {
        *code = "BAD_USER_INPUT";
        snprintf(err, errlen, "countdown(from:) must be in 0..%d", PROTO_COUNTDOWN_MAX_FROM);
        return CD_EBAD;
    }
    const gql_value *every = gql_obj_get(args, "everyMs");
    int64_t ms = every && every->kind == GQL_V_INT ? every->u.i : PROTO_COUNTDOWN_INTERVAL_MS;
    if (ms < 1 || ms > PROTO_SLOW_MAX_MS * 60) {
        *code = "BAD_USER_INPUT";
        snprintf(err, errlen, "countdown(everyMs:) must be in 1..%d", PROTO_SLOW_MAX_MS * 60);
        return CD_EBAD;
    }
    countdown *cd = cd_calloc(1, sizeof *cd);
    if (!cd) return CD_ENOMEM;
    cd->sub = sub;
    cd->next = f;
    uv_timer_init(proto_sub_loop(sub), &cd->timer);
    cd->timer.data = cd;
    uv_timer_start(&cd->timer, countdown_tick, (uint64_t)ms, (uint64_t)ms);
    *state = cd;
    return 0;
}

static void countdown_stop(void *state, void *ud)
{
    CD_UNUSED(ud);
    countdown *cd = state;
    uv_timer_stop(&cd->timer);
    cd->sub = NULL;
    uv_close((uv_handle_t *)&cd->timer, countdown_closed);
}

/* ---- broadcasts: one shared event fanned out to every subscriber ---- */

typedef struct bcast_sub {
    struct bcast_sub *next, *prev;
    proto_sub *sub;
} bcast_sub;

static bcast_sub *bcast_head;
static int64_t bcast_seq;

static int bcast_start(proto_sub *sub, const gql_value *args, const proto_caller *caller, void *ud,
                       void **state, const char **code, char *err, size_t errlen)
{
    CD_UNUSED(args);
    CD_UNUSED(caller);
    CD_UNUSED(ud);
    CD_UNUSED(code);
    CD_UNUSED(err);
    CD_UNUSED(errlen);
    bcast_sub *b = cd_calloc(1, sizeof *b);
    if (!b) return CD_ENOMEM;
    b->sub = sub;
    b->next = bcast_head;
    if (bcast_head) bcast_head->prev = b;
    bcast_head = b;
    *state = b;
    return 0;
}

static void bcast_stop(void *state, void *ud)
{
    CD_UNUSED(ud);
    bcast_sub *b = state;
    if (b->prev)
        b->prev->next = b->next;
    else
        bcast_head = b->next;
    if (b->next) b->next->prev = b->prev;
    cd_free(b);
}

/* Mutation.broadcast: builds each event once and queues it on every
 * subscriber (proto_sub_emit_event), `times` times in a row (to fill queues
 * in tests); answers how many deliveries were queued. */
#define PROTO_BROADCAST_MAX_TIMES 100000
static void broadcast_resolve(gql_rinfo *ri)
{
    const gql_value *t = gql_ri_arg(ri, "text");
    const gql_value *tm = gql_ri_arg(ri, "times");
    int64_t times = tm && tm->kind == GQL_V_INT ? tm->u.i : 1;
    if (!t || times < 0 || times > PROTO_BROADCAST_MAX_TIMES) {
        gql_ri_error(ri, "BAD_USER_INPUT", "times must be in 0..%d", PROTO_BROADCAST_MAX_TIMES);
        return;
    }
    static const char tn[] = "FixtureNote";
    int64_t n = 0;
    for (int64_t i = 0; i < times; i++) {
        gql_value note = {.kind = GQL_V_OBJECT, .len = 3};
        gql_kv kv[3] = {{.name = "__typename", .value = gql_str_ref(tn, sizeof tn - 1)},
                        {.name = "text", .value = *t},
                        {.name = "seq", .value = gql_int(++bcast_seq)}};
        note.u.fields = kv;
        proto_event *ev = proto_event_new(&note);
        if (!ev) {
            gql_ri_error(ri, "INTERNAL_SERVER_ERROR", "out of memory");
            return;
        }
        for (bcast_sub *b = bcast_head; b; b = b->next)
            if (proto_sub_emit_event(b->sub, ev) == 0) n++;
        proto_event_release(ev);
    }
    gql_ri_return(ri, gql_int(n));
}

int proto_bind_builtin(proto_server *srv)
{
    int rc = gql_schema_bind(srv->schema, "Query.health", health_resolve, srv);
    if (rc != 0) return rc;
    if (!srv->cfg->test_fixtures) return 0;
    if ((rc = gql_schema_bind(srv->schema, "Query.echo", echo_resolve, srv)) != 0 ||
        (rc = gql_schema_bind(srv->schema, "Query.slow", slow_resolve, srv)) != 0 ||
        (rc = gql_schema_bind(srv->schema, "Query.whoami", whoami_resolve, srv)) != 0 ||
        (rc = gql_schema_bind(srv->schema, "Mutation.echo", echo_resolve, srv)) != 0 ||
        (rc = gql_schema_bind(srv->schema, "Mutation.broadcast", broadcast_resolve, srv)) != 0 ||
        (rc = gql_schema_bind(srv->schema, "FixtureNote.slowText", slow_resolve, srv)) != 0)
        return rc;
    rc = proto_sub_register("countdown", countdown_start, countdown_stop, srv);
    if (rc != 0 && rc != CD_EEXIST) return rc;
    rc = proto_sub_register("broadcasts", bcast_start, bcast_stop, srv);
    return rc == CD_EEXIST ? 0 : rc;
}
