/*
 * pg.c — asynchronous PostgreSQL pool on libuv (see pg.h for the contract).
 *
 * Every connection lives in libpq pipeline mode once connected: a unit of
 * work is sent as its statements followed by one Sync, and completes when
 * PGRES_PIPELINE_SYNC arrives. A single query is a one-statement pipeline; a
 * transaction batch is BEGIN, the statements, COMMIT — one round trip. Each
 * statement yields exactly one terminal result (rows, command ok, error, or
 * "aborted" for statements skipped after an error), so results are matched
 * to statements by arrival order; the NULLs libpq returns between them are
 * ignored.
 *
 * States of a connection: DOWN (no PGconn; the timer counts the backoff),
 * CONNECTING (PQconnectPoll; the timer is the connect timeout), READY (may
 * be running work: c->work says what). A lease marks a READY connection as
 * held by a caller; it takes no queued work until released.
 *
 * Callbacks: successes and server errors are delivered from the poll
 * callback that read them; failures without a server answer (connection
 * lost, queue timeout) and lease grants go through the pool's deferred list,
 * drained by a zero timer, so no callback ever runs inside an API call
 * (pg_pool_close excepted, as documented).
 *
 * Memory: the pool and its connection array are one allocation freed when
 * the last handle has closed and the last lease is released. A uv_poll is
 * allocated per socket (libpq may switch sockets while connecting) and
 * freed in its close callback. A unit (query, batch or lease request) is one
 * allocation holding copies of its SQL and parameters.
 */
#include "store/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"

#define PG_QTIMER_INTERVAL_MS 100 /* how often queued work checks for expiry */
#define PG_MSG_MAX 256            /* error text kept with a failed unit */

typedef enum { UNIT_QUERY, UNIT_TX, UNIT_ACQUIRE, UNIT_BATCH } pg_unit_kind;

#define PG_BATCH_SAVEPOINT "chatd_member" /* the savepoint around each batch member */

/* A member-isolated batch in progress (UNIT_BATCH): one allocation. */
typedef struct pg_batch {
    bool plain;      /* this round runs the members without savepoints (the first round) */
    bool retry;      /* this round's prefix is ROLLBACK + BEGIN (after a plain round failed) */
    int next;        /* first member of the current round */
    int prefix;      /* statements before the first member: BEGIN (1), ROLLBACK TO + RELEASE (2)
                        or ROLLBACK + BEGIN (2) */
    int nround;      /* results expected this round */
    int got;         /* results received this round */
    PGresult **rres; /* this round's results [3 * n + 3] */
    PGresult **mres; /* each member's own result, kept until the callback [n] */
    char (*msg)[PG_MSG_MAX]; /* each member's error text [n] */
} pg_batch;

typedef struct pg_unit {
    struct pg_unit *next;
    pg_unit_kind kind;
    int nstmts;
    pg_stmt *stmts; /* copies, inside this allocation */
    uint64_t enq_ms;
    union {
        pg_query_cb query;
        pg_tx_cb tx;
        pg_acquire_cb acquire;
        pg_batch_cb batch;
    } cb;
    pg_batch *batch; /* UNIT_BATCH */
    void *ud;
    pg_conn *lease; /* UNIT_ACQUIRE granted: the connection */
    int fail;       /* deferred failure code (0 = grant) */
    char msg[PG_MSG_MAX];
    cd_log_ctx logctx; /* the submitter's request id, for its callback's logs */
} pg_unit;

typedef struct pg_poll {
    uv_poll_t h;
    pg_conn *conn; /* NULL once detached (closing) */
} pg_poll;

typedef enum { CONN_DOWN, CONN_CONNECTING, CONN_READY, CONN_CLOSED } pg_cstate;
typedef enum { WORK_NONE, WORK_PREPARE, WORK_UNIT, WORK_LEASEQ, WORK_ROLLBACK, WORK_BATCH } pg_work;

struct pg_conn {
    pg_pool *pool;
    int idx;
    PGconn *pg;
    pg_poll *poll;
    int poll_fd;
    int poll_events;
    uv_timer_t timer;
    pg_cstate state;
    bool leased;
    bool ever_connected;
    uint64_t attempts; /* connect attempts made */
    int nprepared;     /* registered statements [0, nprepared) were sent to PREPARE */
    int prep_target;
    int syncs_left;                                    /* WORK_PREPARE: one Sync per statement */
    uint64_t prep_failed[(PG_MAX_PREPARED + 63) / 64]; /* PREPARE failed: run as text */
    int backoff_ms;
    pg_work work;
    pg_unit *unit; /* WORK_UNIT / WORK_LEASEQ */
    int nexpect;   /* terminal results expected before the Sync */
    int ri;        /* terminal results received */
    PGresult *res[PG_TX_MAX_STMTS + 2];
    char msg[PG_MSG_MAX];
};

typedef struct pg_prep {
    char *name;
    char *sql;
    int nparams;
} pg_prep;

struct pg_pool {
    uv_loop_t *loop;
    char *conninfo;
    int size;
    pg_conn *conns;
    pg_prep preps[PG_MAX_PREPARED];
    int nprep;
    pg_unit *qhead, *qtail;
    int qlen;
    pg_unit *dhead, *dtail; /* deferred completions */
    uv_timer_t kick;        /* drains the deferred list */
    uv_timer_t qtimer;      /* expires queued work while nothing is up */
    int open_handles;
    int leases;
    bool closing;
    pg_close_cb close_cb;
    void *close_ud;
    uint64_t queries, errors, reconnects;
    uint64_t batch_retries; /* plain batch rounds run again with savepoints */
};

static void conn_connect(pg_conn *c);
static void conn_drop(pg_conn *c, const char *why);
static void conn_process(pg_conn *c);
static void pool_dispatch(pg_pool *p);
static void pool_maybe_free(pg_pool *p);
static void kick_cb(uv_timer_t *t);

/* ---- small helpers ---- */

/* Copies an error text as one line (libpq's span several): newlines and
 * tabs become single spaces, trailing space is dropped. */
static void pg_copy_msg(char *dst, const char *src)
{
    char *w = dst, *end = dst + PG_MSG_MAX - 1;
    for (const char *r = src ? src : ""; *r && w < end; r++) {
        char ch = (*r == '\n' || *r == '\t' || *r == '\r') ? ' ' : *r;
        if (ch == ' ' && (w == dst || w[-1] == ' ')) continue;
        *w++ = ch;
    }
    while (w > dst && w[-1] == ' ')
        w--;
    *w = '\0';
}

static const pg_prep *pool_find_prep(const pg_pool *p, const char *name)
{
    for (int i = 0; i < p->nprep; i++)
        if (strcmp(p->preps[i].name, name) == 0) return &p->preps[i];
    return NULL;
}

static void handle_closed(uv_handle_t *h)
{
    pg_pool *p = h->data;
    p->open_handles--;
    pool_maybe_free(p);
}

static void poll_closed(uv_handle_t *h)
{
    pg_poll *pp = (pg_poll *)h;
    pg_pool *p = h->data;
    cd_free(pp);
    p->open_handles--;
    pool_maybe_free(p);
}

static void conn_poll_close(pg_conn *c)
{
    if (!c->poll) return;
    c->poll->conn = NULL;
    uv_close((uv_handle_t *)&c->poll->h, poll_closed);
    c->poll = NULL;
    c->poll_fd = -1;
    c->poll_events = 0;
}

/* ---- units ---- */

static size_t unit_stmt_size(const pg_stmt *s)
{
    size_t n = strlen(s->sql) + 1 + (size_t)s->nparams * sizeof(char *);
    for (int i = 0; i < s->nparams; i++)
        if (s->params[i]) n += strlen(s->params[i]) + 1;
    return n;
}

/* One allocation: header, pg_stmt array, then param pointer arrays and strings. */
static pg_unit *unit_new(pg_unit_kind kind, const pg_stmt *stmts, int n)
{
    size_t sz = sizeof(pg_unit) + (size_t)n * sizeof(pg_stmt);
    for (int i = 0; i < n; i++)
        sz += unit_stmt_size(&stmts[i]) + sizeof(char *);
    pg_unit *u = cd_malloc(sz);
    if (!u) return NULL;
    memset(u, 0, sizeof *u);
    u->kind = kind;
    u->nstmts = n;
    /* a query or transaction belongs to the request that submits it; a
     * batch (group commit) serves many, and a lease outlives its submitter */
    if (kind == UNIT_QUERY || kind == UNIT_TX) u->logctx = *cd_log_ctx_current();
    u->stmts = (pg_stmt *)(u + 1);
    char *cur = (char *)(u->stmts + n);
    for (int i = 0; i < n; i++) {
        /* align the pointer array */
        uintptr_t a = ((uintptr_t)cur + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1);
        cur = (char *)a;
        const char **params = (const char **)cur;
        cur += (size_t)stmts[i].nparams * sizeof(char *);
        for (int k = 0; k < stmts[i].nparams; k++) {
            if (stmts[i].params[k]) {
                size_t l = strlen(stmts[i].params[k]) + 1;
                memcpy(cur, stmts[i].params[k], l);
                params[k] = cur;
                cur += l;
            } else {
                params[k] = NULL;
            }
        }
        size_t l = strlen(stmts[i].sql) + 1;
        memcpy(cur, stmts[i].sql, l);
        u->stmts[i].sql = cur;
        cur += l;
        u->stmts[i].nparams = stmts[i].nparams;
        u->stmts[i].params = params;
    }
    return u;
}

/* Frees a unit and, for a batch, every result it still holds. */
static void unit_free(pg_unit *u)
{
    pg_batch *b = u->batch;
    if (b) {
        for (int i = 0; i < b->got; i++)
            if (b->rres[i]) PQclear(b->rres[i]);
        for (int i = 0; i < u->nstmts; i++)
            if (b->mres[i]) PQclear(b->mres[i]);
        cd_free(b);
    }
    cd_free(u);
}

/* Delivers a failure without server results. */
static void unit_fail_now(pg_pool *p, pg_unit *u, int status, const char *msg)
{
    p->errors++;
    if (u->kind == UNIT_ACQUIRE) {
        u->cb.acquire(NULL, status, u->ud);
    } else if (u->kind == UNIT_BATCH) {
        u->cb.batch(status, msg ? msg : "", NULL, 0, u->ud);
    } else if (u->kind == UNIT_TX) {
        cd_log_ctx saved;
        cd_log_ctx_enter(u->logctx.request_id, &saved);
        u->cb.tx(status, NULL, 0, -1, u->ud);
        cd_log_ctx_leave(&saved);
    } else {
        pg_result r = {.status = status, .res = NULL, .message = msg, .sqlstate = ""};
        cd_log_ctx saved;
        cd_log_ctx_enter(u->logctx.request_id, &saved);
        u->cb.query(&r, u->ud);
        cd_log_ctx_leave(&saved);
    }
    unit_free(u);
}

static void defer_push(pg_pool *p, pg_unit *u)
{
    u->next = NULL;
    if (p->dtail)
        p->dtail->next = u;
    else
        p->dhead = u;
    p->dtail = u;
    if (!p->closing) uv_timer_start(&p->kick, kick_cb, 0, 0);
}

static void defer_fail(pg_pool *p, pg_unit *u, int status, const char *msg)
{
    u->fail = status;
    pg_copy_msg(u->msg, msg);
    defer_push(p, u);
}

static void kick_cb(uv_timer_t *t)
{
    pg_pool *p = t->data;
    /* take the list: callbacks may defer more, handled next round */
    pg_unit *u = p->dhead;
    p->dhead = p->dtail = NULL;
    while (u) {
        pg_unit *next = u->next;
        if (u->kind == UNIT_ACQUIRE && u->fail == 0) {
            pg_conn *c = u->lease;
            pg_acquire_cb cb = u->cb.acquire;
            void *ud = u->ud;
            cd_free(u);
            cb(c, 0, ud);
        } else {
            unit_fail_now(p, u, u->fail, u->msg);
        }
        u = next;
    }
    pool_dispatch(p);
}

static void queue_push(pg_pool *p, pg_unit *u)
{
    u->next = NULL;
    u->enq_ms = uv_now(p->loop);
    if (p->qtail)
        p->qtail->next = u;
    else
        p->qhead = u;
    p->qtail = u;
    p->qlen++;
}

static pg_unit *queue_pop(pg_pool *p)
{
    pg_unit *u = p->qhead;
    if (!u) return NULL;
    p->qhead = u->next;
    if (!p->qhead) p->qtail = NULL;
    p->qlen--;
    u->next = NULL;
    return u;
}

static int pool_connected(const pg_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].state == CONN_READY) n++;
    return n;
}

static void qtimer_cb(uv_timer_t *t)
{
    pg_pool *p = t->data;
    if (p->qlen == 0 || pool_connected(p) > 0) {
        uv_timer_stop(t);
        return;
    }
    uint64_t now = uv_now(p->loop);
    while (p->qhead && now - p->qhead->enq_ms >= PG_QUEUE_TIMEOUT_MS) {
        pg_unit *u = queue_pop(p);
        defer_fail(p, u, CD_EUNAVAIL, "database unavailable: no connection");
    }
}

/* ---- poll plumbing ---- */

static void poll_cb(uv_poll_t *h, int status, int events);

/* Watches the connection's current socket for `events`. */
static int conn_watch(pg_conn *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0) return -1;
    if (c->poll && c->poll_fd != fd) conn_poll_close(c);
    if (!c->poll) {
        pg_poll *pp = cd_malloc(sizeof *pp);
        if (!pp) return -1;
        if (uv_poll_init(c->pool->loop, &pp->h, fd) != 0) {
            cd_free(pp);
            return -1;
        }
        pp->h.data = c->pool;
        pp->conn = c;
        c->pool->open_handles++;
        c->poll = pp;
        c->poll_fd = fd;
        c->poll_events = 0;
    }
    if (events != c->poll_events) {
        if (uv_poll_start(&c->poll->h, events, poll_cb) != 0) return -1;
        c->poll_events = events;
    }
    return 0;
}

/* Flushes libpq's output buffer; watches writability while data remains. */
static int conn_flush(pg_conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0) return -1;
    return conn_watch(c, UV_READABLE | (r == 1 ? UV_WRITABLE : 0));
}

/* ---- connecting ---- */

static void conn_timer_cb(uv_timer_t *t)
{
    pg_conn *c = t->data;
    if (c->pool->closing) return;
    if (c->state == CONN_DOWN) {
        conn_connect(c);
    } else if (c->state == CONN_CONNECTING) {
        conn_drop(c, "connect timeout");
    }
}

static void conn_schedule_retry(pg_conn *c)
{
    if (c->pool->closing) return;
    int d = c->backoff_ms;
    c->backoff_ms =
        c->backoff_ms * 2 > PG_RECONNECT_MAX_MS ? PG_RECONNECT_MAX_MS : c->backoff_ms * 2;
    uv_timer_start(&c->timer, conn_timer_cb, (uint64_t)d, 0);
}

static void conn_connect(pg_conn *c)
{
    pg_pool *p = c->pool;
    if (c->attempts++ > 0) p->reconnects++;
    c->pg = PQconnectStart(p->conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        cd_warn("pg", "connect failed: %s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        if (c->pg) PQfinish(c->pg);
        c->pg = NULL;
        conn_schedule_retry(c);
        return;
    }
    c->state = CONN_CONNECTING;
    if (conn_watch(c, UV_WRITABLE) != 0) {
        conn_drop(c, "poll setup failed");
        return;
    }
    uv_timer_start(&c->timer, conn_timer_cb, PG_CONNECT_TIMEOUT_MS, 0);
}

static void conn_connected(pg_conn *c)
{
    uv_timer_stop(&c->timer);
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        conn_drop(c, "cannot enter pipeline mode");
        return;
    }
    c->state = CONN_READY;
    c->ever_connected = true;
    c->backoff_ms = PG_RECONNECT_MIN_MS;
    c->nprepared = 0;
    memset(c->prep_failed, 0, sizeof c->prep_failed);
    c->work = WORK_NONE;
    if (conn_watch(c, UV_READABLE) != 0) {
        conn_drop(c, "poll setup failed");
        return;
    }
    cd_debug("pg", "connection %d up", c->idx);
    pool_dispatch(c->pool);
}

static void conn_connect_step(pg_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (conn_watch(c, UV_READABLE) != 0) conn_drop(c, "poll setup failed");
        break;
    case PGRES_POLLING_WRITING:
        if (conn_watch(c, UV_WRITABLE) != 0) conn_drop(c, "poll setup failed");
        break;
    case PGRES_POLLING_OK:
        conn_connected(c);
        break;
    default:
        conn_drop(c, PQerrorMessage(c->pg));
        break;
    }
}

/* ---- running work ---- */

static void conn_clear_results(pg_conn *c)
{
    for (int i = 0; i < c->nexpect && i < (int)CD_ARRAY_LEN(c->res); i++) {
        if (c->res[i]) PQclear(c->res[i]);
        c->res[i] = NULL;
    }
    c->nexpect = 0;
    c->ri = 0;
}

static int conn_send_stmt(pg_conn *c, const char *sql, int nparams, const char *const *params)
{
    const pg_prep *pr = pool_find_prep(c->pool, sql);
    if (pr) {
        int i = (int)(pr - c->pool->preps);
        /* not prepared on this session yet (registered while leased) or its
         * PREPARE failed: run the text, so the caller gets the real error */
        if (i >= c->nprepared || (c->prep_failed[i / 64] >> (i % 64) & 1))
            return PQsendQueryParams(c->pg, pr->sql, nparams, NULL, params, NULL, NULL, 0);
        return PQsendQueryPrepared(c->pg, pr->name, nparams, params, NULL, NULL, 0);
    }
    return PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
}

/* Sends statements + Sync; on failure the connection is dropped. */
static int conn_send(pg_conn *c, pg_work work, const pg_stmt *stmts, int n, bool wrap_tx)
{
    c->work = work;
    c->nexpect = n + (wrap_tx ? 2 : 0);
    c->ri = 0;
    int ok = 1;
    if (wrap_tx) ok = conn_send_stmt(c, "BEGIN", 0, NULL);
    for (int i = 0; ok && i < n; i++)
        ok = conn_send_stmt(c, stmts[i].sql, stmts[i].nparams, stmts[i].params);
    if (ok && wrap_tx) ok = conn_send_stmt(c, "COMMIT", 0, NULL);
    if (ok) ok = PQpipelineSync(c->pg);
    if (!ok || conn_flush(c) != 0) {
        conn_drop(c, PQerrorMessage(c->pg));
        return -1;
    }
    return 0;
}

/* Sends one round of the connection's batch unit. The first round is
 * plain: BEGIN, every member, COMMIT — no savepoint, so a batch where
 * nothing fails costs one subtransaction-free transaction. When a member of
 * it fails the transaction is aborted, and the batch runs again with
 * savepoints: ROLLBACK + BEGIN (after the plain round), BEGIN, or ROLLBACK
 * TO + RELEASE of the failed member's savepoint (later rounds), then
 * SAVEPOINT; statement; RELEASE for each member from b->next on, COMMIT and
 * one Sync. On a send failure the connection is dropped. */
static int conn_send_batch(pg_conn *c)
{
    pg_unit *u = c->unit;
    pg_batch *b = u->batch;
    c->work = WORK_BATCH;
    c->nexpect = 0;
    c->ri = 0;
    b->got = 0;
    int ok = 1;
    if (b->plain) {
        ok = conn_send_stmt(c, "BEGIN", 0, NULL);
        for (int i = 0; ok && i < u->nstmts; i++)
            ok = conn_send_stmt(c, u->stmts[i].sql, u->stmts[i].nparams, u->stmts[i].params);
        if (ok) ok = conn_send_stmt(c, "COMMIT", 0, NULL);
        if (ok) ok = PQpipelineSync(c->pg);
        b->nround = u->nstmts + 2;
        if (!ok || conn_flush(c) != 0) {
            conn_drop(c, PQerrorMessage(c->pg));
            return -1;
        }
        return 0;
    }
    if (b->prefix == 1) {
        ok = conn_send_stmt(c, "BEGIN", 0, NULL);
    } else if (b->retry) {
        ok = conn_send_stmt(c, "ROLLBACK", 0, NULL);
        if (ok) ok = conn_send_stmt(c, "BEGIN", 0, NULL);
    } else {
        ok = conn_send_stmt(c, "ROLLBACK TO SAVEPOINT " PG_BATCH_SAVEPOINT, 0, NULL);
        if (ok) ok = conn_send_stmt(c, "RELEASE SAVEPOINT " PG_BATCH_SAVEPOINT, 0, NULL);
    }
    for (int i = b->next; ok && i < u->nstmts; i++) {
        ok = conn_send_stmt(c, "SAVEPOINT " PG_BATCH_SAVEPOINT, 0, NULL);
        if (ok) ok = conn_send_stmt(c, u->stmts[i].sql, u->stmts[i].nparams, u->stmts[i].params);
        if (ok) ok = conn_send_stmt(c, "RELEASE SAVEPOINT " PG_BATCH_SAVEPOINT, 0, NULL);
    }
    if (ok) ok = conn_send_stmt(c, "COMMIT", 0, NULL);
    if (ok) ok = PQpipelineSync(c->pg);
    b->nround = b->prefix + 3 * (u->nstmts - b->next) + 1;
    if (!ok || conn_flush(c) != 0) {
        conn_drop(c, PQerrorMessage(c->pg));
        return -1;
    }
    return 0;
}

static void conn_start_prepare(pg_conn *c)
{
    pg_pool *p = c->pool;
    c->work = WORK_PREPARE;
    c->prep_target = p->nprep;
    c->nexpect = 0; /* results are checked as they arrive, not stored */
    c->ri = 0;
    c->syncs_left = p->nprep - c->nprepared;
    int ok = 1;
    /* a Sync after each PREPARE: one bad statement must not abort the rest */
    for (int i = c->nprepared; ok && i < p->nprep; i++) {
        ok = PQsendPrepare(c->pg, p->preps[i].name, p->preps[i].sql, p->preps[i].nparams, NULL);
        if (ok) ok = PQpipelineSync(c->pg);
    }
    if (!ok || conn_flush(c) != 0) conn_drop(c, PQerrorMessage(c->pg));
}

static void conn_start_rollback(pg_conn *c)
{
    pg_stmt s = {.sql = "ROLLBACK", .nparams = 0, .params = NULL};
    conn_send(c, WORK_ROLLBACK, &s, 1, false);
}

static void pool_dispatch(pg_pool *p)
{
    if (p->closing) return;
    for (int i = 0; i < p->size; i++) {
        pg_conn *c = &p->conns[i];
        if (c->state != CONN_READY || c->work != WORK_NONE || c->leased) continue;
        if (c->nprepared < p->nprep) {
            conn_start_prepare(c);
            continue;
        }
        pg_unit *u = queue_pop(p);
        if (!u) break;
        if (u->kind == UNIT_ACQUIRE) {
            c->leased = true;
            p->leases++;
            u->lease = c;
            u->fail = 0;
            defer_push(p, u);
        } else if (u->kind == UNIT_BATCH) {
            c->unit = u;
            conn_send_batch(c);
        } else {
            c->unit = u;
            conn_send(c, WORK_UNIT, u->stmts, u->nstmts, u->kind == UNIT_TX);
        }
    }
}

static int res_status(const PGresult *r, const char **msg, const char **state)
{
    *msg = "";
    *state = "";
    if (!r) {
        *msg = "no result";
        return CD_EIO;
    }
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        return 0;
    case PGRES_PIPELINE_ABORTED:
        *msg = "not executed: an earlier statement in the transaction failed";
        return CD_EIO;
    default: {
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        *state = s ? s : "";
        *msg = PQresultErrorMessage(r);
        return strcmp(*state, "23505") == 0 ? CD_EEXIST : CD_EIO;
    }
    }
}

static void fill_result(pg_conn *c, pg_result *out, PGresult *r)
{
    const char *msg, *state;
    *out = (pg_result){0};
    out->status = res_status(r, &msg, &state);
    out->res = r;
    pg_copy_msg(c->msg, msg);
    out->message = out->status ? c->msg : "";
    out->sqlstate = state;
}

/* The plain round's results (BEGIN, members, COMMIT): 0 when all
 * succeeded (the members' results moved to b->mres), 1 when a member failed
 * (the transaction is aborted: run again with savepoints), else the code of
 * a BEGIN/COMMIT failure, *why its text. */
static int batch_plain_done(pg_unit *u, pg_batch *b, const char **why)
{
    const char *state;
    int n = u->nstmts;
    if (b->got < n + 2) {
        *why = "missing results";
        return CD_EIO;
    }
    int fail = res_status(b->rres[0], why, &state);
    if (fail) return fail;
    for (int i = 0; i < n; i++)
        if (res_status(b->rres[1 + i], why, &state) != 0) return 1;
    fail = res_status(b->rres[n + 1], why, &state);
    if (fail) return fail;
    for (int i = 0; i < n; i++) {
        b->mres[i] = b->rres[1 + i];
        b->rres[1 + i] = NULL;
    }
    return 0;
}

/* The Sync of a batch round arrived: walk its results in send order. The
 * first error decides: in the prefix, a SAVEPOINT/RELEASE or COMMIT it
 * fails the whole batch; in a member's statement it is that member's own
 * outcome and the next round resumes after it. Otherwise COMMIT succeeded
 * and every member completes with its own result. A plain round (no
 * savepoints) either commits everything or, when a member failed, is
 * followed by a savepoint round over every member. */
static void batch_round_done(pg_conn *c)
{
    pg_pool *p = c->pool;
    pg_unit *u = c->unit;
    pg_batch *b = u->batch;
    int fail = 0, failed_member = -1, k = 0;
    const char *why = "", *state;
    if (b->plain) {
        fail = batch_plain_done(u, b, &why);
        if (fail == 1) {
            /* a member failed: nothing of the round is kept; again, isolated */
            for (int i = 0; i < b->got; i++) {
                if (b->rres[i]) PQclear(b->rres[i]);
                b->rres[i] = NULL;
            }
            b->got = 0;
            b->plain = false;
            b->retry = true;
            b->prefix = 2;
            b->next = 0;
            p->batch_retries++;
            conn_send_batch(c); /* a send failure drops c and fails the unit */
            return;
        }
    } else {
        for (; !fail && k < b->prefix; k++)
            fail = k < b->got ? res_status(b->rres[k], &why, &state) : CD_EIO;
        for (int i = b->next; !fail && i < u->nstmts; i++, k += 3) {
            if (k + 2 >= b->got) {
                fail = CD_EIO;
                why = "missing results";
                break;
            }
            fail = res_status(b->rres[k], &why, &state);
            if (fail) break;
            b->mres[i] = b->rres[k + 1];
            b->rres[k + 1] = NULL;
            if (res_status(b->mres[i], &why, &state) != 0) {
                failed_member = i;
                break;
            }
            fail = res_status(b->rres[k + 2], &why, &state);
        }
        if (!fail && failed_member < 0)
            fail = k < b->got ? res_status(b->rres[k], &why, &state) : CD_EIO;
    }
    char msg[PG_MSG_MAX];
    pg_copy_msg(msg, fail ? why : "");
    for (int i = 0; i < b->got; i++) {
        if (b->rres[i]) PQclear(b->rres[i]);
        b->rres[i] = NULL;
    }
    b->got = 0;
    if (!fail && failed_member >= 0) {
        /* the member's own error: roll it back, run the rest */
        b->next = failed_member + 1;
        b->prefix = 2;
        b->retry = false;
        conn_send_batch(c); /* a send failure drops c and fails the unit */
        return;
    }
    c->unit = NULL;
    c->work = WORK_NONE;
    if (fail) {
        p->errors++;
        if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) conn_start_rollback(c);
        u->cb.batch(fail, msg, NULL, 0, u->ud);
        unit_free(u);
        return;
    }
    pg_result rs[PG_BATCH_MAX_STMTS] = {{0}};
    for (int i = 0; i < u->nstmts; i++) {
        const char *m;
        rs[i].status = res_status(b->mres[i], &m, &rs[i].sqlstate);
        pg_copy_msg(b->msg[i], rs[i].status ? m : "");
        rs[i].message = b->msg[i];
        rs[i].res = b->mres[i];
    }
    p->queries += (uint64_t)u->nstmts;
    u->cb.batch(0, "", rs, u->nstmts, u->ud);
    unit_free(u);
}

/* The Sync of the current work arrived: deliver, then take new work. */
static void conn_work_done(pg_conn *c)
{
    pg_pool *p = c->pool;
    pg_work w = c->work;
    if (w == WORK_BATCH) {
        batch_round_done(c);
        pool_dispatch(p);
        return;
    }
    c->work = WORK_NONE;
    if (w == WORK_PREPARE) {
        c->nprepared = c->prep_target;
        conn_clear_results(c);
    } else if (w == WORK_ROLLBACK) {
        conn_clear_results(c);
    } else if (w == WORK_UNIT || w == WORK_LEASEQ) {
        pg_unit *u = c->unit;
        c->unit = NULL;
        if (u->kind == UNIT_TX) {
            /* take the results out of c: the callback may start new work on c */
            PGresult *keep[PG_TX_MAX_STMTS + 2];
            int n = c->nexpect;
            memcpy(keep, c->res, (size_t)n * sizeof keep[0]);
            memset(c->res, 0, sizeof c->res);
            c->nexpect = 0;
            c->ri = 0;
            pg_result rs[PG_TX_MAX_STMTS + 2] = {{0}};
            int status = 0, failed = -1;
            for (int i = 0; i < n; i++) {
                const char *msg, *state;
                int st = res_status(keep[i], &msg, &state);
                rs[i].status = st;
                rs[i].res = keep[i];
                rs[i].sqlstate = state;
                rs[i].message = st ? msg : "";
                if (st && !status &&
                    (!keep[i] || PQresultStatus(keep[i]) != PGRES_PIPELINE_ABORTED)) {
                    status = st;
                    failed = (i >= 1 && i <= u->nstmts) ? i - 1 : -1;
                }
            }
            p->queries += (uint64_t)u->nstmts;
            if (status) p->errors++;
            /* the session stays in an aborted transaction after a failed
             * pipeline: roll back before the connection takes other work */
            if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) conn_start_rollback(c);
            cd_log_ctx saved;
            cd_log_ctx_enter(u->logctx.request_id, &saved);
            u->cb.tx(status, status ? NULL : rs + 1, status ? 0 : u->nstmts, failed, u->ud);
            cd_log_ctx_leave(&saved);
            for (int i = 0; i < n; i++)
                if (keep[i]) PQclear(keep[i]);
            cd_free(u);
        } else {
            pg_result r = {0};
            fill_result(c, &r, c->res[0]);
            p->queries++;
            if (r.status) p->errors++;
            /* results stay owned by c->res until after the callback */
            int n = c->nexpect;
            c->nexpect = 0;
            PGresult *keep = c->res[0];
            c->res[0] = NULL;
            for (int i = 1; i < n; i++) {
                if (c->res[i]) PQclear(c->res[i]);
                c->res[i] = NULL;
            }
            cd_log_ctx saved;
            cd_log_ctx_enter(u->logctx.request_id, &saved);
            u->cb.query(&r, u->ud);
            cd_log_ctx_leave(&saved);
            if (keep) PQclear(keep);
            cd_free(u);
        }
    }
    pool_dispatch(p);
}

/* Reads every available result; completes work at its Sync. */
static void conn_process(pg_conn *c)
{
    int nulls = 0;
    while (c->state == CONN_READY && c->work != WORK_NONE && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            if (++nulls > 1) break; /* nothing pending: wait for input */
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            if (c->work == WORK_PREPARE && --c->syncs_left > 0) continue;
            conn_work_done(c);
            continue;
        }
        if (c->work == WORK_PREPARE) {
            /* a bad registered statement is a programming error: log it;
             * queries naming it will fail with the server's error */
            const char *msg, *state;
            int i = c->nprepared + c->ri;
            if (res_status(r, &msg, &state) != 0 && i < c->pool->nprep) {
                pg_copy_msg(c->msg, msg);
                cd_error("pg", "prepare %s failed: %s", c->pool->preps[i].name, c->msg);
                c->prep_failed[i / 64] |= 1ull << (i % 64);
            }
            c->ri++;
            PQclear(r);
        } else if (c->work == WORK_BATCH) {
            pg_batch *b = c->unit ? c->unit->batch : NULL;
            if (b && b->got < b->nround && b->got < 3 * c->unit->nstmts + 3)
                b->rres[b->got++] = r;
            else
                PQclear(r);
        } else if (c->ri < c->nexpect && c->ri < (int)CD_ARRAY_LEN(c->res))
            c->res[c->ri++] = r;
        else
            PQclear(r);
    }
    if (c->state == CONN_READY && PQstatus(c->pg) == CONNECTION_BAD)
        conn_drop(c, PQerrorMessage(c->pg));
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    pg_poll *pp = (pg_poll *)h;
    pg_conn *c = pp->conn;
    if (!c || c->pool->closing) return;
    if (status < 0) {
        /* libuv stopped the handle (socket error): let libpq name the error */
        c->poll_events = 0;
        if (c->state == CONN_CONNECTING) {
            conn_connect_step(c);
            return;
        }
        PQconsumeInput(c->pg);
        const char *m = PQerrorMessage(c->pg);
        conn_drop(c, m && *m ? m : "socket error");
        return;
    }
    if (c->state == CONN_CONNECTING) {
        conn_connect_step(c);
        return;
    }
    if (c->state != CONN_READY) return;
    if (events & UV_READABLE) {
        if (!PQconsumeInput(c->pg)) {
            conn_drop(c, PQerrorMessage(c->pg));
            return;
        }
    }
    if (c->poll_events & UV_WRITABLE) {
        if (conn_flush(c) != 0) {
            conn_drop(c, PQerrorMessage(c->pg));
            return;
        }
    }
    conn_process(c);
    /* a server-side FATAL on an idle connection (e.g. terminated backend) */
    if (c->state == CONN_READY && c->work == WORK_NONE && PQstatus(c->pg) == CONNECTION_BAD)
        conn_drop(c, PQerrorMessage(c->pg));
}

/* The connection is gone: fail its in-flight work, then reconnect later. */
static void conn_drop(pg_conn *c, const char *why)
{
    pg_pool *p = c->pool;
    bool was_up = c->state == CONN_READY;
    static const char prefix[] = "database connection lost: ";
    char raw[PG_MSG_MAX], msg[PG_MSG_MAX];
    snprintf(raw, sizeof raw, "%s%s", prefix, why && *why ? why : "unknown");
    pg_copy_msg(msg, raw);
    if (was_up)
        cd_warn("pg", "connection %d dropped: %s", c->idx, msg);
    else if (c->idx == 0)
        cd_warn("pg", "cannot connect (retry in %d ms): %s", c->backoff_ms,
                msg + sizeof prefix - 1);
    conn_poll_close(c);
    if (c->pg) PQfinish(c->pg);
    c->pg = NULL;
    uv_timer_stop(&c->timer);
    conn_clear_results(c);
    if (c->unit) {
        pg_unit *u = c->unit;
        c->unit = NULL;
        defer_fail(p, u, CD_EUNAVAIL, msg);
    }
    c->work = WORK_NONE;
    c->state = CONN_DOWN;
    c->nprepared = 0;
    if (c->leased) return; /* reconnects when released */
    if (!p->closing) {
        if (was_up) {
            /* first retry at once: a dropped backend usually means one
             * connection died, not the server */
            c->backoff_ms = PG_RECONNECT_MIN_MS;
            conn_connect(c);
        } else {
            conn_schedule_retry(c);
        }
    }
    if (p->qlen > 0 && pool_connected(p) == 0 && !uv_is_active((uv_handle_t *)&p->qtimer))
        uv_timer_start(&p->qtimer, qtimer_cb, PG_QTIMER_INTERVAL_MS, PG_QTIMER_INTERVAL_MS);
}

/* ---- public API ---- */

int pg_pool_new(uv_loop_t *loop, const char *conninfo, int size, pg_pool **out)
{
    *out = NULL;
    if (!loop || !conninfo || size < 1 || size > PG_POOL_MAX_CONNS) return CD_EBAD;
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (!opts) {
        if (err) PQfreemem(err);
        return CD_EBAD;
    }
    PQconninfoFree(opts);
    size_t sz = sizeof(pg_pool) + (size_t)size * sizeof(pg_conn);
    pg_pool *p = cd_calloc(1, sz);
    if (!p) return CD_ENOMEM;
    p->conninfo = cd_malloc(strlen(conninfo) + 1);
    if (!p->conninfo) {
        cd_free(p);
        return CD_ENOMEM;
    }
    strcpy(p->conninfo, conninfo);
    p->loop = loop;
    p->size = size;
    p->conns = (pg_conn *)(p + 1);
    uv_timer_init(loop, &p->kick);
    p->kick.data = p;
    uv_timer_init(loop, &p->qtimer);
    p->qtimer.data = p;
    p->open_handles = 2;
    for (int i = 0; i < size; i++) {
        pg_conn *c = &p->conns[i];
        c->pool = p;
        c->idx = i;
        c->poll_fd = -1;
        c->state = CONN_DOWN;
        c->backoff_ms = PG_RECONNECT_MIN_MS;
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
        p->open_handles++;
    }
    for (int i = 0; i < size; i++)
        conn_connect(&p->conns[i]);
    *out = p;
    return 0;
}

int pg_pool_prepare(pg_pool *p, const char *name, const char *sql, int nparams)
{
    if (!name || !*name || !sql || nparams < 0) return CD_EBAD;
    if (p->closing) return CD_ECLOSED;
    const pg_prep *old = pool_find_prep(p, name);
    if (old) return strcmp(old->sql, sql) == 0 && old->nparams == nparams ? 0 : CD_EEXIST;
    if (p->nprep >= PG_MAX_PREPARED || nparams > PG_MAX_PARAMS) return CD_ELIMIT;
    size_t nl = strlen(name) + 1, sl = strlen(sql) + 1;
    char *mem = cd_malloc(nl + sl);
    if (!mem) return CD_ENOMEM;
    memcpy(mem, name, nl);
    memcpy(mem + nl, sql, sl);
    p->preps[p->nprep].name = mem;
    p->preps[p->nprep].sql = mem + nl;
    p->preps[p->nprep].nparams = nparams;
    p->nprep++;
    pool_dispatch(p);
    return 0;
}

static int pool_submit(pg_pool *p, pg_unit_kind kind, const pg_stmt *stmts, int n, void (*cb)(void),
                       void *ud)
{
    if (p->closing) return CD_ECLOSED;
    if (!cb) return CD_EBAD;
    for (int i = 0; i < n; i++) {
        if (!stmts[i].sql || stmts[i].nparams < 0) return CD_EBAD;
        if (stmts[i].nparams > PG_MAX_PARAMS) return CD_ELIMIT;
        if (stmts[i].nparams > 0 && !stmts[i].params) return CD_EBAD;
    }
    if (p->qlen >= PG_POOL_QUEUE_MAX) return CD_ELIMIT;
    pg_unit *u = unit_new(kind, stmts, n);
    if (!u) return CD_ENOMEM;
    if (kind == UNIT_QUERY)
        u->cb.query = (pg_query_cb)cb;
    else if (kind == UNIT_TX)
        u->cb.tx = (pg_tx_cb)cb;
    else
        u->cb.acquire = (pg_acquire_cb)cb;
    u->ud = ud;
    queue_push(p, u);
    pool_dispatch(p);
    if (p->qlen > 0 && pool_connected(p) == 0 && !uv_is_active((uv_handle_t *)&p->qtimer))
        uv_timer_start(&p->qtimer, qtimer_cb, PG_QTIMER_INTERVAL_MS, PG_QTIMER_INTERVAL_MS);
    return 0;
}

int pg_pool_query(pg_pool *p, const char *sql, int nparams, const char *const *params,
                  pg_query_cb cb, void *ud)
{
    pg_stmt s = {.sql = sql, .nparams = nparams, .params = params};
    return pool_submit(p, UNIT_QUERY, &s, 1, (void (*)(void))cb, ud);
}

int pg_pool_tx(pg_pool *p, const pg_stmt *stmts, int n, pg_tx_cb cb, void *ud)
{
    if (!stmts || n < 1) return CD_EBAD;
    if (n > PG_TX_MAX_STMTS) return CD_ELIMIT;
    return pool_submit(p, UNIT_TX, stmts, n, (void (*)(void))cb, ud);
}

int pg_pool_batch(pg_pool *p, const pg_stmt *stmts, int n, pg_batch_cb cb, void *ud)
{
    if (!stmts || n < 1 || !cb) return CD_EBAD;
    if (n > PG_BATCH_MAX_STMTS) return CD_ELIMIT;
    if (p->closing) return CD_ECLOSED;
    for (int i = 0; i < n; i++) {
        if (!stmts[i].sql || stmts[i].nparams < 0) return CD_EBAD;
        if (stmts[i].nparams > PG_MAX_PARAMS) return CD_ELIMIT;
        if (stmts[i].nparams > 0 && !stmts[i].params) return CD_EBAD;
    }
    if (p->qlen >= PG_POOL_QUEUE_MAX) return CD_ELIMIT;
    size_t nr = 3 * (size_t)n + 3;
    pg_batch *b =
        cd_calloc(1, sizeof *b + (nr + (size_t)n) * sizeof(PGresult *) + (size_t)n * PG_MSG_MAX);
    if (!b) return CD_ENOMEM;
    b->rres = (PGresult **)(b + 1);
    b->mres = b->rres + nr;
    b->msg = (char(*)[PG_MSG_MAX])(void *)(b->mres + n);
    b->prefix = 1;
    b->plain = true;
    pg_unit *u = unit_new(UNIT_BATCH, stmts, n);
    if (!u) {
        cd_free(b);
        return CD_ENOMEM;
    }
    u->batch = b;
    u->cb.batch = cb;
    u->ud = ud;
    queue_push(p, u);
    pool_dispatch(p);
    if (p->qlen > 0 && pool_connected(p) == 0 && !uv_is_active((uv_handle_t *)&p->qtimer))
        uv_timer_start(&p->qtimer, qtimer_cb, PG_QTIMER_INTERVAL_MS, PG_QTIMER_INTERVAL_MS);
    return 0;
}

int pg_pool_acquire(pg_pool *p, pg_acquire_cb cb, void *ud)
{
    return pool_submit(p, UNIT_ACQUIRE, NULL, 0, (void (*)(void))cb, ud);
}

int pg_conn_query(pg_conn *c, const char *sql, int nparams, const char *const *params,
                  pg_query_cb cb, void *ud)
{
    if (!c || !c->leased || !sql || !cb || nparams < 0) return CD_EBAD;
    if (nparams > PG_MAX_PARAMS) return CD_ELIMIT;
    if (nparams > 0 && !params) return CD_EBAD;
    if (c->pool->closing) return CD_ECLOSED;
    if (c->state != CONN_READY) return CD_EUNAVAIL;
    if (c->work != WORK_NONE) return CD_ESTATE;
    pg_stmt s = {.sql = sql, .nparams = nparams, .params = params};
    pg_unit *u = unit_new(UNIT_QUERY, &s, 1);
    if (!u) return CD_ENOMEM;
    u->cb.query = cb;
    u->ud = ud;
    c->unit = u;
    /* a send failure drops the connection and defers the failure callback */
    conn_send(c, WORK_LEASEQ, u->stmts, 1, false);
    return 0;
}

void pg_conn_release(pg_conn *c)
{
    if (!c || !c->leased) return;
    pg_pool *p = c->pool;
    c->leased = false;
    p->leases--;
    if (p->closing) {
        pool_maybe_free(p);
        return;
    }
    if (c->state == CONN_READY) {
        if (c->work == WORK_NONE && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            conn_start_rollback(c);
        pool_dispatch(p);
    } else if (c->state == CONN_DOWN) {
        conn_schedule_retry(c);
    }
}

void pg_pool_stats_get(const pg_pool *p, pg_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    out->size = p->size;
    for (int i = 0; i < p->size; i++) {
        const pg_conn *c = &p->conns[i];
        if (c->state == CONN_READY) out->connected++;
        if (c->leased || c->work != WORK_NONE) out->busy++;
    }
    out->queued = p->qlen;
    out->queries = p->queries;
    out->errors = p->errors;
    out->reconnects = p->reconnects;
    out->batch_retries = p->batch_retries;
}

bool pg_pool_ready(const pg_pool *p)
{
    return !p->closing && pool_connected(p) > 0;
}

static void pool_maybe_free(pg_pool *p)
{
    if (!p->closing || p->open_handles > 0 || p->leases > 0) return;
    pg_close_cb cb = p->close_cb;
    void *ud = p->close_ud;
    for (int i = 0; i < p->nprep; i++)
        cd_free(p->preps[i].name);
    cd_free(p->conninfo);
    cd_free(p);
    if (cb) cb(ud);
}

void pg_pool_close(pg_pool *p, pg_close_cb cb, void *ud)
{
    if (p->closing) return;
    p->closing = true;
    p->close_cb = cb;
    p->close_ud = ud;
    /* detach everything first so callbacks see a consistent closing pool */
    pg_unit *pending[3] = {p->dhead, p->qhead, NULL};
    p->dhead = p->dtail = NULL;
    p->qhead = p->qtail = NULL;
    p->qlen = 0;
    pg_unit *inflight = NULL;
    for (int i = 0; i < p->size; i++) {
        pg_conn *c = &p->conns[i];
        if (c->unit) {
            c->unit->next = inflight;
            inflight = c->unit;
            c->unit = NULL;
        }
        conn_clear_results(c);
        c->work = WORK_NONE;
        conn_poll_close(c);
        if (c->pg) PQfinish(c->pg);
        c->pg = NULL;
        c->state = CONN_CLOSED;
        uv_close((uv_handle_t *)&c->timer, handle_closed);
        c->timer.data = p;
    }
    uv_close((uv_handle_t *)&p->kick, handle_closed);
    uv_close((uv_handle_t *)&p->qtimer, handle_closed);
    pending[2] = inflight;
    /* the deferred list may hold lease grants: those become ECLOSED */
    for (int k = 0; k < 3; k++) {
        pg_unit *u = pending[k];
        while (u) {
            pg_unit *next = u->next;
            if (u->kind == UNIT_ACQUIRE && u->lease) {
                u->lease->leased = false;
                p->leases--;
            }
            int st = (k == 0 && u->fail) ? u->fail : CD_ECLOSED;
            unit_fail_now(p, u, st, st == CD_ECLOSED ? "pool closing" : u->msg);
            u = next;
        }
    }
    /* handles close asynchronously; leases keep the pool until released */
}

int pg_result_rows(const pg_result *r)
{
    if (!r || !r->res) return 0;
    return r->view ? r->nrows : PQntuples(r->res);
}

const char *pg_result_get(const pg_result *r, int row, int col)
{
    if (!r || !r->res) return NULL;
    if (row < 0 || row >= pg_result_rows(r)) return NULL;
    if (r->view) row += r->row0;
    if (row >= PQntuples(r->res) || col < 0 || col >= PQnfields(r->res)) return NULL;
    if (PQgetisnull(r->res, row, col)) return NULL;
    return PQgetvalue(r->res, row, col);
}

long pg_result_affected(const pg_result *r)
{
    if (!r || !r->res) return -1;
    const char *t = PQcmdTuples(r->res);
    if (!t || !*t) return -1;
    return strtol(t, NULL, 10);
}
