/*
 * value.h — the one value model of the GraphQL engine: AST literals, variables,
 * coerced arguments, resolver results and JSON documents are all gql_value.
 *
 * Values are plain structs allocated in an arena (never freed one by one).
 * Strings carry their length (they may contain NUL from "\u0000") and are also
 * NUL-terminated. Object keys are NUL-terminated names. `loc` is set for values
 * that came from a GraphQL document (1-based line/column), zero otherwise.
 */
#ifndef CHATD_GQL_VALUE_H
#define CHATD_GQL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"

typedef struct gql_loc {
    uint32_t line; /* 1-based; 0 = no location */
    uint32_t col;  /* 1-based */
} gql_loc;

typedef enum gql_value_kind {
    GQL_V_NULL = 0,
    GQL_V_BOOL,
    GQL_V_INT,      /* u.i; in an AST literal GQL_VF_BIG means "does not fit int64"
                     * and then u.s/len hold the literal's text (e.g. for messages) */
    GQL_V_FLOAT,    /* u.f */
    GQL_V_STRING,   /* u.s, len */
    GQL_V_ENUM,     /* u.s, len (AST enum literal) */
    GQL_V_LIST,     /* u.items, len */
    GQL_V_OBJECT,   /* u.fields, len */
    GQL_V_VARIABLE, /* u.s = variable name (AST only) */
    GQL_V_RAW_JSON  /* u.s, len: pre-serialised JSON text, written verbatim (results only) */
} gql_value_kind;

enum {
    GQL_VF_BIG = 1,   /* INT literal outside int64 (always outside Int's 32 bits) */
    GQL_VF_BLOCK = 2, /* STRING literal was a block string (for printing) */
};

typedef struct gql_value gql_value;
typedef struct gql_kv gql_kv;

struct gql_value {
    uint8_t kind;  /* gql_value_kind */
    uint8_t flags; /* GQL_VF_* */
    uint32_t len;  /* string bytes, list items or object fields */
    gql_loc loc;
    union {
        bool b;
        int64_t i;
        double f;
        const char *s;
        gql_value *items;
        gql_kv *fields;
    } u;
};

struct gql_kv {
    const char *name;
    gql_loc loc; /* of the name, for AST object fields */
    gql_value value;
};

/* Constructors (arena-allocated where they allocate; NULL on OOM). */
gql_value gql_null(void);
gql_value gql_bool(bool b);
gql_value gql_int(int64_t i);
gql_value gql_float(double f);
/* Points at s (no copy): s must outlive the value (arena or static). */
gql_value gql_str_ref(const char *s, size_t len);
/* Copies s into the arena. Returns a NULL-kind value on OOM with *oom set. */
gql_value gql_str_dup(cd_arena *a, const char *s, size_t len);
/* Allocates a list/object with n zeroed slots (items are NULL-kind). Returns
 * NULL on OOM. Fill with gql_obj_set / v->u.items[i]. */
gql_value *gql_list_new(cd_arena *a, uint32_t n);
gql_value *gql_obj_new(cd_arena *a, uint32_t n);
static inline void gql_obj_set(gql_value *obj, uint32_t i, const char *name, gql_value v)
{
    obj->u.fields[i].name = name;
    obj->u.fields[i].value = v;
}

/* Object field lookup by name (linear; objects are small). NULL if absent. */
const gql_value *gql_obj_get(const gql_value *obj, const char *name);

/* Deep equality (kind, scalar value, list order, object fields by name). */
bool gql_value_equal(const gql_value *a, const gql_value *b);
/* Deep copy into arena (for keeping values past their source). NULL on OOM. */
gql_value *gql_value_clone(cd_arena *a, const gql_value *v);
/* The same into *dst (what v points to is copied; dst itself is the
 * caller's). 0, or -1 on OOM. */
int gql_value_clone_to(cd_arena *a, gql_value *dst, const gql_value *v);

/* JSON: parse RFC 8259 text into a value (objects keep key order; duplicate
 * keys: last wins). Depth and size bounded by GQL_JSON_MAX_DEPTH. Returns 0 or
 * CD_EBAD/CD_ELIMIT/CD_ENOMEM with a message in err (errlen bytes). */
#define GQL_JSON_MAX_DEPTH 128
int gql_json_parse(cd_arena *a, const char *buf, size_t len, gql_value *out, char *err,
                   size_t errlen);
/* JSON writer: appends v (VARIABLE/ENUM written as strings, RAW_JSON verbatim;
 * non-finite floats as null). */
void gql_json_write(cd_buf *b, const gql_value *v);

#endif
