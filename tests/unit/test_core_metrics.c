/*
 * test_core_metrics.c — extra /metrics sections (cd_metrics_add_section):
 * rendered after the built-in families, once per registration, up to
 * CD_METRICS_MAX_SECTIONS; the subscription execution/delivery counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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
    cd_buf_init(b);
    cd_metrics_render(b);
    cd_buf_putc(b, '\0');
    assert_false(cd_buf_failed(b));
    return b->data;
}

static void test_sections(void **state)
{
    (void)state;
    cd_buf b;
    assert_int_equal(count(render(&b), "chatd_test_section"), 0);
    cd_buf_free(&b);
    assert_int_equal(cd_metrics_add_section(section, (void *)(intptr_t)0), 0);
    assert_int_equal(cd_metrics_add_section(section, (void *)(intptr_t)0), 0); /* no-op */
    const char *t = render(&b);
    assert_int_equal(count(t, "# TYPE chatd_test_section gauge"), 1);
    assert_non_null(strstr(t, "chatd_test_section{n=\"0\"} 1\n"));
    /* after the built-in families */
    assert_true(strstr(t, "chatd_test_section") > strstr(t, "chatd_events_delivered_total"));
    cd_buf_free(&b);
    /* the limit: one taken above, the rest fill up, one more is refused */
    for (int i = 1; i < CD_METRICS_MAX_SECTIONS; i++)
        assert_int_equal(cd_metrics_add_section(section, (void *)(intptr_t)i), 0);
    assert_int_equal(cd_metrics_add_section(section, (void *)(intptr_t)99), CD_ELIMIT);
    t = render(&b);
    assert_int_equal(count(t, "} 1\n") >= CD_METRICS_MAX_SECTIONS, true);
    assert_null(strstr(t, "n=\"99\""));
    cd_buf_free(&b);
}

static void test_subscription_counters(void **state)
{
    (void)state;
    cd_metrics_reset();
    cd_metrics_g.sub_executions = 3;
    cd_metrics_g.sub_deliveries = 7;
    cd_buf b;
    const char *t = render(&b);
    assert_non_null(strstr(t, "\nchatd_subscription_executions_total 3\n"));
    assert_non_null(strstr(t, "\nchatd_subscription_deliveries_total 7\n"));
    cd_buf_free(&b);
    cd_metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_subscription_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
