/*
 * metrics.c — Prometheus text rendering of cd_metrics_g (see metrics.h).
 * Metric names carry the chatd_ prefix; counters end in _total.
 */
#include "core/metrics.h"

#include <string.h>

#include "core/core.h"

cd_metrics cd_metrics_g;

static const double cd_latency_le[CD_METRIC_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

static cd_metrics_probe_fn cd_probe_fn;
static void *cd_probe_ud;
static const char *cd_info_role = "all";
static const char *cd_info_version = "0";

void cd_metrics_set_probe(cd_metrics_probe_fn fn, void *ud)
{
    cd_probe_fn = fn;
    cd_probe_ud = ud;
}

void cd_metrics_set_info(const char *role, const char *version)
{
    cd_info_role = role;
    cd_info_version = version;
}

void cd_metrics_operation(int kind, cd_metric_outcome outcome, double seconds)
{
    if (kind < 0 || kind >= CD_METRIC_OP_KINDS || (unsigned)outcome > 2) return;
    cd_metrics_g.operations[kind][outcome]++;
    if (seconds < 0) return;
    for (unsigned i = 0; i < CD_METRIC_LATENCY_BUCKETS; i++) {
        if (seconds <= cd_latency_le[i]) {
            cd_metrics_g.latency_buckets[i]++;
            break;
        }
    }
    cd_metrics_g.latency_count++;
    cd_metrics_g.latency_sum += seconds;
}

void cd_metrics_http_status(int status)
{
    int cls = status / 100;
    cd_metrics_g.http_requests[(cls >= 1 && cls <= 5) ? cls : 0]++;
}

static const int cd_close_codes[CD_METRIC_WS_CLOSE_CODES] = {
    1000, 1001, 1009, 4008, 4400, 4401, 4403, 4406, 4408, 4409, 4429, 4500, 4504};

void cd_metrics_ws_close(int code)
{
    unsigned i;
    for (i = 0; i < CD_ARRAY_LEN(cd_close_codes); i++)
        if (cd_close_codes[i] == code) break;
    cd_metrics_g.ws_closed_by_code[i]++; /* i == CD_METRIC_WS_CLOSE_CODES: other */
}

void cd_metrics_reset(void)
{
    memset(&cd_metrics_g, 0, sizeof cd_metrics_g);
}

static void cd_help(cd_buf *b, const char *name, const char *type, const char *help)
{
    cd_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void cd_metrics_help(cd_buf *out, const char *name, const char *type, const char *help)
{
    cd_help(out, name, type, help);
}

void cd_metrics_value(cd_buf *out, const char *name, const char *type, const char *help,
                      uint64_t value)
{
    cd_help(out, name, type, help);
    cd_buf_printf(out, "%s %llu\n", name, (unsigned long long)value);
}

static struct {
    cd_metrics_section_fn fn;
    void *ud;
} cd_sections[CD_METRICS_MAX_SECTIONS];
static unsigned cd_nsections;

int cd_metrics_add_section(cd_metrics_section_fn fn, void *ud)
{
    for (unsigned i = 0; i < cd_nsections; i++)
        if (cd_sections[i].fn == fn && cd_sections[i].ud == ud) return 0;
    if (cd_nsections >= CD_METRICS_MAX_SECTIONS) return CD_ELIMIT;
    cd_sections[cd_nsections].fn = fn;
    cd_sections[cd_nsections].ud = ud;
    cd_nsections++;
    return 0;
}

void cd_metrics_render(cd_buf *b)
{
    static const char *const kinds[] = {"query", "mutation", "subscription"};
    static const char *const outcomes[] = {"ok", "error", "rejected"};
    const cd_metrics *m = &cd_metrics_g;

    cd_help(b, "chatd_info", "gauge", "Build and role of this process.");
    cd_buf_printf(b, "chatd_info{role=\"%s\",version=\"%s\"} 1\n", cd_info_role, cd_info_version);

    cd_metrics_probe_out p;
    memset(&p, 0xff, sizeof p); /* every field -1 */
    if (cd_probe_fn) cd_probe_fn(&p, cd_probe_ud);
    cd_help(b, "chatd_connections", "gauge", "Open client connections by transport.");
    cd_buf_printf(b, "chatd_connections{transport=\"http\"} %lld\n",
                  (long long)(p.http_connections >= 0 ? p.http_connections : m->connections[0]));
    cd_buf_printf(b, "chatd_connections{transport=\"ws\"} %lld\n", (long long)m->connections[1]);
    cd_help(b, "chatd_ws_connections_total", "counter", "Accepted WebSocket connections.");
    cd_buf_printf(b, "chatd_ws_connections_total %llu\n",
                  (unsigned long long)m->connections_total[1]);

    cd_help(b, "chatd_subscriptions", "gauge", "Active GraphQL subscription operations.");
    cd_buf_printf(b, "chatd_subscriptions %lld\n", (long long)m->subscriptions);

    cd_help(b, "chatd_operations_total", "counter",
            "GraphQL operations by type and outcome (rejected = request error).");
    for (int k = 0; k < CD_METRIC_OP_KINDS; k++)
        for (int o = 0; o < 3; o++)
            cd_buf_printf(b, "chatd_operations_total{type=\"%s\",outcome=\"%s\"} %llu\n", kinds[k],
                          outcomes[o], (unsigned long long)m->operations[k][o]);

    cd_help(b, "chatd_operation_duration_seconds", "histogram",
            "Time from request to response for queries and mutations.");
    uint64_t cum = 0;
    for (unsigned i = 0; i < CD_METRIC_LATENCY_BUCKETS; i++) {
        cum += m->latency_buckets[i];
        cd_buf_printf(b, "chatd_operation_duration_seconds_bucket{le=\"%g\"} %llu\n",
                      cd_latency_le[i], (unsigned long long)cum);
    }
    cd_buf_printf(b, "chatd_operation_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                  (unsigned long long)m->latency_count);
    cd_buf_printf(b, "chatd_operation_duration_seconds_sum %.6f\n", m->latency_sum);
    cd_buf_printf(b, "chatd_operation_duration_seconds_count %llu\n",
                  (unsigned long long)m->latency_count);

    cd_help(b, "chatd_http_responses_total", "counter", "HTTP responses by status class.");
    static const char *const classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6; i++)
        cd_buf_printf(b, "chatd_http_responses_total{class=\"%s\"} %llu\n", classes[i],
                      (unsigned long long)m->http_requests[i]);

    cd_help(b, "chatd_ws_messages_total", "counter", "graphql-transport-ws messages.");
    cd_buf_printf(b, "chatd_ws_messages_total{direction=\"in\"} %llu\n",
                  (unsigned long long)m->ws_messages_in);
    cd_buf_printf(b, "chatd_ws_messages_total{direction=\"out\"} %llu\n",
                  (unsigned long long)m->ws_messages_out);
    cd_help(b, "chatd_ws_server_closes_total", "counter", "WebSocket closes sent, by code.");
    for (unsigned i = 0; i <= CD_ARRAY_LEN(cd_close_codes); i++) {
        if (i < CD_ARRAY_LEN(cd_close_codes))
            cd_buf_printf(b, "chatd_ws_server_closes_total{code=\"%d\"} %llu\n", cd_close_codes[i],
                          (unsigned long long)m->ws_closed_by_code[i]);
        else
            cd_buf_printf(b, "chatd_ws_server_closes_total{code=\"other\"} %llu\n",
                          (unsigned long long)m->ws_closed_by_code[i]);
    }
    cd_help(b, "chatd_events_delivered_total", "counter", "Subscription events sent.");
    cd_buf_printf(b, "chatd_events_delivered_total %llu\n",
                  (unsigned long long)m->events_delivered);
    cd_help(b, "chatd_subscription_executions_total", "counter",
            "Subscription events executed (once per group of subscribers with the same "
            "document, variables and caller).");
    cd_buf_printf(b, "chatd_subscription_executions_total %llu\n",
                  (unsigned long long)m->sub_executions);
    cd_help(b, "chatd_subscription_deliveries_total", "counter",
            "Subscription event payloads sent to clients.");
    cd_buf_printf(b, "chatd_subscription_deliveries_total %llu\n",
                  (unsigned long long)m->sub_deliveries);

    if (p.pg_up >= 0) {
        cd_help(b, "chatd_pg_up", "gauge", "1 when at least one PostgreSQL connection is up.");
        cd_buf_printf(b, "chatd_pg_up %lld\n", (long long)p.pg_up);
    }
    if (p.pg_pool_size >= 0) {
        cd_help(b, "chatd_pg_pool_connections", "gauge", "PostgreSQL pool connections by state.");
        cd_buf_printf(b, "chatd_pg_pool_connections{state=\"configured\"} %lld\n",
                      (long long)p.pg_pool_size);
        cd_buf_printf(b, "chatd_pg_pool_connections{state=\"idle\"} %lld\n",
                      (long long)p.pg_pool_idle);
        cd_buf_printf(b, "chatd_pg_pool_connections{state=\"busy\"} %lld\n",
                      (long long)p.pg_pool_busy);
        cd_help(b, "chatd_pg_pool_waiting", "gauge", "Queries queued for a connection.");
        cd_buf_printf(b, "chatd_pg_pool_waiting %lld\n", (long long)p.pg_pool_waiting);
    }
    if (p.redis_up >= 0) {
        cd_help(b, "chatd_redis_up", "gauge", "1 when both Redis connections are up.");
        cd_buf_printf(b, "chatd_redis_up %lld\n", (long long)p.redis_up);
    }
    if (p.doc_cache_hits >= 0) {
        cd_help(b, "chatd_doc_cache_total", "counter", "GraphQL document cache lookups.");
        cd_buf_printf(b, "chatd_doc_cache_total{result=\"hit\"} %lld\n",
                      (long long)p.doc_cache_hits);
        cd_buf_printf(b, "chatd_doc_cache_total{result=\"miss\"} %lld\n",
                      (long long)p.doc_cache_misses);
    }
    for (unsigned i = 0; i < cd_nsections; i++)
        cd_sections[i].fn(b, cd_sections[i].ud);
}
