/*
 * test_protocol_metrics.c — Prometheus rendering of the metrics registry:
 * counters by label, cumulative histogram buckets, probe-provided gauges
 * present only when configured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/metrics.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counters_and_gauges, setup),
        cmocka_unit_test_setup(test_histogram_cumulative, setup),
        cmocka_unit_test_setup(test_probe, setup),
    };
    return cmocka_run_group_tests_name("protocol_metrics", tests, NULL, NULL);
}
