/*
 * print.c — prints values and type references in GraphQL syntax, the way
 * graphql-js's print() does (used for introspection's defaultValue and for
 * error messages). Appends to a cd_buf; allocation failures poison the buffer
 * (cd_buf_failed) and are reported there, never here.
 */
#include <stdio.h>
#include <string.h>

#include "graphql/ast.h"

/* printString(): JSON-like escapes; C0, DEL and C1 controls as \u00XX. */
static void print_string(cd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    cd_buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        unsigned ctl = 0x100;
        if (c < 0x20 || c == 0x7F) {
            ctl = c;
        } else if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9F) {
            ctl = (unsigned char)s[i + 1]; /* C1 control U+0080..U+009F */
        }
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            if (ctl < 0x100) {
                u[0] = '\\';
                u[1] = 'u';
                u[2] = '0';
                u[3] = '0';
                u[4] = hex[ctl >> 4];
                u[5] = hex[ctl & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        cd_buf_append(b, s + i - run, run);
        run = 0;
        cd_buf_puts(b, esc);
        if (c == 0xC2) i++;
    }
    cd_buf_append(b, s + n - run, run);
    cd_buf_putc(b, '"');
}

/* printBlockString() of graphql-js 16. */
static void print_block_string(cd_buf *b, const char *s, size_t n)
{
    bool single_line = memchr(s, '\n', n) == NULL && memchr(s, '\r', n) == NULL;
    /* forceLeadingNewLine: multi-line and every line after the first is empty
     * or starts with whitespace */
    bool force_lead = false;
    if (!single_line) {
        force_lead = true;
        size_t i = 0;
        while (i < n && s[i] != '\n' && s[i] != '\r')
            i++;
        while (i < n) {
            i += (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
            size_t ls = i;
            while (i < n && s[i] != '\n' && s[i] != '\r')
                i++;
            if (i > ls && s[ls] != ' ' && s[ls] != '\t') force_lead = false;
        }
    }
    /* does the escaping of """ (left to right, non-overlapping) end at n? */
    bool trailing_triple = false;
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] == '"' && s[i + 1] == '"' && s[i + 2] == '"') {
            trailing_triple = i + 3 == n;
            i += 2;
        }
    }
    bool trailing_quote = n > 0 && s[n - 1] == '"' && !trailing_triple;
    bool trailing_slash = n > 0 && s[n - 1] == '\\';
    bool force_trail = trailing_quote || trailing_slash;
    bool lead_ws = n > 0 && (s[0] == ' ' || s[0] == '\t');
    bool print_as_multi = !single_line || n > 70 || force_trail || force_lead || trailing_triple;
    cd_buf_puts(b, "\"\"\"");
    if ((print_as_multi && !(single_line && lead_ws)) || force_lead) cd_buf_putc(b, '\n');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' && i + 2 < n && s[i + 1] == '"' && s[i + 2] == '"') {
            cd_buf_append(b, s + i - run, run);
            run = 0;
            cd_buf_puts(b, "\\\"\"\"");
            i += 2;
            continue;
        }
        run++;
    }
    cd_buf_append(b, s + n - run, run);
    if (print_as_multi || force_trail) cd_buf_putc(b, '\n');
    cd_buf_puts(b, "\"\"\"");
}

void gql_print_value(cd_buf *b, const gql_value *v)
{
    switch (v->kind) {
    case GQL_V_NULL:
        cd_buf_puts(b, "null");
        return;
    case GQL_V_BOOL:
        cd_buf_puts(b, v->u.b ? "true" : "false");
        return;
    case GQL_V_INT:
        if (v->flags & GQL_VF_BIG)
            cd_buf_append(b, v->u.s, v->len);
        else
            cd_buf_printf(b, "%lld", (long long)v->u.i);
        return;
    case GQL_V_FLOAT:
        gql_json_write(b, v); /* same number formatting as JSON (JS Number) */
        return;
    case GQL_V_STRING:
        if (v->flags & GQL_VF_BLOCK)
            print_block_string(b, v->u.s, v->len);
        else
            print_string(b, v->u.s, v->len);
        return;
    case GQL_V_ENUM:
        cd_buf_append(b, v->u.s, v->len);
        return;
    case GQL_V_VARIABLE:
        cd_buf_putc(b, '$');
        cd_buf_append(b, v->u.s, v->len);
        return;
    case GQL_V_LIST:
        cd_buf_putc(b, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) cd_buf_puts(b, ", ");
            gql_print_value(b, &v->u.items[i]);
        }
        cd_buf_putc(b, ']');
        return;
    case GQL_V_OBJECT:
        cd_buf_putc(b, '{');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) cd_buf_puts(b, ", ");
            cd_buf_puts(b, v->u.fields[i].name);
            cd_buf_puts(b, ": ");
            gql_print_value(b, &v->u.fields[i].value);
        }
        cd_buf_putc(b, '}');
        return;
    case GQL_V_RAW_JSON:
        cd_buf_append(b, v->u.s, v->len);
        return;
    default:
        return;
    }
}

void gql_print_type_ref(cd_buf *b, const gql_type_ref *t)
{
    switch (t->kind) {
    case GQL_TR_NAMED:
        cd_buf_puts(b, t->name);
        return;
    case GQL_TR_LIST:
        cd_buf_putc(b, '[');
        gql_print_type_ref(b, t->of);
        cd_buf_putc(b, ']');
        return;
    default:
        gql_print_type_ref(b, t->of);
        cd_buf_putc(b, '!');
        return;
    }
}
