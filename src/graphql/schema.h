/*
 * schema.h — the executable schema built from SDL (schema.c). Engine-internal:
 * shared by schema.c, validate.c, execute.c, introspect.c.
 *
 * Ownership: a gql_schema owns one arena holding every type, field, argument
 * and string (including the SDL's parsed document). Nothing inside is freed
 * alone; gql_schema_free() releases it all. Built-in scalars (Int, Float,
 * String, Boolean, ID), the introspection types (__Schema, __Type, ...) and the
 * built-in directives (@skip, @include, @deprecated, @specifiedBy) are always
 * present.
 */
#ifndef CHATD_GQL_SCHEMA_H
#define CHATD_GQL_SCHEMA_H

#include "graphql/ast.h"
#include "graphql/graphql.h"

typedef struct gql_type gql_type;

/* A (possibly wrapped) type reference resolved against the schema. */
typedef struct gql_tref gql_tref;
struct gql_tref {
    uint8_t kind;    /* gql_type_ref_kind: NAMED, LIST, NON_NULL */
    gql_type *named; /* NAMED */
    gql_tref *of;    /* LIST, NON_NULL */
};

typedef struct gql_input_value {
    const char *name;
    const char *desc;
    gql_tref *type;
    const gql_value *default_value; /* NULL when none; a const literal */
    const char *deprecation;        /* NULL when not deprecated */
} gql_input_value;

typedef struct gql_field {
    const char *name;
    const char *desc;
    gql_tref *type;
    gql_input_value *args;
    uint32_t nargs;
    const char *deprecation; /* NULL when not deprecated */
    gql_type *parent;
    /* bound at run time (gql_schema_bind); NULL = default resolver, which
     * reads the parent object's property named like the field */
    gql_resolve_fn resolve;
    void *resolve_ud;
    const char *owner;  /* root fields: role that serves it (@owner); NULL = any */
    uint32_t list_size; /* @listSize(assumedSize:) for the cost model; 0 = none */
} gql_field;

typedef struct gql_enum_value {
    const char *name;
    const char *desc;
    const char *deprecation;
} gql_enum_value;

/* Scalar hooks: serialize a resolver value for output, coerce an input value
 * (from variables JSON or a literal without variables). Return 0 or CD_EBAD
 * with a message in msg (msglen bytes). NULL = identity (custom scalars). */
typedef int (*gql_scalar_fn)(cd_arena *a, const gql_value *in, gql_value *out, char *msg,
                             size_t msglen);

struct gql_type {
    uint8_t kind; /* gql_type_kind */
    bool builtin; /* built-in scalar or introspection type */
    const char *name;
    const char *desc;
    const char *specified_by; /* SCALAR: @specifiedBy(url:) or NULL */
    gql_field *fields;        /* OBJECT, INTERFACE (declaration order) */
    uint32_t nfields;
    gql_type **interfaces; /* OBJECT, INTERFACE */
    uint32_t ninterfaces;
    gql_type **possible; /* UNION members; INTERFACE implementing objects */
    uint32_t npossible;
    gql_enum_value *values; /* ENUM */
    uint32_t nvalues;
    gql_input_value *input_fields; /* INPUT_OBJECT */
    uint32_t ninput_fields;
    bool oneof;                /* INPUT_OBJECT: @oneOf (exactly one field, non-null) */
    gql_scalar_fn serialize;   /* SCALAR */
    gql_scalar_fn parse_value; /* SCALAR */
    uint32_t index;            /* position in schema->types */
};

typedef struct gql_directive_type {
    const char *name;
    const char *desc;
    gql_input_value *args;
    uint32_t nargs;
    bool repeatable;
    uint32_t locations; /* bitmask of gql_dir_loc */
    bool builtin;
} gql_directive_type;

struct gql_schema {
    cd_arena arena;
    const char *desc;
    gql_type **types; /* every named type, built-ins included; sorted by name */
    uint32_t ntypes;
    gql_type *root[3]; /* by gql_op_type; mutation/subscription may be NULL */
    gql_directive_type **directives;
    uint32_t ndirectives;
    /* built-in types, for quick access */
    gql_type *t_string, *t_int, *t_float, *t_boolean, *t_id;
    gql_type *t_schema, *t_type; /* __Schema, __Type (introspection roots) */
    /* introspect.c: the __schema value tree and each named type's __Type
     * object (by gql_type.index), built lazily in `arena`; NULL until then */
    gql_value *introspection;
    gql_value **introspection_types;
    /* schema.c: the meta-field definitions __typename, __schema, __type (in
     * that order; served by gql_field_lookup) */
    gql_field *meta_fields;
};

/* Lookup helpers (schema.c). NULL when absent. */
gql_type *gql_schema_type(const gql_schema *s, const char *name);
gql_field *gql_type_field(const gql_type *t, const char *name);
gql_directive_type *gql_schema_directive(const gql_schema *s, const char *name);
const gql_input_value *gql_field_arg(const gql_field *f, const char *name);
const gql_input_value *gql_type_input_field(const gql_type *t, const char *name);
const gql_enum_value *gql_type_enum_value(const gql_type *t, const char *name);
/* True when object type `obj` is a possible type of abstract type `abs`
 * (or obj == abs). */
bool gql_type_is_possible(const gql_type *abs, const gql_type *obj);
/* Field lookup including the meta-fields: __typename on every composite type,
 * __schema and __type(name:) on the query root type (static definitions owned
 * by schema.c). NULL when absent. Used by validation and execution alike. */
gql_field *gql_field_lookup(const gql_schema *s, const gql_type *parent, const char *name);
/* Unwraps LIST/NON_NULL to the named type. */
gql_type *gql_tref_named(const gql_tref *t);
bool gql_type_is_input(const gql_type *t);     /* SCALAR, ENUM, INPUT_OBJECT */
bool gql_type_is_output(const gql_type *t);    /* SCALAR, ENUM, OBJECT, INTERFACE, UNION */
bool gql_type_is_leaf(const gql_type *t);      /* SCALAR, ENUM */
bool gql_type_is_composite(const gql_type *t); /* OBJECT, INTERFACE, UNION */
bool gql_type_is_abstract(const gql_type *t);  /* INTERFACE, UNION */
/* Prints "[Foo!]!" */
void gql_print_tref(cd_buf *b, const gql_tref *t);
/* Resolves an AST type ref against the schema into `a`; NULL if a named type
 * is unknown. */
gql_tref *gql_tref_from_ast(cd_arena *a, const gql_schema *s, const gql_type_ref *ref);
/* Subtyping for "variables in allowed positions" and interfaces:
 * is `sub` a valid subtype of `super` (spec IsSubType / TypeComparators)? */
bool gql_tref_is_subtype(const gql_schema *s, const gql_tref *sub, const gql_tref *super);
bool gql_tref_equal(const gql_tref *a, const gql_tref *b);

#endif
