/*
 * pg.c — asynchronous PostgreSQL pool (see pg.h). Stub: implementation follows.
 */
#include "pg.h"

int pg_pool_new(uv_loop_t *loop, const char *conninfo, int size, pg_pool **out)
{
    CD_UNUSED(loop); CD_UNUSED(conninfo); CD_UNUSED(size); *out = NULL;
    return CD_ESTATE;
}
int pg_pool_prepare(pg_pool *p, const char *name, const char *sql, int nparams)
{
    CD_UNUSED(p); CD_UNUSED(name); CD_UNUSED(sql); CD_UNUSED(nparams);
    return CD_ESTATE;
}
int pg_pool_query(pg_pool *p, const char *sql, int nparams, const char *const *params,
                  pg_query_cb cb, void *ud)
{
    CD_UNUSED(p); CD_UNUSED(sql); CD_UNUSED(nparams); CD_UNUSED(params); CD_UNUSED(cb); CD_UNUSED(ud);
    return CD_ESTATE;
}
int pg_pool_tx(pg_pool *p, const pg_stmt *stmts, int n, pg_tx_cb cb, void *ud)
{
    CD_UNUSED(p); CD_UNUSED(stmts); CD_UNUSED(n); CD_UNUSED(cb); CD_UNUSED(ud);
    return CD_ESTATE;
}
int pg_pool_acquire(pg_pool *p, pg_acquire_cb cb, void *ud)
{
    CD_UNUSED(p); CD_UNUSED(cb); CD_UNUSED(ud);
    return CD_ESTATE;
}
int pg_conn_query(pg_conn *c, const char *sql, int nparams, const char *const *params,
                  pg_query_cb cb, void *ud)
{
    CD_UNUSED(c); CD_UNUSED(sql); CD_UNUSED(nparams); CD_UNUSED(params); CD_UNUSED(cb); CD_UNUSED(ud);
    return CD_ESTATE;
}
void pg_conn_release(pg_conn *c) { CD_UNUSED(c); }
void pg_pool_stats_get(const pg_pool *p, pg_pool_stats *out) { CD_UNUSED(p); *out = (pg_pool_stats){0}; }
bool pg_pool_ready(const pg_pool *p) { CD_UNUSED(p); return false; }
void pg_pool_close(pg_pool *p, pg_close_cb cb, void *ud) { CD_UNUSED(p); if (cb) cb(ud); }
int pg_result_rows(const pg_result *r) { return r && r->res ? PQntuples(r->res) : 0; }
const char *pg_result_get(const pg_result *r, int row, int col) { CD_UNUSED(r); CD_UNUSED(row); CD_UNUSED(col); return NULL; }
long pg_result_affected(const pg_result *r) { CD_UNUSED(r); return -1; }
