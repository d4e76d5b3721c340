/*
 * outbox.c — the sender's outbox: publishing after COMMIT, marking
 * confirmed publishes, republishing what was never confirmed (the sweeper),
 * and pruning the event log (see chat_internal.h, docs/api.md ("Chat
 * events")).
 *
 * Guarantee: the transaction that writes a chat_events row also writes its
 * chat_outbox row (db/migrations/0013_outbox.sql), and that row stays until
 * Redis has acknowledged a PUBLISH of the event: a confirmed publish DELETEs
 * it (batched, see mark_flush). Every sender process runs a sweeper tick
 * (SENDER_SWEEP_INTERVAL_MS) that claims chat_outbox rows whose sweep_after
 * has passed (2 s after the write; FOR UPDATE SKIP LOCKED so concurrent
 * sweepers take disjoint rows; the claim pushes sweep_after forward by
 * SENDER_SWEEP_LEASE_S so a sweeper dying mid-way only delays them) and
 * publishes their events again. Receivers drop duplicates by seq, so
 * republishing an event whose confirmation was merely lost is harmless.
 *
 * Every SENDER_PRUNE_EVERY ticks, published events (no chat_outbox row) older than
 * CHATD_EVENT_RETENTION are deleted (never a chat's newest event, so the
 * log always shows where a chat stands).
 *
 * Every SENDER_SEARCH_FLUSH_EVERY ticks the search index's pending list is
 * merged (chatd_search_pending_flush, 0015_latency.sql), so no message's
 * INSERT finds it full and merges megabytes of it while holding its
 * group's chat locks (a 100–250 ms stall every few ten thousand messages).
 * One merge at a time per process (search_busy) and over all senders (the
 * function's advisory lock); the pages merged are counted for /metrics.
 *
 * State: one outbox per process (one proto_server), a heap struct holding
 * the two timers; freed in the timers' close callbacks once the process
 * drains (a shutdown hook, or the next tick seeing srv->draining). A publish context is a small
 * heap allocation freed in its publish callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/metrics.h"

#define OUTBOX_UUID_LEN 36

typedef struct outbox {
    proto_server *srv;
    uv_timer_t sweep;
    uv_timer_t flush;
    int open; /* timers not yet closed */
    bool closing;
    bool sweep_busy;
    bool search_busy;
    bool flush_armed;
    unsigned ticks;
    int64_t retention_s;
    int nmark;
    char mark_chat[SENDER_MARK_BATCH][OUTBOX_UUID_LEN + 1];
    long long mark_seq[SENDER_MARK_BATCH];
} outbox;

typedef struct pub_ctx {
    char chat[OUTBOX_UUID_LEN + 1];
    long long seq;
} pub_ctx;

static outbox *g_ob;

/* /metrics (chat_outbox_metrics_render): process totals */
static struct {
    uint64_t flushes; /* merges that ran (not skipped) */
    uint64_t pages;   /* pending-list pages they merged */
    uint64_t errors;
} search_totals;

static const chat_stmt outbox_stmts[] = {
    /* its commit does not wait for the WAL flush (synchronous_commit off
     * for this one transaction): a mark lost in a crash only means the
     * sweeper publishes the event again (receivers drop the duplicate),
     * and these commits — one per sender every SENDER_MARK_FLUSH_MS — no
     * longer queue for fsync beside the messages' commits */
    {"sender_mark_published",
     "WITH nosync AS (SELECT set_config('synchronous_commit', 'off', true))"
     " SELECT chatd_outbox_mark($1::uuid[], $2::bigint[]) FROM nosync",
     2},
    {"sender_sweep_claim",
     "WITH c AS (SELECT chat_id, seq FROM chat_outbox WHERE sweep_after <= now()"
     " ORDER BY sweep_after LIMIT $1::int FOR UPDATE SKIP LOCKED)"
     " , u AS (UPDATE chat_outbox o SET sweep_after = now() + make_interval(secs => $2::int)"
     " FROM c WHERE o.chat_id = c.chat_id AND o.seq = c.seq RETURNING o.chat_id, o.seq)"
     " SELECT 'chat:' || e.chat_id::text,"
     " chatd_envelope(e.chat_id, e.seq, e.kind, e.created_at, e.payload), e.chat_id::text,"
     " e.seq::text FROM u JOIN chat_events e ON e.chat_id = u.chat_id AND e.seq = u.seq"
     " ORDER BY e.chat_id, e.seq", /* per-chat order */
     2},
    {"sender_prune",
     "DELETE FROM chat_events WHERE (chat_id, seq) IN (SELECT x.chat_id, x.seq"
     " FROM chat_events x JOIN chats c ON c.id = x.chat_id"
     " WHERE x.created_at < now() - make_interval(secs => $1::bigint) AND x.seq < c.last_seq"
     " AND NOT EXISTS (SELECT 1 FROM chat_outbox o WHERE o.chat_id = x.chat_id AND o.seq = x.seq)"
     " LIMIT $2::int)",
     2},
    {"sender_search_flush", "SELECT chatd_search_pending_flush()", 0},
};

int64_t chat_outbox_parse_retention(const char *s)
{
    if (!s || !*s) return SENDER_RETENTION_DEFAULT_S;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0) return -1;
    int64_t mul = 1;
    if (*end) {
        switch (*end) {
        case 's':
            mul = 1;
            break;
        case 'm':
            mul = 60;
            break;
        case 'h':
            mul = 3600;
            break;
        case 'd':
            mul = 86400;
            break;
        default:
            return -1;
        }
        if (end[1]) return -1;
    }
    if (v > INT64_MAX / mul / 1000) return -1;
    return (int64_t)v * mul;
}

/* ---- marking confirmed publishes ---- */

static void on_marked(const pg_result *r, void *ud)
{
    CD_UNUSED(ud);
    if (r->status != 0) /* the sweeper will republish them: duplicates only */
        cd_warn("sender", "marking events published: %s", r->message);
}

static void mark_flush(outbox *ob)
{
    if (ob->nmark == 0) return;
    pg_pool *p = chat_pool(ob->srv);
    if (!p) {
        ob->nmark = 0;
        return;
    }
    cd_buf chats, seqs;
    cd_buf_init(&chats);
    cd_buf_init(&seqs);
    cd_buf_puts(&chats, "{");
    cd_buf_puts(&seqs, "{");
    for (int i = 0; i < ob->nmark; i++) {
        if (i) {
            cd_buf_puts(&chats, ",");
            cd_buf_puts(&seqs, ",");
        }
        cd_buf_puts(&chats, ob->mark_chat[i]);
        cd_buf_printf(&seqs, "%lld", ob->mark_seq[i]);
    }
    cd_buf_puts(&chats, "}");
    cd_buf_puts(&seqs, "}");
    ob->nmark = 0;
    if (!cd_buf_failed(&chats) && !cd_buf_failed(&seqs)) {
        const char *params[] = {chats.data, seqs.data};
        int rc = pg_pool_query(p, "sender_mark_published", 2, params, on_marked, NULL);
        if (rc != 0) cd_warn("sender", "marking events published: %s", cd_strerror(rc));
    }
    cd_buf_free(&chats);
    cd_buf_free(&seqs);
}

static void on_flush_timer(uv_timer_t *t)
{
    outbox *ob = t->data;
    ob->flush_armed = false;
    mark_flush(ob);
}

static void mark_add(const char *chat, long long seq)
{
    outbox *ob = g_ob;
    if (!ob || ob->closing) return;
    snprintf(ob->mark_chat[ob->nmark], sizeof ob->mark_chat[0], "%s", chat);
    ob->mark_seq[ob->nmark] = seq;
    if (++ob->nmark == SENDER_MARK_BATCH) {
        mark_flush(ob);
        return;
    }
    if (!ob->flush_armed) {
        ob->flush_armed = true;
        uv_timer_start(&ob->flush, on_flush_timer, SENDER_MARK_FLUSH_MS, 0);
    }
}

/* ---- publishing ---- */

static void on_event_published(void *ud, int status, long long receivers)
{
    CD_UNUSED(receivers);
    pub_ctx *pc = ud;
    if (status == 0) mark_add(pc->chat, pc->seq);
    cd_free(pc);
}

void chat_outbox_publish_event(proto_server *srv, const char *channel, const char *payload,
                               size_t len, const char *chat_id, const char *seq)
{
    if (!srv->rd) return; /* no broker: stays unpublished in the log */
    char name[CHAT_EV_CHANNEL_MAX];
    if (chat_ev_broker_channel(name, sizeof name, channel) != 0) {
        cd_warn("sender", "publish seq %s: channel name %s too long", seq, channel);
        return; /* stays unpublished; the sweeper logs it again */
    }
    channel = name;
    pub_ctx *pc = cd_malloc(sizeof *pc);
    if (!pc) return; /* the sweeper republishes it */
    snprintf(pc->chat, sizeof pc->chat, "%s", chat_id);
    pc->seq = strtoll(seq, NULL, 10);
    int rc = rd_publish(srv->rd, channel, payload, len, on_event_published, pc);
    if (rc != 0) {
        cd_free(pc);
        cd_debug("sender", "publish %s seq %s deferred to the sweeper: %s", channel, seq,
                 cd_strerror(rc));
    }
}

void chat_outbox_publish(proto_server *srv, const char *channel, const char *payload, size_t len)
{
    if (!srv->rd) return;
    char name[CHAT_EV_CHANNEL_MAX];
    if (chat_ev_broker_channel(name, sizeof name, channel) != 0) return;
    int rc = rd_publish(srv->rd, name, payload, len, NULL, NULL);
    if (rc != 0) cd_debug("sender", "publish %s dropped: %s", channel, cd_strerror(rc));
}

/* ---- sweeping and pruning ---- */

static void on_claimed(const pg_result *r, void *ud)
{
    outbox *ob = ud;
    if (g_ob == ob) ob->sweep_busy = false;
    if (r->status != 0) {
        if (r->status != CD_ECLOSED) cd_warn("sender", "sweeper: %s", r->message);
        return;
    }
    int rows = pg_result_rows(r);
    if (rows == 0 || !g_ob) return;
    cd_info("sender", "sweeper: republishing %d unconfirmed event(s)", rows);
    for (int i = 0; i < rows; i++) {
        const char *ch = pg_result_get(r, i, 0);
        const char *payload = pg_result_get(r, i, 1);
        const char *chat = pg_result_get(r, i, 2);
        const char *seq = pg_result_get(r, i, 3);
        if (ch && payload && chat && seq)
            chat_outbox_publish_event(ob->srv, ch, payload, strlen(payload), chat, seq);
    }
}

static void on_pruned(const pg_result *r, void *ud)
{
    CD_UNUSED(ud);
    if (r->status != 0) {
        if (r->status != CD_ECLOSED) cd_warn("sender", "event log prune: %s", r->message);
        return;
    }
    long n = pg_result_affected(r);
    if (n > 0) cd_info("sender", "event log: pruned %ld event(s) past retention", n);
}

static void on_search_flushed(const pg_result *r, void *ud)
{
    outbox *ob = ud;
    if (g_ob == ob) ob->search_busy = false;
    if (r->status != 0) {
        if (r->status == CD_ECLOSED) return;
        /* logged once: a tick a second would flood the log (e.g. the
         * role does not own the index); the counter shows the rest */
        if (search_totals.errors++ == 0)
            cd_warn("sender", "search index pending-list merge: %s", r->message);
        return;
    }
    const char *v = pg_result_rows(r) > 0 ? pg_result_get(r, 0, 0) : NULL;
    long long pages = v ? strtoll(v, NULL, 10) : -1;
    if (pages < 0) return; /* skipped: another sender is merging */
    search_totals.flushes++;
    search_totals.pages += (uint64_t)pages;
}

void chat_outbox_metrics_render(cd_buf *b, void *ud)
{
    CD_UNUSED(ud);
    cd_metrics_value(b, "chatd_sender_search_flushes_total", "counter",
                     "Background merges of the search index's pending list by this sender "
                     "(0015_latency.sql).",
                     search_totals.flushes);
    cd_metrics_value(b, "chatd_sender_search_flush_pages_total", "counter",
                     "Pending-list pages of the search index those merges moved into the index.",
                     search_totals.pages);
    cd_metrics_value(b, "chatd_sender_search_flush_errors_total", "counter",
                     "Background merges of the search index's pending list that failed.",
                     search_totals.errors);
}

static void on_timer_closed(uv_handle_t *h)
{
    outbox *ob = h->data;
    if (--ob->open == 0) cd_free(ob);
}

static void outbox_close(outbox *ob)
{
    if (ob->closing) return;
    ob->closing = true;
    mark_flush(ob);
    g_ob = NULL;
    uv_close((uv_handle_t *)&ob->sweep, on_timer_closed);
    uv_close((uv_handle_t *)&ob->flush, on_timer_closed);
}

static void on_sweep_timer(uv_timer_t *t)
{
    outbox *ob = t->data;
    proto_server *srv = ob->srv;
    if (srv->draining) {
        outbox_close(ob);
        return;
    }
    if (!srv->pg || !srv->rd || !pg_pool_ready(srv->pg) || !rd_ready(srv->rd)) return;
    pg_pool *p = chat_pool(srv);
    if (!p) return;
    ob->ticks++;
    if (!ob->sweep_busy) {
        char batch[16], lease[16];
        snprintf(batch, sizeof batch, "%d", SENDER_SWEEP_BATCH);
        snprintf(lease, sizeof lease, "%d", SENDER_SWEEP_LEASE_S);
        const char *params[] = {batch, lease};
        if (pg_pool_query(p, "sender_sweep_claim", 2, params, on_claimed, ob) == 0)
            ob->sweep_busy = true;
    }
    if (!ob->search_busy && ob->ticks % SENDER_SEARCH_FLUSH_EVERY == 0) {
        if (pg_pool_query(p, "sender_search_flush", 0, NULL, on_search_flushed, ob) == 0)
            ob->search_busy = true;
    }
    if (ob->ticks % SENDER_PRUNE_EVERY == 1) {
        char ret[24], batch[16];
        snprintf(ret, sizeof ret, "%lld", (long long)ob->retention_s);
        snprintf(batch, sizeof batch, "%d", SENDER_PRUNE_BATCH);
        const char *params[] = {ret, batch};
        int rc = pg_pool_query(p, "sender_prune", 2, params, on_pruned, NULL);
        if (rc != 0) cd_warn("sender", "event log prune: %s", cd_strerror(rc));
    }
}

/* Shutdown hook (after the HTTP drain, before the pool and broker close):
 * flush pending marks and stop the timers. */
static void on_shutdown(proto_server *srv, void *ud)
{
    CD_UNUSED(srv);
    outbox *ob = ud;
    if (g_ob == ob) outbox_close(ob);
}

int chat_outbox_start(proto_server *srv)
{
    int rc = chat_stmts_add(outbox_stmts, CD_ARRAY_LEN(outbox_stmts));
    if (rc != 0) return rc;
    const cd_config *cfg = srv->cfg;
    bool sends = !cfg || cfg->role == CD_ROLE_SENDER || cfg->role == CD_ROLE_ALL;
    if (!sends || !cfg || !cfg->database_url) return 0; /* no sweeper here */
    if (g_ob) return 0;
    const char *env = getenv("CHATD_EVENT_RETENTION");
    int64_t ret = chat_outbox_parse_retention(env);
    if (ret < 0) {
        cd_error("sender",
                 "CHATD_EVENT_RETENTION=%s: expected a positive number of seconds "
                 "or a number with s/m/h/d",
                 env);
        return CD_EBAD;
    }
    outbox *ob = cd_malloc(sizeof *ob);
    if (!ob) return CD_ENOMEM;
    memset(ob, 0, sizeof *ob);
    ob->srv = srv;
    ob->retention_s = ret;
    uv_timer_init(srv->loop, &ob->sweep);
    uv_timer_init(srv->loop, &ob->flush);
    ob->sweep.data = ob->flush.data = ob;
    ob->open = 2;
    uv_timer_start(&ob->sweep, on_sweep_timer, SENDER_SWEEP_INTERVAL_MS, SENDER_SWEEP_INTERVAL_MS);
    g_ob = ob;
    if (proto_on_shutdown(srv, on_shutdown, ob) != 0)
        cd_warn("sender", "no shutdown hook slot: the sweeper stops at its next tick");
    cd_info("sender", "outbox sweeper every %d ms, event retention %lld s",
            SENDER_SWEEP_INTERVAL_MS, (long long)ret);
    return 0;
}
