/*
 * test_core_log.c — the log line formats (core/log.h): the exact JSON and
 * text lines with identity, request id and fields; JSON escaping of quotes,
 * backslashes, control bytes and invalid UTF-8 (every line must parse, one
 * line per call); cutting at CD_LOG_LINE_MAX that keeps the JSON valid and
 * the fields whole; the request id rules and the log context; the settings
 * CHATD_LOG_FORMAT and CHATD_INSTANCE_ID.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/core.h"
#include "core/log.h"
#include "core/text.h"

static const struct timespec ts0 = {.tv_sec = 1798761600, .tv_nsec = 123456789}; /* 2027-01-01 */

/* ---- a strict checker for the flat objects the JSON format writes ---- */

static const char *skip_string(const char *p)
{
    if (*p != '"') return NULL;
    for (p++; *p != '"'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) return NULL; /* raw control byte (or the end) */
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *skip_value(const char *p)
{
    if (*p == '"') return skip_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    char *end;
    strtod(p, &end);
    return end == p ? NULL : end;
}

/* True when line is one JSON object of string/number/true members, valid
 * UTF-8, ending in exactly one newline. */
static bool json_line_ok(const char *line)
{
    size_t n = strlen(line);
    if (n < 3 || line[n - 1] != '\n' || memchr(line, '\n', n - 1)) return false;
    if (!cd_text_is_clean(line, n - 1, false)) return false;
    const char *p = line;
    if (*p++ != '{') return false;
    for (bool first = true; *p != '}'; first = false) {
        if (!first && *p++ != ',') return false;
        if (!(p = skip_string(p)) || *p++ != ':' || !(p = skip_value(p))) return false;
    }
    return p[1] == '\n' && p[2] == 0;
}

/* The raw text of member `key` (a string's escaped contents without the
 * quotes), or NULL. */
static const char *member(const char *line, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return NULL;
    p += strlen(pat);
    const char *e = skip_value(p);
    if (!e) return NULL;
    if (*p == '"') p++, e--;
    snprintf(out, cap, "%.*s", (int)(e - p), p);
    return out;
}

static void reset(void)
{
    cd_log_ctx none;
    cd_log_ctx_enter(NULL, &none);
    cd_log_set_identity("receiver", "receiver-4005");
}

/* ---- tests ---- */

static void test_json_line_exact(void **state)
{
    (void)state;
    reset();
    char line[CD_LOG_LINE_MAX];
    cd_log_field f[] = {CD_LF_S("method", "POST"),   CD_LF_I("status", 200),
                        CD_LF_N("duration_ms", 1.5), CD_LF_S("user_id", NULL),
                        CD_LF_I("bytes", -1),        CD_LF_S("path", "/graphql")};
    size_t n = cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_INFO, "http",
                             "http request", f, CD_ARRAY_LEN(f));
    assert_string_equal(line,
                        "{\"time\":\"2027-01-01T00:00:00.123Z\",\"level\":\"info\","
                        "\"role\":\"receiver\",\"instance\":\"receiver-4005\",\"module\":\"http\","
                        "\"msg\":\"http request\",\"method\":\"POST\",\"status\":200,"
                        "\"duration_ms\":1.500,\"bytes\":-1,\"path\":\"/graphql\"}\n");
    assert_int_equal(n, strlen(line));
    assert_true(json_line_ok(line));

    /* the request id of the context, right after the message */
    cd_log_ctx saved;
    cd_log_ctx_enter("req-1", &saved);
    cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_ERROR, "chat", "boom", NULL, 0);
    cd_log_ctx_leave(&saved);
    assert_non_null(strstr(line, "\"level\":\"error\""));
    assert_non_null(strstr(line, "\"msg\":\"boom\",\"request_id\":\"req-1\"}\n"));
    assert_true(json_line_ok(line));
    /* left: no id any more */
    cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_WARN, "chat", "x", NULL, 0);
    assert_null(strstr(line, "request_id"));
}

static void test_json_escaping(void **state)
{
    (void)state;
    reset();
    char line[CD_LOG_LINE_MAX], v[512];
    /* quotes, backslashes, newlines (a forged second line), other controls,
     * DEL, valid UTF-8 kept, invalid UTF-8 replaced */
    const char *msg = "say \"hi\" \\ \n{\"level\":\"error\"}\r\t\x01\x1f\x7f J\xc3\xbcrgen "
                      "\xff \xc3 \xed\xa0\x80 \xf0\x9f\x98\x80";
    cd_log_field f[] = {CD_LF_S("name", "eve\"\n\\")};
    cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_INFO, "users", msg, f, 1);
    assert_true(json_line_ok(line));
    assert_non_null(member(line, "msg", v, sizeof v));
    assert_string_equal(v,
                        "say \\\"hi\\\" \\\\ \\n{\\\"level\\\":\\\"error\\\"}\\r\\t\\u0001\\u001f"
                        "\\u007f J\xc3\xbcrgen \\ufffd \\ufffd \\ufffd\\ufffd\\ufffd "
                        "\xf0\x9f\x98\x80");
    assert_non_null(member(line, "name", v, sizeof v));
    assert_string_equal(v, "eve\\\"\\n\\\\");
    /* every single byte as a message: always one valid line */
    for (int b = 1; b < 256; b++) {
        char m[4] = {'a', (char)b, 'z', 0};
        cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_INFO, "m", m, NULL, 0);
        assert_true(json_line_ok(line));
    }
    /* identity and module are escaped too */
    cd_log_set_identity("r\"ole", "in\nst");
    cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_INFO, "m", "x", NULL, 0);
    assert_true(json_line_ok(line));
    assert_non_null(strstr(line, "\"role\":\"r\\\"ole\",\"instance\":\"in\\nst\""));
}

static void test_json_cut(void **state)
{
    (void)state;
    reset();
    char line[CD_LOG_LINE_MAX], v[64];
    char big[3 * CD_LOG_LINE_MAX];
    /* a message of escapes and multi-byte characters far over the line */
    for (size_t i = 0; i + 2 < sizeof big; i += 2)
        memcpy(big + i, i % 4 ? "\"\x01" : "\xc3\xbc", 2);
    big[sizeof big - 1] = 0;
    big[sizeof big - 2] = 0;
    cd_log_field f[] = {CD_LF_S("path", "/graphql"), CD_LF_I("status", 200)};
    cd_log_ctx saved;
    cd_log_ctx_enter("cut-1", &saved);
    size_t n = cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_INFO, "m", big, f, 2);
    cd_log_ctx_leave(&saved);
    assert_true(n <= CD_LOG_LINE_MAX - 1);
    assert_true(json_line_ok(line));
    /* the message was cut, the id and the fields are whole, and it says so */
    assert_non_null(member(line, "truncated", v, sizeof v));
    assert_string_equal(member(line, "request_id", v, sizeof v), "cut-1");
    assert_string_equal(member(line, "path", v, sizeof v), "/graphql");
    assert_string_equal(member(line, "status", v, sizeof v), "200");
    /* a field value too long for the line is left out whole, not cut */
    char longv[CD_LOG_LINE_MAX + 10];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    cd_log_field g[] = {CD_LF_S("huge", longv), CD_LF_I("status", 404)};
    cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_INFO, "m", "short", g, 2);
    assert_true(json_line_ok(line));
    assert_null(strstr(line, "\"huge\""));
    assert_string_equal(member(line, "status", v, sizeof v), "404");
    assert_string_equal(member(line, "msg", v, sizeof v), "short");
    assert_non_null(member(line, "truncated", v, sizeof v));
    /* no more than CD_LOG_MAX_FIELDS fields */
    cd_log_field many[CD_LOG_MAX_FIELDS + 1];
    for (unsigned i = 0; i <= CD_LOG_MAX_FIELDS; i++)
        many[i] = CD_LF_I(i == CD_LOG_MAX_FIELDS ? "last" : "k", i);
    cd_log_render(line, sizeof line, CD_LOG_FMT_JSON, &ts0, CD_LOG_INFO, "m", "x", many,
                  CD_LOG_MAX_FIELDS + 1);
    assert_true(json_line_ok(line));
    assert_null(strstr(line, "\"last\""));
}

static void test_text_line(void **state)
{
    (void)state;
    reset();
    char line[CD_LOG_LINE_MAX];
    cd_log_field f[] = {CD_LF_S("path", "/a b"), CD_LF_I("status", 404), CD_LF_S("user_id", NULL),
                        CD_LF_S("who", "x\"y\n")};
    cd_log_ctx saved;
    cd_log_ctx_enter("r-9", &saved);
    cd_log_render(line, sizeof line, CD_LOG_FMT_TEXT, &ts0, CD_LOG_WARN, "http", "bad\nline", f,
                  CD_ARRAY_LEN(f));
    cd_log_ctx_leave(&saved);
    assert_string_equal(line, "2027-01-01T00:00:00.123Z warn http bad\\nline path=\"/a b\" "
                              "status=404 who=\"x\\\"y\\n\" request_id=r-9\n");
    /* a long message leaves room for the fields, one line */
    char big[3 * CD_LOG_LINE_MAX];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = 0;
    size_t n = cd_log_render(line, sizeof line, CD_LOG_FMT_TEXT, &ts0, CD_LOG_INFO, "m", big, f, 2);
    assert_true(n <= CD_LOG_LINE_MAX - 1);
    assert_non_null(strstr(line, " path=\"/a b\" status=404\n"));
    assert_null(memchr(line, '\n', n - 1));
}

static void test_request_ids(void **state)
{
    (void)state;
    char id[CD_REQUEST_ID_MAX + 1], id2[CD_REQUEST_ID_MAX + 1];
    assert_true(cd_request_id_valid("abc-DEF_0.9:x", 13));
    assert_false(cd_request_id_valid("", 0));
    assert_false(cd_request_id_valid("a b", 3));
    assert_false(cd_request_id_valid("a\"b", 3));
    assert_false(cd_request_id_valid("a\nb", 3));
    assert_false(cd_request_id_valid("a/b", 3));
    assert_false(cd_request_id_valid("\xc3\xbc", 2));
    /* the length edge */
    char edge[CD_REQUEST_ID_MAX + 2];
    memset(edge, 'a', sizeof edge - 1);
    edge[CD_REQUEST_ID_MAX + 1] = 0;
    assert_true(cd_request_id_valid(edge, CD_REQUEST_ID_MAX));
    assert_false(cd_request_id_valid(edge, CD_REQUEST_ID_MAX + 1));
    /* generated ids are valid and differ */
    cd_request_id_new(id);
    cd_request_id_new(id2);
    assert_true(cd_request_id_valid(id, strlen(id)));
    assert_true(cd_request_id_valid(id2, strlen(id2)));
    assert_string_not_equal(id, id2);
    /* the context nests and an invalid id counts as none */
    cd_log_ctx a, b;
    cd_log_ctx_enter("outer", &a);
    cd_log_ctx_enter("bad id", &b);
    assert_string_equal(cd_log_request_id(), "");
    cd_log_ctx_leave(&b);
    assert_string_equal(cd_log_request_id(), "outer");
    cd_log_ctx_enter(edge, &b); /* CD_REQUEST_ID_MAX + 1 bytes: too long */
    assert_string_equal(cd_log_request_id(), "");
    cd_log_ctx_leave(&b);
    cd_log_ctx_leave(&a);
    assert_string_equal(cd_log_request_id(), "");
}

static const char *env_fmt, *env_inst;
static const char *env_get(const char *k)
{
    if (!strcmp(k, "CHATD_AUTH")) return "trust";
    if (!strcmp(k, "CHATD_LOG_FORMAT")) return env_fmt;
    if (!strcmp(k, "CHATD_INSTANCE_ID")) return env_inst;
    return NULL;
}

static void test_settings(void **state)
{
    (void)state;
    cd_config c;
    char err[256];
    char *argv[] = {"chatd", NULL};
    env_fmt = env_inst = NULL;
    assert_int_equal(cd_config_parse(&c, 1, argv, env_get, err, sizeof err), 0);
    assert_int_equal(c.log_format, CD_LOG_FMT_AUTO);
    assert_null(c.instance_id);
    env_fmt = "JSON";
    env_inst = "receiver-b.eu:2";
    assert_int_equal(cd_config_parse(&c, 1, argv, env_get, err, sizeof err), 0);
    assert_int_equal(c.log_format, CD_LOG_FMT_JSON);
    assert_string_equal(c.instance_id, "receiver-b.eu:2");
    env_fmt = "text";
    assert_int_equal(cd_config_parse(&c, 1, argv, env_get, err, sizeof err), 0);
    assert_int_equal(c.log_format, CD_LOG_FMT_TEXT);
    env_fmt = "xml";
    assert_int_not_equal(cd_config_parse(&c, 1, argv, env_get, err, sizeof err), 0);
    assert_non_null(strstr(err, "CHATD_LOG_FORMAT"));
    env_fmt = NULL;
    env_inst = "has space";
    assert_int_not_equal(cd_config_parse(&c, 1, argv, env_get, err, sizeof err), 0);
    assert_non_null(strstr(err, "CHATD_INSTANCE_ID"));
    /* the length edge: 64 accepted, 65 refused */
    char inst[CD_LOG_ID_MAX + 2];
    memset(inst, 'i', CD_LOG_ID_MAX);
    inst[CD_LOG_ID_MAX] = 0;
    env_inst = inst;
    assert_int_equal(cd_config_parse(&c, 1, argv, env_get, err, sizeof err), 0);
    inst[CD_LOG_ID_MAX] = 'i';
    inst[CD_LOG_ID_MAX + 1] = 0;
    assert_int_not_equal(cd_config_parse(&c, 1, argv, env_get, err, sizeof err), 0);
    /* auto resolves to one of the two */
    cd_log_set_format(CD_LOG_FMT_AUTO);
    assert_int_not_equal(cd_log_get_format(), CD_LOG_FMT_AUTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line_exact), cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_cut),        cmocka_unit_test(test_text_line),
        cmocka_unit_test(test_request_ids),     cmocka_unit_test(test_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
