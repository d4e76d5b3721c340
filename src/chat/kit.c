/*
 * kit.c — the resolver kit shared by the user, sender and receiver code
 * (see the kit.c section of chat_internal.h): the operation object, running
 * one prepared statement, the Postgres-error → GraphQL-error mapping,
 * argument helpers, and the table of prepared statements.
 *
 * State: the registered statement tables and the pools they were last
 * prepared on (one process has one primary pool and at most one replica
 * pool; only tables of replica-safe reads are prepared on the replica). An op lives in its
 * resolver's arena; the kit keeps no pointer to it after the call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/text.h"

static struct {
    struct {
        const chat_stmt *table;
        size_t n;
        bool replica; /* also prepared on the replica pool */
    } tables[CHAT_MAX_STMT_TABLES];
    unsigned ntables;
    pg_pool *pool;      /* the pool tables [0, nprepared) were registered on */
    unsigned nprepared; /* tables registered on `pool` */
    pg_pool *rpool;     /* the replica pool tables [0, nrprepared) were looked at for */
    unsigned nrprepared;
} kit;

/* ---- prepared statements ---- */

static int stmts_add(const chat_stmt *table, size_t n, bool replica)
{
    for (unsigned i = 0; i < kit.ntables; i++)
        if (kit.tables[i].table == table) return 0;
    if (kit.ntables >= CHAT_MAX_STMT_TABLES) return CD_ELIMIT;
    kit.tables[kit.ntables].table = table;
    kit.tables[kit.ntables].n = n;
    kit.tables[kit.ntables].replica = replica;
    kit.ntables++;
    return 0;
}

int chat_stmts_add(const chat_stmt *table, size_t n)
{
    return stmts_add(table, n, false);
}

int chat_stmts_add_reads(const chat_stmt *table, size_t n)
{
    return stmts_add(table, n, true);
}

pg_pool *chat_replica_pool(proto_server *srv)
{
    if (!srv || !srv->pg_replica) return NULL;
    if (kit.rpool != srv->pg_replica) {
        kit.rpool = srv->pg_replica;
        kit.nrprepared = 0;
    }
    for (; kit.nrprepared < kit.ntables; kit.nrprepared++)
        if (kit.tables[kit.nrprepared].replica &&
            chat_stmts_prepare(srv->pg_replica, kit.tables[kit.nrprepared].table,
                               kit.tables[kit.nrprepared].n) != 0)
            return NULL;
    return srv->pg_replica;
}

pg_pool *chat_pool(proto_server *srv)
{
    if (!srv || !srv->pg) return NULL;
    if (kit.pool != srv->pg) {
        kit.pool = srv->pg;
        kit.nprepared = 0;
    }
    for (; kit.nprepared < kit.ntables; kit.nprepared++)
        if (chat_stmts_prepare(srv->pg, kit.tables[kit.nprepared].table,
                               kit.tables[kit.nprepared].n) != 0)
            return NULL;
    return srv->pg;
}

int chat_stmts_prepare(pg_pool *pg, const chat_stmt *table, size_t n)
{
    if (!pg) return CD_EUNAVAIL;
    for (size_t i = 0; i < n; i++) {
        int rc = pg_pool_prepare(pg, table[i].name, table[i].sql, table[i].nparams);
        if (rc != 0) {
            cd_error("chat", "prepare %s: %s", table[i].name, cd_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* ---- operations ---- */

void *chat_op_new(gql_rinfo *ri, size_t size)
{
    chat_op *op = cd_arena_calloc(gql_ri_arena(ri), 1, size);
    if (!op) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return NULL;
    }
    op->ri = ri;
    op->srv = gql_ri_userdata(ri);
    return op;
}

static void fail_unavailable(gql_rinfo *ri)
{
    gql_ri_error(ri, CHAT_E_UNAVAILABLE, "Database unavailable, try again");
}

pg_pool *chat_op_pool(chat_op *op)
{
    if (!op->srv || !op->srv->pg) {
        if (op->fail_fast)
            fail_unavailable(op->ri);
        else
            gql_ri_error(op->ri, CHAT_E_UNAVAILABLE, "Database unavailable");
        return NULL;
    }
    pg_pool *p = chat_pool(op->srv);
    if (!p) {
        gql_ri_error(op->ri, CHAT_E_INTERNAL, "Internal server error");
        return NULL;
    }
    /* a pool that has lost its connections (down after having been up, or
     * never reachable after retries) refuses writes at once instead of
     * queueing them for PG_QUEUE_TIMEOUT_MS */
    if (op->fail_fast && !pg_pool_ready(p)) {
        pg_pool_stats st;
        pg_pool_stats_get(p, &st);
        if (st.reconnects > 0) {
            fail_unavailable(op->ri);
            return NULL;
        }
    }
    return p;
}

/* ---- the write limit in front of rate-limited ops ---- */

/* The caller's bucket key: its user id, else (trust mode without one) its
 * address. */
static const char *rate_user(chat_op *op, char *buf, size_t len)
{
    const proto_caller *c = proto_caller_of(op->ri);
    if (c && *c->user_id) return c->user_id;
    snprintf(buf, len, "@%s", c ? c->client_ip : "");
    return buf;
}

static void rate_checked(void *ud, bool allowed, uint32_t retry_after_s)
{
    chat_op *op = ud;
    if (!allowed) {
        gql_value *ext = gql_obj_new(gql_ri_arena(op->ri), 1);
        if (ext) gql_obj_set(ext, 0, "retryAfter", gql_int(retry_after_s));
        gql_ri_error_ext(op->ri, CHAT_E_RATE_LIMITED, ext, "Too many %s; try again in %u second%s",
                         chat_rate_kind_of(gql_ri_field_name(op->ri)) == CHAT_RATE_MESSAGE
                             ? "messages"
                             : "changes",
                         retry_after_s, retry_after_s == 1 ? "" : "s");
        return;
    }
    op->rate_resume(op);
}

bool chat_op_rate_gate(chat_op *op, void (*resume)(chat_op *op))
{
    if (!op->rate_limited || op->rate_checked) return false;
    op->rate_checked = true;
    op->rate_resume = resume;
    char buf[PROTO_MAX_CLIENT_IP + 2];
    chat_rate_take(op->srv, rate_user(op, buf, sizeof buf),
                   chat_rate_kind_of(gql_ri_field_name(op->ri)), rate_checked, op);
    return true;
}

static void resume_plain(chat_op *op)
{
    chat_op_run(op, op->stmt, op->nparams, op->params, op->cb);
}

bool chat_op_run(chat_op *op, const char *stmt, int n, const char *const *params, pg_query_cb cb)
{
    if (op->rate_limited && !op->rate_checked) {
        op->stmt = stmt;
        op->nparams = n;
        op->params = params;
        op->cb = cb;
        return chat_op_rate_gate(op, resume_plain);
    }
    pg_pool *p = chat_op_pool(op);
    if (!p) return false;
    int rc = pg_pool_query(p, stmt, n, params, cb, op);
    if (rc == 0) return true;
    if (!op->fail_fast)
        chat_fail_pg(op->ri, rc, NULL, stmt);
    else if (rc == CD_ENOMEM)
        gql_ri_error(op->ri, CHAT_E_INTERNAL, "Out of memory");
    else
        fail_unavailable(op->ri);
    return false;
}

/* ---- errors ---- */

void chat_fail_pg(gql_rinfo *ri, int status, const char *message, const char *what)
{
    if (status == CD_EUNAVAIL || status == CD_ECLOSED || status == CD_ELIMIT) {
        fail_unavailable(ri);
        return;
    }
    cd_error("chat", "%s: %s (%s)", what, message ? message : "", cd_strerror(status));
    gql_ri_error(ri, CHAT_E_INTERNAL, "Internal server error");
}

const char *chat_message_for_sqlstate(const char *st, const char *server_message)
{
    if (!st || !chat_code_for_sqlstate(st)) return NULL;
    /* our own functions raise class CD with messages written for users */
    if (strncmp(st, "CD", 2) == 0 && server_message && *server_message) return server_message;
    /* anything else is Postgres' own wording (names types, functions,
     * internals): a fixed message; the detail goes to the log */
    return CHAT_MSG_BAD_VALUE;
}

void chat_fail_sql(gql_rinfo *ri, const pg_result *r, const char *what)
{
    const char *code = chat_code_for_sqlstate(r->sqlstate);
    if (code) {
        const char *primary = r->res ? PQresultErrorField(r->res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        const char *server = primary ? primary : r->message;
        const char *msg = chat_message_for_sqlstate(r->sqlstate, server);
        if (msg != server)
            cd_info("chat", "%s: input refused by the database (%s): %s", what, r->sqlstate,
                    server ? server : "");
        gql_ri_error(ri, code, "%s", msg);
        return;
    }
    chat_fail_pg(ri, r->status, r->message, what);
}

const char *chat_code_for_sqlstate(const char *st)
{
    if (!st) return NULL;
    if (strcmp(st, "CD400") == 0) return CHAT_E_BAD_INPUT;
    if (strcmp(st, "CD403") == 0) return CHAT_E_FORBIDDEN;
    if (strcmp(st, "CD404") == 0) return CHAT_E_NOT_FOUND;
    if (strcmp(st, "CD410") == 0) return CHAT_E_CHAT_REMOVED;
    /* data exceptions: input the checks above let through but Postgres
     * refuses (e.g. "\u0000" inside metadata, which jsonb cannot hold) */
    if (strncmp(st, "22", 2) == 0) return CHAT_E_BAD_INPUT;
    return NULL;
}

/* ---- arguments ---- */

const char *chat_str_in(const gql_value *obj, const char *name, size_t *len)
{
    const gql_value *v = obj ? gql_obj_get(obj, name) : NULL;
    if (!v || v->kind != GQL_V_STRING) return NULL;
    if (len) *len = v->len;
    return v->u.s;
}

const char *chat_str_arg(gql_rinfo *ri, const char *name, size_t *len)
{
    return chat_str_in(gql_ri_args(ri), name, len);
}

bool chat_int_arg(gql_rinfo *ri, const char *name, int64_t def, int64_t lo, int64_t hi,
                  int64_t *out)
{
    const gql_value *v = gql_ri_arg(ri, name);
    if (!v || v->kind == GQL_V_NULL) {
        *out = def;
        return true;
    }
    if (v->kind != GQL_V_INT || v->u.i < lo || v->u.i > hi) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s must be between %lld and %lld", name, (long long)lo,
                     (long long)hi);
        return false;
    }
    *out = v->u.i;
    return true;
}

int chat_echo_len(const char *s, size_t len)
{
    size_t n = len > CHAT_MSG_ECHO_MAX ? CHAT_MSG_ECHO_MAX : len;
    const char *nul = memchr(s, 0, n);
    if (nul) n = (size_t)(nul - s);
    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    return (int)n;
}
