/*
 * value.c — constructors and helpers of the engine's one value model
 * (value.h). Values live in arenas and are never freed one by one; these
 * helpers allocate only from the arena they are given and return NULL (or a
 * NULL-kind value) on allocation failure.
 */
#include <string.h>

#include "graphql/value.h"

gql_value gql_null(void)
{
    gql_value v;
    memset(&v, 0, sizeof v);
    return v;
}

gql_value gql_bool(bool b)
{
    gql_value v = gql_null();
    v.kind = GQL_V_BOOL;
    v.u.b = b;
    return v;
}

gql_value gql_int(int64_t i)
{
    gql_value v = gql_null();
    v.kind = GQL_V_INT;
    v.u.i = i;
    return v;
}

gql_value gql_float(double f)
{
    gql_value v = gql_null();
    v.kind = GQL_V_FLOAT;
    v.u.f = f;
    return v;
}

gql_value gql_str_ref(const char *s, size_t len)
{
    gql_value v = gql_null();
    v.kind = GQL_V_STRING;
    v.u.s = s;
    v.len = (uint32_t)len;
    return v;
}

gql_value gql_str_dup(cd_arena *a, const char *s, size_t len)
{
    char *d = cd_arena_strndup(a, s, len);
    if (!d) return gql_null();
    return gql_str_ref(d, len);
}

static gql_value *new_container(cd_arena *a, uint8_t kind, uint32_t n, size_t item)
{
    gql_value *v = cd_arena_alloc(a, sizeof *v);
    if (!v) return NULL;
    *v = gql_null();
    v->kind = kind;
    v->len = n;
    if (n == 0) return v;
    void *items = cd_arena_calloc(a, n, item);
    if (!items) return NULL;
    if (kind == GQL_V_LIST)
        v->u.items = items;
    else
        v->u.fields = items;
    return v;
}

gql_value *gql_list_new(cd_arena *a, uint32_t n)
{
    return new_container(a, GQL_V_LIST, n, sizeof(gql_value));
}

gql_value *gql_obj_new(cd_arena *a, uint32_t n)
{
    return new_container(a, GQL_V_OBJECT, n, sizeof(gql_kv));
}

const gql_value *gql_obj_get(const gql_value *obj, const char *name)
{
    if (!obj || obj->kind != GQL_V_OBJECT) return NULL;
    for (uint32_t i = 0; i < obj->len; i++) {
        const char *k = obj->u.fields[i].name;
        if (k && strcmp(k, name) == 0) return &obj->u.fields[i].value;
    }
    return NULL;
}

bool gql_value_equal(const gql_value *a, const gql_value *b)
{
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case GQL_V_NULL:
        return true;
    case GQL_V_BOOL:
        return a->u.b == b->u.b;
    case GQL_V_INT:
        if ((a->flags & GQL_VF_BIG) != (b->flags & GQL_VF_BIG)) return false;
        if (a->flags & GQL_VF_BIG) return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
        return a->u.i == b->u.i;
    case GQL_V_FLOAT:
        return a->u.f == b->u.f;
    case GQL_V_STRING:
    case GQL_V_ENUM:
    case GQL_V_VARIABLE:
    case GQL_V_RAW_JSON:
        return a->len == b->len && (a->len == 0 || memcmp(a->u.s, b->u.s, a->len) == 0);
    case GQL_V_LIST:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!gql_value_equal(&a->u.items[i], &b->u.items[i])) return false;
        return true;
    case GQL_V_OBJECT:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++) {
            /* same position first (the common case), else search by name */
            const gql_kv *fa = &a->u.fields[i];
            const char *na = fa->name ? fa->name : "";
            const char *nb = b->u.fields[i].name ? b->u.fields[i].name : "";
            const gql_value *vb;
            if (strcmp(na, nb) == 0)
                vb = &b->u.fields[i].value;
            else
                vb = gql_obj_get(b, na);
            if (!vb || !gql_value_equal(&fa->value, vb)) return false;
        }
        return true;
    default:
        return false;
    }
}

static int clone_into(cd_arena *a, gql_value *dst, const gql_value *v)
{
    *dst = *v;
    switch (v->kind) {
    case GQL_V_INT:
        if (!(v->flags & GQL_VF_BIG)) return 0;
        __attribute__((fallthrough)); /* the literal text is a string */
    case GQL_V_STRING:
    case GQL_V_ENUM:
    case GQL_V_VARIABLE:
    case GQL_V_RAW_JSON:
        dst->u.s = cd_arena_strndup(a, v->u.s ? v->u.s : "", v->len);
        return dst->u.s ? 0 : -1;
    case GQL_V_LIST:
        if (v->len == 0) return 0;
        dst->u.items = cd_arena_alloc(a, sizeof(gql_value) * v->len);
        if (!dst->u.items) return -1;
        for (uint32_t i = 0; i < v->len; i++)
            if (clone_into(a, &dst->u.items[i], &v->u.items[i]) != 0) return -1;
        return 0;
    case GQL_V_OBJECT:
        if (v->len == 0) return 0;
        dst->u.fields = cd_arena_alloc(a, sizeof(gql_kv) * v->len);
        if (!dst->u.fields) return -1;
        for (uint32_t i = 0; i < v->len; i++) {
            gql_kv *d = &dst->u.fields[i];
            const gql_kv *s = &v->u.fields[i];
            d->loc = s->loc;
            d->name = cd_arena_strdup(a, s->name ? s->name : "");
            if (!d->name || clone_into(a, &d->value, &s->value) != 0) return -1;
        }
        return 0;
    default:
        return 0;
    }
}

int gql_value_clone_to(cd_arena *a, gql_value *dst, const gql_value *v)
{
    return clone_into(a, dst, v);
}

gql_value *gql_value_clone(cd_arena *a, const gql_value *v)
{
    gql_value *d = cd_arena_alloc(a, sizeof *d);
    if (!d || clone_into(a, d, v) != 0) return NULL;
    return d;
}
