/*
 * test_core_config.c — cd_config parsing: defaults, env vs flags,
 * role ports, the token/trust start-up rules, limits at their edges, CORS
 * origin matching; the WebSocket burst default follows the subscription
 * limit (a client may open every subscription it is allowed at once without
 * tripping the inbound rate limit), an explicit burst is kept as given. The
 * environment is a fake table (no real getenv).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/core.h"

static const char *fake_env[32][2];

static void env_clear(void)
{
    memset(fake_env, 0, sizeof fake_env);
}

static void env_set(const char *k, const char *v)
{
    for (int i = 0; i < 32; i++) {
        if (!fake_env[i][0] || strcmp(fake_env[i][0], k) == 0) {
            fake_env[i][0] = k;
            fake_env[i][1] = v;
            return;
        }
    }
}

static const char *env_get(const char *k)
{
    for (int i = 0; i < 32 && fake_env[i][0]; i++)
        if (strcmp(fake_env[i][0], k) == 0) return fake_env[i][1];
    return NULL;
}

static int parse(cd_config *c, char *err, int argc, ...)
{
    char *argv[32] = {"chatd"};
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i + 1] = va_arg(ap, char *);
    va_end(ap);
    return cd_config_parse(c, argc + 1, argv, env_get, err, 256);
}

static int setup(void **state)
{
    (void)state;
    env_clear();
    env_set("CHATD_JWT_SECRET", "0123456789abcdef0123");
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.role, CD_ROLE_ALL);
    assert_int_equal(c.port, 4000);
    assert_string_equal(c.bind, "127.0.0.1");
    assert_int_equal(c.auth, CD_AUTH_TOKEN);
    assert_true(c.introspection);
    assert_false(c.test_fixtures);
    assert_int_equal(c.max_subscriptions, 500);
    assert_int_equal(c.max_body, CD_DEFAULT_MAX_BODY);
    assert_int_equal(c.max_query_cost, 25000);
    assert_int_equal(c.max_response_bytes, 32u * 1024u * 1024u);
    assert_int_equal(c.ws_init_timeout_ms, 3000);
    assert_null(c.database_url);
    assert_null(c.redis_url);
    assert_int_equal(c.rate_messages, CD_DEFAULT_RATE_MESSAGES);
    assert_int_equal(c.rate_messages_burst, CD_DEFAULT_RATE_MESSAGES_BURST);
    assert_int_equal(c.rate_mutations, CD_DEFAULT_RATE_MUTATIONS);
    assert_int_equal(c.rate_mutations_burst, CD_DEFAULT_RATE_MUTATIONS_BURST);
    assert_int_equal(c.max_conns, CD_DEFAULT_MAX_CONNS);
    assert_int_equal(c.max_conns_per_addr, CD_DEFAULT_MAX_CONNS_PER_ADDR);
    assert_int_equal(c.max_ws_per_user, CD_DEFAULT_MAX_WS_PER_USER);
}

/* The write limits and connection caps: 0 turns a rate / cap off, a burst
 * is at least 1; environment and flags. */
static void test_rate_and_cap_settings(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 4, "--rate-messages", "0", "--max-conns", "0"), 0);
    assert_int_equal(c.rate_messages, 0);
    assert_int_equal(c.max_conns, 0);
    assert_int_equal(parse(&c, err, 2, "--rate-messages-burst", "1"), 0);
    assert_int_equal(c.rate_messages_burst, 1);
    assert_int_equal(parse(&c, err, 2, "--rate-messages-burst", "0"), CD_EBAD);
    assert_int_equal(parse(&c, err, 2, "--rate-mutations-burst", "0"), CD_EBAD);
    env_set("CHATD_RATE_MUTATIONS", "3");
    env_set("CHATD_MAX_CONNS_PER_ADDR", "9");
    env_set("CHATD_MAX_WS_PER_USER", "2");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.rate_mutations, 3);
    assert_int_equal(c.max_conns_per_addr, 9);
    assert_int_equal(c.max_ws_per_user, 2);
    assert_int_equal(parse(&c, err, 2, "--max-ws-per-user", "5"), 0); /* flags win */
    assert_int_equal(c.max_ws_per_user, 5);
}

static void test_role_ports(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 2, "--role", "user"), 0);
    assert_int_equal(c.port, 4001);
    assert_int_equal(parse(&c, err, 1, "--role=sender"), 0);
    assert_int_equal(c.port, 4002);
    assert_int_equal(parse(&c, err, 2, "--role", "receiver"), 0);
    assert_int_equal(c.port, 4005);
    assert_int_equal(parse(&c, err, 4, "--role", "receiver", "--port", "4006"), 0);
    assert_int_equal(c.port, 4006);
    assert_int_equal(parse(&c, err, 2, "--port", "0"), 0);
    assert_int_equal(c.port, 0); /* ephemeral, not the default */
    assert_int_equal(parse(&c, err, 2, "--role", "admin"), CD_EBAD);
    assert_non_null(strstr(err, "unknown role"));
}

static void test_flags_override_env(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    env_set("CHATD_PORT", "5000");
    env_set("DATABASE_URL", "postgres://x/y");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.port, 5000);
    assert_string_equal(c.database_url, "postgres://x/y");
    assert_int_equal(parse(&c, err, 2, "--port", "5001"), 0);
    assert_int_equal(c.port, 5001);
    env_set("CHATD_PORT", "70000");
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_PORT"));
}

/* The files bucket: off by default; an endpoint needs the bucket and both
 * keys; a bucket without an endpoint is refused; HTTPS is on unless off. */
static void test_files_s3(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 0), 0);
    assert_null(c.files_s3_endpoint);
    assert_true(c.files_s3_https);
    env_set("CHATD_FILES_S3_ENDPOINT", "127.0.0.1:9000");
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_FILES_S3_BUCKET"));
    env_set("CHATD_FILES_S3_BUCKET", "chatd-files");
    env_set("CHATD_FILES_S3_ACCESS_KEY", "AK");
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_FILES_S3_SECRET_KEY"));
    env_set("CHATD_FILES_S3_SECRET_KEY", "SK");
    env_set("CHATD_FILES_S3_HTTPS", "0");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_string_equal(c.files_s3_endpoint, "127.0.0.1:9000");
    assert_string_equal(c.files_s3_bucket, "chatd-files");
    assert_false(c.files_s3_https);
    assert_int_equal(parse(&c, err, 1, "--files-s3-https=on"), 0);
    assert_true(c.files_s3_https);
    env_set("CHATD_FILES_S3_ENDPOINT", "");
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_FILES_S3_ENDPOINT"));
}

static void test_replica_needs_primary(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 0), 0);
    assert_null(c.database_replica_url);
    /* a replica alone: refused, naming both settings */
    env_set("DATABASE_REPLICA_URL", "postgres://r/y");
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    assert_non_null(strstr(err, "DATABASE_REPLICA_URL"));
    assert_non_null(strstr(err, "DATABASE_URL"));
    /* with the primary: taken */
    env_set("DATABASE_URL", "postgres://x/y");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_string_equal(c.database_replica_url, "postgres://r/y");
    assert_int_equal(parse(&c, err, 2, "--database-replica-url", "postgres://r2/y"), 0);
    assert_string_equal(c.database_replica_url, "postgres://r2/y");
    /* empty = none */
    env_set("DATABASE_REPLICA_URL", "");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_null(c.database_replica_url);
}

static void test_redis_cluster_nodes(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    env_set("REDIS_CLUSTER_NODES", "127.0.0.1:7001,127.0.0.1:7002");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_string_equal(c.redis_cluster_nodes, "127.0.0.1:7001,127.0.0.1:7002");
    assert_null(c.redis_url);
    /* one broker setting, not two */
    assert_int_equal(parse(&c, err, 2, "--redis-url", "redis://127.0.0.1:6379"), CD_EBAD);
    assert_non_null(strstr(err, "REDIS_CLUSTER_NODES"));
    /* CD_CONFIG_MAX_CLUSTER_NODES at the edge */
    static char nodes[CD_CONFIG_MAX_CLUSTER_NODES + 2];
    memset(nodes, 'a', CD_CONFIG_MAX_CLUSTER_NODES);
    nodes[CD_CONFIG_MAX_CLUSTER_NODES] = 0;
    env_set("REDIS_CLUSTER_NODES", nodes);
    assert_int_equal(parse(&c, err, 0), 0);
    nodes[CD_CONFIG_MAX_CLUSTER_NODES] = 'a';
    nodes[CD_CONFIG_MAX_CLUSTER_NODES + 1] = 0;
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    env_set("REDIS_CLUSTER_NODES", ""); /* empty = unset, as for every string setting */
    assert_int_equal(parse(&c, err, 0), 0);
    assert_null(c.redis_cluster_nodes);
    env_set("REDIS_CLUSTER_NODES", NULL);
    /* a cluster URL in REDIS_URL is just a URL here */
    env_set("REDIS_URL", "redis+cluster://127.0.0.1:7001");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_null(c.redis_cluster_nodes);
    env_set("REDIS_URL", NULL);
}

static void test_token_needs_secret(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    env_clear();
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_JWT_SECRET"));
    /* trust mode on loopback needs none */
    env_set("CHATD_AUTH", "trust");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.auth, CD_AUTH_TRUST);
}

static void test_trust_refused_on_public_bind(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    env_set("CHATD_AUTH", "trust");
    assert_int_equal(parse(&c, err, 2, "--bind", "0.0.0.0"), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_AUTH_FORCE"));
    env_set("CHATD_AUTH_FORCE", "1");
    assert_int_equal(parse(&c, err, 2, "--bind", "0.0.0.0"), 0);
    assert_true(c.auth_force);
    env_set("CHATD_AUTH_FORCE", "0");
    assert_int_equal(parse(&c, err, 2, "--bind", "::1"), 0);
    assert_int_equal(parse(&c, err, 2, "--bind", "127.1.2.3"), 0);
    assert_int_equal(parse(&c, err, 2, "--bind", "localhost"), 0);
    assert_int_equal(parse(&c, err, 2, "--bind", "10.0.0.1"), CD_EBAD);
    assert_int_equal(parse(&c, err, 2, "--auth", "magic"), CD_EBAD);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(cd_config_bind_is_loopback("127.0.0.1"));
    assert_true(cd_config_bind_is_loopback("127.255.255.254"));
    assert_true(cd_config_bind_is_loopback("::1"));
    assert_true(cd_config_bind_is_loopback("::ffff:127.0.0.1"));
    assert_false(cd_config_bind_is_loopback("128.0.0.1"));
    assert_false(cd_config_bind_is_loopback("0.0.0.0"));
    assert_false(cd_config_bind_is_loopback("::"));
    assert_false(cd_config_bind_is_loopback("example.com"));
    assert_false(cd_config_bind_is_loopback(NULL));
}

static void test_limits_edges(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    char buf[32];
    assert_int_equal(parse(&c, err, 2, "--max-subscriptions", "1"), 0);
    assert_int_equal(c.max_subscriptions, 1);
    assert_int_equal(parse(&c, err, 2, "--max-subscriptions", "0"), CD_EBAD);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_SUBSCRIPTIONS);
    assert_int_equal(parse(&c, err, 2, "--max-subscriptions", buf), 0);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_SUBSCRIPTIONS + 1);
    assert_int_equal(parse(&c, err, 2, "--max-subscriptions", buf), CD_EBAD);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MIN_BODY);
    assert_int_equal(parse(&c, err, 2, "--max-body", buf), 0);
    assert_int_equal(c.max_body, CD_CONFIG_MIN_BODY);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MIN_BODY - 1);
    assert_int_equal(parse(&c, err, 2, "--max-body", buf), CD_EBAD);
    assert_int_equal(parse(&c, err, 2, "--max-body", "64k"), 0);
    assert_int_equal(c.max_body, 65536);
    assert_int_equal(parse(&c, err, 2, "--max-body", "-5"), CD_EBAD);
    assert_int_equal(parse(&c, err, 2, "--max-body", "12x"), CD_EBAD);
    /* the GraphQL budgets at their bounds */
    assert_int_equal(parse(&c, err, 2, "--max-query-cost", "1"), 0);
    assert_int_equal(c.max_query_cost, 1);
    assert_int_equal(parse(&c, err, 2, "--max-query-cost", "0"), CD_EBAD);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_QUERY_COST);
    assert_int_equal(parse(&c, err, 2, "--max-query-cost", buf), 0);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_QUERY_COST + 1);
    assert_int_equal(parse(&c, err, 2, "--max-query-cost", buf), CD_EBAD);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MIN_RESPONSE_BYTES);
    assert_int_equal(parse(&c, err, 2, "--max-response-bytes", buf), 0);
    assert_int_equal(c.max_response_bytes, CD_CONFIG_MIN_RESPONSE_BYTES);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MIN_RESPONSE_BYTES - 1);
    assert_int_equal(parse(&c, err, 2, "--max-response-bytes", buf), CD_EBAD);
    assert_int_equal(parse(&c, err, 2, "--max-response-bytes", "32m"), 0);
    assert_int_equal(c.max_response_bytes, 32u * 1024u * 1024u);
    env_set("CHATD_MAX_QUERY_COST", "40000");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.max_query_cost, 40000);
    env_set("CHATD_MAX_QUERY_COST", NULL);
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.ws_ping_ms, CD_DEFAULT_WS_PING_MS);
    assert_int_equal(parse(&c, err, 2, "--ws-ping-ms", "0"), 0); /* heartbeat off */
    assert_int_equal(c.ws_ping_ms, 0);
    assert_int_equal(parse(&c, err, 2, "--ws-ping-ms", "600000"), 0);
    assert_int_equal(parse(&c, err, 2, "--ws-ping-ms", "600001"), CD_EBAD);
    /* drain grace for idle connections: off by default, at most the named limit */
    assert_int_equal(c.drain_idle_ms, CD_DEFAULT_DRAIN_IDLE_MS);
    assert_int_equal(CD_DEFAULT_DRAIN_IDLE_MS, 0);
    env_set("CHATD_DRAIN_IDLE_MS", "1500");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.drain_idle_ms, 1500);
    env_set("CHATD_DRAIN_IDLE_MS", NULL);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_DRAIN_IDLE_MS);
    assert_int_equal(parse(&c, err, 2, "--drain-idle-ms", buf), 0);
    assert_int_equal(c.drain_idle_ms, CD_CONFIG_MAX_DRAIN_IDLE_MS);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_DRAIN_IDLE_MS + 1);
    assert_int_equal(parse(&c, err, 2, "--drain-idle-ms", buf), CD_EBAD);
    env_set("CHATD_MAX_SUBSCRIPTIONS", "7");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.max_subscriptions, 7);
}

/* Write-path settings: group commit, pool size per role, group size. */
static void test_write_path_settings(void **state)
{
    (void)state;
    cd_config c;
    char err[256], buf[32];
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.group_commit_max, CD_DEFAULT_GROUP_COMMIT_MAX);
    assert_int_equal(c.group_commit_us, CD_DEFAULT_GROUP_COMMIT_US);
    assert_int_equal(c.max_group_members, CD_DEFAULT_MAX_GROUP_MEMBERS);
    assert_true(cd_config_group_commit_on(&c));
    assert_int_equal(cd_config_pg_pool_size(&c), CD_DEFAULT_PG_POOL_ALL);
    assert_int_equal(parse(&c, err, 2, "--role", "sender"), 0);
    assert_int_equal(cd_config_pg_pool_size(&c), CD_DEFAULT_PG_POOL_SENDER);
    assert_int_equal(parse(&c, err, 2, "--role", "user"), 0);
    assert_int_equal(cd_config_pg_pool_size(&c), CD_DEFAULT_PG_POOL_USER);
    assert_int_equal(parse(&c, err, 2, "--role", "receiver"), 0);
    assert_int_equal(cd_config_pg_pool_size(&c), CD_DEFAULT_PG_POOL_RECEIVER);
    assert_true(CD_DEFAULT_PG_POOL_SENDER > CD_DEFAULT_PG_POOL_USER);
    env_set("CHATD_PG_POOL_SIZE", "3");
    assert_int_equal(parse(&c, err, 2, "--role", "sender"), 0);
    assert_int_equal(cd_config_pg_pool_size(&c), 3);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_PG_POOL);
    assert_int_equal(parse(&c, err, 2, "--pg-pool-size", buf), 0);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_PG_POOL + 1);
    assert_int_equal(parse(&c, err, 2, "--pg-pool-size", buf), CD_EBAD);
    env_set("CHATD_PG_POOL_SIZE", "");
    /* group commit: 0 and 1 turn it off, the bound is the batch bound */
    env_set("CHATD_GROUP_COMMIT_MAX", "1");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_false(cd_config_group_commit_on(&c));
    env_set("CHATD_GROUP_COMMIT_MAX", "0");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_false(cd_config_group_commit_on(&c));
    env_set("CHATD_GROUP_COMMIT_MAX", "2");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_true(cd_config_group_commit_on(&c));
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_GROUP_COMMIT);
    assert_int_equal(parse(&c, err, 2, "--group-commit-max", buf), 0);
    assert_int_equal(c.group_commit_max, CD_CONFIG_MAX_GROUP_COMMIT);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_GROUP_COMMIT + 1);
    assert_int_equal(parse(&c, err, 2, "--group-commit-max", buf), CD_EBAD);
    assert_int_equal(parse(&c, err, 2, "--group-commit-us", "0"), 0);
    assert_false(cd_config_group_commit_on(&c));
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MAX_GROUP_COMMIT_US + 1);
    assert_int_equal(parse(&c, err, 2, "--group-commit-us", buf), CD_EBAD);
    /* group size */
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MIN_GROUP_MEMBERS - 1);
    assert_int_equal(parse(&c, err, 2, "--max-group-members", buf), CD_EBAD);
    snprintf(buf, sizeof buf, "%u", CD_CONFIG_MIN_GROUP_MEMBERS);
    assert_int_equal(parse(&c, err, 2, "--max-group-members", buf), 0);
    env_set("CHATD_MAX_GROUP_MEMBERS", "10000000");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_int_equal(c.max_group_members, CD_CONFIG_MAX_GROUP_MEMBERS);
    env_set("CHATD_MAX_GROUP_MEMBERS", "10000001");
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_MAX_GROUP_MEMBERS"));
}

static void test_flags_misc(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 1, "--help"), 0);
    assert_true(c.help);
    assert_int_equal(parse(&c, err, 1, "--nope"), CD_EBAD);
    assert_non_null(strstr(err, "unknown option"));
    assert_int_equal(parse(&c, err, 1, "--port"), CD_EBAD);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(parse(&c, err, 1, "stray"), CD_EBAD);
    assert_int_equal(parse(&c, err, 1, "--test-fixtures"), 0);
    assert_true(c.test_fixtures);
    env_set("CHATD_TEST_FIXTURES", "1");
    env_set("CHATD_INTROSPECTION", "off");
    env_set("CHATD_LOG_LEVEL", "debug");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_true(c.test_fixtures);
    assert_false(c.introspection);
    assert_int_equal(c.log_level, CD_LOG_DEBUG);
    env_set("CHATD_INTROSPECTION", "maybe");
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_INTROSPECTION"));
}

static void test_cors(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    assert_int_equal(parse(&c, err, 0), 0);
    assert_true(cd_config_origin_allowed(&c, "http://localhost:3000", 21));
    assert_true(cd_config_origin_allowed(&c, "http://localhost:3001", 21));
    assert_false(cd_config_origin_allowed(&c, "http://localhost:3002", 21));
    assert_false(cd_config_origin_allowed(&c, "http://localhost:300", 20));
    assert_false(cd_config_origin_allowed(&c, "http://evil.example", 19));
    env_set("CHATD_CORS_ORIGINS", " https://a.example/ , https://b.example");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_true(cd_config_origin_allowed(&c, "https://a.example", 17));
    assert_true(cd_config_origin_allowed(&c, "https://b.example", 17));
    assert_false(cd_config_origin_allowed(&c, "http://localhost:3000", 21));
    env_set("CHATD_CORS_ORIGINS", "*");
    assert_int_equal(parse(&c, err, 0), 0);
    assert_true(cd_config_origin_allowed(&c, "https://any.example", 19));
    /* bounded list */
    char many[40 * 4] = "";
    for (unsigned i = 0; i <= CD_CONFIG_MAX_CORS_ORIGINS; i++)
        strcat(many, "a,");
    env_set("CHATD_CORS_ORIGINS", many);
    assert_int_equal(parse(&c, err, 0), CD_EBAD);
}

/* Parses with CHATD_WS_BURST and CHATD_MAX_SUBSCRIPTIONS set (NULL = unset). */
static int parse_burst(cd_config *c, const char *burst, const char *subs)
{
    char err[256];
    env_set("CHATD_WS_BURST", burst);
    env_set("CHATD_MAX_SUBSCRIPTIONS", subs);
    return parse(c, err, 0);
}

static void test_default_burst_covers_subscriptions(void **state)
{
    (void)state;
    cd_config c;
    assert_int_equal(parse_burst(&c, NULL, NULL), 0);
    assert_int_equal(c.max_subscriptions, CD_DEFAULT_MAX_SUBSCRIPTIONS);
    assert_int_equal(c.ws_burst, CD_DEFAULT_WS_BURST);
    /* connection_init + every allowed subscribe + one over the limit */
    assert_true(c.ws_burst >= c.max_subscriptions + 2);
    assert_true(CD_DEFAULT_WS_BURST >= CD_DEFAULT_MAX_SUBSCRIPTIONS + CD_WS_BURST_HEADROOM);
}

static void test_burst_follows_limit(void **state)
{
    (void)state;
    cd_config c;
    /* at the edge: max_subscriptions + headroom == the default burst */
    char edge[16], over[16];
    snprintf(edge, sizeof edge, "%u", CD_DEFAULT_WS_BURST - CD_WS_BURST_HEADROOM);
    snprintf(over, sizeof over, "%u", CD_DEFAULT_WS_BURST - CD_WS_BURST_HEADROOM + 1);
    assert_int_equal(parse_burst(&c, NULL, edge), 0);
    assert_int_equal(c.ws_burst, CD_DEFAULT_WS_BURST);
    assert_int_equal(parse_burst(&c, NULL, over), 0);
    assert_int_equal(c.ws_burst, CD_DEFAULT_WS_BURST + 1);
    assert_int_equal(parse_burst(&c, NULL, "100000"), 0);
    assert_int_equal(c.ws_burst, 100000 + CD_WS_BURST_HEADROOM);
    assert_int_equal(cd_config_ws_burst_auto(1), CD_DEFAULT_WS_BURST);
}

static void test_explicit_burst_kept(void **state)
{
    (void)state;
    cd_config c;
    assert_int_equal(parse_burst(&c, "20", NULL), 0); /* smaller than the limit: honoured */
    assert_int_equal(c.ws_burst, 20);
    assert_int_equal(parse_burst(&c, "5000", "20"), 0);
    assert_int_equal(c.ws_burst, 5000);
    assert_int_equal(parse_burst(&c, "0", NULL), CD_EBAD); /* below the option's minimum */
}

/* CHATD_TRUSTED_PROXIES: addresses and CIDRs, IPv4 and IPv6, prefix edges. */
static void test_trusted_proxies(void **state)
{
    (void)state;
    const char *l = "10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1";
#define IN(ip) cd_config_addr_in_list(l, ip, strlen(ip))
    assert_true(IN("10.0.0.1"));
    assert_true(IN("10.255.255.255"));
    assert_false(IN("11.0.0.0"));
    assert_false(IN("9.255.255.255"));
    assert_true(IN("192.168.1.7"));
    assert_false(IN("192.168.1.8"));
    assert_true(IN("::ffff:10.1.2.3")); /* mapped IPv4 matches its IPv4 entry */
    assert_true(IN("fd12:3456::1"));
    assert_false(IN("fe80::1"));
    assert_true(IN("::1"));
    assert_false(IN("::2"));
    assert_false(IN("not-an-ip"));
    assert_false(IN(""));
#undef IN
    /* prefix lengths at their edges */
    assert_true(cd_config_addr_in_list("1.2.3.4/32", "1.2.3.4", 7));
    assert_false(cd_config_addr_in_list("1.2.3.4/32", "1.2.3.5", 7));
    assert_true(cd_config_addr_in_list("1.2.3.4/31", "1.2.3.5", 7));
    assert_true(cd_config_addr_in_list("0.0.0.0/0", "8.8.8.8", 7));
    assert_false(cd_config_addr_in_list("0.0.0.0/0", "2001:db8::1", 11)); /* v4 /0 is v4 only */
    assert_true(cd_config_addr_in_list("::/0", "2001:db8::1", 11));
    assert_false(cd_config_addr_in_list(NULL, "1.2.3.4", 7));
    assert_false(cd_config_addr_in_list("", "1.2.3.4", 7));
    assert_true(cd_config_addr_valid("::1", 3));
    assert_false(cd_config_addr_valid("1.2.3.4:80", 10));

    char err[160];
    assert_int_equal(cd_config_addr_list_check(NULL, err, sizeof err), 0);
    assert_int_equal(cd_config_addr_list_check("10.0.0.0/8,::1/128", err, sizeof err), 0);
    assert_int_equal(cd_config_addr_list_check("10.0.0.0/33", err, sizeof err), CD_EBAD);
    assert_int_equal(cd_config_addr_list_check("::/129", err, sizeof err), CD_EBAD);
    assert_int_equal(cd_config_addr_list_check("10.0.0.0/", err, sizeof err), CD_EBAD);
    assert_int_equal(cd_config_addr_list_check("proxy.local", err, sizeof err), CD_EBAD);
    assert_non_null(strstr(err, "proxy.local"));
    /* at most CD_CONFIG_MAX_TRUSTED_PROXIES entries */
    char big[CD_CONFIG_MAX_TRUSTED_PROXIES * 12 + 16] = "";
    for (unsigned i = 0; i < CD_CONFIG_MAX_TRUSTED_PROXIES; i++) {
        char e[16];
        snprintf(e, sizeof e, "%s10.0.0.%u", i ? "," : "", i);
        strcat(big, e);
    }
    assert_int_equal(cd_config_addr_list_check(big, err, sizeof err), 0);
    strcat(big, ",10.0.1.1");
    assert_int_equal(cd_config_addr_list_check(big, err, sizeof err), CD_EBAD);

    /* the setting is validated at start-up */
    cd_config c;
    env_set("CHATD_JWT_SECRET", "0123456789abcdef");
    env_set("CHATD_TRUSTED_PROXIES", "10.0.0.0/8,bogus");
    assert_int_equal(cd_config_parse(&c, 1, (char *[]){"chatd", NULL}, env_get, err, sizeof err),
                     CD_EBAD);
    assert_non_null(strstr(err, "CHATD_TRUSTED_PROXIES"));
    env_set("CHATD_TRUSTED_PROXIES", "10.0.0.0/8");
    assert_int_equal(cd_config_parse(&c, 1, (char *[]){"chatd", NULL}, env_get, err, sizeof err),
                     0);
    assert_string_equal(c.trusted_proxies, "10.0.0.0/8");
    assert_int_equal(c.signup_limit, CD_DEFAULT_SIGNUP_LIMIT);
    assert_int_equal(c.pw_queue_max, CD_DEFAULT_PW_QUEUE_MAX);
    env_set("CHATD_PW_QUEUE_MAX", "0");
    assert_int_equal(cd_config_parse(&c, 1, (char *[]){"chatd", NULL}, env_get, err, sizeof err),
                     CD_EBAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_rate_and_cap_settings, setup),
        cmocka_unit_test_setup(test_role_ports, setup),
        cmocka_unit_test_setup(test_flags_override_env, setup),
        cmocka_unit_test_setup(test_files_s3, setup),
        cmocka_unit_test_setup(test_replica_needs_primary, setup),
        cmocka_unit_test_setup(test_token_needs_secret, setup),
        cmocka_unit_test_setup(test_trust_refused_on_public_bind, setup),
        cmocka_unit_test_setup(test_loopback, setup),
        cmocka_unit_test_setup(test_limits_edges, setup),
        cmocka_unit_test_setup(test_write_path_settings, setup),
        cmocka_unit_test_setup(test_flags_misc, setup),
        cmocka_unit_test_setup(test_cors, setup),
        cmocka_unit_test_setup(test_default_burst_covers_subscriptions, setup),
        cmocka_unit_test_setup(test_burst_follows_limit, setup),
        cmocka_unit_test_setup(test_explicit_burst_kept, setup),
        cmocka_unit_test_setup(test_trusted_proxies, setup),
        cmocka_unit_test_setup(test_redis_cluster_nodes, setup),
    };
    return cmocka_run_group_tests_name("core_config", tests, NULL, NULL);
}
