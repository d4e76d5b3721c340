/*
 * main.c — the chatd process: configuration, start-up, signal handling.
 *
 * Start-up order: config (flags + env) → schema (SDL file, plus the test
 * fixture SDL when enabled) → resolvers → migrations (blocking, before the
 * loop serves) → PostgreSQL pool and Redis client (both retry in the
 * background) → document cache → listen. Any failure before listening exits
 * 1 with one clear line on stderr.
 *
 * Shutdown (SIGTERM/SIGINT): stop accepting, let in-flight requests finish,
 * close WebSockets with 1001 (http_server_drain), then close the pool and
 * the broker, let the loop run dry, free everything, exit 0. A second signal
 * exits at once with status 1.
 *
 * Everything runs on one libuv loop in one thread.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "auth/password.h"
#include "chat/chat.h"
#include "compat/compat.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/text.h"
#include "files/files.h"
#include "graphql/graphql.h"
#include "net/http.h"
#include "net/ws.h"
#include "protocol/protocol.h"
#include "protocol/subscribe.h"
#include "store/migrate.h"
#include "store/pg.h"
#include "store/redis.h"

#define CHATD_VERSION "0.1.0"
#define CHATD_MAX_SCHEMA_BYTES (1024 * 1024)
#define CHATD_MIGRATIONS_DIR "db/migrations"

typedef struct chatd {
    uv_loop_t *loop;
    cd_config cfg;
    proto_server srv;
    uv_signal_t sigterm, sigint;
    int signals;
    int exit_code;
} chatd;

static const char *env_get(const char *name)
{
    return getenv(name);
}

/* Finds `rel` (e.g. "schema/chat.graphql") in the cwd, or next to the
 * binary's repository (build/<type>/chatd → ../../rel). Writes the path to
 * out; returns 0 or CD_ENOENT. */
static int find_repo_file(const char *rel, char *out, size_t outlen)
{
    if (access(rel, R_OK) == 0) {
        snprintf(out, outlen, "%s", rel);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return CD_ENOENT;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return CD_ENOENT;
    *slash = 0;
    static const char *const ups[] = {"", "/..", "/../..", "/../../.."};
    for (unsigned i = 0; i < CD_ARRAY_LEN(ups); i++) {
        int n = snprintf(out, outlen, "%s%s/%s", exe, ups[i], rel);
        if (n < 0 || (size_t)n >= outlen) continue;
        if (access(out, R_OK) == 0) return 0;
    }
    return CD_ENOENT;
}

static int read_file(const char *path, cd_buf *out, const char *append)
{
    FILE *f = fopen(path, "rb");
    if (!f) return CD_ENOENT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        cd_buf_append(out, chunk, n);
        if (out->len > CHATD_MAX_SCHEMA_BYTES) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) return CD_EIO;
    if (out->len > CHATD_MAX_SCHEMA_BYTES) return CD_ELIMIT;
    if (append) cd_buf_puts(out, append);
    return cd_buf_failed(out) ? CD_ENOMEM : 0;
}

/* ---- metrics probe ---- */

static void metrics_probe(cd_metrics_probe_out *o, void *ud)
{
    proto_server *srv = ud;
    if (srv->pg) {
        pg_pool_stats st;
        pg_pool_stats_get(srv->pg, &st);
        o->pg_up = pg_pool_ready(srv->pg) ? 1 : 0;
        o->pg_pool_size = st.size;
        o->pg_pool_busy = st.busy;
        o->pg_pool_idle = st.connected > st.busy ? st.connected - st.busy : 0;
        o->pg_pool_waiting = st.queued;
    }
    if (srv->rd) o->redis_up = rd_ready(srv->rd) ? 1 : 0;
    if (srv->http) {
        int64_t all = (int64_t)http_server_conn_count(srv->http);
        int64_t ws = cd_metrics_g.connections[CD_MT_WS];
        o->http_connections = all > ws ? all - ws : 0;
    }
    if (srv->cache) {
        uint64_t h, m;
        gql_cache_stats(srv->cache, &h, &m);
        o->doc_cache_hits = (int64_t)h;
        o->doc_cache_misses = (int64_t)m;
    }
}

/* ---- shutdown ---- */

static void handle_closed(uv_handle_t *h)
{
    CD_UNUSED(h);
}

static void drained(http_server *http, void *arg)
{
    CD_UNUSED(http);
    chatd *d = arg;
    d->srv.http = NULL;
    cd_info("main", "drained: stopping role work, closing database and broker connections");
    proto_run_shutdown_hooks(&d->srv);
    if (d->srv.pg) {
        pg_pool_close(d->srv.pg, NULL, NULL);
        d->srv.pg = NULL;
    }
    if (d->srv.pg_replica) {
        pg_pool_close(d->srv.pg_replica, NULL, NULL);
        d->srv.pg_replica = NULL;
    }
    if (d->srv.rd) {
        rd_client_close(d->srv.rd, NULL, NULL);
        d->srv.rd = NULL;
    }
    if (!uv_is_closing((uv_handle_t *)&d->sigterm))
        uv_close((uv_handle_t *)&d->sigterm, handle_closed);
    if (!uv_is_closing((uv_handle_t *)&d->sigint))
        uv_close((uv_handle_t *)&d->sigint, handle_closed);
}

static void on_signal(uv_signal_t *s, int signum)
{
    chatd *d = s->data;
    if (d->signals++ > 0) {
        cd_warn("main", "second signal %d: exiting now", signum);
        _exit(1);
    }
    cd_info("main", "signal %d: draining (timeout %u ms)", signum, d->cfg.drain_timeout_ms);
    d->srv.draining = true;
    int rc = d->srv.http ? http_server_drain(d->srv.http, d->cfg.drain_timeout_ms, drained, d)
                         : CD_ESTATE;
    proto_ws_shutdown(&d->srv);
    if (rc != 0) drained(NULL, d);
}

/* ---- start-up steps: each prints one clear line on stderr and returns
 * non-zero when the process must exit 1 ---- */

/* `chatd admin grant|revoke <username>` (seed-003 API admins, compat.h). */
static int admin_command(int argc, char **argv)
{
    char mig[PATH_MAX];
    const char *url = getenv("DATABASE_URL");
    if (!url || !*url) url = getenv("CHATD_DATABASE_URL");
    return compat_admin_main(
        argc, argv, url, find_repo_file(CHATD_MIGRATIONS_DIR, mig, sizeof mig) == 0 ? mig : NULL);
}

/* The role and instance id of JSON log lines: CHATD_INSTANCE_ID, or
 * "<role>-<port>" (the bound port when the configured one is 0). */
static void log_identity(const cd_config *cfg, int port)
{
    char inst[CD_LOG_ID_MAX + 1];
    snprintf(inst, sizeof inst, "%s-%d", cd_role_name(cfg->role), port);
    cd_log_set_identity(cd_role_name(cfg->role), cfg->instance_id ? cfg->instance_id : inst);
}

/* libuv's thread pool runs file I/O, argon2id hashing, thumbnails and bucket
 * requests. Its default size (CHATD_UV_POOL_DEFAULT) can be filled by the
 * bounded workers alone (argon2id: CPUs - 1, thumbnails, bucket requests),
 * leaving no thread for an upload's writes. Unless UV_THREADPOOL_SIZE is
 * set, it is sized to those bounds plus CHATD_UV_POOL_IO threads; read by
 * libuv at its first job, so this runs before anything is queued. */
#define CHATD_UV_POOL_DEFAULT 4u
#define CHATD_UV_POOL_IO 2u

static void size_thread_pool(const cd_config *cfg)
{
    auth_password_set_run_max(cfg->pw_threads);
    unsigned want = auth_password_run_max() + files_pool_workers(cfg) + CHATD_UV_POOL_IO;
    const char *set = getenv("UV_THREADPOOL_SIZE");
    if (set) {
        cd_info("main", "thread pool: UV_THREADPOOL_SIZE=%s (bounded workers + I/O want %u)", set,
                want);
        return;
    }
    if (want <= CHATD_UV_POOL_DEFAULT) return;
    char v[16];
    snprintf(v, sizeof v, "%u", want);
    setenv("UV_THREADPOOL_SIZE", v, 1);
    cd_info("main", "thread pool: %u threads (argon2id %u, files %u, I/O %u)", want,
            auth_password_run_max(), files_pool_workers(cfg), CHATD_UV_POOL_IO);
}

/* Settings that are legal but deserve a loud line. */
static void warn_config(const cd_config *cfg)
{
    if (cfg->auth == CD_AUTH_TRUST) {
        cd_warn("main", "AUTH MODE IS TRUST: callers identify themselves with user-id headers "
                        "and arguments; no token is checked. Development only.");
        if (!cd_config_bind_is_loopback(cfg->bind))
            cd_error("main",
                     "TRUST MODE ON NON-LOOPBACK BIND %s (CHATD_AUTH_FORCE=1): anyone "
                     "who can reach this port can act as any user",
                     cfg->bind);
    }
    if (cfg->max_body > HTTP_MAX_BODY_BYTES)
        cd_warn("main",
                "max body %zu is above the HTTP layer's hard limit %d: larger bodies get 413",
                cfg->max_body, HTTP_MAX_BODY_BYTES);
    if (cfg->max_ws_message > WS_MAX_MESSAGE_SIZE)
        cd_warn("main",
                "max WebSocket message %zu is above the WebSocket layer's limit %d: larger "
                "messages are closed 1009",
                cfg->max_ws_message, WS_MAX_MESSAGE_SIZE);
}

/* The schema SDL (CHATD_SCHEMA or the repository's), plus the test fixtures'
 * SDL when enabled, built into *out. */
static int load_schema(const cd_config *cfg, gql_schema **out)
{
    char path[PATH_MAX], err[512];
    if (cfg->schema_path)
        snprintf(path, sizeof path, "%s", cfg->schema_path);
    else if (find_repo_file(CD_DEFAULT_SCHEMA_PATH, path, sizeof path) != 0) {
        fprintf(stderr, "chatd: cannot find %s (run from the repository or set CHATD_SCHEMA)\n",
                CD_DEFAULT_SCHEMA_PATH);
        return 1;
    }
    cd_buf sdl;
    cd_buf_init(&sdl);
    int rc = read_file(path, &sdl, cfg->test_fixtures ? proto_fixtures_sdl : NULL);
    if (rc != 0) {
        fprintf(stderr, "chatd: cannot read schema %s: %s\n", path,
                rc == CD_ENOENT ? strerror(errno) : cd_strerror(rc));
        cd_buf_free(&sdl);
        return 1;
    }
    rc = gql_schema_build(sdl.data, sdl.len, out, err, sizeof err);
    cd_buf_free(&sdl);
    if (rc != 0) {
        fprintf(stderr, "chatd: schema %s: %s\n", path, err);
        return 1;
    }
    return 0;
}

/* Every role's resolvers bind in every process (a field another role owns
 * answers WRONG_SERVICE before its resolver is reached); then the modules
 * that mount on the transports. */
static int bind_roles(proto_server *srv)
{
    static const struct {
        const char *what;
        int (*bind)(proto_server *srv);
    } steps[] = {
        {"binding built-in resolvers", proto_bind_builtin},
        {"binding user-role resolvers", chat_bind_user_role},
        {"binding sender-role resolvers", chat_bind_sender_role},
        {"binding receiver-role resolvers", chat_bind_receiver_role},
        {"mounting the files API", files_bind},
        {"mounting the seed-003 API", compat_bind},
    };
    for (unsigned i = 0; i < CD_ARRAY_LEN(steps); i++) {
        int rc = steps[i].bind(srv);
        if (rc != 0) {
            fprintf(stderr, "chatd: %s: %s\n", steps[i].what, cd_strerror(rc));
            return 1;
        }
    }
    return 0;
}

/* Migrations (blocking, before serving), the async pool (and the replica's
 * for a receiver with DATABASE_REPLICA_URL), then the seed-003 admins of
 * CHATD_ADMINS, granted before anything is served. */
static int open_database(chatd *d)
{
    const cd_config *cfg = &d->cfg;
    proto_server *srv = &d->srv;
    if (!cfg->database_url) return 0;
    char mig[PATH_MAX], err[512];
    if (find_repo_file(CHATD_MIGRATIONS_DIR, mig, sizeof mig) != 0) {
        fprintf(stderr, "chatd: cannot find %s next to the schema or in the cwd\n",
                CHATD_MIGRATIONS_DIR);
        return 1;
    }
    int applied = 0;
    char *merr = NULL;
    int rc = pg_migrate(cfg->database_url, mig, &applied, &merr);
    if (rc != 0) {
        fprintf(stderr, "chatd: migrations failed: %s\n", merr ? merr : cd_strerror(rc));
        cd_free(merr);
        return 1;
    }
    if (applied) cd_info("main", "applied %d migration(s)", applied);
    if ((rc = pg_pool_new(d->loop, cfg->database_url, cd_config_pg_pool_size(cfg), &srv->pg)) !=
        0) {
        fprintf(stderr, "chatd: database pool: %s\n", cd_strerror(rc));
        return 1;
    }
    if (cfg->database_replica_url) {
        char shown[256];
        cd_url_redact(cfg->database_replica_url, shown, sizeof shown);
        if (cfg->role != CD_ROLE_RECEIVER && cfg->role != CD_ROLE_ALL) {
            cd_info("main", "DATABASE_REPLICA_URL not used: the %s role reads from the primary",
                    cd_role_name(cfg->role));
        } else if ((rc = pg_pool_new(d->loop, cfg->database_replica_url,
                                     cd_config_pg_pool_size(cfg), &srv->pg_replica)) != 0) {
            fprintf(stderr, "chatd: DATABASE_REPLICA_URL %s: %s\n", shown, cd_strerror(rc));
            return 1;
        } else {
            cd_info("main", "receiver reads from the replica %s when it has caught up", shown);
        }
    }
    if ((rc = compat_admin_grant_list(d->loop, srv->pg, getenv("CHATD_ADMINS"), err, sizeof err)) !=
        0) {
        fprintf(stderr, "chatd: CHATD_ADMINS: %s\n", err);
        return 1;
    }
    return 0;
}

/* The Redis client; messages reach role code through srv->rd_routes. */
static int open_broker(chatd *d)
{
    const cd_config *cfg = &d->cfg;
    if (!cfg->redis_url && !cfg->redis_cluster_nodes) return 0;
    char buf[RD_URL_MAX];
    const char *url = cfg->redis_url;
    if (cfg->redis_cluster_nodes) {
        /* CD_CONFIG_MAX_CLUSTER_NODES keeps it within the buffer */
        snprintf(buf, sizeof buf, "redis+cluster://%s", cfg->redis_cluster_nodes);
        url = buf;
    }
    /* every process names channels alike: hash tags on a cluster */
    chat_use_hash_tags(rd_url_is_cluster(url));
    rd_callbacks cbs = rd_router_callbacks(&d->srv.rd_routes);
    int rc = rd_client_new(d->loop, url, &cbs, &d->srv.rd);
    if (rc != 0) {
        char shown[256];
        fprintf(stderr, "chatd: %s %s: %s\n",
                cfg->redis_cluster_nodes ? "REDIS_CLUSTER_NODES" : "REDIS_URL",
                cd_url_redact(cfg->redis_cluster_nodes ? cfg->redis_cluster_nodes : cfg->redis_url,
                              shown, sizeof shown),
                cd_strerror(rc));
        return 1;
    }
    return 0;
}

/* Document cache, metrics, the listening socket and the signal handlers. */
static int start_serving(chatd *d)
{
    const cd_config *cfg = &d->cfg;
    proto_server *srv = &d->srv;
    char err[512];
    srv->cache = gql_cache_new(srv->schema, GQL_CACHE_DEFAULT_ENTRIES);
    if (!srv->cache) {
        fprintf(stderr, "chatd: out of memory\n");
        return 1;
    }
    cd_metrics_set_info(cd_role_name(cfg->role), CHATD_VERSION);
    cd_metrics_set_probe(metrics_probe, srv);
    http_server_opts ho = {.host = cfg->bind,
                           .port = cfg->port,
                           .on_request = proto_http_handle,
                           .user = srv,
                           .stream_body = proto_http_stream,
                           .drain_idle_ms = cfg->drain_idle_ms};
    int rc = http_server_start(d->loop, &ho, &srv->http, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "chatd: %s\n", err[0] ? err : cd_strerror(rc));
        return 1;
    }
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    if (cfg->port == 0) log_identity(cfg, http_server_port(srv->http));
    cd_info("main", "chatd %s role=%s listening on %s:%d auth=%s introspection=%s%s", CHATD_VERSION,
            cd_role_name(cfg->role), cfg->bind, http_server_port(srv->http),
            cfg->auth == CD_AUTH_TOKEN ? "token" : "trust", cfg->introspection ? "on" : "off",
            cfg->test_fixtures ? " test-fixtures=on" : "");
    return 0;
}

/* After the loop ran dry (drained): what main.c itself owns. */
static int finish(chatd *d)
{
    cd_metrics_set_probe(NULL, NULL);
    gql_cache_free(d->srv.cache);
    gql_schema_free(d->srv.schema);
    proto_sub_registry_clear();
    int rc = uv_loop_close(d->loop);
    if (rc != 0) cd_warn("main", "loop closed with live handles: %s", uv_strerror(rc));
    cd_info("main", "bye");
    return d->exit_code;
}

int main(int argc, char **argv)
{
    static chatd d;
    char err[512];
    if (argc >= 2 && strcmp(argv[1], "admin") == 0) return admin_command(argc - 1, argv + 1);
    if (cd_config_parse(&d.cfg, argc, argv, env_get, err, sizeof err) != 0) {
        fprintf(stderr, "chatd: %s\n", err);
        return 1;
    }
    if (d.cfg.help) {
        cd_config_usage(stdout, argv[0]);
        return 0;
    }
    if (d.cfg.version) {
        printf("chatd %s\n", CHATD_VERSION);
        return 0;
    }
    cd_log_set_level(d.cfg.log_level);
    cd_log_set_format(d.cfg.log_format);
    log_identity(&d.cfg, d.cfg.port);
    signal(SIGPIPE, SIG_IGN);
    warn_config(&d.cfg);
    size_thread_pool(&d.cfg);

    gql_schema *schema = NULL;
    if (load_schema(&d.cfg, &schema) != 0) return 1;
    d.loop = uv_default_loop();
    proto_server *srv = &d.srv;
    srv->loop = d.loop;
    srv->cfg = &d.cfg;
    srv->schema = schema;
    srv->service = d.cfg.role == CD_ROLE_ALL ? NULL : cd_role_name(d.cfg.role);
    srv->version = CHATD_VERSION;
    if (bind_roles(srv) != 0 || open_database(&d) != 0 || open_broker(&d) != 0 ||
        start_serving(&d) != 0)
        return 1;

    uv_run(d.loop, UV_RUN_DEFAULT);
    return finish(&d);
}
