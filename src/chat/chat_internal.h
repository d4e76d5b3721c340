/*
 * chat_internal.h — PRIVATE to src/chat: what the module's files share.
 * Nothing outside src/chat includes it except the unit tests and fuzz
 * drivers of its pure helpers; other modules use chat.h.
 *
 * Files, from the ground up (a file calls only files listed before it, so
 * there is no circle; each section below belongs to the file it names):
 *   events.c    channel names, event kinds, envelope parser
 *   throttle.c  login throttling in Redis
 *   ratelimit.c per-user write limits (token buckets in Redis)
 *   kit.c       the resolver kit: operation object, run, Postgres-error
 *               mapping, argument helpers, the prepared-statement table
 *   replica.c   the receiver's reads: primary or streaming replica
 *   batch.c     group commit: concurrent mutations in one transaction
 *   authz.c     caller decisions; accounts disabled in this process
 *   control.c   the cross-process control channel (chatd:control)
 *   users.c     the user role (chat_bind_user_role)
 *   outbox.c    publishing after COMMIT, the sweeper, log pruning
 *   sender.c    the sender role (chat_bind_sender_role)
 *   replay.c    the receiver's sequencing rules
 *   presence.c  online presence in Redis
 *   queries.c   the receiver's queries
 *   feed.c      the receiver's subscriptions and fan-out
 *   receiver.c  chat_bind_receiver_role (queries + feed)
 */
#ifndef CHATD_CHAT_INTERNAL_H
#define CHATD_CHAT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "chat/chat.h"
#include "core/arena.h"
#include "core/buf.h"
#include "graphql/graphql.h"
#include "graphql/value.h"
#include "protocol/protocol.h"
#include "protocol/subscribe.h"
#include "store/pg.h"
#include "store/redis.h"

/* ============================== events.c =============================== */
/*
 * events.c — names and shapes of chat events on Redis (the contract between
 * the sender, which writes and publishes, and the receiver, which fans out
 * and gap-fills). The full contract: docs/api.md ("Chat events").
 *
 * The sender's payloads are built by the database functions of
 * db/migrations/0003_chats.sql (one source: the same JSON is stored in
 * chat_events, published, and returned as the mutation result). This section
 * holds what C code on either side needs: channel names, event kinds, the
 * ephemeral typing payload, and a parser for envelopes (live Redis messages
 * and replayed log rows look the same).
 *
 * Memory: chat_ev_parse allocates in the caller's arena; nothing here keeps
 * state.
 */
/* Channels: chat:<chatId> (sequenced log events), chat:<chatId>:eph
 * (typing), user:<userId> (per-user state notifications), presence. On a
 * Redis Cluster (chat_use_hash_tags) the ids are hash tags —
 * chat:{<chatId>}, chat:{<chatId>}:eph, user:{<userId>} — so a chat's two
 * channels live on one shard; the prefixes stay, and so do the routes. */
#define CHAT_EV_CHAT_PREFIX "chat:"
#define CHAT_EV_EPH_SUFFIX ":eph"
#define CHAT_EV_USER_PREFIX "user:"
#define CHAT_EV_PRESENCE_CHANNEL "presence"
#define CHAT_EV_CHANNEL_MAX 64 /* "chat:{" + 36-char uuid + "}:eph" + NUL fits */

/* Kinds on chat:<id> (envelope "kind"). */
#define CHAT_EV_MESSAGE_CREATED "message.created"
#define CHAT_EV_MESSAGE_UPDATED "message.updated"
#define CHAT_EV_MESSAGE_DELETED "message.deleted"
#define CHAT_EV_READ "read"
#define CHAT_EV_PARTICIPANTS_ADDED "participants.added"
#define CHAT_EV_PARTICIPANT_REMOVED "participant.removed"
#define CHAT_EV_CHAT_UPDATED "chat.updated"
#define CHAT_EV_CHAT_REMOVED "chat.removed"
#define CHAT_EV_REACTION "reaction" /* data: the message + userId, emoji, added */
/* (0008_roles_delivered.sql) {userId, upToSeq, deliveredAt}; {userId, role,
 * previousRole, byUserId, previousOwnerId, chat} */
#define CHAT_EV_DELIVERED "delivered"
#define CHAT_EV_PARTICIPANT_ROLE "participant.role"
/* Kinds on user:<id> (notification "kind"). */
#define CHAT_NOTE_CHAT_ADDED "chat.added"
#define CHAT_NOTE_CHAT_UPDATED "chat.updated"
#define CHAT_NOTE_CHAT_REMOVED "chat.removed"
#define CHAT_NOTE_UNREAD "unread"
#define CHAT_NOTE_PREVIEW "preview"
/* Kind on chat:<id>:eph. */
#define CHAT_EPH_TYPING "typing"

/* Writes "chat:<id>", "chat:<id>:eph" or "user:<id>" into out (at least
 * CHAT_EV_CHANNEL_MAX bytes). Returns 0, or CD_EBAD when id is too long
 * for a channel (ids are UUIDs). */
int chat_ev_chat_channel(char *out, size_t outlen, const char *chat_id);
int chat_ev_eph_channel(char *out, size_t outlen, const char *chat_id);
int chat_ev_user_channel(char *out, size_t outlen, const char *user_id);

/* The broker's name of a channel the database names (the SQL of the
 * write path says "chat:<id>", "chat:<id>:eph", "user:<id>"): the same
 * name, or with the id in a hash tag when tags are on. Names already
 * tagged and other channels are copied. 0, or CD_EBAD when it does not
 * fit in outlen. */
int chat_ev_broker_channel(char *out, size_t outlen, const char *name);

/* Appends the typing message {"kind":"typing","chatId","userId","isTyping",
 * "at"} (ids are validated UUIDs; `at` an ISO-8601 timestamp). */
void chat_ev_typing_json(cd_buf *b, const char *chat_id, const char *user_id, bool is_typing,
                         const char *at);

/* Writes the current UTC time as 2026-11-26T16:05:08.123Z (25 bytes incl.
 * NUL) to out. */
void chat_ev_now_iso(char out[32]);

/* A parsed envelope: chat events {"chatId","seq","kind","at","data"} and
 * user notifications {"userId","chatId","seq","kind","data"} share it
 * (user_id NULL / at NULL when absent). Strings point into the arena. */
typedef struct chat_ev {
    const char *chat_id;
    const char *user_id;
    const char *kind;
    const char *at;
    int64_t seq;
    const gql_value *data; /* OBJECT, never NULL after a successful parse */
} chat_ev;

/* Parses an envelope from JSON text into the arena. 0, CD_EBAD (not JSON,
 * or chatId/kind/seq/data missing or of the wrong type), CD_ENOMEM. */
int chat_ev_parse(cd_arena *a, const char *json, size_t len, chat_ev *out);

/* ============================= throttle.c ============================== */
/*
 * throttle.c — login throttling with counters in Redis.
 *
 * Failed logins are counted per username (lower-cased) and per client
 * address (proto_client_addr: X-Forwarded-For only from trusted proxies) in
 * keys that expire LOGIN_FAIL_WINDOW_S after the first failure of a window.
 * Before checking a password a login runs ONE atomic Redis script that
 * either refuses or reserves the attempt:
 *   - at LOGIN_LOCK_USER failures for the username, or LOGIN_LOCK_ADDR for
 *     the address, the login is refused (RATE_LIMITED) until the key
 *     expires; retryAfter tells how long;
 *   - otherwise both counters are incremented BEFORE the password is
 *     checked (the attempt counts as a failure in advance), so concurrent
 *     guesses take distinct slots and at most LOGIN_LOCK_USER passwords of
 *     one name are ever verified per window;
 *   - from LOGIN_SLOW_AFTER_USER / LOGIN_SLOW_AFTER_ADDR failures on, the
 *     answer is delayed (a loop timer, never a sleep) by chat_throttle_delay_ms.
 * A successful login clears the username's counter and gives its address
 * slot back; an attempt that ends without a verdict (error) gives both back.
 *
 * A login's session (chat_rl) runs its commands on the process's broker
 * client (rd_command on the publishing connection): one EVAL checking and
 * reserving, then one fire-and-forget EVAL recording the outcome. When
 * Redis is not configured, disconnected or slower than
 * LOGIN_REDIS_TIMEOUT_MS, logins are not throttled (fail open, logged):
 * throttling protects passwords, Redis availability must not decide whether
 * users can sign in (the argon2id queue bound still caps the work).
 */
#define LOGIN_FAIL_WINDOW_S 900     /* failure counters live 15 min from the first failure */
#define LOGIN_SLOW_AFTER_USER 2     /* failures per username before answers slow down */
#define LOGIN_LOCK_USER 5           /* failures per username → refused for the window */
#define LOGIN_SLOW_AFTER_ADDR 10    /* failures per address before answers slow down */
#define LOGIN_LOCK_ADDR 20          /* failures per address → refused for the window */
#define LOGIN_SLOW_STEP_MS 250u     /* added delay per failure past the slow threshold */
#define LOGIN_SLOW_MAX_MS 2000u     /* delay ceiling */
#define LOGIN_REDIS_TIMEOUT_MS 500u /* Redis slower than this → not throttled */
#define LOGIN_KEY_PREFIX "chatd:login:fail:"
#define SIGNUP_KEY_PREFIX "chatd:signup:a:" /* + client address */
/* On a Redis Cluster the check reads both keys in one script, so they share
 * one slot: the prefix carries the hash tag {login} (every login key on one
 * shard; a tag from user input can never come first). */
#define LOGIN_KEY_PREFIX_CLUSTER "chatd:{login}:fail:"

typedef struct chat_rl chat_rl;

/* Checked: status 0 (counts valid: the failures before this attempt; when
 * `refused` the attempt was refused — a lock limit was reached — and
 * retry_after_s = seconds until the locking key expires, else it holds a
 * reserved slot), or CD_EUNAVAIL (Redis unusable: counts are 0, refused
 * false). Runs exactly once, never inside chat_rl_open. */
typedef void (*chat_rl_check_cb)(void *ud, int status, bool refused, long user_fails,
                                 long addr_fails, long retry_after_s);

/* Opens a session for one login of `username` from `addr` and reads the
 * counters through *rdp (the process's broker client; read at every use, so
 * a client closed and set to NULL meanwhile is never touched). NULL when it
 * cannot start (no client, disconnected, OOM): proceed unthrottled.
 * Otherwise cb runs once, and the caller must then call chat_rl_finish
 * exactly once. */
chat_rl *chat_rl_open(uv_loop_t *loop, rd_client *const *rdp, const char *username, size_t ulen,
                      const char *addr, chat_rl_check_cb cb, void *ud);

/* A sign-up session: refused (check callback: refused, user_fails = the
 * count so far) when `limit` sign-ups from `addr` were counted in the last
 * CD_SIGNUP_WINDOW_S, else this one is counted (whatever its outcome). NULL
 * as for chat_rl_open, and when limit is 0 (unlimited). */
chat_rl *chat_rl_open_signup(uv_loop_t *loop, rd_client *const *rdp, const char *addr,
                             uint32_t limit, chat_rl_check_cb cb, void *ud);

/* Outcome of a login for chat_rl_finish. */
typedef enum chat_rl_outcome {
    CHAT_RL_NONE = 0, /* no verdict (refused, error): a reserved slot is given back */
    CHAT_RL_FAILED,   /* wrong password / unknown user: the reserved slot stays counted */
    CHAT_RL_OK        /* signed in: the username's counter is cleared, the address slot
                       * given back */
} chat_rl_outcome;

/* Records the outcome (fire and forget) and ends the session; it frees
 * itself once the check's reply (or its timeout) is in. No callback. */
void chat_rl_finish(chat_rl *s, chat_rl_outcome outcome);

/* Pure policy (unit-tested at the edges). */
bool chat_throttle_locked(long user_fails, long addr_fails);
uint32_t chat_throttle_delay_ms(long user_fails, long addr_fails);

/* ============================ ratelimit.c ============================== */
/*
 * ratelimit.c — per-user write limits: a token bucket per user and kind,
 * CHATD_RATE_MESSAGES / _BURST for createMessage and CHATD_RATE_MUTATIONS /
 * _BURST for every other sender mutation (cd_config; 0 = unlimited). The
 * buckets live in Redis (CHAT_RATE_KEY_PREFIX + "m:" / "w:" + user, one
 * Lua EVAL per check on Redis's clock), so the limit holds across every
 * instance. When Redis is not configured, disconnected, failing or slower
 * than CHAT_RATE_REDIS_TIMEOUT_MS, a bucket in this process decides
 * instead (the same limits, per instance): writes never wait on Redis for
 * longer than that and are never refused because Redis is down.
 * kit.c calls it for ops with rate_limited set (the sender's mutations);
 * a refusal is RATE_LIMITED with extensions.retryAfter (whole seconds).
 */
#define CHAT_RATE_KEY_PREFIX "chatd:rate:"
#define CHAT_RATE_REDIS_TIMEOUT_MS 200u /* Redis slower than this → the local bucket decides */
#define CHAT_RATE_LOCAL_SLOTS 4096u     /* local buckets (direct-mapped by kind + user) */

typedef enum chat_rate_kind {
    CHAT_RATE_MESSAGE = 1, /* createMessage */
    CHAT_RATE_MUTATION     /* every other sender mutation */
} chat_rate_kind;

/* The kind a sender mutation field counts against. */
chat_rate_kind chat_rate_kind_of(const char *field);

/* The verdict of a check: allowed, or refused with the seconds until a
 * token is back (>= 1). */
typedef void (*chat_rate_cb)(void *ud, bool allowed, uint32_t retry_after_s);

/* Takes one token of `kind` from `user`'s bucket (a user id, or any other
 * stable caller key; at most 64 bytes are used) and reports the verdict to
 * cb exactly once: synchronously when the limit is off or Redis is not
 * usable, else from the Redis reply or the timeout. */
void chat_rate_take(proto_server *srv, const char *user, chat_rate_kind kind, chat_rate_cb cb,
                    void *ud);

/* The token bucket itself (pure; unit-tested): refills *tokens at `rate`
 * per second since *ts up to `burst`, then takes one. false when empty,
 * with *retry_after_s = whole seconds until one token is back (>= 1). */
bool chat_rate_bucket_take(double *tokens, uint64_t *ts, uint64_t now_ms, uint32_t rate,
                           uint32_t burst, uint32_t *retry_after_s);

/* ================================ kit.c ================================ */
/*
 * The resolver kit: what every resolver that runs SQL does the same way.
 *
 * Operation object: a resolver's per-call state is a struct whose FIRST
 * member is a chat_op, allocated in the resolver's arena (gql_ri_arena) by
 * chat_op_new and valid until the field completes. chat_op_run runs one
 * prepared statement and hands the op to the callback as `ud`.
 *
 * Errors: every helper that fails has already completed the field
 * (gql_ri_error) and returns NULL / false: the resolver just returns.
 *   database not configured   SERVICE_UNAVAILABLE "Database unavailable"
 *   statements not prepared   INTERNAL_SERVER_ERROR (logged)
 *   refused / dropped / queue SERVICE_UNAVAILABLE "Database unavailable,
 *                             try again"
 *   anything else             INTERNAL_SERVER_ERROR (logged)
 * An op with fail_fast set (the sender's writes) is refused at once by a
 * pool that has lost its connections, instead of queueing for
 * PG_QUEUE_TIMEOUT_MS, and reads "Database unavailable, try again" for every
 * refusal but out-of-memory.
 *
 * Statements: each file keeps its SQL in a table of chat_stmt next to the
 * code that runs it and registers the table when its role binds
 * (chat_stmts_add); chat_pool prepares every registered table once per pool.
 */
#define CHAT_MAX_STMT_TABLES 16 /* registered statement tables; one more → CD_ELIMIT */
#define CHAT_MSG_ECHO_MAX 64    /* bytes of user input echoed in error messages */

/* GraphQL error codes (extensions.code) used across roles. */
#define CHAT_E_BAD_INPUT "BAD_USER_INPUT"
#define CHAT_E_UNAUTHENTICATED "UNAUTHENTICATED"
#define CHAT_E_FORBIDDEN "FORBIDDEN"
#define CHAT_E_NOT_FOUND "NOT_FOUND"
#define CHAT_E_RATE_LIMITED "RATE_LIMITED"
#define CHAT_E_UNAVAILABLE "SERVICE_UNAVAILABLE"
#define CHAT_E_BUSY "SERVICE_BUSY" /* retryable: a bounded queue is full (retryAfter) */
#define CHAT_E_INTERNAL "INTERNAL_SERVER_ERROR"
#define CHAT_E_CHAT_REMOVED "CHAT_REMOVED"
#define CHAT_E_RESYNC "RESYNC_REQUIRED"

typedef struct chat_op {
    gql_rinfo *ri;
    proto_server *srv; /* gql_ri_userdata */
    bool fail_fast;    /* see above */
    bool rate_limited; /* see chat_op_run */
    bool rate_checked; /* private: the op's token was taken */
    const char *stmt;  /* private: the run waiting for the rate check */
    int nparams;
    const char *const *params;
    pg_query_cb cb;
    const char *group_key;                 /* private: ... and its group-commit key */
    void (*rate_resume)(struct chat_op *); /* private: how that run continues */
} chat_op;

/* The write limit in front of an op with rate_limited set: when its token
 * has not been taken yet, takes it (asynchronously) and returns true — the
 * caller returns at once; `resume` then runs the op's saved run (stmt,
 * nparams, params, cb, group_key: set them first) if allowed, or ri is
 * completed with RATE_LIMITED. false: nothing to check, go on. */
bool chat_op_rate_gate(chat_op *op, void (*resume)(chat_op *op));

/* A zeroed op of `size` bytes (>= sizeof(chat_op)) in ri's arena with ri and
 * srv set, or NULL after completing ri with "Out of memory". */
void *chat_op_new(gql_rinfo *ri, size_t size);
#define CHAT_OP_NEW(ri, type) ((type *)chat_op_new((ri), sizeof(type)))

/* The pool with every registered statement prepared, or NULL after
 * completing op->ri (see Errors above). */
pg_pool *chat_op_pool(chat_op *op);

/* Runs prepared statement `stmt`; cb gets `op` as ud. false after completing
 * op->ri when the call was refused (cb never runs then).
 * An op with rate_limited set (the sender's mutations) first takes a token
 * of its caller's write limit (ratelimit.c; once per op, so a retry of the
 * same op is free): the statement runs when it is granted — maybe after
 * the call returned true —, else op->ri completes with RATE_LIMITED
 * (extensions.retryAfter) and cb never runs. params must then stay valid
 * until the field completes (the resolver's arena). */
bool chat_op_run(chat_op *op, const char *stmt, int n, const char *const *params, pg_query_cb cb);

/* Completes ri for a failed statement or call: status/message of a
 * pg_result (or a pg_pool_* return with message NULL); `what` names the
 * statement in the log. */
void chat_fail_pg(gql_rinfo *ri, int status, const char *message, const char *what);

/* As chat_fail_pg, but an error raised by the chat functions (SQLSTATE class
 * CD) becomes a user error with its message, and a data exception (class
 * 22) BAD_USER_INPUT with CHAT_MSG_BAD_VALUE (Postgres' own text is only
 * logged). No raw Postgres text reaches a client. */
void chat_fail_sql(gql_rinfo *ri, const pg_result *r, const char *what);

/* The client-facing message for a user error of SQLSTATE st: the server's
 * message for class CD (written by db/migrations for users), the fixed
 * CHAT_MSG_BAD_VALUE for other mapped classes, NULL when st is not a user
 * error (→ INTERNAL_SERVER_ERROR "Internal server error"). */
#define CHAT_MSG_BAD_VALUE "Invalid input: a value cannot be stored (e.g. a \\u0000 character)"
const char *chat_message_for_sqlstate(const char *st, const char *server_message);

/* extensions.code for an error raised by the chat functions (SQLSTATE class
 * CD) or a data exception (class 22: BAD_USER_INPUT), or NULL for any other
 * SQLSTATE. */
const char *chat_code_for_sqlstate(const char *sqlstate);

/* One named statement of a table. */
typedef struct chat_stmt {
    const char *name;
    const char *sql;
    int nparams;
} chat_stmt;

/* Registers a table of n statements (kept by pointer; static storage).
 * Adding the same table again does nothing. 0 or CD_ELIMIT. */
int chat_stmts_add(const chat_stmt *table, size_t n);
/* As chat_stmts_add for a table of read-only statements that may run on the
 * replica (replica.c): they are prepared on the replica pool too. */
int chat_stmts_add_reads(const chat_stmt *table, size_t n);

/* srv's pool with every registered table prepared (tables added since the
 * last call are prepared now), or NULL: no database configured, or a
 * statement could not be registered (logged). */
pg_pool *chat_pool(proto_server *srv);

/* srv's replica pool with every read table (chat_stmts_add_reads) prepared,
 * or NULL: no replica configured, or a statement could not be registered. */
pg_pool *chat_replica_pool(proto_server *srv);

/* Registers the n statements of `table` on pg now (pg_pool_prepare: the same
 * name and SQL again is a no-op), for callers holding a pool of their own
 * rather than srv's (the admin command, compat_store.c). 0, CD_EUNAVAIL
 * (pg NULL) or the pool's code (logged). */
int chat_stmts_prepare(pg_pool *pg, const chat_stmt *table, size_t n);

/* Argument helpers. A present, non-null String in obj (an argument object or
 * input object) or among ri's arguments, else NULL; *len gets its length
 * (len may be NULL). */
const char *chat_str_in(const gql_value *obj, const char *name, size_t *len);
const char *chat_str_arg(gql_rinfo *ri, const char *name, size_t *len);

/* An optional Int argument: `def` when absent or null; else it must lie in
 * [lo, hi] (BAD_USER_INPUT "<name> must be between lo and hi"). */
bool chat_int_arg(gql_rinfo *ri, const char *name, int64_t def, int64_t lo, int64_t hi,
                  int64_t *out);

/* How many bytes of s (len bytes of user input) to echo in a message: at
 * most CHAT_MSG_ECHO_MAX, cut at a UTF-8 character boundary and before any
 * NUL. */
int chat_echo_len(const char *s, size_t len);

/* ============================== replica.c ============================== */
/*
 * replica.c — the receiver's reads between the primary and a streaming
 * replica (srv->pg_replica, DATABASE_REPLICA_URL). A read is served by the
 * replica only once it has replayed everything the primary had flushed when
 * the read arrived (so it includes every commit anyone could have seen),
 * after waiting at most CHAT_REPLICA_WAIT_MS; otherwise, and whenever the
 * replica is down or errs, by the primary. The full rule: the file's header
 * and docs/architecture.md ("Reads from a replica").
 */
#define CHAT_REPLICA_WAIT_MS 100     /* longest a read waits for the replica to catch up */
#define CHAT_REPLICA_POLL_MS 2       /* replica polled this often while reads wait */
#define CHAT_REPLICA_RECHECK_MS 50   /* ... and this often while it lags */
#define CHAT_REPLICA_READS_MAX 4096u /* reads held at once; beyond → the primary */

/* Registers the LSN statements and the chatd_pg_replica_* metrics (which
 * appear only with a replica configured). 0 or CD_*. */
int chat_replica_bind(proto_server *srv);

/* Runs a read-only statement (a name registered with chat_stmts_add_reads)
 * on the replica or the primary by the rule above. Same contract as
 * pg_pool_query: 0 and cb runs exactly once, later, from the loop; or a
 * negative code (CD_EUNAVAIL: no database) and cb never runs. Without a
 * replica it is pg_pool_query on the primary. */
int chat_read_query(proto_server *srv, const char *stmt, int n, const char *const *params,
                    pg_query_cb cb, void *ud);

/* chat_op_run for reads: chat_read_query, failures completed on op->ri. */
bool chat_op_run_read(chat_op *op, const char *stmt, int n, const char *const *params,
                      pg_query_cb cb);

/* Pure parts (unit-tested). An LSN as Postgres prints it ("16/B374D848")
 * into *out: 0 or CD_EBAD. */
int chat_lsn_parse(const char *s, uint64_t *out);

/* Where a read whose answer must include LSN `target` goes, the replica
 * having replayed `replayed`, after it waited `waited_ms`. */
typedef enum chat_read_step {
    CHAT_READ_REPLICA = 0, /* replayed >= target */
    CHAT_READ_WAIT,        /* not yet, and it may still wait */
    CHAT_READ_PRIMARY      /* waited CHAT_REPLICA_WAIT_MS, or the replica is lagging */
} chat_read_step;
chat_read_step chat_replica_step(uint64_t replayed, uint64_t target, bool lagging,
                                 uint64_t waited_ms);

/* =============================== batch.c =============================== */
/*
 * batch.c — group commit. Concurrent mutations arriving within a window are
 * committed in ONE transaction over the pipeline (pg_pool_batch: one
 * savepoint per mutation, one COMMIT, so one fsync carries them all). The
 * window closes at `max` members, at the next loop turn while no group is
 * in flight or only a small one beside which it may go (below), when a
 * group in flight completes, or at the latest `window_us` after its first member (rounded
 * up to whole milliseconds); CHATD_GROUP_COMMIT_MAX /
 * CHATD_GROUP_COMMIT_US (config.h) set both, and turn it off.
 *
 * Each member completes through its own callback with its own result: a
 * member whose statement fails is rolled back to its savepoint and gets its
 * error; the others still commit. When the transaction itself fails (COMMIT
 * error, connection lost) every member gets that failure. Members are sent
 * sorted by key (stable: members of one key keep their arrival order), so
 * batches lock chats in one global order (no deadlock between batches).
 * Callbacks never run inside chat_gc_submit.
 */
#define CHAT_GC_MAX 64 /* members of one group = PG_BATCH_MAX_STMTS */
/* While fewer groups than this are in flight, a window closes at the next
 * loop turn instead of waiting for company. 2, not 1: a message arriving
 * while one group commits goes beside it on another connection (Postgres
 * flushes both commits' WAL together) instead of waiting up to a whole
 * commit or the window — that wait was most of the sender's share of the
 * send→deliver tail at 1k msg/s (docs/benchmarks.md); under load the
 * window still fills while two groups commit. Beside a group in flight
 * only while the groups in flight hold at most CHAT_GC_EAGER_BESIDE_MAX
 * members (light load: under load — 16 clients flat out — groups of ~4
 * shrank and createMessage/s fell; waiting gathers the larger group), and
 * not while a pending member's key (chat) is in a group in flight: it would
 * race that group for the chat's lock (per-chat arrival order kept). */
#define CHAT_GC_EAGER_INFLIGHT 2
#define CHAT_GC_EAGER_BESIDE_MAX 2

/* The merge rule (chat_gc_merge): consecutive members (after the sort) of
 * statement `stmt` go as ONE call of its array form `array_stmt`, whose
 * params are text arrays (element i = member i's param, in group order)
 * and whose rows carry, after the single statement's columns, the member's
 * 1-based index and, for a refused member (one row), its SQLSTATE and
 * message (0012_group_commit.sql). Each member still completes with its own
 * rows (a pg_result view) or error. If the array call fails as a whole, its
 * members run again in a new group, one statement each (the exact path). */
#define CHAT_GC_MERGE_PARAMS 8 /* params of a mergeable statement */
#define CHAT_GC_COL_INDEX 4
#define CHAT_GC_COL_STATE 5
#define CHAT_GC_COL_ERROR 6
#define CHAT_STMT_CREATE_MESSAGE "sender_create_message"
#define CHAT_STMT_CREATE_MESSAGES "sender_create_messages"

typedef struct chat_gc chat_gc;
typedef struct chat_gc_stats {
    uint64_t batches; /* groups sent */
    uint64_t members; /* mutations sent in groups */
    uint64_t full;    /* windows closed by reaching max */
    uint64_t merged;  /* array statements sent (merge rule) */
    uint64_t splits;  /* groups re-run one statement per member (an array call failed) */
    uint32_t largest; /* most members in one group */
} chat_gc_stats;

/* A group-commit window on pool pg: max in 2..CHAT_GC_MAX, window_us > 0.
 * 0, CD_EBAD, CD_ENOMEM. */
int chat_gc_new(uv_loop_t *loop, pg_pool *pg, uint32_t max, uint32_t window_us, chat_gc **out);
/* Sets gc's merge rule (above); both names must outlive gc. 0 or CD_EBAD. */
int chat_gc_merge(chat_gc *gc, const char *stmt, const char *array_stmt);
/* Queues statement `stmt` (prepared name or SQL) with text params (copied)
 * under `key` (e.g. the chat id; NULL = ""). cb runs exactly once, later,
 * with the member's own result. 0, CD_EBAD, CD_ECLOSED, CD_ENOMEM. */
int chat_gc_submit(chat_gc *gc, const char *key, const char *stmt, int n, const char *const *params,
                   pg_query_cb cb, void *ud);
void chat_gc_stats_get(const chat_gc *gc, chat_gc_stats *out);
/* Sends what is pending, then frees gc (after its timer closed). */
void chat_gc_close(chat_gc *gc);
/* The process's group-commit counters as Prometheus text
 * (chatd_sender_group_commit*), a cd_metrics section of the sender role. */
void chat_gc_metrics_render(cd_buf *b, void *ud);

/* chat_op_run through the process's group-commit window (created on first
 * use from srv->cfg), or chat_op_run itself when group commit is off. */
bool chat_op_run_grouped(chat_op *op, const char *key, const char *stmt, int n,
                         const char *const *params, pg_query_cb cb);

/* =============================== authz.c =============================== */
/*
 * authz.c — the authorization layer every role's resolvers use (design §4).
 *
 * Authentication itself (verifying the JWT of an HTTP request or of a
 * WebSocket's connection_init, refusing non-public operations without one)
 * happens in the protocol layer; resolvers see the result as a proto_caller.
 * These helpers turn it into decisions with the project's error codes:
 *
 *   token mode (default)  the caller is the token's user. An argument that
 *                         names the acting user (userId, senderId, the id of
 *                         updateUser/removeUser) must equal it: FORBIDDEN.
 *   trust mode            the seed's behaviour: an argument naming the acting
 *                         user identifies the caller; without one, the
 *                         user-id header / connection_init value does.
 *
 * Every helper that fails has already completed the field with the error
 * (gql_ri_error) and returns NULL / false: the resolver must just return.
 */
/* True when the process runs in trust mode (no caller context = false). */
bool chat_authz_trust(gql_rinfo *ri);

/* The identified caller's user id, or NULL after completing the field with
 * UNAUTHENTICATED ("Authentication required"). In trust mode the id comes
 * from the user-id header / connection_init payload. A revoked token or a
 * removed account (chat_token_revoked) counts as unidentified. */
const char *chat_authz_user(gql_rinfo *ri);

/* The caller's user id if identified, else NULL (no error). */
const char *chat_authz_user_opt(gql_rinfo *ri);

/* For an argument naming the acting user (userId, senderId, own id):
 * token mode: the caller must be authenticated and equal `acting` → returns
 * acting; else completes with UNAUTHENTICATED / FORBIDDEN and returns NULL.
 * trust mode: returns `acting` (the argument identifies the caller).
 * `what` names the operation in the FORBIDDEN message ("update another
 * user"). */
const char *chat_authz_acting_as(gql_rinfo *ri, const char *acting, const char *what);

/* True when the caller may see private fields (email) of user `user_id`:
 * trust mode, or the authenticated caller is that user. */
bool chat_authz_is_self(gql_rinfo *ri, const char *user_id);

/* Revoked tokens. Logout everywhere, a password change and a removal bump
 * users.token_version (db/migrations/0007_auth_hardening.sql); tokens carry
 * the version they were issued with (JWT "ver"). This process keeps the
 * accounts bumped within CHAT_REVOKED_WINDOW_S (after that every older
 * token has expired) in a bounded set, loaded from the database at start
 * and refreshed every CHAT_REVOKED_REFRESH_MS (restarts and instances
 * without Redis), and updated at once by the control channel. Until the
 * first load completes nothing is refused (logged). */
#define CHAT_REVOKED_WINDOW_S (900 + 30) /* USER_ACCESS_TTL_S + AUTH_LEEWAY_S */
#define CHAT_REVOKED_MAX 262144          /* accounts in the set; more → logged, not kept */
#define CHAT_REVOKED_REFRESH_MS 5000     /* database refresh period */
#define CHAT_REVOKED_LOOKBACK_S 60       /* refreshes re-read this much before the newest row */

/* True when c's token is revoked: token mode, its version is below the
 * account's; trust mode, the account was removed. */
bool chat_token_revoked(const proto_caller *c);
/* Records that tokens of user_id below `ver` are revoked (and the account
 * removed) until `until` (unix s; 0 = now + CHAT_REVOKED_WINDOW_S). Keeps
 * the highest version and latest until. */
void chat_revoked_note(const char *user_id, int64_t ver, bool removed, int64_t until);
/* Entries in the set (tests, metrics); whether the first load completed;
 * empties the set (tests). */
size_t chat_revoked_count(void);
bool chat_revoked_loaded(void);
void chat_revoked_reset(void);
/* Registers the statement and starts the refresh timer (database
 * configured; once per process). 0 or CD_*. */
int chat_revoked_start(proto_server *srv);

/* ============================== control.c ============================== */
/*
 * Control channel: CHAT_CONTROL_CHANNEL on Redis carries process-wide
 * notices as JSON:
 *   {"kind":"user_disabled","userId":"...","ver":n}   removeUser
 *   {"kind":"tokens_revoked","userId":"...","ver":n}  logout everywhere,
 *                                                      changePassword
 * Every process records the new token version (authz.c: tokens below it
 * are refused) and closes that user's graphql-transport-ws connections:
 * 4403 for a removed account, 4401 for revoked tokens (sign in again).
 * "ver" may be absent (older senders): the version is then unknown and only
 * the sockets are closed. chat_bind_user_role (every role: the channel must
 * run wherever WebSockets are served) adds the channel's route to the
 * broker router (redis.h). Without Redis, other processes learn of the
 * change from the database within CHAT_REVOKED_REFRESH_MS (refusing the
 * tokens) but keep already open sockets until their tokens expire.
 */
#define CHAT_CONTROL_CHANNEL "chatd:control"
#define CHAT_CLOSE_ACCOUNT_DISABLED GQLWS_CLOSE_FORBIDDEN  /* 4403 */
#define CHAT_CLOSE_TOKENS_REVOKED GQLWS_CLOSE_UNAUTHORIZED /* 4401 */

/* Adds the control channel's broker route and starts the revoked-token
 * refresh (authz.c). 0 or CD_*. */
int chat_control_bind(proto_server *srv);

/* The tokens of user_id below version `ver` were revoked (removed: the
 * account was removed or deactivated): records it, closes their WebSockets
 * in this process and publishes the notice for every other process (when a
 * broker is configured). */
void chat_control_tokens_revoked(proto_server *srv, const char *user_id, int64_t ver, bool removed);

/* Handles one control-channel message (exposed for tests). Returns 0, or
 * CD_EBAD for a malformed message (ignored and logged by the caller). */
int chat_control_handle(proto_server *srv, const char *data, size_t len);

/* =============================== users.c =============================== */
/*
 * users.c — the user role (design §4): accounts, sign-in, tokens.
 *
 * Resolvers are bound by chat_bind_user_role (chat.h). Below: the limits
 * and the pure helpers (input validation, refresh-token encoding), which
 * unit tests check at their edges.
 *
 * Tokens: an access token is an HS256 JWT (auth.h) valid USER_ACCESS_TTL_S;
 * a refresh token is USER_RT_BYTES random bytes, base64url, valid
 * USER_REFRESH_TTL_S, stored only as its SHA-256 (hex) and rotated on use.
 */
#define USER_USERNAME_MAX 50u                /* bytes */
#define USER_EMAIL_MAX 254u                  /* bytes (RFC 5321 path limit) */
#define USER_DISPLAY_NAME_MAX 100u           /* bytes */
#define USER_SEARCH_MAX 100u                 /* bytes in users(search:) */
#define USERS_DEFAULT_LIMIT 50               /* users(limit:) when absent, token mode */
#define USERS_MAX_LIMIT 1000                 /* largest users(limit:); trust-mode default */
#define USERS_MAX_OFFSET 1000000             /* largest users(offset:) */
#define USER_ACCESS_TTL_S 900                /* access token lifetime: 15 min */
#define USER_REFRESH_TTL_S (30L * 24 * 3600) /* refresh token lifetime: 30 days */
#define USER_RT_BYTES 32u                    /* random bytes in a refresh token */
#define USER_RT_TEXT_LEN 43u                 /* base64url (no padding) of USER_RT_BYTES */
#define USER_RT_HASH_LEN 64u                 /* hex SHA-256 */
#define USER_RT_MAX_LEN 256u                 /* longer presented tokens are refused unread */
/* Password operations (createUser, login, changePassword: each one argon2id
 * run or more) one caller may start: per HTTP request, or per WebSocket
 * connection per USER_PW_OPS_WINDOW_MS. One more → RATE_LIMITED, so aliases
 * cannot queue hundreds of 64 MiB hashes from one document. */
#define USER_PW_OPS_PER_REQUEST 5u
#define USER_PW_OPS_WINDOW_MS 10000u
#define USER_BUSY_RETRY_S 1 /* retryAfter of SERVICE_BUSY (argon2id queue full) */

/* Each returns NULL when valid, else a static message for BAD_USER_INPUT. */
const char *chat_user_check_username(const char *s, size_t len);
const char *chat_user_check_email(const char *s, size_t len);
const char *chat_user_check_display_name(const char *s, size_t len);

/* Writes a fresh refresh token (USER_RT_TEXT_LEN chars + NUL) to out. */
void chat_rt_new(char out[USER_RT_TEXT_LEN + 1]);
/* Whether a presented refresh token has the shape chat_rt_new writes
 * (USER_RT_TEXT_LEN base64url characters); others are refused unhashed. */
bool chat_rt_shape_ok(const char *token, size_t len);
/* Writes the hex SHA-256 of token (USER_RT_HASH_LEN chars + NUL) to out. */
void chat_rt_hash(const char *token, size_t len, char out[USER_RT_HASH_LEN + 1]);

/* ============================== outbox.c =============================== */
/*
 * outbox.c — publishing after COMMIT, marking confirmed publishes,
 * republishing what was never confirmed (the sweeper) and pruning the event
 * log. Unconfirmed events are the rows of chat_outbox; the grace period
 * before a sweeper may republish a fresh one is chat_outbox.sweep_after's
 * default (2 s, 0013_outbox.sql); a claim pushes sweep_after forward by the
 * lease.
 */
#define SENDER_SWEEP_INTERVAL_MS 1000 /* sweeper tick */
#define SENDER_SWEEP_LEASE_S 10       /* a claimed row is not re-claimed before this */
#define SENDER_SWEEP_BATCH 500        /* rows claimed per tick */
#define SENDER_MARK_FLUSH_MS 20       /* confirmed publishes are marked after at most this */
#define SENDER_MARK_BATCH 256         /* ... or when this many are waiting */
#define SENDER_PRUNE_EVERY 60         /* ticks between retention prunes */
#define SENDER_PRUNE_BATCH 5000       /* rows deleted per prune */
#define SENDER_SEARCH_FLUSH_EVERY 1   /* ticks between merges of the search index's pending list */
#define SENDER_RETENTION_DEFAULT_S (30L * 24 * 3600) /* CHATD_EVENT_RETENTION default */

/* Registers the outbox statements and, in the sender and all roles with a
 * database configured, starts the sweeper timer (once per process). 0 or
 * CD_* (CD_EBAD: CHATD_EVENT_RETENTION malformed). */
int chat_outbox_start(proto_server *srv);
/* Publishes a chat event and, once Redis confirms it, marks (chat_id, seq)
 * published (batched). */
void chat_outbox_publish_event(proto_server *srv, const char *channel, const char *payload,
                               size_t len, const char *chat_id, const char *seq);
/* Publishes a notification (no log, no confirmation). */
void chat_outbox_publish(proto_server *srv, const char *channel, const char *payload, size_t len);
/* The senders' background merges of the search index's pending list
 * (chatd_sender_search_flush*), a cd_metrics section of the sender role. */
void chat_outbox_metrics_render(cd_buf *b, void *ud);

/* CHATD_EVENT_RETENTION: seconds, or a number with s/m/h/d. NULL/"" → the
 * default. Returns seconds, or -1 when malformed or not positive. */
int64_t chat_outbox_parse_retention(const char *s);

/* ============================== sender.c =============================== */
/*
 * sender.c — the sender role (design §4–5): chat and message mutations,
 * read marks and typing, written to PostgreSQL and published through Redis.
 *
 * Every mutation validates its arguments and the caller (authz.c), then runs
 * ONE prepared statement: a plpgsql function of db/migrations/0003_chats.sql
 * (messages and reads: 0005_unread_watermarks.sql) that, in one transaction,
 * takes the chat's next seq under its row lock, makes the change (no row per
 * member: unread counts are derived from the watermarks) and appends the
 * chat_events row (the log and the outbox); createMessage and markChatAsRead
 * commit in groups (batch.c). The function
 * returns the result JSON and the Redis publications; after COMMIT the
 * resolver publishes them (chat events on chat:<id>, notifications on
 * user:<id>), returns the result (the same JSON the event carries, parsed
 * into the resolver arena), and confirmed publishes are marked in
 * chat_events in batches. The outbox (outbox.c) republishes events whose
 * publish was never confirmed — a sender killed between COMMIT and PUBLISH
 * loses nothing — and prunes the log after CHATD_EVENT_RETENTION.
 *
 * Errors (extensions.code): BAD_USER_INPUT (limits below, empty content,
 * bad type/chatType, direct-chat rules), NOT_FOUND (unknown chat, message,
 * user), FORBIDDEN (not a participant, not the author, acting as someone
 * else), CHAT_REMOVED (the chat was removed), SERVICE_UNAVAILABLE (database
 * down: fails at once once the pool has lost its connections).
 *
 * Test hook: with test fixtures on (CHATD_TEST_FIXTURES=1) AND
 * CHATD_TEST_CRASH_AFTER_COMMIT=1 the process _exits with status
 * SENDER_CRASH_EXIT_CODE right after the first createMessage commits, before
 * anything is published (tests/integration/sender-crash.test.js).
 */
#define SENDER_CONTENT_MAX 10000u  /* bytes of message content */
#define SENDER_METADATA_MAX 8192u  /* bytes of metadata as JSON text */
#define SENDER_CLIENT_ID_MAX 128u  /* bytes of a clientId */
#define SENDER_TYPE_MAX 32u        /* bytes of a message type: [a-z0-9_.-] */
#define SENDER_CHAT_NAME_MAX 100u  /* bytes of a chat name */
#define SENDER_CHAT_DESC_MAX 1000u /* bytes of a chat description */
#define SENDER_MAX_IDS 500u        /* user ids in one createChat / addParticipants */
#define SENDER_CRASH_EXIT_CODE 86
/* reactions (issue 19) */
#define SENDER_EMOJI_MAX 32u              /* bytes of a reaction's emoji */
#define SENDER_REACTIONS_DISTINCT_MAX 20u /* different emoji on one message */

/* Validation (NULL = valid, else a static message for BAD_USER_INPUT). */
const char *chat_sender_check_content(const char *s, size_t len);
const char *chat_sender_check_type(const char *s, size_t len);
/* True for a type clients of the GraphQL API may not post ("system": not
 * counted as unread, shown as a server notice); createMessage answers
 * BAD_USER_INPUT. The seed-003 API keeps it (its contract). */
bool chat_sender_type_reserved(const char *s, size_t len);
const char *chat_sender_check_client_id(const char *s, size_t len);
const char *chat_sender_check_emoji(const char *s, size_t len);
const char *chat_sender_check_chat_name(const char *s, size_t len);
const char *chat_sender_check_chat_desc(const char *s, size_t len);

/* Appends a Postgres uuid[] literal "{a,b,...}" of the LIST of strings
 * `ids`, with `first` (may be NULL) put in front when not already in the
 * list. Returns 0, CD_ELIMIT (more than SENDER_MAX_IDS), or CD_EBAD with
 * *bad set to the offending (non-UUID) entry. */
int chat_sender_uuid_array(cd_buf *b, const gql_value *ids, const char *first, const char **bad);

/* ============================== replay.c =============================== */
/*
 * replay.c — the receiver's sequencing rules, shared by the fan-out (feed.c)
 * and chatEventsSince (queries.c); pure, unit-tested in test_chat_feed.c.
 */
/* Where a sequenced event stands for a subscriber that last got `last`. */
typedef enum recv_seq_step {
    RECV_SEQ_NEXT = 0, /* seq == last + 1: deliver */
    RECV_SEQ_DUP,      /* seq <= last: already delivered, drop */
    RECV_SEQ_GAP       /* seq > last + 1: fill from the log first */
} recv_seq_step;
recv_seq_step recv_seq_classify(int64_t last, int64_t seq);

/* The starting point of a replay: a subscriber asking for events after
 * `after` (< 0: none, live from `last_seq`) of a chat it joined at `joined`,
 * whose log keeps seqs from `oldest` on (< 0: the log is empty) and whose
 * newest seq is `last_seq`. Sets *from (the seq to deliver after) and
 * returns 0, or CD_ENOENT when events after *from are no longer retained
 * (→ RESYNC_REQUIRED). Nothing before `joined` is the user's. */
int recv_replay_start(int64_t after, int64_t joined, int64_t oldest, int64_t last_seq,
                      int64_t *from);

/* Whether a gap fill's answer proves that the events a subscriber at `last`
 * needs are gone from the log (→ RESYNC_REQUIRED): the fill asked for
 * seq > `from` when seqs up to `known` were committed, and its first row
 * was `first` (< 0: no row). A subscriber behind `from` (attached meanwhile
 * with an older afterSeq) is not judged by it: the next fill serves it. */
bool recv_fill_lost(int64_t from, int64_t known, int64_t first, int64_t last);

/* ============================= presence.c ============================== */
/*
 * presence.c — a user's first / last live subscription on
 * this process. */
void recv_presence_user_up(proto_server *srv, const char *user_id);
void recv_presence_user_down(proto_server *srv, const char *user_id);
/* Binds User.online / User.lastSeenAt (served in every role) and registers
 * the last-seen statements. 0 or CD_*. */
int recv_presence_bind(proto_server *srv);

/* ============================== queries.c ============================== */
/*
 * queries.c — the receiver role's queries (chats, messages, read status,
 * unread counts, onlineUsers, chatEventsSince, nested Chat/Message fields).
 */
/* Chat.participantIds / Chat.participants list at most the first
 * RECV_PARTICIPANT_IDS_MAX participants in join order (the SQL function
 * chatd_participant_ids_max() of 0006_membership_scale.sql says the same);
 * Chat.memberCount has the size, Chat.members pages through every member. */
#define RECV_PARTICIPANT_IDS_MAX 256
#define RECV_MEMBERS_DEFAULT_PAGE 100 /* Chat.members(first:) when absent */
#define RECV_MEMBERS_MAX_PAGE 1000    /* largest Chat.members(first:) */
#define RECV_MEMBER_CURSOR_MAX 80     /* bytes of a Chat.members cursor */
/* issue 19: history, search, reactions, replies */
#define CHAT_E_HISTORY_TOO_LONG "HISTORY_TOO_LONG" /* messages without limit past the cap */
#define RECV_HISTORY_CAP 10000         /* messages / Chat.messages without limit: at most */
#define RECV_SEARCH_QUERY_MAX 200      /* bytes of searchMessages(query:) */
#define RECV_SEARCH_TERMS_MAX 16       /* words in one search */
#define RECV_SEARCH_DEFAULT_PAGE 20    /* searchMessages(first:) when absent */
#define RECV_SEARCH_MAX_PAGE 100       /* largest searchMessages(first:) */
#define RECV_SEARCH_HIGHLIGHT_MAX 300  /* characters of a highlight */
#define RECV_SEARCH_CURSOR_MAX 160     /* bytes of a searchMessages cursor */
#define RECV_REACTION_USERS_DEFAULT 10 /* ReactionGroup.users(first:) when absent */
#define RECV_REACTION_USERS_MAX 100    /* largest ReactionGroup.users(first:) */

/* searchMessages: splits query (len bytes, clean UTF-8) into words — runs of
 * ASCII letters and digits and non-ASCII characters; everything else
 * separates — and appends them as a Postgres text[] literal to out.
 * Returns the number of words, or -1 when there are more than
 * RECV_SEARCH_TERMS_MAX. Nothing of the input reaches to_tsquery's syntax. */
int recv_search_tokens(const char *query, size_t len, cd_buf *out);

/* Binds the receiver's Query and nested fields and registers their
 * statements. 0 or CD_*. */
int recv_queries_bind(proto_server *srv);

/* =============================== feed.c ================================ */
/*
 * feed.c — the receiver role's fan-out (design §5, docs/architecture.md):
 * subscriptions fed by Redis, backed by the chat_events log in PostgreSQL.
 *
 * One feed_chan per Redis channel with local subscribers (chat:<id>,
 * chat:<id>:eph, user:<id>, presence). A channel is subscribed on Redis
 * while it has at least one local subscriber (reference count = its list of
 * subscribers) and unsubscribed when the last one leaves.
 *
 * Delivery promise for chat:<id> (sequenced): each subscriber keeps the seq
 * of the last event it was given (`last`). An event is handed to a
 * subscriber only when its seq is last + 1; older ones are duplicates and
 * dropped. The channel keeps the highest seq known to be committed
 * (`known`: from the subscribe-time read of chats.last_seq, live events and
 * fills). While some subscriber's last < known, the channel runs ONE fill
 * query (chat_events with seq > min(last), in seq order, a batch at a time)
 * and offers each row to every subscriber in order — live events that
 * arrive meanwhile only raise `known`. After Redis confirms a (re)subscribe
 * the channel fills unconditionally (events published while it was not
 * subscribed are only in the log). afterSeq sets a new subscriber's last,
 * so replay and live continue through the same path with no seam.
 *
 * Room watches (chat_watch_start, chat.h; the seed-003 /ws): a feed_sub of
 * field RECV_F_ROOM on chat:<id>, sequenced like any chat subscriber, with
 * a C sink instead of a proto_sub. While a chat channel has watches it keeps
 * its chat:<id>:eph channel subscribed on the broker (no feed_chan of its
 * own unless GraphQL typing subscribers made one: hook_message hands its
 * typing to the chat's watches) and pins the presence channel (subscribed
 * with no subscriber of its own) and routes typing and the presence of
 * the chat's participants (`members`, from the start lookup, kept current
 * by participants.added / participant.removed) to its watches.
 *
 * Ownership: feed_chan and feed_sub are heap objects (cd_malloc) owned by this
 * file. An feed_sub is freed when it has left its channel and no query of its
 * own is in flight; a channel when it has no subscribers, no pins and no
 * fill in flight. Subscribers that end while their channel is delivering are only
 * marked and swept after the delivery loop (stop may run re-entrantly from
 * proto_sub_emit when a slow client is closed).
 */
#define RECV_FILL_BATCH 500       /* chat_events rows per fill query */
#define RECV_CHAN_BUCKETS 4096u   /* hash buckets of the channel table */
#define RECV_MAX_READERS 1000u    /* participants tracked per messageReadUpdated subscription */
#define RECV_AFTER_SEQS_MAX 1000u /* afterSeqs entries of one per-user subscription */

/* Subscription fields served by the receiver. */
typedef enum recv_field {
    RECV_F_MESSAGE_ADDED = 0,
    RECV_F_MESSAGE_UPDATED,
    RECV_F_MESSAGE_DELETED,
    RECV_F_CHAT_EVENTS,
    RECV_F_MESSAGE_READ_UPDATED,
    RECV_F_TYPING,
    RECV_F_PRESENCE_UPDATED,
    RECV_F_CHAT_MESSAGE_NOTIFICATION,
    RECV_F_MESSAGE_UPDATE_FOR_CHAT_LIST,
    RECV_F_CHAT_ADDED,
    RECV_F_CHAT_UPDATED,
    RECV_F_UNREAD_COUNT_UPDATED,
    RECV_F_ROOM, /* a room watch (chat_watch_start, the seed-003 /ws) */
    RECV_F_COUNT
} recv_field;

/* Id lists ",id,id," (readers still to come, participants). has: true when
 * id (len bytes) is in the list; take: removes it, true when it was there. */
bool recv_idlist_has(const char *list, const char *id, size_t len);
bool recv_idlist_take(char *list, const char *id, size_t len);

/* Counters (metrics / tests). */
typedef struct recv_feed_stats {
    uint64_t channels;   /* channels with local subscribers */
    uint64_t subs;       /* live receiver subscriptions */
    uint64_t delivered;  /* events handed to subscriptions */
    uint64_t duplicates; /* live events dropped as already delivered */
    uint64_t fills;      /* fill queries run */
    uint64_t fill_rows;  /* chat_events rows read by fill queries */
    uint64_t gaps;       /* events a subscriber was not ready for (seq > last + 1):
                          * it gets them, in order, from a fill */
    uint64_t resyncs;    /* subscriptions ended with RESYNC_REQUIRED */
} recv_feed_stats;
/* The counters above as Prometheus text (chatd_receiver_*), appended to
 * /metrics by a cd_metrics section recv_feed_bind registers. */
void recv_feed_metrics_render(cd_buf *out, void *ud);
void recv_feed_stats_get(recv_feed_stats *out);

/* Registers every receiver subscription source (subscribe.h), the feed's
 * statements and its broker routes (chat:, user:, presence). 0 or CD_*. */
int recv_feed_bind(proto_server *srv);

#endif
