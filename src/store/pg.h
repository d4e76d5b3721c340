/*
 * pg.h — asynchronous PostgreSQL connection pool on the libuv loop.
 *
 * A pg_pool owns `size` libpq connections, each non-blocking and driven by a
 * uv_poll_t on its socket (PQconnectStart/PQconnectPoll, then PQsend*,
 * PQconsumeInput, PQgetResult, PQflush). Nothing in this file blocks the loop
 * after pg_pool_new returns.
 *
 * Work units: a connection runs one unit at a time — a single query
 * (pg_pool_query), a transaction batch sent in one round trip with libpq's
 * pipeline mode (pg_pool_tx), or an exclusive lease (pg_pool_acquire) on
 * which the caller runs several dependent queries and then releases it.
 * When every connection is busy, units wait in a FIFO queue bounded by
 * PG_POOL_QUEUE_MAX; beyond it the call fails at once with CD_ELIMIT.
 *
 * Prepared statements: pg_pool_prepare registers (name, sql) once; each
 * connection prepares every registered statement right after it connects and
 * before it takes work. Passing a registered name as `sql` to a query runs
 * the prepared statement; any other string is run as SQL text with params.
 * A connection that has not prepared a name yet (registered while it was
 * leased) or whose PREPARE failed runs the registered SQL text instead, so
 * the caller sees the server's real error for a bad statement.
 *
 * Failure: a connection that drops fails its in-flight unit with CD_EUNAVAIL
 * and reconnects with exponential backoff (PG_RECONNECT_MIN_MS doubling up
 * to PG_RECONNECT_MAX_MS). While no connection is up, queued units wait;
 * a unit that has waited PG_QUEUE_TIMEOUT_MS with no connection up fails
 * with CD_EUNAVAIL ("database unavailable").
 *
 * Ownership: results passed to callbacks (pg_result and its PGresult) belong
 * to the pool and are freed when the callback returns; copy what you keep.
 * Parameter arrays and strings are copied when a call returns 0, so callers
 * may free them immediately. If a call returns a negative code its callback
 * is never invoked; if it returns 0 the callback is invoked exactly once,
 * always later from the loop (never from inside the call).
 * The pool's memory is freed after pg_pool_close's callback has run.
 */
#ifndef CHATD_STORE_PG_H
#define CHATD_STORE_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/core.h"

/* ---- limits and tuning (each a named constant, each with a test) ---- */
#define PG_POOL_MAX_CONNS 64   /* upper bound for `size` in pg_pool_new */
#define PG_POOL_QUEUE_MAX 4096 /* waiting units; one more → CD_ELIMIT */
#define PG_MAX_PREPARED 128    /* registered prepared statements */
#define PG_MAX_PARAMS 64       /* parameters of one statement */
#define PG_TX_MAX_STMTS 32     /* statements in one pg_pool_tx batch */
#define PG_BATCH_MAX_STMTS                                                                         \
    64                             /* members of one pg_pool_batch (one subtransaction             \
                                    * each: PGPROC caches 64 subxids, more overflow) */
#define PG_RECONNECT_MIN_MS 50     /* first reconnect delay */
#define PG_RECONNECT_MAX_MS 5000   /* backoff ceiling */
#define PG_CONNECT_TIMEOUT_MS 5000 /* a connect attempt slower than this fails */
#define PG_QUEUE_TIMEOUT_MS 5000   /* queued work fails after this with no connection up */

typedef struct pg_pool pg_pool;
typedef struct pg_conn pg_conn;

/* The outcome of one statement. Valid only during the callback. */
typedef struct pg_result {
    int status;           /* 0, or CD_EUNAVAIL (no connection / dropped),
                             CD_EEXIST (unique violation, SQLSTATE 23505),
                             CD_EIO (any other server error),
                             CD_ECLOSED (pool closing), CD_ENOMEM */
    PGresult *res;        /* the server's result (NULL when status is not 0
                             and the server sent none) */
    const char *message;  /* error text when status != 0, else "" */
    const char *sqlstate; /* five-char SQLSTATE of a server error, else "" */
    bool view;            /* status 0 only: pg_result_rows/get see rows [row0, row0 + nrows)
                             of res (one member's rows of a combined statement) */
    int row0, nrows;
} pg_result;

/* One query's completion. */
typedef void (*pg_query_cb)(const pg_result *r, void *ud);

/* A transaction batch's completion: status is 0 when every statement
 * succeeded and COMMIT succeeded (then results[0..n-1] hold the statements'
 * results), else the first failing statement's code with `failed` its index
 * (-1 for BEGIN/COMMIT/connection failures) and `results` NULL or partial —
 * the transaction was rolled back. */
typedef void (*pg_tx_cb)(int status, const pg_result *results, int n, int failed, void *ud);

/* A member-isolated batch's completion (pg_pool_batch): status 0 when the
 * transaction COMMITTED; then results[0..n-1] are the members' own
 * outcomes — a member with status != 0 was rolled back to its savepoint and
 * nothing of it is stored, every member with status 0 is committed. status
 * != 0 (CD_EUNAVAIL, CD_ECLOSED, or COMMIT's own error): nothing is known to
 * be committed, results is NULL, n is 0 and message says why. */
typedef void (*pg_batch_cb)(int status, const char *message, const pg_result *results, int n,
                            void *ud);

/* A lease's arrival: conn is NULL when status != 0 (CD_EUNAVAIL / CD_ECLOSED). */
typedef void (*pg_acquire_cb)(pg_conn *conn, int status, void *ud);

typedef void (*pg_close_cb)(void *ud);

/* One statement of a batch: `sql` is a registered prepared-statement name or
 * SQL text; params are text (NULL entries are SQL NULL). */
typedef struct pg_stmt {
    const char *sql;
    int nparams;
    const char *const *params;
} pg_stmt;

typedef struct pg_pool_stats {
    int size;               /* configured connections */
    int connected;          /* connections up and prepared */
    int busy;               /* connections running a unit or leased */
    int queued;             /* units waiting for a connection */
    uint64_t queries;       /* statements completed (ok or error) */
    uint64_t errors;        /* units failed */
    uint64_t reconnects;    /* connection attempts after a drop */
    uint64_t batch_retries; /* pg_pool_batch runs redone with savepoints (a member failed) */
} pg_pool_stats;

/* Creates a pool of `size` (1..PG_POOL_MAX_CONNS) connections to `conninfo`
 * (a libpq keyword string or postgres:// URI) and starts connecting. Returns
 * 0 even if the database is down (connections retry in the background), or
 * CD_EBAD for a bad size/conninfo, CD_ENOMEM. */
int pg_pool_new(uv_loop_t *loop, const char *conninfo, int size, pg_pool **out);

/* Registers a prepared statement for every connection (present and future).
 * Call before queries use it; existing connections prepare it before their
 * next unit. CD_EEXIST if the name is taken with different SQL,
 * CD_ELIMIT beyond PG_MAX_PREPARED or nparams > PG_MAX_PARAMS. */
int pg_pool_prepare(pg_pool *p, const char *name, const char *sql, int nparams);

/* Runs one statement (prepared name or SQL text) with text params.
 * Returns 0 (cb will run), CD_ELIMIT (queue full or nparams > PG_MAX_PARAMS),
 * CD_ECLOSED (pool closing), CD_ENOMEM. */
int pg_pool_query(pg_pool *p, const char *sql, int nparams, const char *const *params,
                  pg_query_cb cb, void *ud);

/* Runs BEGIN; stmts...; COMMIT in one pipelined round trip on one connection.
 * n in 1..PG_TX_MAX_STMTS. Errors as pg_pool_query. */
int pg_pool_tx(pg_pool *p, const pg_stmt *stmts, int n, pg_tx_cb cb, void *ud);

/* Group commit: runs n independent statements (1..PG_BATCH_MAX_STMTS) in
 * ONE transaction on one connection, in the given order, and commits once
 * (one fsync for all). A statement that fails is rolled back and reported in
 * its own result; the others continue and commit. How: the first round runs
 * BEGIN, the statements and COMMIT without savepoints (no subtransaction per
 * member: the cheap common case). If a statement fails there, that
 * transaction is rolled back whole and the batch runs again with each
 * statement inside its own savepoint; a statement failing then is rolled
 * back to its savepoint and the round resumes after it. Round trips: 1 when
 * nothing fails, else 2 plus 1 per failing member of the savepoint rounds
 * (the pipeline skips everything after an error until the next Sync).
 * Errors as pg_pool_query; CD_ELIMIT for n > PG_BATCH_MAX_STMTS. */
int pg_pool_batch(pg_pool *p, const pg_stmt *stmts, int n, pg_batch_cb cb, void *ud);

/* Leases one connection exclusively (for transactions whose statements
 * depend on earlier results). The callback receives the connection; run
 * pg_conn_query on it (one at a time), then pg_conn_release exactly once.
 * Errors as pg_pool_query. */
int pg_pool_acquire(pg_pool *p, pg_acquire_cb cb, void *ud);

/* Runs one statement on a leased connection. CD_ESTATE if a query is already
 * running on it; CD_EUNAVAIL if the connection dropped (release it). */
int pg_conn_query(pg_conn *c, const char *sql, int nparams, const char *const *params,
                  pg_query_cb cb, void *ud);

/* Returns a leased connection to the pool. If a transaction was left open it
 * is rolled back first; a dropped connection is reconnected. Must not be
 * called while a pg_conn_query on it is pending. */
void pg_conn_release(pg_conn *c);

/* Counters for /metrics and /readyz. */
void pg_pool_stats_get(const pg_pool *p, pg_pool_stats *out);

/* True when at least one connection is up (readiness). */
bool pg_pool_ready(const pg_pool *p);

/* Fails queued and in-flight units with CD_ECLOSED (their callbacks run),
 * closes every connection, and calls cb (may be NULL) after the last handle
 * closed; the pool's memory is freed then. A leased connection's pending
 * query fails with CD_ECLOSED; its holder must still call pg_conn_release,
 * and the pool finishes closing only after every lease is released. */
void pg_pool_close(pg_pool *p, pg_close_cb cb, void *ud);

/* Helpers reading a result (row/col bounds-checked; NULL/0 outside). */
/* Rows and values of r (of its view when r->view is set). */
int pg_result_rows(const pg_result *r);
const char *pg_result_get(const pg_result *r, int row, int col); /* NULL if SQL NULL */
/* Number of rows an INSERT/UPDATE/DELETE affected, or -1. */
long pg_result_affected(const pg_result *r);

#endif
