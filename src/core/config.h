/*
 * config.h — chatd's process configuration: command-line flags and CHATD_*
 * environment variables, with defaults and start-up validation.
 *
 * Precedence: flag > environment > default. Strings in cd_config point into
 * argv or the environment (or are static defaults): the config owns nothing
 * and must not outlive them (both live for the whole process). Parsing is
 * pure (the environment is read through a caller-supplied getter) so unit
 * tests can feed any combination.
 */
#ifndef CHATD_CONFIG_H
#define CHATD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

/* ---- defaults and limits (each overridable; see docs/operations.md) ---- */
#define CD_DEFAULT_BIND "127.0.0.1"
#define CD_DEFAULT_CORS_ORIGINS "http://localhost:3000,http://localhost:3001"
#define CD_DEFAULT_SCHEMA_PATH "schema/chat.graphql"
#define CD_DEFAULT_MAX_BODY (1024u * 1024u)       /* HTTP request body bytes → 413 */
#define CD_DEFAULT_MAX_WS_MESSAGE (1024u * 1024u) /* one inbound WebSocket message */
#define CD_DEFAULT_MAX_SUBSCRIPTIONS 500u         /* active operations per WebSocket */
#define CD_DEFAULT_WS_RATE 200u                   /* inbound messages per second per WebSocket */
/* Token-bucket burst for the rate above. It must let a client open its
 * whole subscription allowance at once (a seed client subscribes to every
 * chat on load): when CHATD_WS_BURST is not set, the burst is the larger of
 * this and max_subscriptions + CD_WS_BURST_HEADROOM (cd_config_parse). An
 * explicit smaller burst is honoured (and logged at start-up): the client
 * must then pace its subscribes. */
#define CD_DEFAULT_WS_BURST 1000u
#define CD_WS_BURST_HEADROOM 16u /* connection_init, pings, completes around a full burst */
#define CD_DEFAULT_WS_MAX_QUEUED (4u * 1024u * 1024u) /* unsent outbound bytes per WebSocket */
#define CD_DEFAULT_WS_INIT_TIMEOUT_MS 3000u           /* connection_init wait → close 4408 */
#define CD_DEFAULT_WS_PING_MS 30000u                  /* heartbeat: ping after this much silence */
#define CD_DEFAULT_DRAIN_TIMEOUT_MS 5000u             /* SIGTERM: in-flight work gets this long */
#define CD_DEFAULT_DRAIN_IDLE_MS 0u /* SIGTERM: idle HTTP connections close at once */
#define CD_CONFIG_MAX_DRAIN_IDLE_MS 60000u
/* Group commit in the sender (src/chat/batch.c): concurrent mutations are
 * committed together, at most this many per transaction, after waiting at
 * most this long for company. CHATD_GROUP_COMMIT_MAX 0 or 1, or
 * CHATD_GROUP_COMMIT_US 0, turns it off (one transaction per mutation). */
#define CD_DEFAULT_GROUP_COMMIT_MAX 64u
#define CD_DEFAULT_GROUP_COMMIT_US 1000u
/* PostgreSQL connections per process (CHATD_PG_POOL_SIZE; 0 = the role's
 * default, cd_role_default_pg_pool). */
#define CD_DEFAULT_PG_POOL_ALL 8
#define CD_DEFAULT_PG_POOL_USER 4
#define CD_DEFAULT_PG_POOL_SENDER 8
#define CD_DEFAULT_PG_POOL_RECEIVER 6
/* Members of one group chat (CHATD_MAX_GROUP_MEMBERS): createChat and
 * addParticipants beyond it fail with BAD_USER_INPUT. */
#define CD_DEFAULT_MAX_GROUP_MEMBERS 100000u
/* GraphQL per-request budgets (the engine's GQL_DEFAULT_MAX_COST and
 * GQL_DEFAULT_MAX_RESPONSE_BYTES; the protocol layer asserts they agree). */
#define CD_DEFAULT_MAX_QUERY_COST 25000u                    /* → QUERY_TOO_COSTLY */
#define CD_DEFAULT_MAX_RESPONSE_BYTES (32u * 1024u * 1024u) /* → RESPONSE_TOO_LARGE */
/* Sign-ups (createUser) per client address per CD_SIGNUP_WINDOW_S, counted
 * in Redis across instances; over it → RATE_LIMITED with retryAfter. */
#define CD_DEFAULT_SIGNUP_LIMIT 100u
#define CD_SIGNUP_WINDOW_S 600
/* argon2id operations (hash or verify) queued or running per process; one
 * more → SERVICE_BUSY with retryAfter (auth/password.h). */
#define CD_DEFAULT_PW_QUEUE_MAX 64u
/* argon2id operations running at once, at most (CHATD_PW_THREADS; equals
 * AUTH_PW_RUN_MAX_LIMIT in auth/password.h, checked there). */
#define CD_CONFIG_MAX_PW_THREADS 64u
#define CD_CONFIG_MAX_TRUSTED_PROXIES 32u /* entries in CHATD_TRUSTED_PROXIES */
/* Per-user write limits (token buckets shared by every instance through
 * Redis; src/chat/ratelimit.c), far above what a person does: createMessage
 * per second and its burst; every other sender mutation (createChat,
 * participants, edits, removals, read marks, typing) the same. 0 = off. */
/* files (issue 20; docs/operations.md "Files") */
#define CD_DEFAULT_FILES_DIR "data/files"
#define CD_DEFAULT_MAX_FILE_BYTES (25u * 1024u * 1024u)        /* per file → 413 FILE_TOO_LARGE */
#define CD_DEFAULT_FILES_QUOTA_BYTES (1024ull * 1024u * 1024u) /* per user → 413 QUOTA_EXCEEDED */
#define CD_DEFAULT_FILES_GRACE_S 86400u       /* never-attached files live this long */
#define CD_DEFAULT_FILES_MAX_PIXELS 40000000u /* larger images → 422 IMAGE_TOO_LARGE */
#define CD_DEFAULT_FILES_URL_TTL_S 3600u      /* signed ?t= download URLs */
#define CD_DEFAULT_FILES_THUMB_QUEUE 64u      /* thumbnails waiting → 503 SERVICE_BUSY */
#define CD_DEFAULT_RATE_MESSAGES 20u
#define CD_DEFAULT_RATE_MESSAGES_BURST 300u
#define CD_DEFAULT_RATE_MUTATIONS 50u
#define CD_DEFAULT_RATE_MUTATIONS_BURST 500u
/* Connection caps per process (HTTP and WebSocket connections alike):
 * all connections, connections from one peer address, and open WebSockets
 * (graphql-transport-ws and /ws) of one user. 0 = no cap. */
#define CD_DEFAULT_MAX_CONNS 50000u
#define CD_DEFAULT_MAX_CONNS_PER_ADDR 2000u
#define CD_DEFAULT_MAX_WS_PER_USER 200u

/* Hard bounds on the values a user may configure. */
#define CD_CONFIG_MIN_BODY 64u
#define CD_CONFIG_MAX_BODY (64u * 1024u * 1024u)
#define CD_CONFIG_MAX_SUBSCRIPTIONS 100000u
#define CD_CONFIG_MAX_QUERY_COST 1000000000u
#define CD_CONFIG_MIN_RESPONSE_BYTES 4096u /* room for the RESPONSE_TOO_LARGE answer itself */
#define CD_CONFIG_MAX_RESPONSE_BYTES (1024u * 1024u * 1024u)
#define CD_CONFIG_MAX_CORS_ORIGINS 32u
/* bytes of REDIS_CLUSTER_NODES (it becomes a redis+cluster:// URL) */
#define CD_CONFIG_MAX_CLUSTER_NODES 480u
/* The net layer's own per-socket write-queue bound (WS_MAX_WRITE_QUEUE in
 * net/ws.h): a larger --ws-max-queued could never take effect, so it is
 * refused at start-up rather than silently capped. */
#define CD_CONFIG_MAX_WS_QUEUED (4u * 1024u * 1024u)
/* Shortest HS256 secret accepted (AUTH_MIN_SECRET_LEN in auth/auth.h): a
 * shorter one is refused at start-up, not at the first login. */
#define CD_CONFIG_MIN_JWT_SECRET 16u
#define CD_CONFIG_MAX_GROUP_COMMIT 64u        /* = PG_BATCH_MAX_STMTS (store/pg.h) */
#define CD_CONFIG_MAX_GROUP_COMMIT_US 100000u /* 100 ms */
#define CD_CONFIG_MAX_PG_POOL 64u             /* = PG_POOL_MAX_CONNS (store/pg.h) */
#define CD_CONFIG_MIN_GROUP_MEMBERS 2u
#define CD_CONFIG_MAX_GROUP_MEMBERS 10000000u

typedef enum cd_role { CD_ROLE_ALL = 0, CD_ROLE_USER, CD_ROLE_SENDER, CD_ROLE_RECEIVER } cd_role;
typedef enum cd_auth_mode { CD_AUTH_TOKEN = 0, CD_AUTH_TRUST } cd_auth_mode;

typedef struct cd_config {
    cd_role role;
    int port;                         /* 0 = ephemeral; unset = the role's default */
    const char *bind;                 /* IPv4/IPv6 literal or "localhost" */
    const char *database_url;         /* NULL = no database (only health works) */
    const char *database_replica_url; /* streaming replica for receivers' reads; NULL = none */
    const char *redis_url;            /* NULL = no broker */
    const char *redis_cluster_nodes;  /* host:port,... seeds of a Redis Cluster; NULL = none */
    const char *jwt_secret;           /* NULL = none */
    cd_auth_mode auth;
    bool auth_force;          /* CHATD_AUTH_FORCE=1: trust mode on a public bind */
    const char *cors_origins; /* comma-separated list; "*" = any origin */
    bool introspection;
    const char *schema_path; /* explicit path, or NULL = search (cd_config_find_schema) */
    cd_log_level log_level;
    cd_log_format log_format; /* AUTO: text on a terminal, JSON otherwise */
    const char *instance_id;  /* NULL = "<role>-<port>" (logs) */
    bool test_fixtures;       /* CHATD_TEST_FIXTURES=1: echo/slow/countdown fields */
    size_t max_body;
    size_t max_ws_message;
    uint32_t max_query_cost;   /* GraphQL cost budget per operation */
    size_t max_response_bytes; /* GraphQL response (or subscription event) bytes */
    uint32_t max_subscriptions;
    uint32_t ws_rate; /* messages/s; 0 = unlimited */
    uint32_t ws_burst;
    size_t ws_max_queued;
    uint32_t ws_init_timeout_ms;
    uint32_t ws_ping_ms; /* 0 = no heartbeat; silent for 2x → close 4504 */
    uint32_t drain_timeout_ms;
    uint32_t drain_idle_ms;     /* http_server_opts.drain_idle_ms */
    uint32_t pg_pool_size;      /* 0 = the role's default */
    uint32_t group_commit_max;  /* 0/1 = group commit off */
    uint32_t group_commit_us;   /* 0 = group commit off */
    uint32_t max_group_members; /* members of one group chat */
    /* Comma-separated addresses / CIDRs (IPv4, IPv6) of reverse proxies whose
     * X-Forwarded-For is believed; NULL = none (the TCP peer is the client). */
    const char *trusted_proxies;
    uint32_t signup_limit;  /* per address per CD_SIGNUP_WINDOW_S; 0 = unlimited */
    uint32_t pw_queue_max;  /* argon2id operations queued or running */
    uint32_t pw_threads;    /* argon2id operations running at once; 0 = CPUs - 1 */
    uint32_t rate_messages; /* createMessage per second per user; 0 = unlimited */
    uint32_t rate_messages_burst;
    uint32_t rate_mutations; /* other sender mutations per second per user; 0 = unlimited */
    uint32_t rate_mutations_burst;
    uint32_t max_conns;          /* open connections per process; 0 = no cap */
    uint32_t max_conns_per_addr; /* ... from one peer address; 0 = no cap */
    uint32_t max_ws_per_user;    /* open WebSockets of one user per process; 0 = no cap */
    const char *files_dir;       /* content-addressed file store */
    size_t max_file_bytes;       /* one upload */
    size_t files_quota_bytes;    /* one user's files; 0 = unlimited */
    uint32_t files_grace_s;      /* unattached files are swept after this */
    uint32_t files_max_pixels;   /* width x height of an image */
    uint32_t files_url_ttl_s;    /* lifetime of a signed download URL */
    uint32_t files_thumb_queue;  /* thumbnails waiting for a worker */
    /* S3-compatible bucket for the files (set endpoint = use it; then bucket
     * and both keys are required); NULL = the directory store */
    const char *files_s3_endpoint; /* host[:port] */
    const char *files_s3_bucket;
    const char *files_s3_access_key;
    const char *files_s3_secret_key;
    bool files_s3_https; /* default on */
    bool help;           /* --help given: print cd_config_usage and exit 0 */
    bool version;        /* --version given */
} cd_config;

typedef const char *(*cd_getenv_fn)(const char *name);

/* Fills c with defaults, then the environment (via getenv_fn; NULL = none),
 * then argv[1..argc-1]. Validates the result (see cd_config_validate) unless
 * --help/--version was given. Returns 0, or CD_EBAD with a one-line message
 * in err (errlen bytes) naming the offending flag or variable. */
int cd_config_parse(cd_config *c, int argc, char **argv, cd_getenv_fn getenv_fn, char *err,
                    size_t errlen);
/* Start-up rules: token mode needs a JWT secret; trust mode on a non-loopback
 * bind needs auth_force. Returns 0 or CD_EBAD with the reason in err. */
int cd_config_validate(const cd_config *c, char *err, size_t errlen);
/* The burst used when none is configured: max(CD_DEFAULT_WS_BURST,
 * max_subscriptions + CD_WS_BURST_HEADROOM), so a client may open every
 * subscription it is allowed in one go. */
uint32_t cd_config_ws_burst_auto(uint32_t max_subscriptions);

const char *cd_role_name(cd_role r);
int cd_role_parse(const char *s, cd_role *out);
/* The role's default port: all 4000, user 4001, sender 4002, receiver 4005. */
int cd_role_default_port(cd_role r);
/* The PostgreSQL pool size: cfg->pg_pool_size, or when 0 the role's default
 * (all 8, user 4, sender 8, receiver 6). */
int cd_config_pg_pool_size(const cd_config *c);
/* True when group commit is on (group_commit_max > 1 and group_commit_us > 0). */
bool cd_config_group_commit_on(const cd_config *c);
/* True for 127.0.0.0/8, ::1 and "localhost". */
bool cd_config_bind_is_loopback(const char *bind);
/* True when `origin` (len bytes, not NUL-terminated) is in the CORS list. */
bool cd_config_origin_allowed(const cd_config *c, const char *origin, size_t len);
/* True when the address text `ip` (IPv4 or IPv6, len bytes, not
 * NUL-terminated) matches an entry of the comma-separated list of addresses
 * and CIDRs (CHATD_TRUSTED_PROXIES). An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) matches as its IPv4 form. NULL / "" lists match nothing. */
bool cd_config_addr_in_list(const char *list, const char *ip, size_t len);
/* True when s (len bytes) is an IPv4 or IPv6 address literal. */
bool cd_config_addr_valid(const char *s, size_t len);
/* Checks a list for cd_config_addr_in_list: 0, or CD_EBAD with the offending
 * entry in err. */
int cd_config_addr_list_check(const char *list, char *err, size_t errlen);
/* Writes the --help text to out (a FILE*, void* to keep stdio out of here). */
void cd_config_usage(void *out, const char *argv0);

#endif
