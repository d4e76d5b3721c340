/*
 * batch.c — group commit for the sender's mutations (see the batch.c
 * section of chat_internal.h).
 *
 * Mutations submitted while a window is open are held in arrival order;
 * the window closes when it holds `max` members (flushed at the next loop
 * turn), when no group is in flight or, under light load, one small group
 * holding none of its chats (CHAT_GC_EAGER_INFLIGHT, CHAT_GC_EAGER_BESIDE_MAX;
 * at the next loop turn: with a connection idle, waiting only adds
 * latency — members that arrived in the same turn still share the
 * transaction), when a group in flight completes, or at the latest
 * `window_us` after its first member arrived (a libuv timer, so rounded up
 * to whole milliseconds). So under load a transaction carries everything
 * that arrived while the groups before it were committing, and a lone
 * request waits for nobody, not even for the one commit in flight. A flush sorts the members by
 * key (stably: per key, arrival order is kept) and hands them to pg_pool_batch: one transaction,
 * one savepoint per member, one COMMIT. Sorting by key (the chat id) makes every batch take its
 * chats' row locks in one global order, so two batches running on two connections cannot deadlock
 * on them. With a merge rule (chat_gc_merge), each run of two or more consecutive members of its
 * statement is sent as ONE call of the array form (gc_send), which keeps that order; its rows
 * are handed back per member as pg_result views (merged_done), and a call that fails as a whole
 * is re-sent as a split group, one statement per member.
 *
 * Memory: a member is one heap allocation (the key, statement name and
 * parameters copied in), a flushed group one allocation pointing at its
 * members; both are freed after the members' callbacks ran (a split group
 * takes over the members of the failed array call). The array parameters
 * of a merged call live on gc_send's stack: pg_pool_batch copies them. Groups in
 * flight point back at their chat_gc (to count it down and flush what
 * waited), so it is freed only when both its timer has closed
 * (chat_gc_close) and no group is in flight.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/metrics.h"

_Static_assert(CHAT_GC_MAX == PG_BATCH_MAX_STMTS, "a group is one pg_pool_batch");
_Static_assert(CD_CONFIG_MAX_GROUP_COMMIT == PG_BATCH_MAX_STMTS, "config bound = batch bound");

typedef struct gc_member {
    struct gc_member *next;
    const char *key;
    pg_stmt stmt;
    pg_query_cb cb;
    void *ud;
} gc_member;

/* One statement of a group: member m[first] alone, or (merged) the run
 * m[first .. first + count) of members of the merge rule's statement as one
 * call of its array form. */
typedef struct gc_part {
    int first, count;
    bool merged;
} gc_part;

typedef struct gc_group {
    chat_gc *gc; /* alive while any group is in flight (see chat_gc_close) */
    int n;
    bool no_merge; /* a split group: one statement per member */
    int nparts;
    gc_part part[CHAT_GC_MAX];
    gc_member *m[CHAT_GC_MAX];
    struct gc_group *fly_next; /* chat_gc.flying */
} gc_group;

struct chat_gc {
    uv_loop_t *loop;
    pg_pool *pg;
    uint32_t max;
    uint64_t window_ms;
    uv_timer_t timer;
    gc_member *head, *tail;
    uint32_t pending;
    uint32_t inflight;       /* groups sent and not yet completed */
    gc_group *flying;        /* those groups (fly_link/fly_unlink) */
    uint32_t flying_members; /* members of those groups */
    bool closing;
    bool timer_closed;
    const char *merge_from, *merge_to; /* chat_gc_merge (static strings) */
    chat_gc_stats stats;
};

static void gc_timer_cb(uv_timer_t *t);

static chat_gc_stats gc_totals; /* every window of the process (metrics) */

int chat_gc_new(uv_loop_t *loop, pg_pool *pg, uint32_t max, uint32_t window_us, chat_gc **out)
{
    *out = NULL;
    if (!loop || !pg || max < 2 || max > CHAT_GC_MAX || window_us == 0) return CD_EBAD;
    chat_gc *gc = cd_calloc(1, sizeof *gc);
    if (!gc) return CD_ENOMEM;
    gc->loop = loop;
    gc->pg = pg;
    gc->max = max;
    gc->window_ms = (window_us + 999u) / 1000u;
    uv_timer_init(loop, &gc->timer);
    gc->timer.data = gc;
    *out = gc;
    return 0;
}

int chat_gc_merge(chat_gc *gc, const char *stmt, const char *array_stmt)
{
    if (!gc || !stmt || !array_stmt) return CD_EBAD;
    gc->merge_from = stmt;
    gc->merge_to = array_stmt;
    return 0;
}

void chat_gc_stats_get(const chat_gc *gc, chat_gc_stats *out)
{
    *out = gc->stats;
}

/* One allocation: the member, then its param pointers, then the strings. */
static gc_member *member_new(const char *key, const char *stmt, int n, const char *const *params)
{
    size_t sz = sizeof(gc_member) + (size_t)n * sizeof(char *) + strlen(key) + strlen(stmt) + 2;
    for (int i = 0; i < n; i++)
        if (params[i]) sz += strlen(params[i]) + 1;
    gc_member *m = cd_calloc(1, sz);
    if (!m) return NULL;
    const char **pp = (const char **)(m + 1);
    char *cur = (char *)(pp + n);
    for (int i = 0; i < n; i++) {
        if (!params[i]) continue;
        size_t l = strlen(params[i]) + 1;
        memcpy(cur, params[i], l);
        pp[i] = cur;
        cur += l;
    }
    size_t l = strlen(key) + 1;
    memcpy(cur, key, l);
    m->key = cur;
    cur += l;
    memcpy(cur, stmt, strlen(stmt) + 1);
    m->stmt.sql = cur;
    m->stmt.nparams = n;
    m->stmt.params = pp;
    return m;
}

static void gc_arm(chat_gc *gc);
static int gc_send(chat_gc *gc, gc_group *g);

/* ---- groups in flight and their keys ---- */

static void fly_link(chat_gc *gc, gc_group *g)
{
    g->fly_next = gc->flying;
    gc->flying = g;
    gc->flying_members += (uint32_t)g->n;
}

static void fly_unlink(chat_gc *gc, gc_group *g)
{
    for (gc_group **pp = &gc->flying; *pp; pp = &(*pp)->fly_next)
        if (*pp == g) {
            *pp = g->fly_next;
            gc->flying_members -= (uint32_t)g->n;
            return;
        }
}

static bool key_flying(const chat_gc *gc, const char *key)
{
    for (const gc_group *g = gc->flying; g; g = g->fly_next)
        for (int i = 0; i < g->n; i++)
            if (strcasecmp(g->m[i]->key, key) == 0) return true;
    return false;
}

/* Is a pending member's key in a group in flight? (the window then does not
 * close early beside it, see gc_arm; asked only while those groups hold at
 * most CHAT_GC_EAGER_BESIDE_MAX members) */
static bool pending_flying(const chat_gc *gc)
{
    for (const gc_member *m = gc->head; m; m = m->next)
        if (key_flying(gc, m->key)) return true;
    return false;
}
static void group_done(int status, const char *message, const pg_result *results, int n, void *ud);

static void member_fail(gc_member *m, int status, const char *message)
{
    pg_result r = {.status = status ? status : CD_EIO,
                   .res = NULL,
                   .message = message ? message : "",
                   .sqlstate = ""};
    m->cb(&r, m->ud);
    cd_free(m);
}

/* A merged part's result: each member completes with its own rows (a view
 * of r: the rows tagged with its 1-based index, column CHAT_GC_COL_INDEX)
 * or its own error (CHAT_GC_COL_STATE / CHAT_GC_COL_ERROR). When the array
 * statement itself failed — it was rolled back whole — its members go to
 * redo[] to run again one statement each. */
static void merged_done(gc_group *g, const gc_part *pt, const pg_result *r, gc_member **redo,
                        int *nredo)
{
    if (r->status != 0) {
        for (int k = 0; k < pt->count; k++)
            redo[(*nredo)++] = g->m[pt->first + k];
        return;
    }
    int rows = pg_result_rows(r), row = 0;
    for (int k = 0; k < pt->count; k++) {
        gc_member *m = g->m[pt->first + k];
        int start = row;
        while (row < rows) {
            const char *ix = pg_result_get(r, row, CHAT_GC_COL_INDEX);
            if (!ix || atoi(ix) != k + 1) break;
            row++;
        }
        const char *state = start < row ? pg_result_get(r, start, CHAT_GC_COL_STATE) : NULL;
        if (start == row) {
            cd_error("chat", "%s returned no row for member %d", g->gc->merge_to, k + 1);
            member_fail(m, CD_EIO, "no result for the message");
            continue;
        }
        pg_result v;
        if (state) {
            const char *err = pg_result_get(r, start, CHAT_GC_COL_ERROR);
            v = (pg_result){.status = strcmp(state, "23505") == 0 ? CD_EEXIST : CD_EIO,
                            .res = NULL,
                            .message = err ? err : "",
                            .sqlstate = state};
        } else {
            v = (pg_result){.status = 0,
                            .res = r->res,
                            .message = "",
                            .sqlstate = "",
                            .view = true,
                            .row0 = start,
                            .nrows = row - start};
        }
        m->cb(&v, m->ud);
        cd_free(m);
    }
}

static void group_done(int status, const char *message, const pg_result *results, int n, void *ud)
{
    gc_group *g = ud;
    chat_gc *gc = g->gc;
    fly_unlink(gc, g); /* before the callbacks free its members (their keys) */
    gc_member *redo[CHAT_GC_MAX];
    int nredo = 0;
    for (int j = 0; j < g->nparts; j++) {
        const gc_part *pt = &g->part[j];
        if (status != 0 || j >= n) {
            for (int k = 0; k < pt->count; k++)
                member_fail(g->m[pt->first + k], status, message);
        } else if (pt->merged) {
            merged_done(g, pt, &results[j], redo, &nredo);
        } else {
            gc_member *m = g->m[pt->first];
            m->cb(&results[j], m->ud);
            cd_free(m);
        }
    }
    cd_free(g);
    if (nredo > 0) {
        /* the split group is in flight before this one counts down, so a
         * closing gc outlives both */
        gc->stats.splits++;
        gc_totals.splits++;
        gc_group *s = cd_calloc(1, sizeof *s);
        if (!s) {
            for (int i = 0; i < nredo; i++)
                member_fail(redo[i], CD_ENOMEM, "out of memory");
        } else {
            s->gc = gc;
            s->no_merge = true;
            memcpy(s->m, redo, (size_t)nredo * sizeof *redo);
            s->n = nredo;
            gc->inflight++;
            fly_link(gc, s);
            int rc = gc_send(gc, s);
            if (rc != 0) group_done(rc, cd_strerror(rc), NULL, 0, s);
        }
    }
    gc->inflight--;
    if (gc->closing) {
        if (gc->inflight == 0 && gc->timer_closed) cd_free(gc);
    } else {
        gc_arm(gc); /* the connection is free again: what waited goes now */
    }
}

/* Stable insertion sort by key (n <= CHAT_GC_MAX). */
static void sort_members(gc_member **m, int n)
{
    for (int i = 1; i < n; i++) {
        gc_member *x = m[i];
        int j = i - 1;
        while (j >= 0 && strcasecmp(m[j]->key, x->key) > 0) {
            m[j + 1] = m[j];
            j--;
        }
        m[j + 1] = x;
    }
}

/* Appends param k of members m[0..n) as a Postgres array literal: every
 * element double-quoted with '"' and '\\' escaped, SQL NULL as NULL. */
static void put_array(cd_buf *b, gc_member *const *m, int n, int k)
{
    cd_buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        if (i) cd_buf_putc(b, ',');
        const char *v = m[i]->stmt.params[k];
        if (!v) {
            cd_buf_puts(b, "NULL");
            continue;
        }
        cd_buf_putc(b, '"');
        for (const char *c = v; *c; c++) {
            if (*c == '"' || *c == '\\') cd_buf_putc(b, '\\');
            cd_buf_putc(b, *c);
        }
        cd_buf_putc(b, '"');
    }
    cd_buf_putc(b, '}');
    cd_buf_putc(b, 0);
}

static bool mergeable(const chat_gc *gc, const gc_group *g, int i)
{
    return !g->no_merge && gc->merge_from && strcmp(g->m[i]->stmt.sql, gc->merge_from) == 0 &&
           g->m[i]->stmt.nparams <= CHAT_GC_MERGE_PARAMS;
}

/* Splits g (sorted) into parts — each run of two or more mergeable members
 * becomes one array statement, so chats are still locked in key order —
 * and sends them as one pg_pool_batch. 0 or its error (then nothing was
 * sent and the caller completes g). */
static int gc_send(chat_gc *gc, gc_group *g)
{
    pg_stmt stmts[CHAT_GC_MAX] = {{0}};
    cd_buf arr[CHAT_GC_MAX / 2][CHAT_GC_MERGE_PARAMS];
    const char *ap[CHAT_GC_MAX / 2][CHAT_GC_MERGE_PARAMS];
    int arr_np[CHAT_GC_MAX / 2];
    int narr = 0;
    g->nparts = 0;
    for (int i = 0; i < g->n;) {
        int run = 1;
        if (mergeable(gc, g, i))
            while (i + run < g->n && mergeable(gc, g, i + run) &&
                   g->m[i + run]->stmt.nparams == g->m[i]->stmt.nparams)
                run++;
        gc_part *pt = &g->part[g->nparts];
        pg_stmt *st = &stmts[g->nparts];
        g->nparts++;
        pt->first = i;
        if (run < 2) {
            pt->count = 1;
            pt->merged = false;
            *st = g->m[i]->stmt;
            i++;
            continue;
        }
        int np = g->m[i]->stmt.nparams;
        bool ok = true;
        for (int k = 0; k < np; k++) {
            cd_buf_init(&arr[narr][k]);
            put_array(&arr[narr][k], &g->m[i], run, k);
            ok = ok && !cd_buf_failed(&arr[narr][k]);
            ap[narr][k] = arr[narr][k].data;
        }
        if (!ok) {
            /* out of memory: this run goes one statement per member */
            for (int k = 0; k < np; k++)
                cd_buf_free(&arr[narr][k]);
            pt->count = 1;
            pt->merged = false;
            *st = g->m[i]->stmt;
            i++;
            continue;
        }
        pt->count = run;
        pt->merged = true;
        *st = (pg_stmt){.sql = gc->merge_to, .nparams = np, .params = ap[narr]};
        arr_np[narr++] = np;
        gc->stats.merged++;
        gc_totals.merged++;
        i += run;
    }
    int rc = pg_pool_batch(gc->pg, stmts, g->nparts, group_done, g);
    for (int a = 0; a < narr; a++) /* the pool copied the params */
        for (int k = 0; k < arr_np[a]; k++)
            cd_buf_free(&arr[a][k]);
    return rc;
}

/* Sends up to `max` pending members as one batch. */
static void gc_flush_one(chat_gc *gc)
{
    gc_group *g = cd_calloc(1, sizeof *g);
    if (!g) {
        /* out of memory: fail the oldest member alone (it is not sent) */
        gc_member *m = gc->head;
        gc->head = m->next;
        if (!gc->head) gc->tail = NULL;
        gc->pending--;
        member_fail(m, CD_ENOMEM, "out of memory");
        return;
    }
    g->gc = gc;
    int take = (int)(gc->pending < gc->max ? gc->pending : gc->max);
    for (int i = 0; i < take; i++) {
        gc_member *m = gc->head;
        gc->head = m->next;
        m->next = NULL;
        g->m[g->n++] = m;
    }
    if (!gc->head) gc->tail = NULL;
    gc->pending -= (uint32_t)take;
    sort_members(g->m, g->n);
    fly_link(gc, g);
    gc->stats.batches++;
    gc->stats.members += (uint64_t)g->n;
    if ((uint32_t)g->n > gc->stats.largest) gc->stats.largest = (uint32_t)g->n;
    gc_totals.batches++;
    gc_totals.members += (uint64_t)g->n;
    if ((uint32_t)g->n > gc_totals.largest) gc_totals.largest = (uint32_t)g->n;
    gc->inflight++;
    int rc = gc_send(gc, g);
    if (rc != 0)
        group_done(rc, cd_strerror(rc), NULL, 0, g); /* from the timer: not inside submit */
}

static void gc_arm(chat_gc *gc)
{
    if (gc->closing || gc->pending == 0) return;
    if (gc->pending >= gc->max) {
        uv_timer_start(&gc->timer, gc_timer_cb, 0, 0);
        gc->stats.full++;
        gc_totals.full++;
    } else if (gc->inflight == 0 ||
               (gc->inflight < CHAT_GC_EAGER_INFLIGHT &&
                gc->flying_members <= CHAT_GC_EAGER_BESIDE_MAX && !pending_flying(gc))) {
        /* a connection is idle: the window closes at the next loop turn,
         * taking along whatever arrived in this one. Beside a group in
         * flight only under light load (that group is small: under load
         * the window gathers a larger group while it commits) and unless a
         * pending member's chat is in it: sent beside it, its statement
         * could take the chat's lock first and commit ahead of a message
         * that arrived before it */
        uv_timer_start(&gc->timer, gc_timer_cb, 0, 0);
    } else if (!uv_is_active((uv_handle_t *)&gc->timer)) {
        uv_timer_start(&gc->timer, gc_timer_cb, gc->window_ms, 0);
    }
}

static void gc_timer_cb(uv_timer_t *t)
{
    chat_gc *gc = t->data;
    if (gc->pending > 0) gc_flush_one(gc);
    /* what arrived past a full window opens the next one */
    gc_arm(gc);
}

int chat_gc_submit(chat_gc *gc, const char *key, const char *stmt, int n, const char *const *params,
                   pg_query_cb cb, void *ud)
{
    if (!gc || !stmt || !cb || n < 0 || n > PG_MAX_PARAMS || (n > 0 && !params)) return CD_EBAD;
    if (gc->closing) return CD_ECLOSED;
    gc_member *m = member_new(key ? key : "", stmt, n, params);
    if (!m) return CD_ENOMEM;
    m->cb = cb;
    m->ud = ud;
    if (gc->tail)
        gc->tail->next = m;
    else
        gc->head = m;
    gc->tail = m;
    gc->pending++;
    bool was_full = gc->pending > gc->max;
    if (!was_full) gc_arm(gc);
    return 0;
}

static void gc_closed(uv_handle_t *h)
{
    chat_gc *gc = h->data;
    gc->timer_closed = true;
    if (gc->inflight == 0) cd_free(gc); /* else the last group_done frees it */
}

void chat_gc_close(chat_gc *gc)
{
    if (!gc || gc->closing) return;
    /* what is pending still goes to the database (its callers wait for it) */
    while (gc->pending > 0)
        gc_flush_one(gc);
    gc->closing = true;
    uv_timer_stop(&gc->timer);
    uv_close((uv_handle_t *)&gc->timer, gc_closed);
}

/* the sender's group-commit window (below): one per process, on the kit's pool */
static struct {
    chat_gc *gc;
    pg_pool *pool; /* the pool gc was made for */
    bool hooked;
} gcs;

void chat_gc_metrics_render(cd_buf *b, void *ud)
{
    (void)ud;
    cd_metrics_value(b, "chatd_sender_group_commits_total", "counter",
                     "Group-commit transactions sent (pg_pool_batch).", gc_totals.batches);
    cd_metrics_value(b, "chatd_sender_group_commit_members_total", "counter",
                     "Mutations committed through group commit.", gc_totals.members);
    cd_metrics_value(b, "chatd_sender_group_commit_full_total", "counter",
                     "Group-commit windows closed by reaching CHATD_GROUP_COMMIT_MAX.",
                     gc_totals.full);
    cd_metrics_value(b, "chatd_sender_group_commit_largest", "gauge",
                     "Most mutations in one group-commit transaction so far.", gc_totals.largest);
    cd_metrics_value(b, "chatd_sender_group_commit_merged_total", "counter",
                     "Array statements sent: runs of createMessage in a group run as one call.",
                     gc_totals.merged);
    cd_metrics_value(b, "chatd_sender_group_commit_splits_total", "counter",
                     "Groups whose array statement failed as a whole and ran again one statement "
                     "per message.",
                     gc_totals.splits);
    pg_pool_stats st = {0};
    if (gcs.pool) pg_pool_stats_get(gcs.pool, &st);
    cd_metrics_value(b, "chatd_sender_group_commit_retries_total", "counter",
                     "Group-commit transactions run again with a savepoint per mutation because "
                     "one of them failed.",
                     st.batch_retries);
}

/* ---- the sender's use: one chat_gc per process, on the kit's pool ---- */

static void gcs_shutdown(proto_server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    chat_gc_close(gcs.gc);
    gcs.gc = NULL;
    gcs.pool = NULL;
}

static void resume_grouped(chat_op *op)
{
    chat_op_run_grouped(op, op->group_key, op->stmt, op->nparams, op->params, op->cb);
}

bool chat_op_run_grouped(chat_op *op, const char *key, const char *stmt, int n,
                         const char *const *params, pg_query_cb cb)
{
    const cd_config *cfg = op->srv ? op->srv->cfg : NULL;
    if (!cfg || !cd_config_group_commit_on(cfg)) return chat_op_run(op, stmt, n, params, cb);
    if (op->rate_limited && !op->rate_checked) {
        /* the caller's write limit first, as chat_op_run does */
        op->stmt = stmt;
        op->nparams = n;
        op->params = params;
        op->cb = cb;
        op->group_key = key;
        return chat_op_rate_gate(op, resume_grouped);
    }
    pg_pool *p = chat_op_pool(op);
    if (!p) return false;
    if (gcs.gc && gcs.pool != p) {
        chat_gc_close(gcs.gc);
        gcs.gc = NULL;
    }
    if (!gcs.gc) {
        if (!gcs.hooked && proto_on_shutdown(op->srv, gcs_shutdown, NULL) == 0) gcs.hooked = true;
        uint32_t max = cfg->group_commit_max > CHAT_GC_MAX ? CHAT_GC_MAX : cfg->group_commit_max;
        if (chat_gc_new(op->srv->loop, p, max, cfg->group_commit_us, &gcs.gc) != 0)
            return chat_op_run(op, stmt, n, params, cb);
        chat_gc_merge(gcs.gc, CHAT_STMT_CREATE_MESSAGE, CHAT_STMT_CREATE_MESSAGES);
        gcs.pool = p;
    }
    int rc = chat_gc_submit(gcs.gc, key, stmt, n, params, cb, op);
    if (rc == 0) return true;
    if (rc == CD_ENOMEM)
        gql_ri_error(op->ri, CHAT_E_INTERNAL, "Out of memory");
    else
        chat_fail_pg(op->ri, CD_EUNAVAIL, NULL, stmt);
    return false;
}
