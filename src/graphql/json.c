/*
 * json.c — RFC 8259 JSON reader into gql_value and compact writer (stub; the
 * full implementation follows).
 */
#include <stdio.h>

#include "../core/core.h"
#include "value.h"

int gql_json_parse(cd_arena *a, const char *buf, size_t len, gql_value *out, char *err,
                   size_t errlen)
{
    (void)a; (void)buf; (void)len; (void)out;
    snprintf(err, errlen, "not implemented");
    return CD_ESTATE;
}

void gql_json_write(cd_buf *b, const gql_value *v)
{
    (void)v;
    cd_buf_puts(b, "null");
}
