/*
 * authz.c — caller decisions for resolvers (see chat_internal.h): reads
 * the proto_caller of the running operation. A resolver run without a chatd
 * transport (no context) is treated as an anonymous token-mode caller. A
 * caller whose token was revoked (logout everywhere, password change,
 * removal: its "ver" claim is below the account's token version) is treated
 * as anonymous although its token still verifies; this file keeps those
 * versions (below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/text.h"

/* ---- revoked tokens ----
 *
 * An open-addressing hash table (linear probing, capacity a power of two,
 * at most half full) of accounts whose token version was bumped within
 * CHAT_REVOKED_WINDOW_S: user id → the lowest token version still valid,
 * whether the account was removed, and until when the entry matters (local
 * unix seconds). Expired entries are dropped when the table is rebuilt
 * (growth, or a refresh that found expired ones). The table is the cache of
 * users.token_version / tokens_revoked_at / deleted_at: the database is the
 * truth (it survives restarts), the control channel makes a change felt at
 * once, the refresh timer within CHAT_REVOKED_REFRESH_MS without Redis.
 */
typedef struct revoked_entry {
    char id[37]; /* "" = free slot */
    bool removed;
    int64_t ver;
    int64_t until;
} revoked_entry;

static struct {
    revoked_entry *slots;
    size_t cap, count;
    bool overflow_logged;
    /* refresh from the database */
    proto_server *srv;
    uv_timer_t timer;
    bool started, loaded, in_flight, stopping;
    double max_seen; /* newest tokens_revoked_at seen (database epoch s) */
} rv;

static uint64_t rv_hash(const char *id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the lower-cased id */
    for (const char *p = id; *p; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
        h = (h ^ (uint8_t)c) * 1099511628211ull;
    }
    return h;
}

static revoked_entry *rv_find(const char *id)
{
    if (!rv.cap) return NULL;
    size_t mask = rv.cap - 1;
    for (size_t i = rv_hash(id) & mask;; i = (i + 1) & mask) {
        revoked_entry *e = &rv.slots[i];
        if (!e->id[0]) return NULL;
        if (strcasecmp(e->id, id) == 0) return e;
    }
}

/* Rebuilds the table with room for `need` live entries, dropping expired
 * ones. false on OOM (the old table stays). */
static bool rv_rebuild(size_t need, int64_t now)
{
    size_t cap = 64;
    while (cap < need * 2)
        cap *= 2;
    revoked_entry *n = cd_calloc(cap, sizeof *n);
    if (!n) return false;
    size_t count = 0;
    for (size_t i = 0; i < rv.cap; i++) {
        revoked_entry *e = &rv.slots[i];
        if (!e->id[0] || e->until <= now) continue;
        for (size_t k = rv_hash(e->id) & (cap - 1);; k = (k + 1) & (cap - 1)) {
            if (!n[k].id[0]) {
                n[k] = *e;
                count++;
                break;
            }
        }
    }
    cd_free(rv.slots);
    rv.slots = n;
    rv.cap = cap;
    rv.count = count;
    return true;
}

void chat_revoked_note(const char *user_id, int64_t ver, bool removed, int64_t until)
{
    if (!user_id || !cd_uuid_valid(user_id, strlen(user_id))) return;
    int64_t now = (int64_t)time(NULL);
    if (!until) until = now + CHAT_REVOKED_WINDOW_S;
    if (until <= now) return;
    revoked_entry *e = rv_find(user_id);
    if (!e) {
        if ((rv.count + 1) * 2 > rv.cap) {
            size_t live = 0;
            for (size_t i = 0; i < rv.cap; i++)
                live += rv.slots[i].id[0] && rv.slots[i].until > now;
            if (live + 1 > CHAT_REVOKED_MAX) {
                /* refuse to grow without bound: keep what we have (the
                 * database still refuses refresh tokens and logins) */
                if (!rv.overflow_logged)
                    cd_error("authz",
                             "revoked-token set full (%d accounts within %d s): further "
                             "revocations take effect only when access tokens expire",
                             CHAT_REVOKED_MAX, CHAT_REVOKED_WINDOW_S);
                rv.overflow_logged = true;
                return;
            }
            if (!rv_rebuild(live + 1, now)) {
                cd_error("authz", "out of memory recording a revoked token of %s", user_id);
                return;
            }
        }
        size_t mask = rv.cap - 1;
        size_t i = rv_hash(user_id) & mask;
        while (rv.slots[i].id[0])
            i = (i + 1) & mask;
        e = &rv.slots[i];
        memcpy(e->id, user_id, 37);
        e->ver = 0;
        e->removed = false;
        e->until = 0;
        rv.count++;
    }
    if (ver > e->ver) e->ver = ver;
    if (removed) e->removed = true;
    if (until > e->until) e->until = until;
}

bool chat_token_revoked(const proto_caller *c)
{
    if (!c || !c->user_id[0] || !rv.count) return false;
    const revoked_entry *e = rv_find(c->user_id);
    if (!e || e->until <= (int64_t)time(NULL)) return false;
    if (c->trust) return e->removed; /* no tokens: only a removal counts */
    return c->token_ver < e->ver;
}

size_t chat_revoked_count(void)
{
    return rv.count;
}

void chat_revoked_reset(void)
{
    cd_free(rv.slots);
    rv.slots = NULL;
    rv.cap = rv.count = 0;
    rv.overflow_logged = false;
    rv.max_seen = 0;
}

bool chat_revoked_loaded(void)
{
    return rv.loaded;
}

/* ---- refresh from the database ---- */

static const chat_stmt revoked_stmts[] = {
    {"authz_revoked",
     "SELECT id::text, token_version, deleted_at IS NOT NULL,"
     " extract(epoch FROM now() - tokens_revoked_at)::float8,"
     " extract(epoch FROM tokens_revoked_at)::float8"
     " FROM users WHERE tokens_revoked_at > now() - make_interval(secs => $1::int)"
     " AND tokens_revoked_at > to_timestamp($2::float8)"
     " ORDER BY tokens_revoked_at DESC LIMIT $3::int",
     3},
};

static void rv_tick(uv_timer_t *t);

static void on_revoked_rows(const pg_result *r, void *ud)
{
    CD_UNUSED(ud);
    rv.in_flight = false;
    if (r->status != 0) {
        cd_warn("authz", "loading revoked tokens failed (%s): retrying", cd_strerror(r->status));
        return;
    }
    int64_t now = (int64_t)time(NULL);
    int n = pg_result_rows(r);
    for (int i = 0; i < n; i++) {
        const char *id = pg_result_get(r, i, 0);
        const char *ver = pg_result_get(r, i, 1);
        const char *del = pg_result_get(r, i, 2);
        const char *age = pg_result_get(r, i, 3);
        const char *at = pg_result_get(r, i, 4);
        if (!id || !ver || !age || !at) continue;
        double left = CHAT_REVOKED_WINDOW_S - strtod(age, NULL);
        if (left <= 0) continue;
        chat_revoked_note(id, strtoll(ver, NULL, 10), del && del[0] == 't',
                          now + (int64_t)left + 1);
        double a = strtod(at, NULL);
        if (a > rv.max_seen) rv.max_seen = a;
    }
    if (!rv.loaded) cd_info("authz", "revoked-token set loaded: %zu account(s)", rv.count);
    rv.loaded = true;
}

static void rv_tick(uv_timer_t *t)
{
    CD_UNUSED(t);
    if (rv.stopping || rv.in_flight) return;
    /* drop expired entries now and then */
    int64_t now = (int64_t)time(NULL);
    size_t live = 0;
    for (size_t i = 0; i < rv.cap; i++)
        live += rv.slots[i].id[0] && rv.slots[i].until > now;
    if (live < rv.count) rv_rebuild(live, now);
    pg_pool *p = chat_pool(rv.srv);
    if (!p) return;
    char win[24], since[48], lim[24];
    snprintf(win, sizeof win, "%d", CHAT_REVOKED_WINDOW_S);
    /* rows committed late with an older timestamp: look back a little */
    double from = rv.loaded ? rv.max_seen - CHAT_REVOKED_LOOKBACK_S : 0;
    snprintf(since, sizeof since, "%.6f", from > 0 ? from : 0);
    snprintf(lim, sizeof lim, "%d", CHAT_REVOKED_MAX);
    const char *params[] = {win, since, lim};
    if (pg_pool_query(p, "authz_revoked", 3, params, on_revoked_rows, NULL) == 0)
        rv.in_flight = true;
}

static void rv_shutdown(proto_server *srv, void *ud)
{
    CD_UNUSED(srv);
    CD_UNUSED(ud);
    rv.stopping = true;
    if (rv.started) uv_close((uv_handle_t *)&rv.timer, NULL);
    rv.started = false;
}

int chat_revoked_start(proto_server *srv)
{
    if (rv.started || !srv || !srv->loop || !srv->cfg || !srv->cfg->database_url) return 0;
    int rc = chat_stmts_add(revoked_stmts, CD_ARRAY_LEN(revoked_stmts));
    if (rc != 0) return rc;
    rv.srv = srv;
    rv.stopping = false;
    uv_timer_init(srv->loop, &rv.timer);
    uv_timer_start(&rv.timer, rv_tick, 0, CHAT_REVOKED_REFRESH_MS);
    uv_unref((uv_handle_t *)&rv.timer);
    rv.started = true;
    if (proto_on_shutdown(srv, rv_shutdown, NULL) != 0)
        cd_warn("authz", "no shutdown hook slot: the revoked-token refresh stops with the loop");
    return 0;
}

static const proto_caller *caller(gql_rinfo *ri)
{
    return proto_caller_of(ri);
}

bool chat_authz_trust(gql_rinfo *ri)
{
    const proto_caller *c = caller(ri);
    return c && c->trust;
}

const char *chat_authz_user_opt(gql_rinfo *ri)
{
    const proto_caller *c = caller(ri);
    if (!c || !c->user_id[0]) return NULL;
    if (!c->trust && !c->authenticated) return NULL;
    if (chat_token_revoked(c)) return NULL; /* revoked or removed: the JWT still verifies */
    return c->user_id;
}

const char *chat_authz_user(gql_rinfo *ri)
{
    const char *u = chat_authz_user_opt(ri);
    if (!u) {
        gql_ri_error(ri, CHAT_E_UNAUTHENTICATED,
                     chat_authz_trust(ri) ? "Authentication required: send the user-id header"
                                          : "Authentication required");
        return NULL;
    }
    return u;
}

const char *chat_authz_acting_as(gql_rinfo *ri, const char *acting, const char *what)
{
    if (chat_authz_trust(ri)) return acting;
    const char *u = chat_authz_user(ri);
    if (!u) return NULL;
    if (!acting || strcmp(u, acting) != 0) {
        gql_ri_error(ri, CHAT_E_FORBIDDEN, "Forbidden: you may not %s", what);
        return NULL;
    }
    return acting;
}

bool chat_authz_is_self(gql_rinfo *ri, const char *user_id)
{
    if (chat_authz_trust(ri)) return true;
    const char *u = chat_authz_user_opt(ri);
    return u && user_id && strcmp(u, user_id) == 0;
}
