/*
 * ast.h — the GraphQL document tree (executable and type-system definitions),
 * as built by gql_parse() (parser.c). Engine-internal: the server only sees
 * graphql.h.
 *
 * Ownership: every node, array and string of a document lives in the arena
 * passed to gql_parse(); the document is freed by freeing that arena. Arrays
 * are (pointer, count) pairs; names are NUL-terminated arena strings; every
 * node carries the 1-based location of its first token.
 */
#ifndef CHATD_GQL_AST_H
#define CHATD_GQL_AST_H

#include "graphql/value.h"

typedef struct gql_selection_set gql_selection_set;

typedef struct gql_argument {
    const char *name;
    gql_loc loc;     /* of the name */
    gql_value value; /* literal; may contain GQL_V_VARIABLE anywhere */
} gql_argument;

typedef struct gql_directive {
    const char *name; /* without '@' */
    gql_loc loc;      /* of '@' */
    gql_argument *args;
    uint32_t nargs;
} gql_directive;

typedef enum gql_type_ref_kind { GQL_TR_NAMED, GQL_TR_LIST, GQL_TR_NON_NULL } gql_type_ref_kind;

typedef struct gql_type_ref gql_type_ref;
struct gql_type_ref {
    uint8_t kind; /* gql_type_ref_kind */
    gql_loc loc;
    const char *name; /* NAMED */
    gql_type_ref *of; /* LIST, NON_NULL */
};

typedef enum gql_selection_kind {
    GQL_SEL_FIELD,
    GQL_SEL_FRAGMENT_SPREAD,
    GQL_SEL_INLINE_FRAGMENT
} gql_selection_kind;

typedef struct gql_selection {
    uint8_t kind;          /* gql_selection_kind */
    gql_loc loc;           /* first token (alias, name, or "...") */
    const char *alias;     /* FIELD: NULL when none */
    const char *name;      /* FIELD: field name; FRAGMENT_SPREAD: fragment name */
    const char *type_cond; /* INLINE_FRAGMENT: NULL when none */
    gql_loc type_cond_loc;
    gql_argument *args; /* FIELD */
    uint32_t nargs;
    gql_directive *dirs;
    uint32_t ndirs;
    gql_selection_set *sel; /* FIELD (NULL when no braces) / INLINE_FRAGMENT */
    gql_loc name_loc;       /* FIELD: of the name (differs from loc after an alias);
                               FRAGMENT_SPREAD: of the fragment name; 0 = not recorded */
} gql_selection;

struct gql_selection_set {
    gql_loc loc; /* of '{' */
    gql_selection *items;
    uint32_t n;
};

typedef enum gql_op_type { GQL_OP_QUERY, GQL_OP_MUTATION, GQL_OP_SUBSCRIPTION } gql_op_type;

typedef struct gql_var_def {
    const char *name; /* without '$' */
    gql_loc loc;      /* of '$' */
    gql_type_ref *type;
    gql_value *default_value; /* NULL when none */
    gql_directive *dirs;
    uint32_t ndirs;
    gql_loc name_loc; /* of the name after '$'; 0 = not recorded */
} gql_var_def;

typedef struct gql_operation {
    uint8_t op;       /* gql_op_type */
    gql_loc loc;      /* of the keyword, or of '{' for the shorthand form */
    const char *name; /* NULL when anonymous */
    gql_var_def *vars;
    uint32_t nvars;
    gql_directive *dirs;
    uint32_t ndirs;
    gql_selection_set *sel;
    gql_loc name_loc; /* of the name; 0 when anonymous or not recorded */
} gql_operation;

typedef struct gql_fragment {
    const char *name;
    gql_loc loc; /* of "fragment" */
    const char *type_cond;
    gql_loc type_cond_loc;
    gql_directive *dirs;
    uint32_t ndirs;
    gql_selection_set *sel;
    gql_loc name_loc; /* of the name; 0 = not recorded */
} gql_fragment;

/* ---- type system (SDL) ---- */

typedef struct gql_input_value_def {
    const char *desc; /* NULL when none; block strings already dedented */
    const char *name;
    gql_loc loc;
    gql_type_ref *type;
    gql_value *default_value; /* NULL when none */
    gql_directive *dirs;
    uint32_t ndirs;
} gql_input_value_def;

typedef struct gql_field_def {
    const char *desc;
    const char *name;
    gql_loc loc;
    gql_input_value_def *args;
    uint32_t nargs;
    gql_type_ref *type;
    gql_directive *dirs;
    uint32_t ndirs;
} gql_field_def;

typedef struct gql_enum_value_def {
    const char *desc;
    const char *name;
    gql_loc loc;
    gql_directive *dirs;
    uint32_t ndirs;
} gql_enum_value_def;

typedef enum gql_type_kind {
    GQL_T_SCALAR,
    GQL_T_OBJECT,
    GQL_T_INTERFACE,
    GQL_T_UNION,
    GQL_T_ENUM,
    GQL_T_INPUT_OBJECT
} gql_type_kind;

typedef struct gql_type_def {
    uint8_t kind;   /* gql_type_kind */
    bool extension; /* "extend type ..." */
    gql_loc loc;
    const char *desc;
    const char *name;
    const char **interfaces; /* OBJECT, INTERFACE: "implements A & B" */
    uint32_t ninterfaces;
    gql_directive *dirs;
    uint32_t ndirs;
    gql_field_def *fields; /* OBJECT, INTERFACE */
    uint32_t nfields;
    const char **members; /* UNION */
    uint32_t nmembers;
    gql_enum_value_def *values; /* ENUM */
    uint32_t nvalues;
    gql_input_value_def *input_fields; /* INPUT_OBJECT */
    uint32_t ninput_fields;
} gql_type_def;

/* Directive locations as a bitmask (1u << gql_dir_loc). */
typedef enum gql_dir_loc {
    GQL_DL_QUERY,
    GQL_DL_MUTATION,
    GQL_DL_SUBSCRIPTION,
    GQL_DL_FIELD,
    GQL_DL_FRAGMENT_DEFINITION,
    GQL_DL_FRAGMENT_SPREAD,
    GQL_DL_INLINE_FRAGMENT,
    GQL_DL_VARIABLE_DEFINITION,
    GQL_DL_SCHEMA,
    GQL_DL_SCALAR,
    GQL_DL_OBJECT,
    GQL_DL_FIELD_DEFINITION,
    GQL_DL_ARGUMENT_DEFINITION,
    GQL_DL_INTERFACE,
    GQL_DL_UNION,
    GQL_DL_ENUM,
    GQL_DL_ENUM_VALUE,
    GQL_DL_INPUT_OBJECT,
    GQL_DL_INPUT_FIELD_DEFINITION,
    GQL_DL_DIRECTIVE_DEFINITION,
    GQL_DL_COUNT
} gql_dir_loc;

/* "QUERY", "FIELD", ... by gql_dir_loc; defined in parser.c. */
extern const char *const gql_dir_loc_names[GQL_DL_COUNT];

typedef struct gql_directive_def {
    const char *desc;
    const char *name;
    gql_loc loc;
    gql_input_value_def *args;
    uint32_t nargs;
    bool repeatable;
    uint32_t locations; /* bitmask of gql_dir_loc */
} gql_directive_def;

typedef struct gql_schema_def {
    bool extension;
    gql_loc loc;
    const char *desc;
    gql_directive *dirs;
    uint32_t ndirs;
    const char *root[3]; /* by gql_op_type; NULL when not given */
} gql_schema_def;

typedef enum gql_def_kind {
    GQL_DEF_OPERATION,
    GQL_DEF_FRAGMENT,
    GQL_DEF_TYPE, /* type definitions and extensions */
    GQL_DEF_DIRECTIVE,
    GQL_DEF_SCHEMA /* schema definition or extension */
} gql_def_kind;

typedef struct gql_definition {
    uint8_t kind; /* gql_def_kind */
    union {
        gql_operation *op;
        gql_fragment *frag;
        gql_type_def *type;
        gql_directive_def *dir;
        gql_schema_def *schema;
    } u;
} gql_definition;

typedef struct gql_document {
    gql_definition *defs;
    uint32_t ndefs;
    uint32_t ntokens; /* tokens read, for limits and stats */
} gql_document;

/* A parse/validation error with location. */
typedef struct gql_syntax_error {
    char message[256];
    gql_loc loc;
} gql_syntax_error;

/* Parser limits (named constants; exceeding one is a parse error). */
#define GQL_MAX_DOCUMENT_BYTES (256u * 1024u)
#define GQL_MAX_TOKENS 20000u
#define GQL_MAX_PARSE_DEPTH 64u /* nesting of selection sets / values / types */

/* Parses a whole document. Allocates only from `a`. Returns 0 and the document
 * in *out, or CD_EBAD/CD_ELIMIT/CD_ENOMEM with *err filled ("Syntax Error: ..."
 * with the location of the offending token). */
int gql_parse(cd_arena *a, const char *src, size_t len, gql_document **out, gql_syntax_error *err);
/* Parses a single value literal (e.g. a default value); const_only forbids
 * variables. Used by tests and introspection of default values. */
int gql_parse_value(cd_arena *a, const char *src, size_t len, bool const_only, gql_value *out,
                    gql_syntax_error *err);
/* Prints a value as GraphQL literal syntax (for defaultValue in introspection
 * and for messages): strings quoted, enums bare, objects {a: 1}. */
void gql_print_value(cd_buf *b, const gql_value *v);
/* Prints a type ref like "[String!]!". */
void gql_print_type_ref(cd_buf *b, const gql_type_ref *t);

#endif
