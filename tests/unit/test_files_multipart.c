/*
 * test_files_multipart.c — the streaming multipart parser and the content
 * sniffer (src/files): parts, names, data split at every offset, limits at
 * their edges, malformed bodies; magic bytes and the UTF-8 text check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/core.h"
#include "files/files.h"

typedef struct got {
    cd_buf log; /* "P<name>|<filename>|<ct>;" "D<data>" "E" */
} got;

static int on_part(void *ud, const files_mp_part *p)
{
    got *g = ud;
    cd_buf_printf(&g->log, "P%s|%s|%s;", p->name, p->filename, p->content_type);
    return 0;
}
static int on_data(void *ud, const char *d, size_t n)
{
    got *g = ud;
    cd_buf_append(&g->log, d, n);
    return 0;
}
static int on_end(void *ud)
{
    got *g = ud;
    cd_buf_puts(&g->log, "E");
    return 0;
}
static const files_mp_callbacks cbs = {on_part, on_data, on_end};

/* Parses body in slices of `slice` bytes; returns the result and the log. */
static int parse(const char *ct, const char *body, size_t len, size_t slice, char **log,
                 const char **err)
{
    got g;
    cd_buf_init(&g.log);
    files_mp p;
    int rc = files_mp_init(&p, ct, &cbs, &g);
    for (size_t o = 0; rc == 0 && o < len; o += slice)
        rc = files_mp_feed(&p, body + o, len - o < slice ? len - o : slice);
    if (rc == 0) rc = files_mp_finish(&p);
    cd_buf_putc(&g.log, 0);
    *log = g.log.data;
    if (err) *err = p.err;
    return rc;
}

#define CT "multipart/form-data; boundary=XyZ"
static const char body1[] =
    "ignored preamble\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
    "hi\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"dir/a b.png\"\r\n"
    "Content-Type: image/png\r\n\r\n"
    "\r\n--Xy\r\n-\r\n--XyQ"
    "\r\n--XyZ--\r\nepilogue --XyZ garbage";

static void test_parts_at_every_split(void **state)
{
    (void)state;
    const char *want = "Pnote||;hiEPfile|a b.png|image/png;\r\n--Xy\r\n-\r\n--XyQE";
    for (size_t slice = 1; slice <= sizeof body1; slice++) {
        char *log;
        int rc = parse(CT, body1, sizeof body1 - 1, slice, &log, NULL);
        if (rc != 0 || strcmp(log, want) != 0)
            print_error("slice %zu: rc %d log %s\n", slice, rc, log);
        assert_int_equal(rc, 0);
        assert_string_equal(log, want);
        cd_free(log);
    }
}

static void test_bad_bodies(void **state)
{
    (void)state;
    struct {
        const char *ct, *body, *err;
    } cases[] = {
        {"text/plain", "", "not multipart/form-data"},
        {"multipart/form-data", "", "multipart/form-data without a valid boundary"},
        {"multipart/form-data; boundary=\"\"", "", "multipart boundary must be 1-70 characters"},
        {CT, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx",
         "multipart body ended before its closing boundary"},
        {CT, "no boundary at all", "multipart body ended before its closing boundary"},
        {CT, "--XyZ\r\nnocolon\r\n\r\n--XyZ--", "malformed multipart part header"},
        {CT, "--XyZx\r\n", "malformed multipart boundary line"},
        {CT, "--XyZ-x", "malformed multipart closing boundary"},
        {CT, "--XyZ\r\nContent-Disposition: attachment\r\n\r\n--XyZ--",
         "multipart part is not form-data"},
        {CT, "--XyZ\r\nContent-Disposition: form-data; filename=\"a\x01\"\r\n\r\n--XyZ--",
         "file name with control characters"},
        {CT, "--XyZ\r\nContent-Disposition: form-data; filename=\"abc\r\n\r\n--XyZ--",
         "malformed Content-Disposition in a multipart part"},
    };
    for (unsigned i = 0; i < CD_ARRAY_LEN(cases); i++) {
        char *log;
        const char *err;
        assert_int_not_equal(
            parse(cases[i].ct, cases[i].body, strlen(cases[i].body), 3, &log, &err), 0);
        assert_non_null(err);
        if (strcmp(err, cases[i].err) != 0) print_error("case %u: %s\n", i, err);
        assert_string_equal(err, cases[i].err);
        cd_free(log);
    }
}

static void test_limits_at_edge(void **state)
{
    (void)state;
    /* boundary: 70 ok, 71 refused */
    char ct[160], b[80];
    memset(b, 'q', 71);
    b[70] = 0;
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b);
    files_mp p;
    assert_int_equal(files_mp_init(&p, ct, &cbs, NULL), 0);
    b[70] = 'q', b[71] = 0;
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b);
    assert_int_equal(files_mp_init(&p, ct, &cbs, NULL), CD_EBAD);

    /* filename: 255 bytes ok, 256 refused */
    for (int n = 255; n <= 256; n++) {
        cd_buf body;
        cd_buf_init(&body);
        cd_buf_puts(&body, "--XyZ\r\nContent-Disposition: form-data; name=f; filename=\"");
        for (int i = 0; i < n; i++)
            cd_buf_putc(&body, 'n');
        cd_buf_puts(&body, "\"\r\n\r\nx\r\n--XyZ--");
        char *log;
        int rc = parse(CT, body.data, body.len, 7, &log, NULL);
        assert_int_equal(rc, n == 255 ? 0 : CD_EBAD);
        cd_free(log);
        cd_buf_free(&body);
    }

    /* parts: 16 ok, 17 refused */
    for (int n = 16; n <= 17; n++) {
        cd_buf body;
        cd_buf_init(&body);
        for (int i = 0; i < n; i++)
            cd_buf_puts(&body, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n");
        cd_buf_puts(&body, "--XyZ--");
        char *log;
        assert_int_equal(parse(CT, body.data, body.len, 64, &log, NULL), n == 16 ? 0 : CD_ELIMIT);
        cd_free(log);
        cd_buf_free(&body);
    }

    /* part headers: 8 KiB ok (the blank line's bytes counted), one more refused */
    for (size_t n = FILES_MP_MAX_PART_HEADER_BYTES; n <= FILES_MP_MAX_PART_HEADER_BYTES + 1; n++) {
        cd_buf body;
        cd_buf_init(&body);
        cd_buf_puts(&body, "--XyZ\r\n");
        const char *h = "X-Pad: ";
        size_t fill = n - strlen(h) - 4; /* "\r\n\r\n" */
        cd_buf_puts(&body, h);
        for (size_t i = 0; i < fill; i++)
            cd_buf_putc(&body, 'p');
        cd_buf_puts(&body, "\r\n\r\nv\r\n--XyZ--");
        char *log;
        assert_int_equal(parse(CT, body.data, body.len, 100, &log, NULL),
                         n == FILES_MP_MAX_PART_HEADER_BYTES ? 0 : CD_ELIMIT);
        cd_free(log);
        cd_buf_free(&body);
    }
}

static const char *sniff(const void *d, size_t n)
{
    files_sniff s;
    files_sniff_init(&s);
    /* byte by byte: the result must not depend on the split */
    for (size_t i = 0; i < n; i++)
        files_sniff_feed(&s, (const char *)d + i, 1);
    return files_sniff_type(&s);
}

static void test_sniff(void **state)
{
    (void)state;
    assert_string_equal(sniff("\x89PNG\r\n\x1a\n\0\0", 10), FILES_CT_PNG);
    assert_string_equal(sniff("\x89PNG\r\n\x1a", 7), FILES_CT_BINARY);
    assert_string_equal(sniff("\xff\xd8\xff\xe0", 4), FILES_CT_JPEG);
    assert_string_equal(sniff("GIF89a..", 8), FILES_CT_GIF);
    assert_string_equal(sniff("GIF87a", 6), FILES_CT_GIF);
    assert_string_equal(sniff("RIFF\0\0\0\0WEBPVP8 ", 16), FILES_CT_WEBP);
    assert_string_equal(sniff("RIFF\0\0\0\0WAVE", 12), FILES_CT_BINARY);
    assert_string_equal(sniff("%PDF-1.7\n", 9), FILES_CT_PDF);
    assert_string_equal(sniff("", 0), FILES_CT_TEXT);
    assert_string_equal(sniff("héllo\tworld\r\n€😀", strlen("héllo\tworld\r\n€😀")), FILES_CT_TEXT);
    assert_string_equal(sniff("a\0b", 3), FILES_CT_BINARY);
    assert_string_equal(sniff("a\x1b[0m", 5), FILES_CT_BINARY);
    assert_string_equal(sniff("\xc0\xaf", 2), FILES_CT_BINARY);         /* overlong */
    assert_string_equal(sniff("\xed\xa0\x80", 3), FILES_CT_BINARY);     /* surrogate */
    assert_string_equal(sniff("\xf4\x90\x80\x80", 4), FILES_CT_BINARY); /* > U+10FFFF */
    assert_string_equal(sniff("ab\xe2\x82", 4), FILES_CT_BINARY);       /* cut */
    assert_true(files_type_is_image(FILES_CT_WEBP));
    assert_false(files_type_is_image(FILES_CT_PDF));
    assert_true(files_declared_image(" Image/PNG"));
    assert_false(files_declared_image("application/pdf"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_at_every_split),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_limits_at_edge),
        cmocka_unit_test(test_sniff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
