/*
 * config.c — flag / environment parsing for chatd (see config.h).
 *
 * One table describes every option once: its flag, its environment variable
 * and how to store it, so flags and variables cannot drift apart. Nothing is
 * allocated; values point into argv / the environment.
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

typedef enum cd_opt_kind {
    CD_OPT_ROLE,
    CD_OPT_PORT,
    CD_OPT_STR,
    CD_OPT_AUTH,
    CD_OPT_BOOL,
    CD_OPT_ONOFF,
    CD_OPT_LOGLEVEL,
    CD_OPT_LOGFORMAT,
    CD_OPT_SIZE,
    CD_OPT_U32,
    CD_OPT_FLAG /* flag without a value (sets a bool) */
} cd_opt_kind;

typedef struct cd_opt {
    const char *flag; /* without "--"; NULL = environment only */
    const char *env;  /* NULL = flag only */
    cd_opt_kind kind;
    size_t off;        /* offset of the field in cd_config */
    uint64_t min, max; /* SIZE / U32 bounds */
    const char *help;
} cd_opt;

#define OFF(f) offsetof(cd_config, f)

_Static_assert(CD_LOG_ID_MAX == CD_REQUEST_ID_MAX, "an instance id is checked as a request id");

static const cd_opt cd_opts[] = {
    {"role", "CHATD_ROLE", CD_OPT_ROLE, OFF(role), 0, 0, "user|sender|receiver|all (default all)"},
    {"port", "CHATD_PORT", CD_OPT_PORT, OFF(port), 0, 0,
     "listen port (default: all 4000, user 4001, sender 4002, receiver 4005)"},
    {"bind", "CHATD_BIND", CD_OPT_STR, OFF(bind), 0, 0, "listen address (default 127.0.0.1)"},
    {"database-url", "DATABASE_URL", CD_OPT_STR, OFF(database_url), 0, 0,
     "PostgreSQL conninfo/URL (unset = no database)"},
    {"database-replica-url", "DATABASE_REPLICA_URL", CD_OPT_STR, OFF(database_replica_url), 0, 0,
     "streaming replica serving the receiver's queries (unset = the primary serves them)"},
    {"redis-url", "REDIS_URL", CD_OPT_STR, OFF(redis_url), 0, 0,
     "redis://host:port, or redis+cluster://host:port[,host:port...] for a Redis Cluster "
     "(unset = no broker)"},
    {"redis-cluster-nodes", "REDIS_CLUSTER_NODES", CD_OPT_STR, OFF(redis_cluster_nodes), 0, 0,
     "host:port[,host:port...] seed nodes of a Redis Cluster (instead of --redis-url)"},
    {"jwt-secret", "CHATD_JWT_SECRET", CD_OPT_STR, OFF(jwt_secret), 0, 0,
     "HS256 secret for access tokens (required in token mode)"},
    {"auth", "CHATD_AUTH", CD_OPT_AUTH, OFF(auth), 0, 0, "token|trust (default token)"},
    {"auth-force", "CHATD_AUTH_FORCE", CD_OPT_BOOL, OFF(auth_force), 0, 0,
     "allow trust mode on a non-loopback bind"},
    {"cors-origins", "CHATD_CORS_ORIGINS", CD_OPT_STR, OFF(cors_origins), 0, 0,
     "comma-separated allowed origins, or * (default " CD_DEFAULT_CORS_ORIGINS ")"},
    {"introspection", "CHATD_INTROSPECTION", CD_OPT_ONOFF, OFF(introspection), 0, 0,
     "on|off (default on)"},
    {"schema", "CHATD_SCHEMA", CD_OPT_STR, OFF(schema_path), 0, 0,
     "path of the SDL (default " CD_DEFAULT_SCHEMA_PATH " in the cwd or the binary's repo)"},
    {"log-level", "CHATD_LOG_LEVEL", CD_OPT_LOGLEVEL, OFF(log_level), 0, 0,
     "debug|info|warn|error (default info)"},
    {"log-format", "CHATD_LOG_FORMAT", CD_OPT_LOGFORMAT, OFF(log_format), 0, 0,
     "text|json|auto (default auto: text on a terminal, JSON lines otherwise)"},
    {"instance-id", "CHATD_INSTANCE_ID", CD_OPT_STR, OFF(instance_id), 0, 0,
     "this process in logs (default <role>-<port>; up to 64 of [A-Za-z0-9._:-])"},
    {"test-fixtures", "CHATD_TEST_FIXTURES", CD_OPT_BOOL, OFF(test_fixtures), 0, 0,
     "add the echo/slow/countdown test fields"},
    {"max-body", "CHATD_MAX_BODY", CD_OPT_SIZE, OFF(max_body), CD_CONFIG_MIN_BODY,
     CD_CONFIG_MAX_BODY, "max HTTP request body bytes (default 1048576)"},
    {"max-ws-message", "CHATD_MAX_WS_MESSAGE", CD_OPT_SIZE, OFF(max_ws_message), CD_CONFIG_MIN_BODY,
     CD_CONFIG_MAX_BODY, "max inbound WebSocket message bytes (default 1048576)"},
    {"max-query-cost", "CHATD_MAX_QUERY_COST", CD_OPT_U32, OFF(max_query_cost), 1,
     CD_CONFIG_MAX_QUERY_COST,
     "estimated cost per GraphQL operation before QUERY_TOO_COSTLY (default 25000)"},
    {"max-response-bytes", "CHATD_MAX_RESPONSE_BYTES", CD_OPT_SIZE, OFF(max_response_bytes),
     CD_CONFIG_MIN_RESPONSE_BYTES, CD_CONFIG_MAX_RESPONSE_BYTES,
     "GraphQL response bytes before RESPONSE_TOO_LARGE (default 33554432)"},
    {"max-subscriptions", "CHATD_MAX_SUBSCRIPTIONS", CD_OPT_U32, OFF(max_subscriptions), 1,
     CD_CONFIG_MAX_SUBSCRIPTIONS, "active operations per WebSocket (default 500)"},
    {"ws-rate", "CHATD_WS_RATE", CD_OPT_U32, OFF(ws_rate), 0, 1000000u,
     "inbound messages/s per WebSocket, 0 = unlimited (default 200)"},
    {"ws-burst", "CHATD_WS_BURST", CD_OPT_U32, OFF(ws_burst), 1, 10000000u,
     "burst allowance for --ws-rate (default: max(1000, max-subscriptions + 16))"},
    {"ws-max-queued", "CHATD_WS_MAX_QUEUED", CD_OPT_SIZE, OFF(ws_max_queued), 1024u,
     CD_CONFIG_MAX_WS_QUEUED,
     "unsent outbound bytes per WebSocket before close 4008 (default and largest 4194304)"},
    {"ws-init-timeout-ms", "CHATD_WS_INIT_TIMEOUT_MS", CD_OPT_U32, OFF(ws_init_timeout_ms), 1,
     600000u, "connection_init wait before close 4408 (default 3000)"},
    {"ws-ping-ms", "CHATD_WS_PING_MS", CD_OPT_U32, OFF(ws_ping_ms), 0, 600000u,
     "WebSocket heartbeat: ping after this much silence, close 4504 after twice it; 0 = off "
     "(default 30000)"},
    {"drain-timeout-ms", "CHATD_DRAIN_TIMEOUT_MS", CD_OPT_U32, OFF(drain_timeout_ms), 0, 600000u,
     "SIGTERM: time given to in-flight work (default 5000)"},
    {"drain-idle-ms", "CHATD_DRAIN_IDLE_MS", CD_OPT_U32, OFF(drain_idle_ms), 0,
     CD_CONFIG_MAX_DRAIN_IDLE_MS,
     "SIGTERM: idle keep-alive HTTP connections stay open this long, a request on one is served "
     "with Connection: close; behind a load balancer, set it above its health-check interval "
     "(default 0: closed at once)"},
    {"pg-pool-size", "CHATD_PG_POOL_SIZE", CD_OPT_U32, OFF(pg_pool_size), 0, CD_CONFIG_MAX_PG_POOL,
     "PostgreSQL connections of this process; 0 = the role's default (all 8, user 4, sender 8, "
     "receiver 6)"},
    {"group-commit-max", "CHATD_GROUP_COMMIT_MAX", CD_OPT_U32, OFF(group_commit_max), 0,
     CD_CONFIG_MAX_GROUP_COMMIT,
     "sender: mutations committed in one transaction, at most; 0 or 1 = off (default 64)"},
    {"group-commit-us", "CHATD_GROUP_COMMIT_US", CD_OPT_U32, OFF(group_commit_us), 0,
     CD_CONFIG_MAX_GROUP_COMMIT_US,
     "sender: microseconds a mutation waits for others to commit with; 0 = off (default 1000)"},
    {"max-group-members", "CHATD_MAX_GROUP_MEMBERS", CD_OPT_U32, OFF(max_group_members),
     CD_CONFIG_MIN_GROUP_MEMBERS, CD_CONFIG_MAX_GROUP_MEMBERS,
     "members of one group chat, at most (default 100000)"},
    {"trusted-proxies", "CHATD_TRUSTED_PROXIES", CD_OPT_STR, OFF(trusted_proxies), 0, 0,
     "comma-separated proxy addresses/CIDRs whose X-Forwarded-For is believed (default none)"},
    {"signup-limit", "CHATD_SIGNUP_LIMIT", CD_OPT_U32, OFF(signup_limit), 0, 1000000u,
     "sign-ups per client address per 10 minutes, 0 = unlimited (default 100)"},
    {"pw-queue-max", "CHATD_PW_QUEUE_MAX", CD_OPT_U32, OFF(pw_queue_max), 1, 100000u,
     "password hashes/verifications queued or running per process (default 64)"},
    {"pw-threads", "CHATD_PW_THREADS", CD_OPT_U32, OFF(pw_threads), 0, CD_CONFIG_MAX_PW_THREADS,
     "password hashes/verifications running at once, 0 = CPUs - 1, at least 1 (default 0)"},
    {"rate-messages", "CHATD_RATE_MESSAGES", CD_OPT_U32, OFF(rate_messages), 0, 1000000u,
     "createMessage per second per user, 0 = unlimited (default 20) -> RATE_LIMITED"},
    {"rate-messages-burst", "CHATD_RATE_MESSAGES_BURST", CD_OPT_U32, OFF(rate_messages_burst), 1,
     10000000u, "burst allowance for --rate-messages (default 300)"},
    {"rate-mutations", "CHATD_RATE_MUTATIONS", CD_OPT_U32, OFF(rate_mutations), 0, 1000000u,
     "other sender mutations per second per user, 0 = unlimited (default 50) -> RATE_LIMITED"},
    {"rate-mutations-burst", "CHATD_RATE_MUTATIONS_BURST", CD_OPT_U32, OFF(rate_mutations_burst), 1,
     10000000u, "burst allowance for --rate-mutations (default 500)"},
    {"max-conns", "CHATD_MAX_CONNS", CD_OPT_U32, OFF(max_conns), 0, 10000000u,
     "open connections per process, 0 = no cap (default 50000) -> 503"},
    {"max-conns-per-addr", "CHATD_MAX_CONNS_PER_ADDR", CD_OPT_U32, OFF(max_conns_per_addr), 0,
     10000000u, "open connections from one peer address, 0 = no cap (default 2000) -> 503"},
    {"max-ws-per-user", "CHATD_MAX_WS_PER_USER", CD_OPT_U32, OFF(max_ws_per_user), 0, 10000000u,
     "open WebSockets of one user per process, 0 = no cap (default 200) -> close 1013"},
    {"files-dir", "CHATD_FILES_DIR", CD_OPT_STR, OFF(files_dir), 0, 0,
     "directory of the uploaded files (default " CD_DEFAULT_FILES_DIR ")"},
    /* at most 2^31-1: Attachment.size is a GraphQL Int */
    {"max-file-bytes", "CHATD_MAX_FILE_BYTES", CD_OPT_SIZE, OFF(max_file_bytes), 1, 2147483647u,
     "bytes of one upload (default 26214400) -> 413 FILE_TOO_LARGE"},
    {"files-quota-bytes", "CHATD_FILES_QUOTA_BYTES", CD_OPT_SIZE, OFF(files_quota_bytes), 0,
     1ull << 50,
     "bytes of one user's files, 0 = unlimited (default 1073741824) -> 413 QUOTA_EXCEEDED"},
    {"files-grace-s", "CHATD_FILES_GRACE_S", CD_OPT_U32, OFF(files_grace_s), 1, 31536000u,
     "seconds a never-attached upload is kept (default 86400)"},
    {"files-max-pixels", "CHATD_FILES_MAX_PIXELS", CD_OPT_U32, OFF(files_max_pixels), 1,
     1000000000u, "pixels of an uploaded image (default 40000000) -> 422 IMAGE_TOO_LARGE"},
    {"files-url-ttl-s", "CHATD_FILES_URL_TTL_S", CD_OPT_U32, OFF(files_url_ttl_s), 10, 604800u,
     "lifetime of a signed download URL (default 3600)"},
    {"files-thumb-queue", "CHATD_FILES_THUMB_QUEUE", CD_OPT_U32, OFF(files_thumb_queue), 1, 100000u,
     "thumbnails waiting for a worker (default 64) -> 503 SERVICE_BUSY"},
    {"files-s3-endpoint", "CHATD_FILES_S3_ENDPOINT", CD_OPT_STR, OFF(files_s3_endpoint), 0, 0,
     "host[:port] of an S3-compatible bucket service: files are stored in the bucket instead of "
     "--files-dir (default unset)"},
    {"files-s3-bucket", "CHATD_FILES_S3_BUCKET", CD_OPT_STR, OFF(files_s3_bucket), 0, 0,
     "bucket of the files (path-style URLs; required with --files-s3-endpoint)"},
    {"files-s3-access-key", "CHATD_FILES_S3_ACCESS_KEY", CD_OPT_STR, OFF(files_s3_access_key), 0, 0,
     "access key id for the bucket (required with --files-s3-endpoint)"},
    {"files-s3-secret-key", "CHATD_FILES_S3_SECRET_KEY", CD_OPT_STR, OFF(files_s3_secret_key), 0, 0,
     "secret access key for the bucket (required with --files-s3-endpoint)"},
    {"files-s3-https", "CHATD_FILES_S3_HTTPS", CD_OPT_ONOFF, OFF(files_s3_https), 0, 0,
     "on|off: HTTPS to the bucket endpoint (default on)"},
    {"help", NULL, CD_OPT_FLAG, OFF(help), 0, 0, "print this help and exit"},
    {"version", NULL, CD_OPT_FLAG, OFF(version), 0, 0, "print the version and exit"},
};

static const char *const cd_role_names[] = {"all", "user", "sender", "receiver"};

const char *cd_role_name(cd_role r)
{
    return (unsigned)r < CD_ARRAY_LEN(cd_role_names) ? cd_role_names[r] : "?";
}

int cd_role_parse(const char *s, cd_role *out)
{
    for (unsigned i = 0; i < CD_ARRAY_LEN(cd_role_names); i++) {
        if (strcmp(s, cd_role_names[i]) == 0) {
            *out = (cd_role)i;
            return 0;
        }
    }
    return CD_EBAD;
}

int cd_role_default_port(cd_role r)
{
    switch (r) {
    case CD_ROLE_USER:
        return 4001;
    case CD_ROLE_SENDER:
        return 4002;
    case CD_ROLE_RECEIVER:
        return 4005;
    case CD_ROLE_ALL:
    default:
        return 4000;
    }
}

static int cd_parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+') return CD_EBAD;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return CD_EBAD;
    /* optional size suffix: k / m (binary multiples) */
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024u, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024u * 1024u, end++;
    if (*end) return CD_EBAD;
    if (v > UINT64_MAX / mul) return CD_EBAD;
    *out = (uint64_t)v * mul;
    return 0;
}

static int cd_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};
    for (unsigned i = 0; i < CD_ARRAY_LEN(yes); i++)
        if (strcasecmp(s, yes[i]) == 0) return *out = true, 0;
    for (unsigned i = 0; i < CD_ARRAY_LEN(no); i++)
        if (strcasecmp(s, no[i]) == 0) return *out = false, 0;
    return CD_EBAD;
}

/* Stores `val` for option o; `what` names the source for messages. */
static int cd_opt_set(cd_config *c, const cd_opt *o, const char *val, const char *what, char *err,
                      size_t errlen)
{
    char *field = (char *)c + o->off;
    uint64_t n;
    switch (o->kind) {
    case CD_OPT_ROLE:
        if (cd_role_parse(val, (cd_role *)(void *)field) == 0) return 0;
        snprintf(err, errlen, "%s: unknown role \"%s\" (expected user, sender, receiver or all)",
                 what, val);
        return CD_EBAD;
    case CD_OPT_PORT:
        if (cd_parse_u64(val, &n) == 0 && n <= 65535u) {
            *(int *)(void *)field = (int)n;
            return 0;
        }
        snprintf(err, errlen, "%s: invalid port \"%s\" (expected 0..65535)", what, val);
        return CD_EBAD;
    case CD_OPT_STR:
        *(const char **)(void *)field = *val ? val : NULL;
        return 0;
    case CD_OPT_AUTH:
        if (strcmp(val, "token") == 0)
            *(cd_auth_mode *)(void *)field = CD_AUTH_TOKEN;
        else if (strcmp(val, "trust") == 0)
            *(cd_auth_mode *)(void *)field = CD_AUTH_TRUST;
        else {
            snprintf(err, errlen, "%s: unknown auth mode \"%s\" (expected token or trust)", what,
                     val);
            return CD_EBAD;
        }
        return 0;
    case CD_OPT_BOOL:
    case CD_OPT_ONOFF:
    case CD_OPT_FLAG:
        if (cd_parse_bool(val, (bool *)(void *)field) == 0) return 0;
        snprintf(err, errlen, "%s: expected on/off (1/0, true/false), got \"%s\"", what, val);
        return CD_EBAD;
    case CD_OPT_LOGLEVEL:
        if (cd_log_parse_level(val, (cd_log_level *)(void *)field) == 0) return 0;
        snprintf(err, errlen, "%s: unknown log level \"%s\" (expected debug, info, warn, error)",
                 what, val);
        return CD_EBAD;
    case CD_OPT_LOGFORMAT:
        if (cd_log_parse_format(val, (cd_log_format *)(void *)field) == 0) return 0;
        snprintf(err, errlen, "%s: unknown log format \"%s\" (expected text, json or auto)", what,
                 val);
        return CD_EBAD;
    case CD_OPT_SIZE:
    case CD_OPT_U32:
        if (cd_parse_u64(val, &n) != 0 || n < o->min || n > o->max) {
            snprintf(err, errlen, "%s: expected a number in %llu..%llu, got \"%s\"", what,
                     (unsigned long long)o->min, (unsigned long long)o->max, val);
            return CD_EBAD;
        }
        if (o->kind == CD_OPT_SIZE)
            *(size_t *)(void *)field = (size_t)n;
        else
            *(uint32_t *)(void *)field = (uint32_t)n;
        return 0;
    }
    return CD_EBAD;
}

uint32_t cd_config_ws_burst_auto(uint32_t max_subscriptions)
{
    uint64_t need = (uint64_t)max_subscriptions + CD_WS_BURST_HEADROOM;
    return need > CD_DEFAULT_WS_BURST ? (uint32_t)need : CD_DEFAULT_WS_BURST;
}

static void cd_config_defaults(cd_config *c)
{
    memset(c, 0, sizeof *c);
    c->role = CD_ROLE_ALL;
    c->port = -1;
    c->bind = CD_DEFAULT_BIND;
    c->auth = CD_AUTH_TOKEN;
    c->cors_origins = CD_DEFAULT_CORS_ORIGINS;
    c->introspection = true;
    c->log_level = CD_LOG_INFO;
    c->max_body = CD_DEFAULT_MAX_BODY;
    c->max_ws_message = CD_DEFAULT_MAX_WS_MESSAGE;
    c->max_query_cost = CD_DEFAULT_MAX_QUERY_COST;
    c->max_response_bytes = CD_DEFAULT_MAX_RESPONSE_BYTES;
    c->max_subscriptions = CD_DEFAULT_MAX_SUBSCRIPTIONS;
    c->ws_rate = CD_DEFAULT_WS_RATE;
    c->ws_burst = cd_config_ws_burst_auto(c->max_subscriptions);
    c->ws_max_queued = CD_DEFAULT_WS_MAX_QUEUED;
    c->ws_init_timeout_ms = CD_DEFAULT_WS_INIT_TIMEOUT_MS;
    c->ws_ping_ms = CD_DEFAULT_WS_PING_MS;
    c->drain_timeout_ms = CD_DEFAULT_DRAIN_TIMEOUT_MS;
    c->drain_idle_ms = CD_DEFAULT_DRAIN_IDLE_MS;
    c->group_commit_max = CD_DEFAULT_GROUP_COMMIT_MAX;
    c->group_commit_us = CD_DEFAULT_GROUP_COMMIT_US;
    c->max_group_members = CD_DEFAULT_MAX_GROUP_MEMBERS;
    c->signup_limit = CD_DEFAULT_SIGNUP_LIMIT;
    c->pw_queue_max = CD_DEFAULT_PW_QUEUE_MAX;
    c->rate_messages = CD_DEFAULT_RATE_MESSAGES;
    c->rate_messages_burst = CD_DEFAULT_RATE_MESSAGES_BURST;
    c->rate_mutations = CD_DEFAULT_RATE_MUTATIONS;
    c->rate_mutations_burst = CD_DEFAULT_RATE_MUTATIONS_BURST;
    c->max_conns = CD_DEFAULT_MAX_CONNS;
    c->max_conns_per_addr = CD_DEFAULT_MAX_CONNS_PER_ADDR;
    c->max_ws_per_user = CD_DEFAULT_MAX_WS_PER_USER;
    c->files_dir = CD_DEFAULT_FILES_DIR;
    c->max_file_bytes = CD_DEFAULT_MAX_FILE_BYTES;
    c->files_quota_bytes = CD_DEFAULT_FILES_QUOTA_BYTES;
    c->files_grace_s = CD_DEFAULT_FILES_GRACE_S;
    c->files_max_pixels = CD_DEFAULT_FILES_MAX_PIXELS;
    c->files_url_ttl_s = CD_DEFAULT_FILES_URL_TTL_S;
    c->files_thumb_queue = CD_DEFAULT_FILES_THUMB_QUEUE;
    c->files_s3_https = true;
}

int cd_config_pg_pool_size(const cd_config *c)
{
    if (c->pg_pool_size > 0) return (int)c->pg_pool_size;
    switch (c->role) {
    case CD_ROLE_USER:
        return CD_DEFAULT_PG_POOL_USER;
    case CD_ROLE_SENDER:
        return CD_DEFAULT_PG_POOL_SENDER;
    case CD_ROLE_RECEIVER:
        return CD_DEFAULT_PG_POOL_RECEIVER;
    case CD_ROLE_ALL:
    default:
        return CD_DEFAULT_PG_POOL_ALL;
    }
}

bool cd_config_group_commit_on(const cd_config *c)
{
    return c->group_commit_max > 1 && c->group_commit_us > 0;
}

int cd_config_parse(cd_config *c, int argc, char **argv, cd_getenv_fn getenv_fn, char *err,
                    size_t errlen)
{
    cd_config_defaults(c);
    c->ws_burst = 0; /* not given: follows max_subscriptions (below) */
    if (getenv_fn) {
        for (unsigned i = 0; i < CD_ARRAY_LEN(cd_opts); i++) {
            const cd_opt *o = &cd_opts[i];
            if (!o->env) continue;
            const char *v = getenv_fn(o->env);
            if (!v) continue;
            /* an empty string means "unset" for every variable (docker-style) */
            if (!*v && o->kind != CD_OPT_STR) continue;
            if (cd_opt_set(c, o, v, o->env, err, errlen) != 0) return CD_EBAD;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0) arg = "--help";
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", argv[i]);
            return CD_EBAD;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const cd_opt *o = NULL;
        for (unsigned k = 0; k < CD_ARRAY_LEN(cd_opts); k++) {
            if (cd_opts[k].flag && strlen(cd_opts[k].flag) == nlen &&
                strncmp(cd_opts[k].flag, name, nlen) == 0) {
                o = &cd_opts[k];
                break;
            }
        }
        if (!o) {
            snprintf(err, errlen, "unknown option \"%.*s\" (see --help)", (int)(nlen + 2), arg);
            return CD_EBAD;
        }
        const char *val;
        if (eq)
            val = eq + 1;
        else if (o->kind == CD_OPT_FLAG || o->kind == CD_OPT_BOOL)
            val = "1";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            snprintf(err, errlen, "option --%s needs a value", o->flag);
            return CD_EBAD;
        }
        char what[64];
        snprintf(what, sizeof what, "--%s", o->flag);
        if (cd_opt_set(c, o, val, what, err, errlen) != 0) return CD_EBAD;
    }
    if (c->help || c->version) return 0;
    if (c->port < 0) c->port = cd_role_default_port(c->role);
    if (c->ws_burst == 0)
        c->ws_burst = cd_config_ws_burst_auto(c->max_subscriptions);
    else if (c->ws_rate && c->ws_burst < c->max_subscriptions + CD_WS_BURST_HEADROOM)
        cd_warn("config",
                "ws burst %u is below max subscriptions %u + %u: a client opening all its "
                "subscriptions at once is closed 4429 (it must pace them)",
                c->ws_burst, c->max_subscriptions, CD_WS_BURST_HEADROOM);
    return cd_config_validate(c, err, errlen);
}

bool cd_config_bind_is_loopback(const char *bind)
{
    if (!bind) return false;
    if (strcmp(bind, "localhost") == 0) return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, bind, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127u;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, bind, &a6) == 1) {
        static const struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;
        if (memcmp(&a6, &lo, sizeof lo) == 0) return true;
        /* ::ffff:127.x.y.z */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return memcmp(a6.s6_addr, mapped, 12) == 0 && a6.s6_addr[12] == 127;
    }
    return false;
}

int cd_config_validate(const cd_config *c, char *err, size_t errlen)
{
    if (c->auth == CD_AUTH_TOKEN && (!c->jwt_secret || !*c->jwt_secret)) {
        snprintf(err, errlen,
                 "token auth needs a JWT secret: set CHATD_JWT_SECRET (or --jwt-secret), "
                 "or run with CHATD_AUTH=trust on a loopback address for development");
        return CD_EBAD;
    }
    if (c->auth == CD_AUTH_TOKEN && strlen(c->jwt_secret) < CD_CONFIG_MIN_JWT_SECRET) {
        snprintf(err, errlen,
                 "the JWT secret (CHATD_JWT_SECRET) is %zu bytes; HS256 needs at least %u",
                 strlen(c->jwt_secret), CD_CONFIG_MIN_JWT_SECRET);
        return CD_EBAD;
    }
    if (c->database_replica_url && !c->database_url) {
        snprintf(err, errlen,
                 "DATABASE_REPLICA_URL needs DATABASE_URL: the primary takes every write and "
                 "the reads the replica cannot serve");
        return CD_EBAD;
    }
    if (c->auth == CD_AUTH_TRUST && !cd_config_bind_is_loopback(c->bind) && !c->auth_force) {
        snprintf(err, errlen,
                 "refusing CHATD_AUTH=trust on non-loopback bind %s: anyone could act as any "
                 "user; set CHATD_AUTH_FORCE=1 to override",
                 c->bind);
        return CD_EBAD;
    }
    if (c->redis_url && c->redis_cluster_nodes) {
        snprintf(err, errlen,
                 "set REDIS_URL or REDIS_CLUSTER_NODES, not both (a cluster can also be given as "
                 "REDIS_URL=redis+cluster://host:port,...)");
        return CD_EBAD;
    }
    if (c->redis_cluster_nodes && (!*c->redis_cluster_nodes ||
                                   strlen(c->redis_cluster_nodes) > CD_CONFIG_MAX_CLUSTER_NODES)) {
        snprintf(err, errlen,
                 "REDIS_CLUSTER_NODES: expected host:port[,host:port...] of at most %u bytes",
                 CD_CONFIG_MAX_CLUSTER_NODES);
        return CD_EBAD;
    }
    if (c->ws_rate && c->ws_burst < c->ws_rate / 10u) {
        snprintf(err, errlen, "ws burst %u is too small for rate %u (needs >= rate/10)",
                 c->ws_burst, c->ws_rate);
        return CD_EBAD;
    }
    if (c->instance_id && !cd_request_id_valid(c->instance_id, strlen(c->instance_id))) {
        snprintf(err, errlen,
                 "CHATD_INSTANCE_ID: 1 to %u letters, digits, '.', '_', ':' or '-' expected",
                 CD_LOG_ID_MAX);
        return CD_EBAD;
    }
    /* the origin list is walked per request: keep it bounded */
    unsigned n = 1;
    for (const char *p = c->cors_origins ? c->cors_origins : ""; *p; p++)
        n += (*p == ',');
    if (n > CD_CONFIG_MAX_CORS_ORIGINS) {
        snprintf(err, errlen, "CHATD_CORS_ORIGINS: at most %u origins", CD_CONFIG_MAX_CORS_ORIGINS);
        return CD_EBAD;
    }
    if (cd_config_addr_list_check(c->trusted_proxies, err, errlen) != 0) return CD_EBAD;
    if (c->files_s3_endpoint &&
        (!c->files_s3_bucket || !c->files_s3_access_key || !c->files_s3_secret_key)) {
        snprintf(err, errlen,
                 "CHATD_FILES_S3_ENDPOINT needs CHATD_FILES_S3_BUCKET, CHATD_FILES_S3_ACCESS_KEY "
                 "and CHATD_FILES_S3_SECRET_KEY");
        return CD_EBAD;
    }
    if (!c->files_s3_endpoint && c->files_s3_bucket) {
        snprintf(err, errlen, "CHATD_FILES_S3_BUCKET needs CHATD_FILES_S3_ENDPOINT (host:port)");
        return CD_EBAD;
    }
    return 0;
}

/* ---- address lists (CHATD_TRUSTED_PROXIES) ---- */

/* Parses address text into 16 bytes (IPv4 as ::ffff:a.b.c.d) and reports
 * whether it was IPv4 (plain or mapped). */
static bool cd_addr_parse(const char *s, size_t len, uint8_t out[16], bool *v4)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        memcpy(out, mapped, 12);
        memcpy(out + 12, &a4, 4);
        *v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out) != 1) return false;
    *v4 = memcmp(out, mapped, 12) == 0;
    return true;
}

/* One list entry "addr" or "addr/bits": 16-byte network and prefix length
 * over the 128-bit form. false when malformed. */
static bool cd_cidr_parse(const char *s, size_t len, uint8_t net[16], unsigned *bits)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    bool v4;
    if (!cd_addr_parse(s, alen, net, &v4)) return false;
    unsigned max = v4 ? 32u : 128u;
    unsigned b = max;
    if (slash) {
        const char *p = slash + 1, *end = s + len;
        if (p == end || end - p > 3) return false;
        b = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') return false;
            b = b * 10u + (unsigned)(*p - '0');
        }
        if (b > max) return false;
    }
    *bits = v4 ? b + 96u : b;
    return true;
}

static bool cd_prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8u, rest = bits % 8u;
    if (memcmp(a, b, whole) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xffu << (8u - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* Calls fn for each trimmed, non-empty entry; stops when fn returns true. */
static bool cd_list_each(const char *list, bool (*fn)(const char *s, size_t len, void *ud),
                         void *ud)
{
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        if (end > start && fn(start, (size_t)(end - start), ud)) return true;
    }
    return false;
}

typedef struct {
    uint8_t addr[16];
} cd_addr_match;

static bool cd_entry_matches(const char *s, size_t len, void *ud)
{
    cd_addr_match *m = ud;
    uint8_t net[16];
    unsigned bits;
    return cd_cidr_parse(s, len, net, &bits) && cd_prefix_eq(net, m->addr, bits);
}

bool cd_config_addr_valid(const char *s, size_t len)
{
    uint8_t a[16];
    bool v4;
    return s && cd_addr_parse(s, len, a, &v4);
}

bool cd_config_addr_in_list(const char *list, const char *ip, size_t len)
{
    cd_addr_match m;
    bool v4;
    if (!list || !*list || !ip || !cd_addr_parse(ip, len, m.addr, &v4)) return false;
    return cd_list_each(list, cd_entry_matches, &m);
}

typedef struct {
    const char *bad;
    size_t bad_len;
    unsigned n;
} cd_list_check;

static bool cd_entry_bad(const char *s, size_t len, void *ud)
{
    cd_list_check *c = ud;
    uint8_t net[16];
    unsigned bits;
    c->n++;
    if (cd_cidr_parse(s, len, net, &bits)) return false;
    c->bad = s;
    c->bad_len = len;
    return true;
}

int cd_config_addr_list_check(const char *list, char *err, size_t errlen)
{
    cd_list_check c = {0};
    if (cd_list_each(list, cd_entry_bad, &c)) {
        snprintf(err, errlen, "CHATD_TRUSTED_PROXIES: \"%.*s\" is not an IPv4/IPv6 address or CIDR",
                 (int)(c.bad_len > 64 ? 64 : c.bad_len), c.bad);
        return CD_EBAD;
    }
    if (c.n > CD_CONFIG_MAX_TRUSTED_PROXIES) {
        snprintf(err, errlen, "CHATD_TRUSTED_PROXIES: at most %u entries",
                 CD_CONFIG_MAX_TRUSTED_PROXIES);
        return CD_EBAD;
    }
    return 0;
}

bool cd_config_origin_allowed(const cd_config *c, const char *origin, size_t len)
{
    if (!c->cors_origins || !origin || len == 0) return false;
    const char *p = c->cors_origins;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        /* a trailing slash in the configured origin is a common typo: ignore it */
        if (end > start && end[-1] == '/') end--;
        size_t n = (size_t)(end - start);
        if (n == 1 && *start == '*') return true;
        if (n == len && strncasecmp(start, origin, len) == 0) return true;
    }
    return false;
}

void cd_config_usage(void *out, const char *argv0)
{
    FILE *f = out;
    fprintf(f,
            "usage: %s [--role user|sender|receiver|all] [options]\n\n"
            "chatd serves the chat GraphQL API over HTTP (POST/GET /graphql) and\n"
            "graphql-transport-ws (WebSocket on /graphql), plus /healthz, /readyz, /metrics.\n\n"
            "Options (flag, environment variable; flags win):\n",
            argv0);
    for (unsigned i = 0; i < CD_ARRAY_LEN(cd_opts); i++) {
        const cd_opt *o = &cd_opts[i];
        char left[64];
        snprintf(left, sizeof left, "--%s", o->flag ? o->flag : "");
        fprintf(f, "  %-22s %-26s %s\n", left, o->env ? o->env : "", o->help);
    }
}
