/*
 * test_core_metrics.c — Prometheus rendering of the metrics registry
 * (core/metrics.h): counters by label, cumulative histogram buckets,
 * probe-provided gauges present only when configured, the subscription
 * execution/delivery counters; extra sections (cd_metrics_add_section)
 * rendered after the built-in families, once per registration, up to
 * CD_METRICS_MAX_SECTIONS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/core.h"
#include "core/metrics.h"

static void section(cd_buf *out, void *ud)
{
    cd_metrics_help(out, "chatd_test_section", "gauge", "A test section.");
    cd_buf_printf(out, "chatd_test_section{n=\"%d\"} 1\n", (int)(intptr_t)ud);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static char *render(cd_buf *b)
{
    cd_buf_reset(b);
    cd_metrics_render(b);
    assert_false(cd_buf_failed(b));
    return b->data;
}

static int setup(void **state)
{
    (void)state;
    cd_metrics_reset();
    cd_metrics_set_probe(NULL, NULL);
    return 0;
}

static void test_counters_and_gauges(void **state)
{
    (void)state;
    cd_buf b;
    cd_buf_init(&b);
    cd_metrics_conn_open(CD_MT_WS);
    cd_metrics_conn_open(CD_MT_WS);
    cd_metrics_conn_close(CD_MT_WS);
    cd_metrics_conn_open(CD_MT_HTTP);
    cd_metrics_operation(1, CD_MO_ERROR, 0.002);
    cd_metrics_http_status(413);
    cd_metrics_ws_close(4409);
    cd_metrics_ws_close(4008);
    cd_metrics_ws_close(3999);
    char *t = render(&b);
    assert_non_null(strstr(t, "chatd_connections{transport=\"ws\"} 1\n"));
    assert_non_null(strstr(t, "chatd_ws_connections_total 2\n"));
    assert_non_null(strstr(t, "chatd_connections{transport=\"http\"} 1\n"));
    assert_non_null(strstr(t, "chatd_operations_total{type=\"mutation\",outcome=\"error\"} 1\n"));
    assert_non_null(strstr(t, "chatd_operations_total{type=\"query\",outcome=\"ok\"} 0\n"));
    assert_non_null(strstr(t, "chatd_http_responses_total{class=\"4xx\"} 1\n"));
    assert_non_null(strstr(t, "chatd_ws_server_closes_total{code=\"4409\"} 1\n"));
    assert_non_null(strstr(t, "chatd_ws_server_closes_total{code=\"4008\"} 1\n"));
    assert_non_null(strstr(t, "chatd_ws_server_closes_total{code=\"4403\"} 0\n"));
    assert_non_null(strstr(t, "chatd_ws_server_closes_total{code=\"other\"} 1\n"));
    assert_null(strstr(t, "chatd_pg_up"));
    assert_null(strstr(t, "chatd_redis_up"));
    cd_buf_free(&b);
}

static void test_histogram_cumulative(void **state)
{
    (void)state;
    cd_buf b;
    cd_buf_init(&b);
    cd_metrics_operation(0, CD_MO_OK, 0.0005); /* exactly on the first bound */
    cd_metrics_operation(0, CD_MO_OK, 0.003);
    cd_metrics_operation(0, CD_MO_OK, 100.0); /* only in +Inf */
    cd_metrics_operation(2, CD_MO_OK, -1);    /* not timed */
    char *t = render(&b);
    assert_non_null(strstr(t, "chatd_operation_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(t, "chatd_operation_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(t, "chatd_operation_duration_seconds_bucket{le=\"0.005\"} 2\n"));
    assert_non_null(strstr(t, "chatd_operation_duration_seconds_bucket{le=\"2.5\"} 2\n"));
    assert_non_null(strstr(t, "chatd_operation_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(t, "chatd_operation_duration_seconds_count 3\n"));
    assert_non_null(strstr(t, "chatd_operations_total{type=\"subscription\",outcome=\"ok\"} 1\n"));
    /* out-of-range kinds are ignored, not written out of bounds */
    cd_metrics_operation(3, CD_MO_OK, 1.0);
    cd_metrics_operation(-1, CD_MO_OK, 1.0);
    t = render(&b);
    assert_non_null(strstr(t, "chatd_operation_duration_seconds_count 3\n"));
    cd_buf_free(&b);
}

static void probe(cd_metrics_probe_out *o, void *ud)
{
    (void)ud;
    o->pg_up = 1;
    o->pg_pool_size = 4;
    o->pg_pool_idle = 3;
    o->pg_pool_busy = 1;
    o->pg_pool_waiting = 0;
    o->doc_cache_hits = 7;
    o->doc_cache_misses = 2;
    o->http_connections = 5;
    /* redis left -1: not configured */
}

static void test_probe(void **state)
{
    (void)state;
    cd_buf b;
    cd_buf_init(&b);
    cd_metrics_set_probe(probe, NULL);
    char *t = render(&b);
    assert_non_null(strstr(t, "chatd_pg_up 1\n"));
    assert_non_null(strstr(t, "chatd_pg_pool_connections{state=\"busy\"} 1\n"));
    assert_non_null(strstr(t, "chatd_doc_cache_total{result=\"hit\"} 7\n"));
    assert_non_null(strstr(t, "chatd_connections{transport=\"http\"} 5\n"));
    assert_null(strstr(t, "chatd_redis_up"));
    cd_metrics_set_probe(NULL, NULL);
    cd_buf_free(&b);
}

static void test_sections(void **state)
{
    (void)state;
    cd_buf b;
    cd_buf_init(&b);
    assert_int_equal(count(render(&b), "chatd_test_section"), 0);
    assert_int_equal(cd_metrics_add_section(section, (void *)(intptr_t)0), 0);
    assert_int_equal(cd_metrics_add_section(section, (void *)(intptr_t)0), 0); /* no-op */
    const char *t = render(&b);
    assert_int_equal(count(t, "# TYPE chatd_test_section gauge"), 1);
    assert_non_null(strstr(t, "chatd_test_section{n=\"0\"} 1\n"));
    /* after the built-in families */
    assert_true(strstr(t, "chatd_test_section") > strstr(t, "chatd_events_delivered_total"));
    /* the limit: one taken above, the rest fill up, one more is refused */
    for (int i = 1; i < CD_METRICS_MAX_SECTIONS; i++)
        assert_int_equal(cd_metrics_add_section(section, (void *)(intptr_t)i), 0);
    assert_int_equal(cd_metrics_add_section(section, (void *)(intptr_t)99), CD_ELIMIT);
    t = render(&b);
    assert_int_equal(count(t, "} 1\n") >= CD_METRICS_MAX_SECTIONS, true);
    assert_null(strstr(t, "n=\"99\""));
    cd_buf_free(&b);
}

static void test_value(void **state)
{
    (void)state;
    cd_buf b;
    cd_buf_init(&b);
    cd_metrics_value(&b, "chatd_test_total", "counter", "A test counter.", UINT64_MAX);
    cd_buf_putc(&b, 0);
    assert_string_equal(b.data, "# HELP chatd_test_total A test counter.\n"
                                "# TYPE chatd_test_total counter\n"
                                "chatd_test_total 18446744073709551615\n");
    cd_buf_free(&b);
}

static void test_subscription_counters(void **state)
{
    (void)state;
    cd_metrics_reset();
    cd_metrics_g.sub_executions = 3;
    cd_metrics_g.sub_deliveries = 7;
    cd_buf b;
    cd_buf_init(&b);
    const char *t = render(&b);
    assert_non_null(strstr(t, "\nchatd_subscription_executions_total 3\n"));
    assert_non_null(strstr(t, "\nchatd_subscription_deliveries_total 7\n"));
    cd_buf_free(&b);
    cd_metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counters_and_gauges, setup),
        cmocka_unit_test_setup(test_histogram_cumulative, setup),
        cmocka_unit_test_setup(test_probe, setup),
        cmocka_unit_test_setup(test_subscription_counters, setup),
        /* last: sections stay registered for the rest of the process */
        cmocka_unit_test_setup(test_sections, setup),
        cmocka_unit_test(test_value),
    };
    return cmocka_run_group_tests_name("core_metrics", tests, NULL, NULL);
}
