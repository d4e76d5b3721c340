/*
 * introspect.c — the values behind __schema and __type(name:).
 *
 * The whole introspection answer of a schema is built once, on first use, as a
 * tree of plain OBJECT values carrying "__typename" (__Schema, __Type, __Field,
 * __InputValue, __EnumValue, __Directive), so the executor's default resolver
 * serves every introspection field like any other object property. The tree
 * lives in the schema's arena and is cached in gql_schema.introspection; each
 * named type's __Type object is also indexed by gql_type.index for __type.
 * Named types are shared nodes (every reference to "User" is a copy of the
 * same OBJECT value, i.e. the same field array); wrapper types (LIST,
 * NON_NULL) are their own small __Type objects.
 *
 * includeDeprecated: the prebuilt objects hold the FULL lists (deprecated
 * entries included) under "fields", "enumValues", "inputFields", "args" and
 * "directives";
 * gql_introspection_bind() binds a resolver on those fields that drops
 * deprecated entries unless includeDeprecated is true. The filtered list is
 * allocated in the request's arena; the prebuilt tree is never modified after
 * it is built, so it is safe to share between requests.
 *
 * __InputValue.defaultValue is printed the way graphql-js prints it (the SDL
 * literal coerced to its type, then printed as a GraphQL literal): a single
 * value for a list type becomes a one-item list, omitted input-object fields
 * with defaults are filled in, numbers are printed in JavaScript's shortest
 * form, IDs that look like integers are printed bare.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_internal.h"

/* Slots of a __Type object (index of each field in the OBJECT). */
enum {
    TY_TYPENAME,
    TY_KIND,
    TY_NAME,
    TY_DESC,
    TY_SPECIFIED_BY,
    TY_FIELDS,
    TY_INTERFACES,
    TY_POSSIBLE,
    TY_ENUM_VALUES,
    TY_INPUT_FIELDS,
    TY_OF_TYPE,
    TY_IS_ONEOF,
    TY_NSLOTS
};

/* Wrapper types are memoized while building: one __Type object per distinct
 * (kind, inner type object), found by open addressing on the inner object's
 * field-array pointer. The table is heap memory released when the build ends. */
typedef struct gql_ib_wrap {
    const gql_kv *inner; /* NULL = free slot */
    uint8_t kind;
    gql_value obj;
} gql_ib_wrap;

typedef struct gql_ib {
    cd_arena *a;
    gql_schema *s;
    bool oom;
    gql_ib_wrap *wraps;      /* NULL: no memo (allocation failed), still correct */
    size_t nwraps, capwraps; /* capwraps is a power of two */
} gql_ib;

static gql_value ib_str(const char *s)
{
    return s ? gql_str_ref(s, strlen(s)) : gql_null();
}

static const char *const gql_type_kind_names[] = {
    [GQL_T_SCALAR] = "SCALAR", [GQL_T_OBJECT] = "OBJECT", [GQL_T_INTERFACE] = "INTERFACE",
    [GQL_T_UNION] = "UNION",   [GQL_T_ENUM] = "ENUM",     [GQL_T_INPUT_OBJECT] = "INPUT_OBJECT",
};

/* ---- defaultValue printing (graphql-js astFromValue(valueFromAST(..)) + print) ---- */

/* JavaScript Number::toString for finite doubles. */
static void ib_print_js_number(cd_buf *b, double x)
{
    if (!isfinite(x)) {
        cd_buf_puts(b, "null");
        return;
    }
    if (x == 0) {
        cd_buf_putc(b, '0');
        return;
    }
    char tmp[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    /* tmp = [-]d[.ddd]e±XX: collect digits and exponent */
    const char *p = tmp;
    if (*p == '-') {
        cd_buf_putc(b, '-');
        p++;
    }
    char digits[24];
    int k = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;                 /* trailing zeros of the mantissa */
    int n = atoi(p + 1) + 1; /* position of the decimal point */
    if (k <= n && n <= 21) {
        cd_buf_append(b, digits, (size_t)k);
        for (int i = k; i < n; i++)
            cd_buf_putc(b, '0');
    } else if (0 < n && n <= 21) {
        cd_buf_append(b, digits, (size_t)n);
        cd_buf_putc(b, '.');
        cd_buf_append(b, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        cd_buf_puts(b, "0.");
        for (int i = 0; i < -n; i++)
            cd_buf_putc(b, '0');
        cd_buf_append(b, digits, (size_t)k);
    } else {
        cd_buf_putc(b, digits[0]);
        if (k > 1) {
            cd_buf_putc(b, '.');
            cd_buf_append(b, digits + 1, (size_t)(k - 1));
        }
        cd_buf_printf(b, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}

/* graphql-js printString: JSON-like, control and C1 characters as \uXXXX. */
static void ib_print_string(cd_buf *b, const char *s, size_t len)
{
    cd_buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            cd_buf_puts(b, "\\\"");
            continue;
        case '\\':
            cd_buf_puts(b, "\\\\");
            continue;
        case '\b':
            cd_buf_puts(b, "\\b");
            continue;
        case '\t':
            cd_buf_puts(b, "\\t");
            continue;
        case '\n':
            cd_buf_puts(b, "\\n");
            continue;
        case '\f':
            cd_buf_puts(b, "\\f");
            continue;
        case '\r':
            cd_buf_puts(b, "\\r");
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            cd_buf_printf(b, "\\u%04X", c);
        } else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            cd_buf_printf(b, "\\u%04X", (unsigned char)s[i + 1]);
            i++;
        } else {
            cd_buf_putc(b, (char)c);
        }
    }
    cd_buf_putc(b, '"');
}

static bool ib_is_int_string(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-') i++;
    if (i == len) return false;
    if (s[i] == '0') return i + 1 == len;
    for (; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static void ib_print_default(cd_buf *b, const gql_value *v, const gql_tref *t);

static void ib_print_leaf(cd_buf *b, const gql_value *v, const gql_type *named)
{
    switch (v->kind) {
    case GQL_V_INT: {
        /* Int and ID keep the literal's digits; Float and custom scalars go
         * through a JavaScript number (graphql-js parseFloat / parseInt). */
        bool exact = strcmp(named->name, "Int") == 0 || strcmp(named->name, "ID") == 0;
        if (v->flags & GQL_VF_BIG) {
            if (exact) {
                cd_buf_append(b, v->u.s, v->len);
            } else {
                char tmp[400];
                size_t n = v->len < sizeof tmp - 1 ? v->len : sizeof tmp - 1;
                memcpy(tmp, v->u.s, n);
                tmp[n] = '\0';
                ib_print_js_number(b, strtod(tmp, NULL));
            }
        } else if (exact) {
            cd_buf_printf(b, "%lld", (long long)v->u.i);
        } else {
            ib_print_js_number(b, (double)v->u.i);
        }
        return;
    }
    case GQL_V_FLOAT:
        ib_print_js_number(b, v->u.f);
        return;
    case GQL_V_STRING:
        if (named->kind == GQL_T_SCALAR && strcmp(named->name, "ID") == 0 &&
            ib_is_int_string(v->u.s, v->len))
            cd_buf_append(b, v->u.s, v->len);
        else
            ib_print_string(b, v->u.s, v->len);
        return;
    case GQL_V_BOOL:
        cd_buf_puts(b, v->u.b ? "true" : "false");
        return;
    case GQL_V_ENUM:
        cd_buf_append(b, v->u.s, v->len);
        return;
    case GQL_V_NULL:
        cd_buf_puts(b, "null");
        return;
    default:
        gql_print_value(b, v);
        return;
    }
}

static void ib_print_default(cd_buf *b, const gql_value *v, const gql_tref *t)
{
    while (t && t->kind == GQL_TR_NON_NULL)
        t = t->of;
    if (!t || v->kind == GQL_V_NULL) {
        cd_buf_puts(b, "null");
        return;
    }
    if (t->kind == GQL_TR_LIST) {
        cd_buf_putc(b, '[');
        if (v->kind == GQL_V_LIST) {
            for (uint32_t i = 0; i < v->len; i++) {
                if (i) cd_buf_puts(b, ", ");
                ib_print_default(b, &v->u.items[i], t->of);
            }
        } else {
            ib_print_default(b, v, t->of);
        }
        cd_buf_putc(b, ']');
        return;
    }
    const gql_type *named = t->named;
    if (named->kind == GQL_T_INPUT_OBJECT && v->kind == GQL_V_OBJECT) {
        cd_buf_putc(b, '{');
        bool first = true;
        for (uint32_t i = 0; i < named->ninput_fields; i++) {
            const gql_input_value *f = &named->input_fields[i];
            const gql_value *fv = gql_obj_get(v, f->name);
            if (!fv) fv = f->default_value;
            if (!fv) continue;
            if (!first) cd_buf_puts(b, ", ");
            first = false;
            cd_buf_printf(b, "%s: ", f->name);
            ib_print_default(b, fv, f->type);
        }
        cd_buf_putc(b, '}');
        return;
    }
    ib_print_leaf(b, v, named);
}

/* ---- tree building ---- */

static gql_value *ib_obj(gql_ib *ib, uint32_t n, const char *typename)
{
    gql_value *o = gql_obj_new(ib->a, n);
    if (!o) {
        ib->oom = true;
        return NULL;
    }
    gql_obj_set(o, 0, "__typename", ib_str(typename));
    return o;
}

static gql_value *ib_list(gql_ib *ib, uint32_t n)
{
    gql_value *l = gql_list_new(ib->a, n);
    if (!l) ib->oom = true;
    return l;
}

static gql_value ib_type_ref(gql_ib *ib, const gql_tref *t)
{
    if (!t) return gql_null();
    if (t->kind == GQL_TR_NAMED) return *ib->s->introspection_types[t->named->index];
    gql_value inner = ib_type_ref(ib, t->of);
    gql_ib_wrap *slot = NULL;
    if (ib->wraps && inner.kind == GQL_V_OBJECT && ib->nwraps * 2 < ib->capwraps) {
        size_t h = ((uintptr_t)inner.u.fields >> 4) * 2u + t->kind;
        for (size_t i = h & (ib->capwraps - 1);; i = (i + 1) & (ib->capwraps - 1)) {
            gql_ib_wrap *w = &ib->wraps[i];
            if (!w->inner) {
                slot = w;
                break;
            }
            if (w->inner == inner.u.fields && w->kind == t->kind) return w->obj;
        }
    }
    gql_value *o = ib_obj(ib, TY_NSLOTS, "__Type");
    if (!o) return gql_null();
    gql_obj_set(o, TY_KIND, "kind", ib_str(t->kind == GQL_TR_LIST ? "LIST" : "NON_NULL"));
    gql_obj_set(o, TY_NAME, "name", gql_null());
    gql_obj_set(o, TY_DESC, "description", gql_null());
    gql_obj_set(o, TY_SPECIFIED_BY, "specifiedByURL", gql_null());
    gql_obj_set(o, TY_FIELDS, "fields", gql_null());
    gql_obj_set(o, TY_INTERFACES, "interfaces", gql_null());
    gql_obj_set(o, TY_POSSIBLE, "possibleTypes", gql_null());
    gql_obj_set(o, TY_ENUM_VALUES, "enumValues", gql_null());
    gql_obj_set(o, TY_INPUT_FIELDS, "inputFields", gql_null());
    gql_obj_set(o, TY_OF_TYPE, "ofType", inner);
    gql_obj_set(o, TY_IS_ONEOF, "isOneOf", gql_null());
    if (slot) {
        slot->inner = inner.u.fields;
        slot->kind = t->kind;
        slot->obj = *o;
        ib->nwraps++;
    }
    return *o;
}

static gql_value ib_input_value(gql_ib *ib, const gql_input_value *iv)
{
    gql_value *o = ib_obj(ib, 7, "__InputValue");
    if (!o) return gql_null();
    gql_value dflt = gql_null();
    if (iv->default_value) {
        cd_buf b;
        cd_buf_init(&b);
        ib_print_default(&b, iv->default_value, iv->type);
        if (cd_buf_failed(&b)) {
            ib->oom = true;
        } else {
            dflt = gql_str_dup(ib->a, b.data ? b.data : "", b.len);
            if (dflt.kind == GQL_V_NULL) ib->oom = true;
        }
        cd_buf_free(&b);
    }
    gql_obj_set(o, 1, "name", ib_str(iv->name));
    gql_obj_set(o, 2, "description", ib_str(iv->desc));
    gql_obj_set(o, 3, "type", ib_type_ref(ib, iv->type));
    gql_obj_set(o, 4, "defaultValue", dflt);
    gql_obj_set(o, 5, "isDeprecated", gql_bool(iv->deprecation != NULL));
    gql_obj_set(o, 6, "deprecationReason", ib_str(iv->deprecation));
    return *o;
}

static gql_value ib_input_values(gql_ib *ib, const gql_input_value *ivs, uint32_t n)
{
    gql_value *l = ib_list(ib, n);
    if (!l) return gql_null();
    for (uint32_t i = 0; i < n; i++)
        l->u.items[i] = ib_input_value(ib, &ivs[i]);
    return *l;
}

static gql_value ib_field(gql_ib *ib, const gql_field *f)
{
    gql_value *o = ib_obj(ib, 7, "__Field");
    if (!o) return gql_null();
    gql_obj_set(o, 1, "name", ib_str(f->name));
    gql_obj_set(o, 2, "description", ib_str(f->desc));
    gql_obj_set(o, 3, "args", ib_input_values(ib, f->args, f->nargs));
    gql_obj_set(o, 4, "type", ib_type_ref(ib, f->type));
    gql_obj_set(o, 5, "isDeprecated", gql_bool(f->deprecation != NULL));
    gql_obj_set(o, 6, "deprecationReason", ib_str(f->deprecation));
    return *o;
}

static gql_value ib_enum_value(gql_ib *ib, const gql_enum_value *ev)
{
    gql_value *o = ib_obj(ib, 5, "__EnumValue");
    if (!o) return gql_null();
    gql_obj_set(o, 1, "name", ib_str(ev->name));
    gql_obj_set(o, 2, "description", ib_str(ev->desc));
    gql_obj_set(o, 3, "isDeprecated", gql_bool(ev->deprecation != NULL));
    gql_obj_set(o, 4, "deprecationReason", ib_str(ev->deprecation));
    return *o;
}

static gql_value ib_type_list(gql_ib *ib, gql_type *const *types, uint32_t n)
{
    gql_value *l = ib_list(ib, n);
    if (!l) return gql_null();
    for (uint32_t i = 0; i < n; i++)
        l->u.items[i] = *ib->s->introspection_types[types[i]->index];
    return *l;
}

/* Fills the pre-allocated __Type object of a named type. */
static void ib_fill_named(gql_ib *ib, const gql_type *t, gql_value *o)
{
    gql_obj_set(o, TY_KIND, "kind", ib_str(gql_type_kind_names[t->kind]));
    gql_obj_set(o, TY_NAME, "name", ib_str(t->name));
    gql_obj_set(o, TY_DESC, "description", ib_str(t->desc));
    gql_obj_set(o, TY_SPECIFIED_BY, "specifiedByURL",
                ib_str(t->kind == GQL_T_SCALAR ? t->specified_by : NULL));
    gql_value fields = gql_null(), ifaces = gql_null(), possible = gql_null();
    gql_value values = gql_null(), inputs = gql_null();
    if (t->kind == GQL_T_OBJECT || t->kind == GQL_T_INTERFACE) {
        gql_value *l = ib_list(ib, t->nfields);
        if (l) {
            for (uint32_t i = 0; i < t->nfields; i++)
                l->u.items[i] = ib_field(ib, &t->fields[i]);
            fields = *l;
        }
        ifaces = ib_type_list(ib, t->interfaces, t->ninterfaces);
    }
    if (t->kind == GQL_T_INTERFACE || t->kind == GQL_T_UNION)
        possible = ib_type_list(ib, t->possible, t->npossible);
    if (t->kind == GQL_T_ENUM) {
        gql_value *l = ib_list(ib, t->nvalues);
        if (l) {
            for (uint32_t i = 0; i < t->nvalues; i++)
                l->u.items[i] = ib_enum_value(ib, &t->values[i]);
            values = *l;
        }
    }
    if (t->kind == GQL_T_INPUT_OBJECT)
        inputs = ib_input_values(ib, t->input_fields, t->ninput_fields);
    gql_obj_set(o, TY_FIELDS, "fields", fields);
    gql_obj_set(o, TY_INTERFACES, "interfaces", ifaces);
    gql_obj_set(o, TY_POSSIBLE, "possibleTypes", possible);
    gql_obj_set(o, TY_ENUM_VALUES, "enumValues", values);
    gql_obj_set(o, TY_INPUT_FIELDS, "inputFields", inputs);
    gql_obj_set(o, TY_OF_TYPE, "ofType", gql_null());
    gql_obj_set(o, TY_IS_ONEOF, "isOneOf",
                t->kind == GQL_T_INPUT_OBJECT ? gql_bool(t->oneof) : gql_null());
}

static gql_value ib_directive(gql_ib *ib, const gql_directive_type *d)
{
    gql_value *o = ib_obj(ib, 8, "__Directive");
    if (!o) return gql_null();
    uint32_t nloc = 0;
    for (int i = 0; i < GQL_DL_COUNT; i++)
        if (d->locations & (1u << i)) nloc++;
    gql_value *locs = ib_list(ib, nloc);
    if (locs) {
        uint32_t j = 0;
        for (int i = 0; i < GQL_DL_COUNT; i++)
            if (d->locations & (1u << i)) locs->u.items[j++] = ib_str(gql_dir_loc_names[i]);
    }
    gql_obj_set(o, 1, "name", ib_str(d->name));
    gql_obj_set(o, 2, "description", ib_str(d->desc));
    gql_obj_set(o, 3, "isRepeatable", gql_bool(d->repeatable));
    gql_obj_set(o, 4, "locations", locs ? *locs : gql_null());
    gql_obj_set(o, 5, "args", ib_input_values(ib, d->args, d->nargs));
    /* directive definitions carry no directives (graphql-js parses them only
     * behind experimentalDirectivesOnDirectiveDefinitions), so none is
     * deprecated */
    gql_obj_set(o, 6, "isDeprecated", gql_bool(false));
    gql_obj_set(o, 7, "deprecationReason", gql_null());
    return *o;
}

static gql_value ib_root(gql_ib *ib, const gql_type *t)
{
    return t ? *ib->s->introspection_types[t->index] : gql_null();
}

/* graphql-js lists only the built-in scalars something refers to (buildSchema
 * collects types by reference), so an unused Float or ID is absent from
 * __schema.types and __type(name:). Marks the referenced types in `used`. */
static void ib_mark_tref(bool *used, const gql_tref *t)
{
    const gql_type *n = gql_tref_named(t);
    if (n) used[n->index] = true;
}

static void ib_mark_inputs(bool *used, const gql_input_value *ivs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ib_mark_tref(used, ivs[i].type);
}

static bool ib_listed(const bool *used, const gql_type *t)
{
    return t->kind != GQL_T_SCALAR || !t->builtin || used[t->index];
}

static int ib_build_tree(gql_ib *ibp);

static int ib_build(gql_schema *s)
{
    gql_ib ib = {.a = &s->arena, .s = s, .oom = false};
    size_t cap = 64;
    while (cap < (size_t)s->ntypes * 16u)
        cap *= 2;
    ib.wraps = cd_calloc(cap, sizeof *ib.wraps);
    ib.capwraps = ib.wraps ? cap : 0;
    int rc = ib_build_tree(&ib);
    cd_free(ib.wraps);
    return rc;
}

static int ib_build_tree(gql_ib *ibp)
{
    gql_ib ib = *ibp; /* working copy; the memo table stays owned by ib_build */
    gql_schema *s = ib.s;
    gql_value **objs = cd_arena_calloc(ib.a, s->ntypes ? s->ntypes : 1, sizeof *objs);
    if (!objs) return CD_ENOMEM;
    /* Every named type's object first, so references can share them. */
    for (uint32_t i = 0; i < s->ntypes; i++) {
        objs[i] = ib_obj(&ib, TY_NSLOTS, "__Type");
        if (!objs[i]) return CD_ENOMEM;
    }
    s->introspection_types = objs;
    for (uint32_t i = 0; i < s->ntypes; i++)
        ib_fill_named(&ib, s->types[i], objs[i]);

    bool *used = cd_arena_calloc(ib.a, s->ntypes ? s->ntypes : 1, sizeof *used);
    gql_type **listed = cd_arena_calloc(ib.a, s->ntypes ? s->ntypes : 1, sizeof *listed);
    if (!used || !listed) {
        s->introspection_types = NULL;
        return CD_ENOMEM;
    }
    for (uint32_t i = 0; i < s->ntypes; i++) {
        const gql_type *t = s->types[i];
        for (uint32_t j = 0; j < t->nfields; j++) {
            ib_mark_tref(used, t->fields[j].type);
            ib_mark_inputs(used, t->fields[j].args, t->fields[j].nargs);
        }
        ib_mark_inputs(used, t->input_fields, t->ninput_fields);
    }
    for (uint32_t i = 0; i < s->ndirectives; i++)
        ib_mark_inputs(used, s->directives[i]->args, s->directives[i]->nargs);
    uint32_t nlisted = 0;
    for (uint32_t i = 0; i < s->ntypes; i++)
        if (ib_listed(used, s->types[i]))
            listed[nlisted++] = s->types[i];
        else
            objs[i] = NULL; /* __type(name:) answers null, like graphql-js */

    gql_value *root = ib_obj(&ib, 7, "__Schema");
    gql_value *dirs = ib_list(&ib, s->ndirectives);
    if (!root || !dirs) ib.oom = true;
    if (ib.oom) {
        s->introspection_types = NULL;
        return CD_ENOMEM;
    }
    for (uint32_t i = 0; i < s->ndirectives; i++)
        dirs->u.items[i] = ib_directive(&ib, s->directives[i]);
    gql_obj_set(root, 1, "description", ib_str(s->desc));
    gql_obj_set(root, 2, "types", ib_type_list(&ib, listed, nlisted));
    gql_obj_set(root, 3, "queryType", ib_root(&ib, s->root[GQL_OP_QUERY]));
    gql_obj_set(root, 4, "mutationType", ib_root(&ib, s->root[GQL_OP_MUTATION]));
    gql_obj_set(root, 5, "subscriptionType", ib_root(&ib, s->root[GQL_OP_SUBSCRIPTION]));
    gql_obj_set(root, 6, "directives", *dirs);
    if (ib.oom) {
        s->introspection_types = NULL;
        return CD_ENOMEM;
    }
    s->introspection = root;
    return 0;
}

const gql_value *gql_introspection_schema(gql_schema *s)
{
    if (!s->introspection && ib_build(s) != 0) return NULL;
    return s->introspection;
}

const gql_value *gql_introspection_type(gql_schema *s, const char *name)
{
    if (!gql_introspection_schema(s)) return NULL;
    const gql_type *t = gql_schema_type(s, name);
    return t ? s->introspection_types[t->index] : NULL;
}

/* ---- includeDeprecated ---- */

/* Resolver for the list fields with an includeDeprecated argument; the
 * userdata is the property name holding the full list in the parent. */
static void gql_introspection_filter(gql_rinfo *ri)
{
    const char *prop = gql_ri_userdata(ri);
    const gql_value *parent = gql_ri_parent(ri);
    const gql_value *all =
        parent && parent->kind == GQL_V_OBJECT ? gql_obj_get(parent, prop) : NULL;
    if (!all || all->kind != GQL_V_LIST) {
        gql_ri_return(ri, gql_null());
        return;
    }
    const gql_value *inc = gql_ri_arg(ri, "includeDeprecated");
    if (inc && inc->kind == GQL_V_BOOL && inc->u.b) {
        gql_ri_return(ri, *all);
        return;
    }
    uint32_t keep = 0;
    for (uint32_t i = 0; i < all->len; i++) {
        const gql_value *d = gql_obj_get(&all->u.items[i], "isDeprecated");
        if (!(d && d->kind == GQL_V_BOOL && d->u.b)) keep++;
    }
    if (keep == all->len) {
        gql_ri_return(ri, *all);
        return;
    }
    gql_value *l = gql_list_new(gql_ri_arena(ri), keep);
    if (!l) {
        gql_ri_error(ri, "INTERNAL_SERVER_ERROR", "out of memory");
        return;
    }
    uint32_t j = 0;
    for (uint32_t i = 0; i < all->len; i++) {
        const gql_value *d = gql_obj_get(&all->u.items[i], "isDeprecated");
        if (!(d && d->kind == GQL_V_BOOL && d->u.b)) l->u.items[j++] = all->u.items[i];
    }
    gql_ri_return(ri, *l);
}

int gql_introspection_bind(gql_schema *s)
{
    static const struct {
        const char *coord;
        const char *prop;
    } binds[] = {
        {"__Type.fields", "fields"},           {"__Type.enumValues", "enumValues"},
        {"__Type.inputFields", "inputFields"}, {"__Field.args", "args"},
        {"__Directive.args", "args"},          {"__Schema.directives", "directives"},
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(binds); i++) {
        int rc =
            gql_schema_bind(s, binds[i].coord, gql_introspection_filter, (void *)binds[i].prop);
        if (rc != 0 && rc != CD_ENOENT) return rc;
    }
    return 0;
}
