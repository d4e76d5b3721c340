/*
 * replica.c — the receiver's reads between the primary and a streaming
 * replica (DATABASE_REPLICA_URL; docs/architecture.md, "Reads from a
 * replica"). Without a replica every read goes straight to the primary.
 *
 * The rule: a read is answered from the replica only when the replica has
 * replayed everything the primary had flushed when the read arrived. Every
 * commit a client can have seen before asking — its own write (COMMIT
 * returns after the flush), an event delivered to it (published after
 * COMMIT), an earlier answer — lies below that point, so nobody sees a state
 * older than one they saw, and a read right after one's own write sees it.
 *
 *   1. A read joins the next round. A round asks the primary for
 *      pg_current_wal_flush_lsn() once for all its reads (their target) and
 *      the replica for pg_last_wal_replay_lsn() at the same time.
 *   2. The replica's replay position known to have reached the target: the
 *      read runs on the replica as one pipelined transaction [replay LSN;
 *      the statement]. Under READ COMMITTED the statement's snapshot is taken
 *      after that LSN was read, so when it is >= target (it is unless the
 *      replica restarted meanwhile) the answer includes the target;
 *      otherwise the read runs on the primary.
 *   3. Not yet: the read waits while the replica is polled every
 *      CHAT_REPLICA_POLL_MS, at most CHAT_REPLICA_WAIT_MS from its arrival,
 *      then runs on the primary and the replica counts as lagging: from then
 *      on a read the replica has not caught up for goes to the primary at
 *      once (no wait) until a poll (every CHAT_REPLICA_RECHECK_MS while
 *      lagging) shows the replica has replayed the newest target.
 *   Replica down (its pool has no connection), more than
 *   CHAT_REPLICA_READS_MAX reads held, or any error on the replica: the read
 *   runs on the primary.
 *
 * Never routed here: writes and the outbox, the user and sender roles, and
 * the receiver's feed (subscribe lookups, gap fills, afterSeq replays), which
 * must agree with the live events on Redis and always read the primary.
 *
 * Ownership: a held read (rr_read) is one heap block holding copies of the
 * statement name and parameters; it belongs to exactly one list below
 * (arrived, round, waiting) or to its replica transaction in flight, and is
 * freed right after its callback ran. The callback runs exactly once, later,
 * from the loop — the contract of pg_pool_query.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/metrics.h"

typedef struct rr_read rr_read;
struct rr_read {
    rr_read *next;
    pg_query_cb cb;
    void *ud;
    uint64_t target;  /* primary flush LSN the answer must include (0 = not known yet) */
    uint64_t arrived; /* uv_now at arrival, ms */
    const char *stmt; /* into the block */
    int nparams;
    const char **params; /* into the block; NULL entries are SQL NULL */
};

/* Why a read went to the primary (metrics). */
typedef enum rr_reason {
    RR_DOWN = 0, /* the replica's pool has no connection */
    RR_LAG,      /* the replica had not replayed the read's target in time */
    RR_ERROR,    /* an error on the replica, or the primary's LSN unknown */
    RR_BUSY,     /* CHAT_REPLICA_READS_MAX reads already held */
    RR_NREASONS
} rr_reason;

static const char *const rr_reason_names[RR_NREASONS] = {"down", "lag", "error", "busy"};

static struct {
    proto_server *srv;
    rr_read *arrived, **arrived_tail; /* waiting for the next round */
    rr_read *round;                   /* their target comes from the probe in flight */
    rr_read *waiting;                 /* target known, replica not there yet */
    unsigned held;                    /* reads owned by this file */
    bool probing;                     /* primary flush LSN query in flight */
    bool polling;                     /* replica replay LSN query in flight */
    uint64_t replayed;                /* highest replay LSN the replica reported */
    uint64_t newest;                  /* newest target seen */
    uint64_t lag_mark, lag_next;      /* lagging clears once lag_mark is replayed; each
                                       * recheck moves it to the newest target of the last */
    bool not_standby_logged;
    uv_timer_t timer;
    bool timer_init, timer_armed, closed;
    uint64_t served_replica;
    uint64_t served_primary[RR_NREASONS];
} rr = {.arrived_tail = &rr.arrived};

static const chat_stmt replica_stmts[] = {
    {"chat_lsn_flush", "SELECT pg_current_wal_flush_lsn()::text", 0},
    {"chat_lsn_replay", "SELECT pg_last_wal_replay_lsn()::text", 0},
};

int chat_lsn_parse(const char *s, uint64_t *out)
{
    if (!s) return CD_EBAD;
    uint64_t part[2] = {0, 0};
    int k = 0, digits = 0;
    for (const char *p = s;; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p == '/' && k == 0 && digits > 0) {
            k = 1;
            digits = 0;
            continue;
        } else if (*p == 0 && k == 1 && digits > 0) {
            *out = part[0] << 32 | part[1];
            return 0;
        } else
            return CD_EBAD;
        if (++digits > 8) return CD_EBAD;
        part[k] = part[k] << 4 | (uint64_t)v;
    }
}

chat_read_step chat_replica_step(uint64_t replayed, uint64_t target, bool lagging,
                                 uint64_t waited_ms)
{
    if (replayed >= target) return CHAT_READ_REPLICA;
    if (lagging || waited_ms >= CHAT_REPLICA_WAIT_MS) return CHAT_READ_PRIMARY;
    return CHAT_READ_WAIT;
}

/* ---- completing reads ---- */

static void set_lagging(bool on, uint64_t mark)
{
    if (!rr.srv) return;
    rr.srv->pg_replica_lagging = on;
    rr.lag_mark = mark;
    rr.lag_next = rr.newest;
}

static void read_fail(rr_read *r, int status)
{
    pg_result res = {.status = status, .message = cd_strerror(status), .sqlstate = ""};
    r->cb(&res, r->ud);
}

static void read_free(rr_read *r)
{
    rr.held--;
    cd_free(r);
}

/* Runs r on the primary (the pool copies what it needs) and frees r. */
static void to_primary(rr_read *r, rr_reason why)
{
    rr.served_primary[why]++;
    pg_pool *p = rr.srv ? rr.srv->pg : NULL;
    int rc = p ? pg_pool_query(p, r->stmt, r->nparams, r->params, r->cb, r->ud) : CD_ECLOSED;
    if (rc != 0) read_fail(r, rc);
    read_free(r);
}

static void on_replica_tx(int status, const pg_result *results, int n, int failed, void *ud)
{
    (void)failed;
    rr_read *r = ud;
    uint64_t at = 0;
    if (status == 0 && n == 2 && chat_lsn_parse(pg_result_get(&results[0], 0, 0), &at) == 0 &&
        at >= r->target) {
        if (at > rr.replayed) rr.replayed = at;
        rr.served_replica++;
        r->cb(&results[1], r->ud);
        read_free(r);
        return;
    }
    if (status != 0) {
        /* a restarted replica may be behind what it reported before */
        rr.replayed = 0;
        cd_debug("replica", "read %s on the replica: %s; using the primary", r->stmt,
                 cd_strerror(status));
    }
    to_primary(r, status == 0 ? RR_LAG : RR_ERROR);
}

static void to_replica(rr_read *r)
{
    pg_pool *p = rr.srv ? chat_replica_pool(rr.srv) : NULL;
    if (!p || !pg_pool_ready(p)) {
        to_primary(r, RR_DOWN);
        return;
    }
    pg_stmt stmts[2] = {
        {"chat_lsn_replay", 0, NULL},
        {r->stmt, r->nparams, r->params},
    };
    if (pg_pool_tx(p, stmts, 2, on_replica_tx, r) != 0) to_primary(r, RR_ERROR);
}

/* ---- rounds, polls, the timer ---- */

static void arm_timer(void);
static void kick(void);

/* Decides every read of `list` (targets set): replica, wait, or primary. */
static void route(rr_read *list, uint64_t now)
{
    while (list) {
        rr_read *r = list;
        list = r->next;
        r->next = NULL;
        uint64_t waited = now > r->arrived ? now - r->arrived : 0;
        switch (chat_replica_step(rr.replayed, r->target, rr.srv->pg_replica_lagging, waited)) {
        case CHAT_READ_REPLICA:
            to_replica(r);
            break;
        case CHAT_READ_WAIT:
            r->next = rr.waiting;
            rr.waiting = r;
            break;
        case CHAT_READ_PRIMARY:
            if (!rr.srv->pg_replica_lagging && waited >= CHAT_REPLICA_WAIT_MS) {
                cd_warn("replica",
                        "the replica has not replayed LSN %" PRIX64 " after %d ms: reads go to "
                        "the primary until it catches up",
                        r->target, CHAT_REPLICA_WAIT_MS);
                set_lagging(true, r->target);
            }
            to_primary(r, RR_LAG);
            break;
        }
    }
}

static void on_probe(const pg_result *res, void *ud)
{
    (void)ud;
    rr.probing = false;
    rr_read *list = rr.round;
    rr.round = NULL;
    uint64_t p = 0;
    if (rr.closed || res->status != 0 || chat_lsn_parse(pg_result_get(res, 0, 0), &p) != 0) {
        for (rr_read *r = list, *nx; r; r = nx) {
            nx = r->next;
            to_primary(r, RR_ERROR);
        }
        kick();
        return;
    }
    if (p > rr.newest) rr.newest = p;
    for (rr_read *r = list; r; r = r->next)
        r->target = p;
    if (rr.replayed >= p) set_lagging(false, 0);
    route(list, uv_now(rr.srv->loop));
    kick();
}

static void on_poll(const pg_result *res, void *ud)
{
    (void)ud;
    rr.polling = false;
    if (rr.closed) return;
    const char *v = res->status == 0 ? pg_result_get(res, 0, 0) : NULL;
    uint64_t at;
    if (res->status == 0 && pg_result_rows(res) > 0 && !v && !rr.not_standby_logged) {
        rr.not_standby_logged = true;
        cd_warn("replica", "DATABASE_REPLICA_URL is not a standby (no replay position): reads "
                           "go to the primary");
    }
    if (v && chat_lsn_parse(v, &at) == 0 && at > rr.replayed) rr.replayed = at;
    if (rr.srv->pg_replica_lagging && rr.replayed >= rr.lag_mark) {
        cd_info("replica", "the replica caught up: reads go to it again");
        set_lagging(false, 0);
    }
    rr_read *list = rr.waiting;
    rr.waiting = NULL;
    route(list, uv_now(rr.srv->loop));
    kick();
}

static void start_poll(void)
{
    if (rr.polling || rr.closed) return;
    pg_pool *p = chat_replica_pool(rr.srv);
    if (!p || !pg_pool_ready(p)) return;
    if (pg_pool_query(p, "chat_lsn_replay", 0, NULL, on_poll, NULL) == 0) rr.polling = true;
}

/* Starts a round for the arrived reads (with a poll beside it). */
static void kick(void)
{
    if (rr.closed) return;
    if (rr.arrived && !rr.probing) {
        rr_read *list = rr.arrived;
        rr.arrived = NULL;
        rr.arrived_tail = &rr.arrived;
        pg_pool *p = chat_pool(rr.srv);
        if (p && pg_pool_query(p, "chat_lsn_flush", 0, NULL, on_probe, NULL) == 0) {
            rr.round = list;
            rr.probing = true;
            start_poll();
        } else {
            for (rr_read *r = list, *nx; r; r = nx) {
                nx = r->next;
                to_primary(r, RR_ERROR);
            }
        }
    }
    arm_timer();
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    rr.timer_armed = false;
    if (rr.closed) return;
    /* expire waiters even while a poll hangs */
    rr_read *list = rr.waiting;
    rr.waiting = NULL;
    route(list, uv_now(rr.srv->loop));
    if (rr.srv->pg_replica_lagging && !rr.polling) {
        /* the replica must reach what the primary had one recheck ago */
        rr.lag_mark = rr.lag_next > rr.lag_mark ? rr.lag_next : rr.lag_mark;
        rr.lag_next = rr.newest;
    }
    start_poll();
    arm_timer();
}

static void arm_timer(void)
{
    if (rr.closed || rr.timer_armed || !rr.timer_init) return;
    uint64_t ms;
    if (rr.waiting)
        ms = CHAT_REPLICA_POLL_MS;
    else if (rr.srv->pg_replica_lagging)
        ms = CHAT_REPLICA_RECHECK_MS;
    else
        return;
    rr.timer_armed = true;
    uv_timer_start(&rr.timer, on_timer, ms, 0);
}

static void rr_shutdown(proto_server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    rr.closed = true;
    /* reads in a round or a replica transaction complete when the pools
     * close (their callbacks see the pools gone); the rest end here */
    rr_read *lists[2] = {rr.arrived, rr.waiting};
    rr.arrived = rr.waiting = NULL;
    rr.arrived_tail = &rr.arrived;
    for (int i = 0; i < 2; i++)
        for (rr_read *r = lists[i], *nx; r; r = nx) {
            nx = r->next;
            read_fail(r, CD_ECLOSED);
            read_free(r);
        }
    if (rr.timer_init) {
        uv_timer_stop(&rr.timer);
        uv_close((uv_handle_t *)&rr.timer, NULL);
        rr.timer_init = false;
    }
}

/* ---- entry points ---- */

int chat_read_query(proto_server *srv, const char *stmt, int n, const char *const *params,
                    pg_query_cb cb, void *ud)
{
    pg_pool *primary = chat_pool(srv);
    if (!primary) return CD_EUNAVAIL;
    if (!srv->pg_replica || rr.closed) return pg_pool_query(primary, stmt, n, params, cb, ud);
    if (n < 0 || n > PG_MAX_PARAMS) return CD_ELIMIT;
    rr.srv = srv;
    rr_reason why = RR_DOWN;
    pg_pool *replica = chat_replica_pool(srv);
    if (replica && pg_pool_ready(replica)) {
        if (rr.held < CHAT_REPLICA_READS_MAX) goto hold;
        why = RR_BUSY;
    }
    int rc = pg_pool_query(primary, stmt, n, params, cb, ud);
    if (rc == 0) rr.served_primary[why]++;
    return rc;

hold:;
    size_t size = sizeof(rr_read) + (size_t)n * sizeof(char *) + strlen(stmt) + 1;
    for (int i = 0; i < n; i++)
        if (params[i]) size += strlen(params[i]) + 1;
    rr_read *r = cd_malloc(size);
    if (!r) return CD_ENOMEM;
    memset(r, 0, sizeof *r);
    r->params = (const char **)(void *)(r + 1);
    char *p = (char *)(r->params + n);
    size_t len = strlen(stmt) + 1;
    memcpy(p, stmt, len);
    r->stmt = p;
    p += len;
    for (int i = 0; i < n; i++) {
        if (!params[i]) {
            r->params[i] = NULL;
            continue;
        }
        len = strlen(params[i]) + 1;
        memcpy(p, params[i], len);
        r->params[i] = p;
        p += len;
    }
    r->nparams = n;
    r->cb = cb;
    r->ud = ud;
    r->arrived = uv_now(srv->loop);
    if (!rr.timer_init) {
        /* the hook closes the timer; without one the timer is never made */
        if (proto_on_shutdown(srv, rr_shutdown, NULL) != 0 ||
            uv_timer_init(srv->loop, &rr.timer) != 0) {
            cd_free(r);
            rr.closed = true;
            cd_error("replica", "cannot hold reads: every read goes to the primary");
            return pg_pool_query(primary, stmt, n, params, cb, ud);
        }
        rr.timer_init = true;
    }
    rr.held++;
    *rr.arrived_tail = r;
    rr.arrived_tail = &r->next;
    kick();
    return 0;
}

bool chat_op_run_read(chat_op *op, const char *stmt, int n, const char *const *params,
                      pg_query_cb cb)
{
    if (!chat_op_pool(op)) return false;
    int rc = chat_read_query(op->srv, stmt, n, params, cb, op);
    if (rc == 0) return true;
    chat_fail_pg(op->ri, rc, NULL, stmt);
    return false;
}

/* ---- metrics ---- */

static void replica_metrics(cd_buf *out, void *ud)
{
    proto_server *srv = ud;
    if (!srv || !srv->pg_replica) return;
    cd_metrics_help(out, "chatd_pg_replica_up", "gauge",
                    "whether the read replica's pool has a connection up (1/0)");
    cd_buf_printf(out, "chatd_pg_replica_up %d\n", pg_pool_ready(srv->pg_replica) ? 1 : 0);
    cd_metrics_help(out, "chatd_pg_replica_lagging", "gauge",
                    "whether reads go to the primary because the replica fell behind (1/0)");
    cd_buf_printf(out, "chatd_pg_replica_lagging %d\n", srv->pg_replica_lagging ? 1 : 0);
    cd_metrics_help(out, "chatd_pg_replica_reads_total", "counter",
                    "receiver reads by the database that answered them and why");
    cd_buf_printf(out, "chatd_pg_replica_reads_total{served=\"replica\"} %" PRIu64 "\n",
                  rr.served_replica);
    for (int i = 0; i < RR_NREASONS; i++)
        cd_buf_printf(
            out, "chatd_pg_replica_reads_total{served=\"primary\",reason=\"%s\"} %" PRIu64 "\n",
            rr_reason_names[i], rr.served_primary[i]);
    cd_metrics_value(out, "chatd_pg_replica_reads_held", "gauge",
                     "reads waiting for the primary's LSN or the replica's replay", rr.held);
}

int chat_replica_bind(proto_server *srv)
{
    int r = chat_stmts_add_reads(replica_stmts, CD_ARRAY_LEN(replica_stmts));
    if (r != 0) return r;
    return cd_metrics_add_section(replica_metrics, srv);
}
