/*
 * parser.c — recursive-descent parser for whole GraphQL documents (executable
 * and type-system definitions, spec October 2021), producing the tree of
 * ast.h. Error texts and locations follow graphql-js 16.
 *
 * Memory: every node, array and string is allocated from the caller's arena;
 * nothing else is allocated except, for unusually long lists, one scratch
 * stack on the heap that is always released before returning. Lists are built
 * on that scratch stack (strictly nested, so one LIFO stack serves all of
 * them) and copied into the arena as (pointer, count) when complete.
 *
 * Errors unwind with longjmp to the entry point (gql_parse/gql_parse_value):
 * the arena owns all partial results and the scratch stack is released there,
 * so nothing leaks. Limits: GQL_MAX_DOCUMENT_BYTES, GQL_MAX_TOKENS and
 * GQL_MAX_PARSE_DEPTH (selection sets, list/object values and list types all
 * count toward one nesting depth) fail with CD_ELIMIT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graphql/lexer.h"

const char *const gql_dir_loc_names[GQL_DL_COUNT] = {
    "QUERY",
    "MUTATION",
    "SUBSCRIPTION",
    "FIELD",
    "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD",
    "INLINE_FRAGMENT",
    "VARIABLE_DEFINITION",
    "SCHEMA",
    "SCALAR",
    "OBJECT",
    "FIELD_DEFINITION",
    "ARGUMENT_DEFINITION",
    "INTERFACE",
    "UNION",
    "ENUM",
    "ENUM_VALUE",
    "INPUT_OBJECT",
    "INPUT_FIELD_DEFINITION",
    "DIRECTIVE_DEFINITION",
};

#define GQL_PARSER_INLINE_SCRATCH 8192

typedef struct gql_parser {
    gql_lexer lx;
    gql_token tok; /* current token */
    cd_arena *a;
    gql_syntax_error *err;
    uint32_t ntokens;
    uint32_t depth;
    int rc;
    char *scratch; /* inline_scratch or a cd_malloc'd block */
    size_t top, cap;
    jmp_buf jb;
    _Alignas(16) char inline_scratch[GQL_PARSER_INLINE_SCRATCH];
} gql_parser;

/* ---- errors ---- */

__attribute__((noreturn)) static void fail(gql_parser *p, int rc)
{
    p->rc = rc;
    longjmp(p->jb, 1);
}

__attribute__((noreturn, format(printf, 4, 5))) static void error_at(gql_parser *p, gql_loc loc,
                                                                     int rc, const char *fmt, ...)
{
    int n = snprintf(p->err->message, sizeof p->err->message, "Syntax Error: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message + n, sizeof p->err->message - (size_t)n, fmt, ap);
    va_end(ap);
    p->err->loc = loc;
    fail(p, rc);
}

__attribute__((noreturn)) static void oom(gql_parser *p)
{
    snprintf(p->err->message, sizeof p->err->message, "Out of memory while parsing.");
    p->err->loc.line = p->err->loc.col = 0;
    fail(p, CD_ENOMEM);
}

/* getTokenDesc(): `Name "x"`, `"{"`, `<EOF>`, `String "text"`. */
static const char *tok_desc(gql_parser *p, const gql_token *t, char *buf, size_t n)
{
    const char *kd = gql_tok_kind_desc(t->kind);
    const char *s = p->lx.src + t->start;
    size_t len = t->end - t->start;
    switch (t->kind) {
    case GQL_TOK_NAME:
    case GQL_TOK_INT:
    case GQL_TOK_FLOAT:
        break;
    case GQL_TOK_STRING:
    case GQL_TOK_BLOCK_STRING: {
        char *d = cd_arena_alloc(p->a, len + 1);
        if (d) {
            len = gql_lex_string_value(&p->lx, t, d);
            s = d;
        }
        break;
    }
    default:
        return kd;
    }
    char text[200];
    gql_lex_msg_text(text, sizeof text, s, len);
    snprintf(buf, n, "%s \"%s\"", kd, text);
    return buf;
}

__attribute__((noreturn)) static void unexpected(gql_parser *p, const gql_token *t)
{
    char d[256];
    error_at(p, t->loc, CD_EBAD, "Unexpected %s.", tok_desc(p, t, d, sizeof d));
}

/* ---- scratch stack ---- */

__attribute__((noinline)) static void scratch_grow(gql_parser *p, size_t size)
{
    size_t ncap = p->cap * 2;
    while (ncap - p->top < size)
        ncap *= 2;
    char *nb = cd_malloc(ncap);
    if (!nb) oom(p);
    memcpy(nb, p->scratch, p->top);
    if (p->scratch != p->inline_scratch) cd_free(p->scratch);
    p->scratch = nb;
    p->cap = ncap;
}

/* Inline so that the copy has a constant size at every call site. */
static inline void scratch_push(gql_parser *p, const void *item, size_t size)
{
    if (__builtin_expect(p->cap - p->top < size, 0)) scratch_grow(p, size);
    memcpy(p->scratch + p->top, item, size);
    p->top += size;
}

/* Moves the items pushed since `mark` into the arena; NULL when none. */
static void *scratch_pop(gql_parser *p, size_t mark, size_t size, uint32_t *n)
{
    size_t bytes = p->top - mark;
    *n = (uint32_t)(bytes / size);
    if (bytes == 0) return NULL;
    void *arr = cd_arena_alloc(p->a, bytes);
    if (!arr) oom(p);
    memcpy(arr, p->scratch + mark, bytes);
    p->top = mark;
    return arr;
}

/* ---- tokens ---- */

static void advance(gql_parser *p)
{
    if (gql_lex_next(&p->lx, &p->tok) != 0) fail(p, CD_EBAD);
    if (p->tok.kind != GQL_TOK_EOF && ++p->ntokens > GQL_MAX_TOKENS) {
        error_at(p, p->tok.loc, CD_ELIMIT,
                 "Document contains more than %u tokens. Parsing aborted.", GQL_MAX_TOKENS);
    }
}

static inline bool peek(const gql_parser *p, int kind)
{
    return p->tok.kind == kind;
}

static bool optional(gql_parser *p, int kind)
{
    if (p->tok.kind != kind) return false;
    advance(p);
    return true;
}

static gql_token expect(gql_parser *p, int kind)
{
    gql_token t = p->tok;
    if (t.kind != kind) {
        char d[256];
        error_at(p, t.loc, CD_EBAD, "Expected %s, found %s.", gql_tok_kind_desc(kind),
                 tok_desc(p, &t, d, sizeof d));
    }
    advance(p);
    return t;
}

static inline bool tok_is(const gql_parser *p, const gql_token *t, const char *kw, size_t kwlen)
{
    return t->kind == GQL_TOK_NAME && t->end - t->start == kwlen &&
           memcmp(p->lx.src + t->start, kw, kwlen) == 0;
}
#define IS_KW(p, t, kw) tok_is(p, t, kw, sizeof(kw) - 1)

static bool optional_keyword(gql_parser *p, const char *kw, size_t kwlen)
{
    if (!tok_is(p, &p->tok, kw, kwlen)) return false;
    advance(p);
    return true;
}
#define OPTIONAL_KW(p, kw) optional_keyword(p, kw, sizeof(kw) - 1)

static void expect_keyword(gql_parser *p, const char *kw, size_t kwlen)
{
    if (!tok_is(p, &p->tok, kw, kwlen)) {
        char d[256];
        error_at(p, p->tok.loc, CD_EBAD, "Expected \"%s\", found %s.", kw,
                 tok_desc(p, &p->tok, d, sizeof d));
    }
    advance(p);
}
#define EXPECT_KW(p, kw) expect_keyword(p, kw, sizeof(kw) - 1)

static void *alloc0(gql_parser *p, size_t size)
{
    void *x = cd_arena_calloc(p->a, 1, size);
    if (!x) oom(p);
    return x;
}
#define NEW(p, T) ((T *)alloc0(p, sizeof(T)))

static const char *tok_text(gql_parser *p, const gql_token *t)
{
    char *s = cd_arena_strndup(p->a, p->lx.src + t->start, t->end - t->start);
    if (!s) oom(p);
    return s;
}

static const char *parse_name(gql_parser *p, gql_loc *loc)
{
    gql_token t = expect(p, GQL_TOK_NAME);
    if (loc) *loc = t.loc;
    return tok_text(p, &t);
}

static void enter(gql_parser *p)
{
    if (++p->depth > GQL_MAX_PARSE_DEPTH) {
        error_at(p, p->tok.loc, CD_ELIMIT,
                 "Document nesting is deeper than %u levels. Parsing aborted.",
                 GQL_MAX_PARSE_DEPTH);
    }
}

static inline void leave(gql_parser *p)
{
    p->depth--;
}

/* ---- values ---- */

static void parse_value(gql_parser *p, bool is_const, gql_value *out);

/* Decoded string of the current STRING/BLOCK_STRING token; advances. */
static void parse_string(gql_parser *p, gql_value *out)
{
    gql_token t = p->tok;
    size_t raw = t.end - t.start;
    char *d = cd_arena_alloc(p->a, raw + 1);
    if (!d) oom(p);
    size_t n = gql_lex_string_value(&p->lx, &t, d);
    d[n] = '\0';
    memset(out, 0, sizeof *out);
    out->kind = GQL_V_STRING;
    out->flags = t.kind == GQL_TOK_BLOCK_STRING ? GQL_VF_BLOCK : 0;
    out->len = (uint32_t)n;
    out->loc = t.loc;
    out->u.s = d;
    advance(p);
}

static const char *parse_description(gql_parser *p)
{
    if (!peek(p, GQL_TOK_STRING) && !peek(p, GQL_TOK_BLOCK_STRING)) return NULL;
    gql_value v;
    parse_string(p, &v);
    return v.u.s;
}

static void int_value(gql_parser *p, const gql_token *t, gql_value *out)
{
    const char *s = p->lx.src + t->start, *e = p->lx.src + t->end;
    bool neg = *s == '-';
    if (neg) s++;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; s < e; s++) {
        unsigned dgt = (unsigned)(*s - '0');
        if (v > (limit - dgt) / 10) {
            /* outside int64: keep the literal text for messages (GQL_VF_BIG) */
            out->flags = GQL_VF_BIG;
            out->u.s = tok_text(p, t);
            out->len = t->end - t->start;
            return;
        }
        v = v * 10 + dgt;
    }
    out->u.i = neg ? (int64_t)(0 - v) : (int64_t)v;
}

static void float_value(gql_parser *p, const gql_token *t, gql_value *out)
{
    size_t n = t->end - t->start;
    char buf[64];
    const char *txt;
    if (n < sizeof buf) {
        memcpy(buf, p->lx.src + t->start, n);
        buf[n] = '\0';
        txt = buf;
    } else {
        txt = tok_text(p, t);
    }
    out->u.f = strtod(txt, NULL);
}

static void parse_list(gql_parser *p, bool is_const, gql_value *out)
{
    out->kind = GQL_V_LIST;
    out->loc = p->tok.loc;
    enter(p);
    advance(p); /* [ */
    size_t mark = p->top;
    while (!optional(p, GQL_TOK_BRACKET_R)) {
        gql_value item;
        parse_value(p, is_const, &item);
        scratch_push(p, &item, sizeof item);
    }
    out->u.items = scratch_pop(p, mark, sizeof(gql_value), &out->len);
    leave(p);
}

static void parse_object(gql_parser *p, bool is_const, gql_value *out)
{
    out->kind = GQL_V_OBJECT;
    out->loc = p->tok.loc;
    enter(p);
    advance(p); /* { */
    size_t mark = p->top;
    while (!optional(p, GQL_TOK_BRACE_R)) {
        gql_kv kv;
        kv.name = parse_name(p, &kv.loc);
        expect(p, GQL_TOK_COLON);
        parse_value(p, is_const, &kv.value);
        scratch_push(p, &kv, sizeof kv);
    }
    out->u.fields = scratch_pop(p, mark, sizeof(gql_kv), &out->len);
    leave(p);
}

static void parse_value(gql_parser *p, bool is_const, gql_value *out)
{
    gql_token t = p->tok;
    memset(out, 0, sizeof *out);
    out->loc = t.loc;
    switch (t.kind) {
    case GQL_TOK_BRACKET_L:
        parse_list(p, is_const, out);
        return;
    case GQL_TOK_BRACE_L:
        parse_object(p, is_const, out);
        return;
    case GQL_TOK_INT:
        out->kind = GQL_V_INT;
        int_value(p, &t, out);
        advance(p);
        return;
    case GQL_TOK_FLOAT:
        out->kind = GQL_V_FLOAT;
        float_value(p, &t, out);
        advance(p);
        return;
    case GQL_TOK_STRING:
    case GQL_TOK_BLOCK_STRING:
        parse_string(p, out);
        return;
    case GQL_TOK_NAME:
        if (IS_KW(p, &t, "true") || IS_KW(p, &t, "false")) {
            out->kind = GQL_V_BOOL;
            out->u.b = IS_KW(p, &t, "true");
        } else if (IS_KW(p, &t, "null")) {
            out->kind = GQL_V_NULL;
        } else {
            out->kind = GQL_V_ENUM;
            out->u.s = tok_text(p, &t);
            out->len = t.end - t.start;
        }
        advance(p);
        return;
    case GQL_TOK_DOLLAR:
        advance(p);
        if (is_const) {
            if (peek(p, GQL_TOK_NAME)) {
                char name[200];
                gql_lex_msg_text(name, sizeof name, p->lx.src + p->tok.start,
                                 p->tok.end - p->tok.start);
                error_at(p, t.loc, CD_EBAD, "Unexpected variable \"$%s\" in constant value.", name);
            }
            unexpected(p, &t);
        }
        out->kind = GQL_V_VARIABLE;
        out->u.s = parse_name(p, NULL);
        out->len = (uint32_t)strlen(out->u.s);
        return;
    default:
        unexpected(p, &t);
    }
}

/* ---- directives, arguments, types ---- */

static void parse_arguments(gql_parser *p, bool is_const, gql_argument **args, uint32_t *n)
{
    *args = NULL;
    *n = 0;
    if (!optional(p, GQL_TOK_PAREN_L)) return;
    size_t mark = p->top;
    do {
        gql_argument arg;
        arg.name = parse_name(p, &arg.loc);
        expect(p, GQL_TOK_COLON);
        parse_value(p, is_const, &arg.value);
        scratch_push(p, &arg, sizeof arg);
    } while (!optional(p, GQL_TOK_PAREN_R));
    *args = scratch_pop(p, mark, sizeof(gql_argument), n);
}

static void parse_directives(gql_parser *p, bool is_const, gql_directive **dirs, uint32_t *n)
{
    *dirs = NULL;
    *n = 0;
    if (!peek(p, GQL_TOK_AT)) return;
    size_t mark = p->top;
    while (peek(p, GQL_TOK_AT)) {
        gql_directive d;
        d.loc = p->tok.loc;
        advance(p);
        d.name = parse_name(p, NULL);
        parse_arguments(p, is_const, &d.args, &d.nargs);
        scratch_push(p, &d, sizeof d);
    }
    *dirs = scratch_pop(p, mark, sizeof(gql_directive), n);
}

static gql_type_ref *parse_type(gql_parser *p)
{
    gql_loc start = p->tok.loc;
    gql_type_ref *t = NEW(p, gql_type_ref);
    t->loc = start;
    if (peek(p, GQL_TOK_BRACKET_L)) {
        enter(p);
        advance(p);
        t->kind = GQL_TR_LIST;
        t->of = parse_type(p);
        expect(p, GQL_TOK_BRACKET_R);
        leave(p);
    } else {
        t->kind = GQL_TR_NAMED;
        t->name = parse_name(p, NULL);
    }
    if (optional(p, GQL_TOK_BANG)) {
        gql_type_ref *nn = NEW(p, gql_type_ref);
        nn->kind = GQL_TR_NON_NULL;
        nn->loc = start;
        nn->of = t;
        return nn;
    }
    return t;
}

/* ---- executable definitions ---- */

static gql_selection_set *parse_selection_set(gql_parser *p);

static void parse_selection(gql_parser *p, gql_selection *s)
{
    memset(s, 0, sizeof *s);
    s->loc = p->tok.loc;
    if (optional(p, GQL_TOK_SPREAD)) {
        bool has_on = OPTIONAL_KW(p, "on");
        if (!has_on && peek(p, GQL_TOK_NAME)) {
            s->kind = GQL_SEL_FRAGMENT_SPREAD;
            s->name = parse_name(p, &s->name_loc);
            parse_directives(p, false, &s->dirs, &s->ndirs);
            return;
        }
        s->kind = GQL_SEL_INLINE_FRAGMENT;
        if (has_on) s->type_cond = parse_name(p, &s->type_cond_loc);
        parse_directives(p, false, &s->dirs, &s->ndirs);
        s->sel = parse_selection_set(p);
        return;
    }
    s->kind = GQL_SEL_FIELD;
    s->name = parse_name(p, &s->name_loc);
    if (optional(p, GQL_TOK_COLON)) {
        s->alias = s->name;
        s->name = parse_name(p, &s->name_loc);
    }
    parse_arguments(p, false, &s->args, &s->nargs);
    parse_directives(p, false, &s->dirs, &s->ndirs);
    if (peek(p, GQL_TOK_BRACE_L)) s->sel = parse_selection_set(p);
}

static gql_selection_set *parse_selection_set(gql_parser *p)
{
    gql_selection_set *set = NEW(p, gql_selection_set);
    set->loc = p->tok.loc;
    if (peek(p, GQL_TOK_BRACE_L)) enter(p);
    expect(p, GQL_TOK_BRACE_L);
    size_t mark = p->top;
    do {
        gql_selection s;
        parse_selection(p, &s);
        scratch_push(p, &s, sizeof s);
    } while (!optional(p, GQL_TOK_BRACE_R));
    set->items = scratch_pop(p, mark, sizeof(gql_selection), &set->n);
    leave(p);
    return set;
}

static uint8_t parse_operation_type(gql_parser *p)
{
    gql_token t = expect(p, GQL_TOK_NAME);
    if (IS_KW(p, &t, "query")) return GQL_OP_QUERY;
    if (IS_KW(p, &t, "mutation")) return GQL_OP_MUTATION;
    if (IS_KW(p, &t, "subscription")) return GQL_OP_SUBSCRIPTION;
    unexpected(p, &t);
}

static void parse_var_defs(gql_parser *p, gql_operation *op)
{
    if (!optional(p, GQL_TOK_PAREN_L)) return;
    size_t mark = p->top;
    do {
        gql_var_def v;
        memset(&v, 0, sizeof v);
        parse_description(p); /* graphql-js 16 accepts (and we drop) descriptions here */
        v.loc = expect(p, GQL_TOK_DOLLAR).loc;
        v.name = parse_name(p, &v.name_loc);
        expect(p, GQL_TOK_COLON);
        v.type = parse_type(p);
        if (optional(p, GQL_TOK_EQUALS)) {
            v.default_value = NEW(p, gql_value);
            parse_value(p, true, v.default_value);
        }
        parse_directives(p, true, &v.dirs, &v.ndirs);
        scratch_push(p, &v, sizeof v);
    } while (!optional(p, GQL_TOK_PAREN_R));
    op->vars = scratch_pop(p, mark, sizeof(gql_var_def), &op->nvars);
}

static gql_operation *parse_operation(gql_parser *p)
{
    gql_operation *op = NEW(p, gql_operation);
    op->loc = p->tok.loc;
    if (peek(p, GQL_TOK_BRACE_L)) {
        op->op = GQL_OP_QUERY;
        op->sel = parse_selection_set(p);
        return op;
    }
    op->op = parse_operation_type(p);
    if (peek(p, GQL_TOK_NAME)) op->name = parse_name(p, &op->name_loc);
    parse_var_defs(p, op);
    parse_directives(p, false, &op->dirs, &op->ndirs);
    op->sel = parse_selection_set(p);
    return op;
}

static gql_fragment *parse_fragment(gql_parser *p, gql_loc loc)
{
    gql_fragment *f = NEW(p, gql_fragment);
    f->loc = loc;
    EXPECT_KW(p, "fragment");
    if (IS_KW(p, &p->tok, "on")) unexpected(p, &p->tok);
    f->name = parse_name(p, &f->name_loc);
    EXPECT_KW(p, "on");
    f->type_cond = parse_name(p, &f->type_cond_loc);
    parse_directives(p, false, &f->dirs, &f->ndirs);
    f->sel = parse_selection_set(p);
    return f;
}

/* ---- type system ---- */

static void parse_input_value_def(gql_parser *p, gql_input_value_def *iv)
{
    memset(iv, 0, sizeof *iv);
    iv->loc = p->tok.loc;
    iv->desc = parse_description(p);
    iv->name = parse_name(p, NULL);
    expect(p, GQL_TOK_COLON);
    iv->type = parse_type(p);
    if (optional(p, GQL_TOK_EQUALS)) {
        iv->default_value = NEW(p, gql_value);
        parse_value(p, true, iv->default_value);
    }
    parse_directives(p, true, &iv->dirs, &iv->ndirs);
}

/* optionalMany(open, InputValueDefinition, close) */
static gql_input_value_def *parse_input_value_defs(gql_parser *p, int open, int close, uint32_t *n)
{
    *n = 0;
    if (!optional(p, open)) return NULL;
    size_t mark = p->top;
    do {
        gql_input_value_def iv;
        parse_input_value_def(p, &iv);
        scratch_push(p, &iv, sizeof iv);
    } while (!optional(p, close));
    return scratch_pop(p, mark, sizeof(gql_input_value_def), n);
}

static void parse_fields_def(gql_parser *p, gql_type_def *td)
{
    if (!optional(p, GQL_TOK_BRACE_L)) return;
    size_t mark = p->top;
    do {
        gql_field_def f;
        memset(&f, 0, sizeof f);
        f.loc = p->tok.loc;
        f.desc = parse_description(p);
        f.name = parse_name(p, NULL);
        f.args = parse_input_value_defs(p, GQL_TOK_PAREN_L, GQL_TOK_PAREN_R, &f.nargs);
        expect(p, GQL_TOK_COLON);
        f.type = parse_type(p);
        parse_directives(p, true, &f.dirs, &f.ndirs);
        scratch_push(p, &f, sizeof f);
    } while (!optional(p, GQL_TOK_BRACE_R));
    td->fields = scratch_pop(p, mark, sizeof(gql_field_def), &td->nfields);
}

/* delimitedMany(delim, NamedType): an optional leading delimiter, then names. */
static const char **parse_name_list(gql_parser *p, int delim, uint32_t *n)
{
    optional(p, delim);
    size_t mark = p->top;
    do {
        const char *name = parse_name(p, NULL);
        scratch_push(p, &name, sizeof name);
    } while (optional(p, delim));
    return scratch_pop(p, mark, sizeof(const char *), n);
}

static void parse_enum_values(gql_parser *p, gql_type_def *td)
{
    if (!optional(p, GQL_TOK_BRACE_L)) return;
    size_t mark = p->top;
    do {
        gql_enum_value_def ev;
        memset(&ev, 0, sizeof ev);
        ev.loc = p->tok.loc;
        ev.desc = parse_description(p);
        if (IS_KW(p, &p->tok, "true") || IS_KW(p, &p->tok, "false") || IS_KW(p, &p->tok, "null")) {
            char d[256];
            error_at(p, p->tok.loc, CD_EBAD, "%s is reserved and cannot be used for an enum value.",
                     tok_desc(p, &p->tok, d, sizeof d));
        }
        ev.name = parse_name(p, NULL);
        parse_directives(p, true, &ev.dirs, &ev.ndirs);
        scratch_push(p, &ev, sizeof ev);
    } while (!optional(p, GQL_TOK_BRACE_R));
    td->values = scratch_pop(p, mark, sizeof(gql_enum_value_def), &td->nvalues);
}

/* Type definitions and extensions after the keyword token (current). */
static gql_type_def *parse_type_def(gql_parser *p, gql_loc loc, const char *desc, bool ext)
{
    gql_type_def *td = NEW(p, gql_type_def);
    td->loc = loc;
    td->desc = desc;
    td->extension = ext;
    gql_token kw = p->tok;
    advance(p);
    td->name = parse_name(p, NULL);
    bool empty;
    if (IS_KW(p, &kw, "scalar")) {
        td->kind = GQL_T_SCALAR;
        parse_directives(p, true, &td->dirs, &td->ndirs);
        empty = td->ndirs == 0;
    } else if (IS_KW(p, &kw, "type") || IS_KW(p, &kw, "interface")) {
        td->kind = IS_KW(p, &kw, "type") ? GQL_T_OBJECT : GQL_T_INTERFACE;
        if (OPTIONAL_KW(p, "implements"))
            td->interfaces = parse_name_list(p, GQL_TOK_AMP, &td->ninterfaces);
        parse_directives(p, true, &td->dirs, &td->ndirs);
        parse_fields_def(p, td);
        empty = td->ninterfaces == 0 && td->ndirs == 0 && td->nfields == 0;
    } else if (IS_KW(p, &kw, "union")) {
        td->kind = GQL_T_UNION;
        parse_directives(p, true, &td->dirs, &td->ndirs);
        if (optional(p, GQL_TOK_EQUALS))
            td->members = parse_name_list(p, GQL_TOK_PIPE, &td->nmembers);
        empty = td->ndirs == 0 && td->nmembers == 0;
    } else if (IS_KW(p, &kw, "enum")) {
        td->kind = GQL_T_ENUM;
        parse_directives(p, true, &td->dirs, &td->ndirs);
        parse_enum_values(p, td);
        empty = td->ndirs == 0 && td->nvalues == 0;
    } else { /* input */
        td->kind = GQL_T_INPUT_OBJECT;
        parse_directives(p, true, &td->dirs, &td->ndirs);
        td->input_fields =
            parse_input_value_defs(p, GQL_TOK_BRACE_L, GQL_TOK_BRACE_R, &td->ninput_fields);
        empty = td->ndirs == 0 && td->ninput_fields == 0;
    }
    if (ext && empty) unexpected(p, &p->tok);
    return td;
}

static gql_schema_def *parse_schema_def(gql_parser *p, gql_loc loc, const char *desc, bool ext)
{
    gql_schema_def *sd = NEW(p, gql_schema_def);
    sd->loc = loc;
    sd->desc = desc;
    sd->extension = ext;
    advance(p); /* schema */
    parse_directives(p, true, &sd->dirs, &sd->ndirs);
    bool any = false;
    /* a definition needs its { ... }; an extension may have only directives */
    if (!ext) expect(p, GQL_TOK_BRACE_L);
    if (!ext || optional(p, GQL_TOK_BRACE_L)) {
        do {
            uint8_t op = parse_operation_type(p);
            expect(p, GQL_TOK_COLON);
            sd->root[op] = parse_name(p, NULL);
            any = true;
        } while (!optional(p, GQL_TOK_BRACE_R));
    }
    if (ext && !any && sd->ndirs == 0) unexpected(p, &p->tok);
    return sd;
}

static gql_directive_def *parse_directive_def(gql_parser *p, gql_loc loc, const char *desc)
{
    gql_directive_def *dd = NEW(p, gql_directive_def);
    dd->loc = loc;
    dd->desc = desc;
    advance(p); /* directive */
    expect(p, GQL_TOK_AT);
    dd->name = parse_name(p, NULL);
    dd->args = parse_input_value_defs(p, GQL_TOK_PAREN_L, GQL_TOK_PAREN_R, &dd->nargs);
    dd->repeatable = OPTIONAL_KW(p, "repeatable");
    EXPECT_KW(p, "on");
    optional(p, GQL_TOK_PIPE);
    do {
        gql_token t = expect(p, GQL_TOK_NAME);
        int found = -1;
        for (int i = 0; i < GQL_DL_COUNT; i++) {
            size_t n = strlen(gql_dir_loc_names[i]);
            if (t.end - t.start == n && memcmp(p->lx.src + t.start, gql_dir_loc_names[i], n) == 0) {
                found = i;
                break;
            }
        }
        if (found < 0) unexpected(p, &t);
        dd->locations |= 1u << found;
    } while (optional(p, GQL_TOK_PIPE));
    return dd;
}

static void parse_definition(gql_parser *p, gql_definition *def)
{
    memset(def, 0, sizeof *def);
    if (peek(p, GQL_TOK_BRACE_L)) {
        def->kind = GQL_DEF_OPERATION;
        def->u.op = parse_operation(p);
        return;
    }
    gql_token first = p->tok;
    const char *desc = parse_description(p);
    gql_token kw = p->tok;
    if (desc && kw.kind == GQL_TOK_BRACE_L) {
        error_at(p, first.loc, CD_EBAD,
                 "Unexpected description, descriptions are not supported on shorthand queries.");
    }
    if (kw.kind == GQL_TOK_NAME) {
        if (IS_KW(p, &kw, "scalar") || IS_KW(p, &kw, "type") || IS_KW(p, &kw, "interface") ||
            IS_KW(p, &kw, "union") || IS_KW(p, &kw, "enum") || IS_KW(p, &kw, "input")) {
            def->kind = GQL_DEF_TYPE;
            def->u.type = parse_type_def(p, first.loc, desc, false);
            return;
        }
        if (IS_KW(p, &kw, "schema")) {
            def->kind = GQL_DEF_SCHEMA;
            def->u.schema = parse_schema_def(p, first.loc, desc, false);
            return;
        }
        if (IS_KW(p, &kw, "directive")) {
            def->kind = GQL_DEF_DIRECTIVE;
            def->u.dir = parse_directive_def(p, first.loc, desc);
            return;
        }
        if (IS_KW(p, &kw, "query") || IS_KW(p, &kw, "mutation") || IS_KW(p, &kw, "subscription")) {
            def->kind = GQL_DEF_OPERATION;
            def->u.op = parse_operation(p);
            return;
        }
        if (IS_KW(p, &kw, "fragment")) {
            def->kind = GQL_DEF_FRAGMENT;
            def->u.frag = parse_fragment(p, kw.loc);
            return;
        }
        if (desc) {
            error_at(p, first.loc, CD_EBAD,
                     "Unexpected description, only GraphQL definitions support descriptions.");
        }
        if (IS_KW(p, &kw, "extend")) {
            advance(p);
            gql_token t = p->tok;
            if (IS_KW(p, &t, "schema")) {
                def->kind = GQL_DEF_SCHEMA;
                def->u.schema = parse_schema_def(p, kw.loc, NULL, true);
                return;
            }
            if (IS_KW(p, &t, "scalar") || IS_KW(p, &t, "type") || IS_KW(p, &t, "interface") ||
                IS_KW(p, &t, "union") || IS_KW(p, &t, "enum") || IS_KW(p, &t, "input")) {
                def->kind = GQL_DEF_TYPE;
                def->u.type = parse_type_def(p, kw.loc, NULL, true);
                return;
            }
            unexpected(p, &t);
        }
    }
    unexpected(p, &kw);
}

/* ---- entry points ---- */

static void parser_init(gql_parser *p, cd_arena *a, const char *src, size_t len,
                        gql_syntax_error *err)
{
    gql_lexer_init(&p->lx, src, len, err);
    memset(&p->tok, 0, sizeof p->tok);
    p->tok.kind = GQL_TOK_SOF;
    p->a = a;
    p->err = err;
    p->ntokens = 0;
    p->depth = 0;
    p->rc = 0;
    p->scratch = p->inline_scratch;
    p->top = 0;
    p->cap = sizeof p->inline_scratch;
}

static void parser_release(gql_parser *p)
{
    if (p->scratch != p->inline_scratch) cd_free(p->scratch);
    p->scratch = p->inline_scratch;
}

static int check_size(size_t len, gql_syntax_error *err)
{
    if (len <= GQL_MAX_DOCUMENT_BYTES) return 0;
    snprintf(err->message, sizeof err->message,
             "Syntax Error: Document is larger than %u bytes. Parsing aborted.",
             GQL_MAX_DOCUMENT_BYTES);
    err->loc.line = err->loc.col = 0;
    return CD_ELIMIT;
}

static void parse_document(gql_parser *p, gql_document *doc)
{
    advance(p); /* SOF */
    size_t mark = p->top;
    do {
        gql_definition d;
        parse_definition(p, &d);
        scratch_push(p, &d, sizeof d);
    } while (!optional(p, GQL_TOK_EOF));
    doc->defs = scratch_pop(p, mark, sizeof(gql_definition), &doc->ndefs);
    doc->ntokens = p->ntokens;
}

int gql_parse(cd_arena *a, const char *src, size_t len, gql_document **out, gql_syntax_error *err)
{
    gql_syntax_error dummy;
    if (!err) err = &dummy;
    *out = NULL;
    int rc = check_size(len, err);
    if (rc) return rc;
    gql_parser p;
    parser_init(&p, a, src, len, err);
    gql_document *doc = cd_arena_calloc(a, 1, sizeof *doc);
    if (!doc) {
        snprintf(err->message, sizeof err->message, "Out of memory while parsing.");
        err->loc.line = err->loc.col = 0;
        return CD_ENOMEM;
    }
    if (setjmp(p.jb) == 0) {
        parse_document(&p, doc);
        *out = doc;
    }
    parser_release(&p);
    return p.rc;
}

int gql_parse_value(cd_arena *a, const char *src, size_t len, bool const_only, gql_value *out,
                    gql_syntax_error *err)
{
    gql_syntax_error dummy;
    if (!err) err = &dummy;
    int rc = check_size(len, err);
    if (rc) return rc;
    gql_parser p;
    parser_init(&p, a, src, len, err);
    if (setjmp(p.jb) == 0) {
        advance(&p); /* SOF */
        parse_value(&p, const_only, out);
        expect(&p, GQL_TOK_EOF);
    }
    parser_release(&p);
    return p.rc;
}
