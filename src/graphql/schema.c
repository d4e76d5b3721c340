/*
 * schema.c — builds the executable schema (schema.h) from SDL and answers the
 * lookups every other engine file uses.
 *
 * gql_schema_build() parses a built-in SDL (the five standard scalars, the
 * introspection types of the September 2025 spec as graphql-js 16.15 prints
 * them, @oneOf and __Type.isOneOf included) and
 * the caller's SDL into the schema's own arena, applies type and schema
 * extensions, resolves every type reference, fills interfaces / possible
 * types / deprecation / @specifiedBy / @oneOf / @owner, validates the type system
 * (first error wins, "line:col: message"), sorts the types by name and finally
 * lets coerce.c and introspect.c attach their hooks.
 *
 * Ownership: everything, the parsed documents included, lives in
 * schema->arena; the gql_schema struct itself is cd_malloc'ed and freed by
 * gql_schema_free(). Nothing is freed alone.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_internal.h"

#define GQL_SCHEMA_ARENA_BLOCK (64u * 1024u)

/* The built-in types and directives, exactly as graphql-js 16.15 prints them
 * (printIntrospectionSchema + the standard scalars): @oneOf, __Type.isOneOf,
 * the DIRECTIVE_DEFINITION location and directive deprecation fields
 * included. */
static const char gql_builtin_sdl[] =
    "\"The `Int` scalar type represents non-fractional signed whole numeric values. Int can "
    "represent values between -(2^31) and 2^31 - 1.\"\n"
    "scalar Int\n"
    "\n"
    "\"The `Float` scalar type represents signed double-precision fractional values as specified "
    "by [IEEE 754](https://en.wikipedia.org/wiki/IEEE_floating_point).\"\n"
    "scalar Float\n"
    "\n"
    "\"The `String` scalar type represents textual data, represented as UTF-8 character sequences. "
    "The String type is most often used by GraphQL to represent free-form human-readable text.\"\n"
    "scalar String\n"
    "\n"
    "\"The `Boolean` scalar type represents `true` or `false`.\"\n"
    "scalar Boolean\n"
    "\n"
    "\"The `ID` scalar type represents a unique identifier, often used to refetch an object or as "
    "key for a cache. The ID type appears in a JSON response as a String; however, it is not "
    "intended to be human-readable. When expected as an input type, any string (such as "
    "`\\\"4\\\"`) or integer (such as `4`) input value will be accepted as an ID.\"\n"
    "scalar ID\n"
    "\n"
    "\"\"\"\n"
    "Directs the executor to include this field or fragment only when the `if` argument is true.\n"
    "\"\"\"\n"
    "directive @include(\n"
    "  \"\"\"Included when true.\"\"\"\n"
    "  if: Boolean!\n"
    ") on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "\n"
    "\"\"\"\n"
    "Directs the executor to skip this field or fragment when the `if` argument is true.\n"
    "\"\"\"\n"
    "directive @skip(\n"
    "  \"\"\"Skipped when true.\"\"\"\n"
    "  if: Boolean!\n"
    ") on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "\n"
    "\"\"\"Marks an element of a GraphQL schema as no longer supported.\"\"\"\n"
    "directive @deprecated(\n"
    "  \"\"\"\n"
    "  Explains why this element was deprecated, usually also including a suggestion for how to "
    "access supported similar data. Formatted using the Markdown syntax, as specified by "
    "[CommonMark](https://commonmark.org/).\n"
    "  \"\"\"\n"
    "  reason: String = \"No longer supported\"\n"
    ") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE | "
    "DIRECTIVE_DEFINITION\n"
    "\n"
    "\"\"\"Exposes a URL that specifies the behavior of this scalar.\"\"\"\n"
    "directive @specifiedBy(\n"
    "  \"\"\"The URL that specifies the behavior of this scalar.\"\"\"\n"
    "  url: String!\n"
    ") on SCALAR\n"
    "\n"
    "\"\"\"\n"
    "Indicates exactly one field must be supplied and this field must not be `null`.\n"
    "\"\"\"\n"
    "directive @oneOf on INPUT_OBJECT\n"
    "\n"
    "\"\"\"\n"
    "A GraphQL Schema defines the capabilities of a GraphQL server. It exposes all available types "
    "and directives on the server, as well as the entry points for query, mutation, and "
    "subscription operations.\n"
    "\"\"\"\n"
    "type __Schema {\n"
    "  description: String\n"
    "\n"
    "  \"\"\"A list of all types supported by this server.\"\"\"\n"
    "  types: [__Type!]!\n"
    "\n"
    "  \"\"\"The type that query operations will be rooted at.\"\"\"\n"
    "  queryType: __Type!\n"
    "\n"
    "  \"\"\"\n"
    "  If this server supports mutation, the type that mutation operations will be rooted at.\n"
    "  \"\"\"\n"
    "  mutationType: __Type\n"
    "\n"
    "  \"\"\"\n"
    "  If this server support subscription, the type that subscription operations will be rooted "
    "at.\n"
    "  \"\"\"\n"
    "  subscriptionType: __Type\n"
    "\n"
    "  \"\"\"A list of all directives supported by this server.\"\"\"\n"
    "  directives(includeDeprecated: Boolean! = false): [__Directive!]!\n"
    "}\n"
    "\n"
    "\"\"\"\n"
    "The fundamental unit of any GraphQL Schema is the type. There are many kinds of types in "
    "GraphQL as represented by the `__TypeKind` enum.\n"
    "\n"
    "Depending on the kind of a type, certain fields describe information about that type. Scalar "
    "types provide no information beyond a name, description and optional `specifiedByURL`, while "
    "Enum types provide their values. Object and Interface types provide the fields they describe. "
    "Abstract types, Union and Interface, provide the Object types possible at runtime. List and "
    "NonNull types compose other types.\n"
    "\"\"\"\n"
    "type __Type {\n"
    "  kind: __TypeKind!\n"
    "  name: String\n"
    "  description: String\n"
    "  specifiedByURL: String\n"
    "  fields(includeDeprecated: Boolean = false): [__Field!]\n"
    "  interfaces: [__Type!]\n"
    "  possibleTypes: [__Type!]\n"
    "  enumValues(includeDeprecated: Boolean = false): [__EnumValue!]\n"
    "  inputFields(includeDeprecated: Boolean = false): [__InputValue!]\n"
    "  ofType: __Type\n"
    "  isOneOf: Boolean\n"
    "}\n"
    "\n"
    "\"\"\"An enum describing what kind of type a given `__Type` is.\"\"\"\n"
    "enum __TypeKind {\n"
    "  \"\"\"Indicates this type is a scalar.\"\"\"\n"
    "  SCALAR\n"
    "\n"
    "  \"\"\"\n"
    "  Indicates this type is an object. `fields` and `interfaces` are valid fields.\n"
    "  \"\"\"\n"
    "  OBJECT\n"
    "\n"
    "  \"\"\"\n"
    "  Indicates this type is an interface. `fields`, `interfaces`, and `possibleTypes` are valid "
    "fields.\n"
    "  \"\"\"\n"
    "  INTERFACE\n"
    "\n"
    "  \"\"\"Indicates this type is a union. `possibleTypes` is a valid field.\"\"\"\n"
    "  UNION\n"
    "\n"
    "  \"\"\"Indicates this type is an enum. `enumValues` is a valid field.\"\"\"\n"
    "  ENUM\n"
    "\n"
    "  \"\"\"\n"
    "  Indicates this type is an input object. `inputFields` is a valid field.\n"
    "  \"\"\"\n"
    "  INPUT_OBJECT\n"
    "\n"
    "  \"\"\"Indicates this type is a list. `ofType` is a valid field.\"\"\"\n"
    "  LIST\n"
    "\n"
    "  \"\"\"Indicates this type is a non-null. `ofType` is a valid field.\"\"\"\n"
    "  NON_NULL\n"
    "}\n"
    "\n"
    "\"\"\"\n"
    "Object and Interface types are described by a list of Fields, each of which has a name, "
    "potentially a list of arguments, and a return type.\n"
    "\"\"\"\n"
    "type __Field {\n"
    "  name: String!\n"
    "  description: String\n"
    "  args(includeDeprecated: Boolean = false): [__InputValue!]!\n"
    "  type: __Type!\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\n"
    "\"\"\"\n"
    "Arguments provided to Fields or Directives and the input fields of an InputObject are "
    "represented as Input Values which describe their type and optionally a default value.\n"
    "\"\"\"\n"
    "type __InputValue {\n"
    "  name: String!\n"
    "  description: String\n"
    "  type: __Type!\n"
    "\n"
    "  \"\"\"\n"
    "  A GraphQL-formatted string representing the default value for this input value.\n"
    "  \"\"\"\n"
    "  defaultValue: String\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\n"
    "\"\"\"\n"
    "One possible value for a given Enum. Enum values are unique values, not a placeholder for a "
    "string or numeric value. However an Enum value is returned in a JSON response as a string.\n"
    "\"\"\"\n"
    "type __EnumValue {\n"
    "  name: String!\n"
    "  description: String\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\n"
    "\"\"\"\n"
    "A Directive provides a way to describe alternate runtime execution and type validation "
    "behavior in a GraphQL document.\n"
    "\n"
    "In some cases, you need to provide options to alter GraphQL's execution behavior in ways "
    "field arguments will not suffice, such as conditionally including or skipping a field. "
    "Directives provide this by describing additional information to the executor.\n"
    "\"\"\"\n"
    "type __Directive {\n"
    "  name: String!\n"
    "  description: String\n"
    "  isRepeatable: Boolean!\n"
    "  locations: [__DirectiveLocation!]!\n"
    "  args(includeDeprecated: Boolean = false): [__InputValue!]!\n"
    "  isDeprecated: Boolean!\n"
    "  deprecationReason: String\n"
    "}\n"
    "\n"
    "\"\"\"\n"
    "A Directive can be adjacent to many parts of the GraphQL language, a __DirectiveLocation "
    "describes one such possible adjacencies.\n"
    "\"\"\"\n"
    "enum __DirectiveLocation {\n"
    "  \"\"\"Location adjacent to a query operation.\"\"\"\n"
    "  QUERY\n"
    "\n"
    "  \"\"\"Location adjacent to a mutation operation.\"\"\"\n"
    "  MUTATION\n"
    "\n"
    "  \"\"\"Location adjacent to a subscription operation.\"\"\"\n"
    "  SUBSCRIPTION\n"
    "\n"
    "  \"\"\"Location adjacent to a field.\"\"\"\n"
    "  FIELD\n"
    "\n"
    "  \"\"\"Location adjacent to a fragment definition.\"\"\"\n"
    "  FRAGMENT_DEFINITION\n"
    "\n"
    "  \"\"\"Location adjacent to a fragment spread.\"\"\"\n"
    "  FRAGMENT_SPREAD\n"
    "\n"
    "  \"\"\"Location adjacent to an inline fragment.\"\"\"\n"
    "  INLINE_FRAGMENT\n"
    "\n"
    "  \"\"\"Location adjacent to a variable definition.\"\"\"\n"
    "  VARIABLE_DEFINITION\n"
    "\n"
    "  \"\"\"Location adjacent to a schema definition.\"\"\"\n"
    "  SCHEMA\n"
    "\n"
    "  \"\"\"Location adjacent to a scalar definition.\"\"\"\n"
    "  SCALAR\n"
    "\n"
    "  \"\"\"Location adjacent to an object type definition.\"\"\"\n"
    "  OBJECT\n"
    "\n"
    "  \"\"\"Location adjacent to a field definition.\"\"\"\n"
    "  FIELD_DEFINITION\n"
    "\n"
    "  \"\"\"Location adjacent to an argument definition.\"\"\"\n"
    "  ARGUMENT_DEFINITION\n"
    "\n"
    "  \"\"\"Location adjacent to an interface definition.\"\"\"\n"
    "  INTERFACE\n"
    "\n"
    "  \"\"\"Location adjacent to a union definition.\"\"\"\n"
    "  UNION\n"
    "\n"
    "  \"\"\"Location adjacent to an enum definition.\"\"\"\n"
    "  ENUM\n"
    "\n"
    "  \"\"\"Location adjacent to an enum value definition.\"\"\"\n"
    "  ENUM_VALUE\n"
    "\n"
    "  \"\"\"Location adjacent to an input object type definition.\"\"\"\n"
    "  INPUT_OBJECT\n"
    "\n"
    "  \"\"\"Location adjacent to an input object field definition.\"\"\"\n"
    "  INPUT_FIELD_DEFINITION\n"
    "\n"
    "  \"\"\"Location adjacent to a directive definition.\"\"\"\n"
    "  DIRECTIVE_DEFINITION\n"
    "}\n"
    "\n";

typedef struct gql_sbuild {
    gql_schema *s;
    char *err;
    size_t errlen;
    bool failed;
    const char *sdl; /* the user's SDL */
    size_t len;
    const gql_document *docs[2]; /* built-in, user */
    const gql_type_def **defs;   /* by final type index: the defining node */
} gql_sbuild;

static void sb_fail(gql_sbuild *b, gql_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void sb_fail(gql_sbuild *b, gql_loc loc, const char *fmt, ...)
{
    if (b->failed) return;
    b->failed = true;
    if (!b->err || !b->errlen) return;
    int n =
        snprintf(b->err, b->errlen, "%u:%u: ", loc.line ? loc.line : 1u, loc.line ? loc.col : 1u);
    if (n < 0 || (size_t)n >= b->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static void sb_oom(gql_sbuild *b)
{
    gql_loc none = {0, 0};
    sb_fail(b, none, "out of memory");
}

/* ---------------------------------------------------------------- lookups */

static int type_cmp(const void *a, const void *b)
{
    const gql_type *x = *(gql_type *const *)a, *y = *(gql_type *const *)b;
    return strcmp(x->name, y->name);
}

gql_type *gql_schema_type(const gql_schema *s, const char *name)
{
    if (!s || !name) return NULL;
    uint32_t lo = 0, hi = s->ntypes;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, s->types[mid]->name);
        if (c == 0) return s->types[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

gql_field *gql_type_field(const gql_type *t, const char *name)
{
    if (!t || !name) return NULL;
    for (uint32_t i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0) return &t->fields[i];
    return NULL;
}

gql_directive_type *gql_schema_directive(const gql_schema *s, const char *name)
{
    if (!s || !name) return NULL;
    for (uint32_t i = 0; i < s->ndirectives; i++)
        if (strcmp(s->directives[i]->name, name) == 0) return s->directives[i];
    return NULL;
}

const gql_input_value *gql_field_arg(const gql_field *f, const char *name)
{
    if (!f || !name) return NULL;
    for (uint32_t i = 0; i < f->nargs; i++)
        if (strcmp(f->args[i].name, name) == 0) return &f->args[i];
    return NULL;
}

const gql_input_value *gql_type_input_field(const gql_type *t, const char *name)
{
    if (!t || !name) return NULL;
    for (uint32_t i = 0; i < t->ninput_fields; i++)
        if (strcmp(t->input_fields[i].name, name) == 0) return &t->input_fields[i];
    return NULL;
}

const gql_enum_value *gql_type_enum_value(const gql_type *t, const char *name)
{
    if (!t || !name) return NULL;
    for (uint32_t i = 0; i < t->nvalues; i++)
        if (strcmp(t->values[i].name, name) == 0) return &t->values[i];
    return NULL;
}

bool gql_type_is_possible(const gql_type *abs, const gql_type *obj)
{
    if (!abs || !obj) return false;
    if (abs == obj) return true;
    if (abs->kind == GQL_T_UNION) {
        for (uint32_t i = 0; i < abs->npossible; i++)
            if (abs->possible[i] == obj) return true;
        return false;
    }
    if (abs->kind == GQL_T_INTERFACE) {
        for (uint32_t i = 0; i < obj->ninterfaces; i++)
            if (obj->interfaces[i] == abs) return true;
    }
    return false;
}

bool gql_type_is_input(const gql_type *t)
{
    return t && (t->kind == GQL_T_SCALAR || t->kind == GQL_T_ENUM || t->kind == GQL_T_INPUT_OBJECT);
}

bool gql_type_is_output(const gql_type *t)
{
    return t && t->kind != GQL_T_INPUT_OBJECT;
}

bool gql_type_is_leaf(const gql_type *t)
{
    return t && (t->kind == GQL_T_SCALAR || t->kind == GQL_T_ENUM);
}

bool gql_type_is_composite(const gql_type *t)
{
    return t && (t->kind == GQL_T_OBJECT || t->kind == GQL_T_INTERFACE || t->kind == GQL_T_UNION);
}

bool gql_type_is_abstract(const gql_type *t)
{
    return t && (t->kind == GQL_T_INTERFACE || t->kind == GQL_T_UNION);
}

gql_field *gql_field_lookup(const gql_schema *s, const gql_type *parent, const char *name)
{
    if (!s || !parent || !name) return NULL;
    if (name[0] == '_' && name[1] == '_' && s->meta_fields) {
        if (parent == s->root[GQL_OP_QUERY]) {
            if (strcmp(name, "__schema") == 0) return &s->meta_fields[1];
            if (strcmp(name, "__type") == 0) return &s->meta_fields[2];
        }
        if (strcmp(name, "__typename") == 0 && gql_type_is_composite(parent))
            return &s->meta_fields[0];
    }
    if (parent->kind == GQL_T_OBJECT || parent->kind == GQL_T_INTERFACE)
        return gql_type_field(parent, name);
    return NULL;
}

gql_type *gql_tref_named(const gql_tref *t)
{
    while (t && t->kind != GQL_TR_NAMED)
        t = t->of;
    return t ? t->named : NULL;
}

void gql_print_tref(cd_buf *b, const gql_tref *t)
{
    if (!t) return;
    switch (t->kind) {
    case GQL_TR_NAMED:
        cd_buf_puts(b, t->named ? t->named->name : "?");
        break;
    case GQL_TR_LIST:
        cd_buf_putc(b, '[');
        gql_print_tref(b, t->of);
        cd_buf_putc(b, ']');
        break;
    default:
        gql_print_tref(b, t->of);
        cd_buf_putc(b, '!');
        break;
    }
}

gql_tref *gql_tref_from_ast(cd_arena *a, const gql_schema *s, const gql_type_ref *ref)
{
    if (!ref) return NULL;
    gql_tref *t;
    if (ref->kind == GQL_TR_NAMED) {
        gql_type *named = gql_schema_type(s, ref->name);
        if (!named) return NULL;
        t = cd_arena_calloc(a, 1, sizeof *t);
        if (!t) return NULL;
        t->kind = GQL_TR_NAMED;
        t->named = named;
        return t;
    }
    gql_tref *of = gql_tref_from_ast(a, s, ref->of);
    if (!of) return NULL;
    t = cd_arena_calloc(a, 1, sizeof *t);
    if (!t) return NULL;
    t->kind = ref->kind;
    t->of = of;
    return t;
}

bool gql_tref_equal(const gql_tref *a, const gql_tref *b)
{
    while (a && b) {
        if (a->kind != b->kind) return false;
        if (a->kind == GQL_TR_NAMED) return a->named == b->named;
        a = a->of;
        b = b->of;
    }
    return a == b;
}

bool gql_tref_is_subtype(const gql_schema *s, const gql_tref *sub, const gql_tref *super)
{
    (void)s;
    if (!sub || !super) return false;
    if (gql_tref_equal(sub, super)) return true;
    if (super->kind == GQL_TR_NON_NULL) {
        if (sub->kind == GQL_TR_NON_NULL) return gql_tref_is_subtype(s, sub->of, super->of);
        return false;
    }
    if (sub->kind == GQL_TR_NON_NULL) return gql_tref_is_subtype(s, sub->of, super);
    if (super->kind == GQL_TR_LIST) {
        if (sub->kind == GQL_TR_LIST) return gql_tref_is_subtype(s, sub->of, super->of);
        return false;
    }
    if (sub->kind == GQL_TR_LIST) return false;
    const gql_type *sup = super->named, *st = sub->named;
    return gql_type_is_abstract(sup) && st &&
           (st->kind == GQL_T_INTERFACE || st->kind == GQL_T_OBJECT) &&
           gql_type_is_possible(sup, st);
}

/* ------------------------------------------------------------ run-time API */

static gql_field *field_by_coord(const gql_schema *s, const char *coord)
{
    if (!s || !coord) return NULL;
    const char *dot = strchr(coord, '.');
    if (!dot || dot == coord || !dot[1]) return NULL;
    char tname[256];
    size_t n = (size_t)(dot - coord);
    if (n >= sizeof tname) return NULL;
    memcpy(tname, coord, n);
    tname[n] = '\0';
    gql_type *t = gql_schema_type(s, tname);
    if (!t || (t->kind != GQL_T_OBJECT && t->kind != GQL_T_INTERFACE)) return NULL;
    return gql_type_field(t, dot + 1);
}

int gql_schema_bind(gql_schema *s, const char *coord, gql_resolve_fn fn, void *ud)
{
    gql_field *f = field_by_coord(s, coord);
    if (!f) return CD_ENOENT;
    f->resolve = fn;
    f->resolve_ud = ud;
    return 0;
}

const char *gql_schema_owner(const gql_schema *s, const char *coord)
{
    gql_field *f = field_by_coord(s, coord);
    return f ? f->owner : NULL;
}

void gql_schema_free(gql_schema *s)
{
    if (!s) return;
    cd_arena_free(&s->arena);
    cd_free(s);
}

/* -------------------------------------------------------------- building */

static const char *const type_kind_word[] = {"scalar", "object", "interface",
                                             "union",  "enum",   "input object"};

static bool is_reserved(const char *name)
{
    return name[0] == '_' && name[1] == '_';
}

static const gql_directive *find_dir(const gql_directive *dirs, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(dirs[i].name, name) == 0) return &dirs[i];
    return NULL;
}

static const gql_value *dir_arg(const gql_directive *d, const char *name)
{
    if (!d) return NULL;
    for (uint32_t i = 0; i < d->nargs; i++)
        if (strcmp(d->args[i].name, name) == 0) return &d->args[i].value;
    return NULL;
}

static const char *deprecation_of(const gql_directive *dirs, uint32_t n)
{
    const gql_directive *d = find_dir(dirs, n, "deprecated");
    if (!d) return NULL;
    const gql_value *r = dir_arg(d, "reason");
    if (r && r->kind == GQL_V_STRING) return r->u.s;
    return "No longer supported";
}

static const char *string_arg(const gql_directive *dirs, uint32_t n, const char *dname,
                              const char *aname)
{
    const gql_value *v = dir_arg(find_dir(dirs, n, dname), aname);
    return v && v->kind == GQL_V_STRING ? v->u.s : NULL;
}

/* Resolves a type ref of the SDL, reporting unknown names at their node. */
static gql_tref *sb_tref(gql_sbuild *b, const gql_type_ref *ref)
{
    if (b->failed) return NULL;
    const gql_type_ref *n = ref;
    while (n && n->kind != GQL_TR_NAMED)
        n = n->of;
    if (n && !gql_schema_type(b->s, n->name)) {
        sb_fail(b, n->loc, "Unknown type \"%s\".", n->name);
        return NULL;
    }
    gql_tref *t = gql_tref_from_ast(&b->s->arena, b->s, ref);
    if (!t) sb_oom(b);
    return t;
}

static void tref_str(const gql_tref *t, char *out, size_t cap)
{
    cd_buf buf;
    cd_buf_init(&buf);
    gql_print_tref(&buf, t);
    snprintf(out, cap, "%s", buf.data && !buf.failed ? buf.data : "?");
    cd_buf_free(&buf);
}

/* Input values (arguments, input fields) of one definition node. `what` is
 * the coordinate prefix for messages ("T.f" or "@d"). */
static gql_input_value *sb_input_values(gql_sbuild *b, const gql_input_value_def *defs, uint32_t n,
                                        const char *what, bool is_field)
{
    if (!n) return NULL;
    gql_input_value *out = cd_arena_calloc(&b->s->arena, n, sizeof *out);
    if (!out) {
        sb_oom(b);
        return NULL;
    }
    for (uint32_t i = 0; i < n && !b->failed; i++) {
        const gql_input_value_def *d = &defs[i];
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(defs[j].name, d->name) == 0) {
                if (is_field)
                    sb_fail(b, d->loc, "Field \"%s.%s\" can only be defined once.", what, d->name);
                else
                    sb_fail(b, d->loc, "Argument \"%s(%s:)\" can only be defined once.", what,
                            d->name);
                return NULL;
            }
        out[i].name = d->name;
        out[i].desc = d->desc;
        out[i].default_value = d->default_value;
        out[i].deprecation = deprecation_of(d->dirs, d->ndirs);
        out[i].type = sb_tref(b, d->type);
        if (b->failed) return NULL;
        if (out[i].deprecation && out[i].type->kind == GQL_TR_NON_NULL && !d->default_value) {
            if (is_field)
                sb_fail(b, d->loc, "Required input field %s.%s cannot be deprecated.", what,
                        d->name);
            else
                sb_fail(b, d->loc, "Required argument %s(%s:) cannot be deprecated.", what,
                        d->name);
            return NULL;
        }
        if (!gql_type_is_input(gql_tref_named(out[i].type))) {
            char ts[256];
            tref_str(out[i].type, ts, sizeof ts);
            if (is_field)
                sb_fail(b, d->type->loc, "The type of %s.%s must be Input Type but got: %s.", what,
                        d->name, ts);
            else
                sb_fail(b, d->type->loc, "The type of %s(%s:) must be Input Type but got: %s.",
                        what, d->name, ts);
            return NULL;
        }
        if (!is_reserved(what) && is_reserved(d->name)) {
            sb_fail(b, d->loc,
                    "Name \"%s\" must not begin with \"__\", which is reserved by GraphQL "
                    "introspection.",
                    d->name);
            return NULL;
        }
    }
    return out;
}

/* Every definition node (definition first, then extensions) of one type. */
typedef struct sb_parts {
    const gql_type_def *v[64];
    uint32_t n;
} sb_parts;

static void sb_collect_parts(gql_sbuild *b, const gql_type_def *def, sb_parts *p)
{
    p->n = 0;
    p->v[p->n++] = def;
    const gql_document *doc = b->docs[1];
    for (uint32_t i = 0; doc && i < doc->ndefs; i++) {
        const gql_definition *d = &doc->defs[i];
        if (d->kind != GQL_DEF_TYPE || !d->u.type->extension) continue;
        if (strcmp(d->u.type->name, def->name) != 0) continue;
        if (p->n == CD_ARRAY_LEN(p->v)) {
            sb_fail(b, d->u.type->loc, "Too many extensions of type \"%s\".", def->name);
            return;
        }
        p->v[p->n++] = d->u.type;
    }
}

static void sb_fill_fields(gql_sbuild *b, gql_type *t, const sb_parts *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n; i++)
        n += p->v[i]->nfields;
    if (!n) {
        sb_fail(b, p->v[0]->loc, "Type %s must define one or more fields.", t->name);
        return;
    }
    t->fields = cd_arena_calloc(&b->s->arena, n, sizeof *t->fields);
    if (!t->fields) {
        sb_oom(b);
        return;
    }
    for (uint32_t i = 0; i < p->n && !b->failed; i++) {
        for (uint32_t k = 0; k < p->v[i]->nfields && !b->failed; k++) {
            const gql_field_def *fd = &p->v[i]->fields[k];
            if (gql_type_field(t, fd->name)) {
                sb_fail(b, fd->loc, "Field \"%s.%s\" can only be defined once.", t->name, fd->name);
                return;
            }
            if (!t->builtin && is_reserved(fd->name)) {
                sb_fail(b, fd->loc,
                        "Name \"%s\" must not begin with \"__\", which is reserved by GraphQL "
                        "introspection.",
                        fd->name);
                return;
            }
            gql_field *f = &t->fields[t->nfields];
            f->name = fd->name;
            f->desc = fd->desc;
            f->parent = t;
            f->deprecation = deprecation_of(fd->dirs, fd->ndirs);
            f->owner = string_arg(fd->dirs, fd->ndirs, "owner", "role");
            const gql_value *ls = dir_arg(find_dir(fd->dirs, fd->ndirs, "listSize"), "assumedSize");
            if (ls && ls->kind == GQL_V_INT && ls->u.i > 0)
                f->list_size = ls->u.i > UINT32_MAX ? UINT32_MAX : (uint32_t)ls->u.i;
            f->type = sb_tref(b, fd->type);
            if (b->failed) return;
            if (!gql_type_is_output(gql_tref_named(f->type))) {
                char ts[256];
                tref_str(f->type, ts, sizeof ts);
                sb_fail(b, fd->type->loc, "The type of %s.%s must be Output Type but got: %s.",
                        t->name, fd->name, ts);
                return;
            }
            char *coord = cd_arena_sprintf(&b->s->arena, "%s.%s", t->name, fd->name);
            if (!coord) {
                sb_oom(b);
                return;
            }
            f->nargs = fd->nargs;
            f->args = sb_input_values(b, fd->args, fd->nargs, coord, false);
            t->nfields++;
        }
    }
}

static void sb_fill_interfaces(gql_sbuild *b, gql_type *t, const sb_parts *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n; i++)
        n += p->v[i]->ninterfaces;
    if (!n) return;
    t->interfaces = cd_arena_calloc(&b->s->arena, n, sizeof *t->interfaces);
    if (!t->interfaces) {
        sb_oom(b);
        return;
    }
    for (uint32_t i = 0; i < p->n && !b->failed; i++) {
        for (uint32_t k = 0; k < p->v[i]->ninterfaces; k++) {
            const char *name = p->v[i]->interfaces[k];
            gql_type *it = gql_schema_type(b->s, name);
            if (!it) {
                sb_fail(b, p->v[i]->loc, "Unknown type \"%s\".", name);
                return;
            }
            if (it->kind != GQL_T_INTERFACE) {
                sb_fail(b, p->v[i]->loc,
                        "Type %s must only implement Interface types, it cannot implement %s.",
                        t->name, name);
                return;
            }
            if (it == t) {
                sb_fail(b, p->v[i]->loc,
                        "Type %s cannot implement itself because it would create a circular "
                        "reference.",
                        t->name);
                return;
            }
            for (uint32_t j = 0; j < t->ninterfaces; j++)
                if (t->interfaces[j] == it) {
                    sb_fail(b, p->v[i]->loc, "Type %s can only implement %s once.", t->name, name);
                    return;
                }
            t->interfaces[t->ninterfaces++] = it;
        }
    }
}

static void sb_fill_union(gql_sbuild *b, gql_type *t, const sb_parts *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n; i++)
        n += p->v[i]->nmembers;
    if (!n) {
        sb_fail(b, p->v[0]->loc, "Union type %s must define one or more member types.", t->name);
        return;
    }
    t->possible = cd_arena_calloc(&b->s->arena, n, sizeof *t->possible);
    if (!t->possible) {
        sb_oom(b);
        return;
    }
    for (uint32_t i = 0; i < p->n && !b->failed; i++) {
        for (uint32_t k = 0; k < p->v[i]->nmembers; k++) {
            const char *name = p->v[i]->members[k];
            gql_type *m = gql_schema_type(b->s, name);
            if (!m) {
                sb_fail(b, p->v[i]->loc, "Unknown type \"%s\".", name);
                return;
            }
            if (m->kind != GQL_T_OBJECT) {
                sb_fail(b, p->v[i]->loc,
                        "Union type %s can only include Object types, it cannot include %s.",
                        t->name, name);
                return;
            }
            for (uint32_t j = 0; j < t->npossible; j++)
                if (t->possible[j] == m) {
                    sb_fail(b, p->v[i]->loc, "Union type %s can only include type %s once.",
                            t->name, name);
                    return;
                }
            t->possible[t->npossible++] = m;
        }
    }
}

static void sb_fill_enum(gql_sbuild *b, gql_type *t, const sb_parts *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n; i++)
        n += p->v[i]->nvalues;
    if (!n) {
        sb_fail(b, p->v[0]->loc, "Enum type %s must define one or more values.", t->name);
        return;
    }
    t->values = cd_arena_calloc(&b->s->arena, n, sizeof *t->values);
    if (!t->values) {
        sb_oom(b);
        return;
    }
    for (uint32_t i = 0; i < p->n; i++) {
        for (uint32_t k = 0; k < p->v[i]->nvalues; k++) {
            const gql_enum_value_def *vd = &p->v[i]->values[k];
            if (gql_type_enum_value(t, vd->name)) {
                sb_fail(b, vd->loc, "Enum value \"%s.%s\" can only be defined once.", t->name,
                        vd->name);
                return;
            }
            if (!strcmp(vd->name, "true") || !strcmp(vd->name, "false") ||
                !strcmp(vd->name, "null")) {
                sb_fail(b, vd->loc, "Enum type %s cannot include value: %s.", t->name, vd->name);
                return;
            }
            gql_enum_value *ev = &t->values[t->nvalues++];
            ev->name = vd->name;
            ev->desc = vd->desc;
            ev->deprecation = deprecation_of(vd->dirs, vd->ndirs);
        }
    }
}

static void sb_fill_input(gql_sbuild *b, gql_type *t, const sb_parts *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n; i++)
        n += p->v[i]->ninput_fields;
    if (!n) {
        sb_fail(b, p->v[0]->loc, "Input Object type %s must define one or more fields.", t->name);
        return;
    }
    /* Concatenate the parts' definitions so duplicates across extensions are
     * caught by the same check. */
    gql_input_value_def *all = cd_arena_calloc(&b->s->arena, n, sizeof *all);
    if (!all) {
        sb_oom(b);
        return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < p->n; i++)
        for (uint32_t j = 0; j < p->v[i]->ninput_fields; j++)
            all[k++] = p->v[i]->input_fields[j];
    t->input_fields = sb_input_values(b, all, n, t->name, true);
    t->ninput_fields = n;
    for (uint32_t i = 0; i < p->n && !t->oneof; i++)
        t->oneof = find_dir(p->v[i]->dirs, p->v[i]->ndirs, "oneOf") != NULL;
    /* graphql-js validateInputFields: a OneOf field is nullable, no default */
    for (uint32_t i = 0; t->oneof && i < n && !b->failed; i++) {
        if (t->input_fields[i].type->kind == GQL_TR_NON_NULL)
            sb_fail(b, all[i].type->loc, "OneOf input field %s.%s must be nullable.", t->name,
                    all[i].name);
        else if (all[i].default_value)
            sb_fail(b, all[i].loc, "OneOf input field %s.%s cannot have a default value.", t->name,
                    all[i].name);
    }
}

/* Directives applied in the SDL: known, allowed at their location, arguments
 * known and required ones given, non-repeatable ones once. */
static void sb_check_dirs(gql_sbuild *b, const gql_directive *dirs, uint32_t n, gql_dir_loc where)
{
    for (uint32_t i = 0; i < n && !b->failed; i++) {
        const gql_directive *d = &dirs[i];
        gql_directive_type *dt = gql_schema_directive(b->s, d->name);
        if (!dt) {
            sb_fail(b, d->loc, "Unknown directive \"@%s\".", d->name);
            return;
        }
        if (!(dt->locations & (1u << where))) {
            sb_fail(b, d->loc, "Directive \"@%s\" may not be used on %s.", d->name,
                    gql_dir_loc_names[where]);
            return;
        }
        if (!dt->repeatable)
            for (uint32_t j = 0; j < i; j++)
                if (strcmp(dirs[j].name, d->name) == 0) {
                    sb_fail(b, d->loc,
                            "The directive \"@%s\" can only be used once at this location.",
                            d->name);
                    return;
                }
        for (uint32_t j = 0; j < d->nargs; j++) {
            bool known = false;
            for (uint32_t k = 0; k < dt->nargs; k++)
                if (strcmp(dt->args[k].name, d->args[j].name) == 0) known = true;
            if (!known) {
                sb_fail(b, d->args[j].loc, "Unknown argument \"%s\" on directive \"@%s\".",
                        d->args[j].name, d->name);
                return;
            }
        }
        for (uint32_t k = 0; k < dt->nargs; k++) {
            const gql_input_value *a = &dt->args[k];
            if (a->type->kind != GQL_TR_NON_NULL || a->default_value) continue;
            if (!dir_arg(d, a->name)) {
                char ts[256];
                tref_str(a->type, ts, sizeof ts);
                sb_fail(b, d->loc,
                        "Directive \"@%s\" argument \"%s\" of type \"%s\" is required, but it "
                        "was not provided.",
                        d->name, a->name, ts);
                return;
            }
        }
    }
}

static void sb_check_type_dirs(gql_sbuild *b, const gql_type_def *td)
{
    static const gql_dir_loc kind_loc[] = {GQL_DL_SCALAR, GQL_DL_OBJECT, GQL_DL_INTERFACE,
                                           GQL_DL_UNION,  GQL_DL_ENUM,   GQL_DL_INPUT_OBJECT};
    sb_check_dirs(b, td->dirs, td->ndirs, kind_loc[td->kind]);
    for (uint32_t i = 0; i < td->nfields; i++) {
        sb_check_dirs(b, td->fields[i].dirs, td->fields[i].ndirs, GQL_DL_FIELD_DEFINITION);
        for (uint32_t j = 0; j < td->fields[i].nargs; j++)
            sb_check_dirs(b, td->fields[i].args[j].dirs, td->fields[i].args[j].ndirs,
                          GQL_DL_ARGUMENT_DEFINITION);
    }
    for (uint32_t i = 0; i < td->nvalues; i++)
        sb_check_dirs(b, td->values[i].dirs, td->values[i].ndirs, GQL_DL_ENUM_VALUE);
    for (uint32_t i = 0; i < td->ninput_fields; i++)
        sb_check_dirs(b, td->input_fields[i].dirs, td->input_fields[i].ndirs,
                      GQL_DL_INPUT_FIELD_DEFINITION);
}

/* An object or interface type correctly implements each of its interfaces. */
static void sb_check_implements(gql_sbuild *b, gql_type *t, gql_loc loc)
{
    char ts1[256], ts2[256];
    for (uint32_t i = 0; i < t->ninterfaces && !b->failed; i++) {
        gql_type *it = t->interfaces[i];
        for (uint32_t j = 0; j < it->ninterfaces; j++) {
            gql_type *tr = it->interfaces[j];
            bool has = tr == t;
            for (uint32_t k = 0; k < t->ninterfaces && !has; k++)
                has = t->interfaces[k] == tr;
            if (!has) {
                sb_fail(b, loc, "Type %s must implement %s because it is implemented by %s.",
                        t->name, tr->name, it->name);
                return;
            }
        }
        for (uint32_t j = 0; j < it->nfields; j++) {
            const gql_field *ifd = &it->fields[j];
            const gql_field *f = gql_type_field(t, ifd->name);
            if (!f) {
                sb_fail(b, loc, "Interface field %s.%s expected but %s does not provide it.",
                        it->name, ifd->name, t->name);
                return;
            }
            if (!gql_tref_is_subtype(b->s, f->type, ifd->type)) {
                tref_str(ifd->type, ts1, sizeof ts1);
                tref_str(f->type, ts2, sizeof ts2);
                sb_fail(b, loc, "Interface field %s.%s expects type %s but %s.%s is type %s.",
                        it->name, ifd->name, ts1, t->name, f->name, ts2);
                return;
            }
            for (uint32_t k = 0; k < ifd->nargs; k++) {
                const gql_input_value *ia = &ifd->args[k];
                const gql_input_value *a = gql_field_arg(f, ia->name);
                if (!a) {
                    sb_fail(b, loc,
                            "Interface field argument %s.%s(%s:) expected but %s.%s does not "
                            "provide it.",
                            it->name, ifd->name, ia->name, t->name, f->name);
                    return;
                }
                if (!gql_tref_equal(ia->type, a->type)) {
                    tref_str(ia->type, ts1, sizeof ts1);
                    tref_str(a->type, ts2, sizeof ts2);
                    sb_fail(b, loc,
                            "Interface field argument %s.%s(%s:) expects type %s but "
                            "%s.%s(%s:) is type %s.",
                            it->name, ifd->name, ia->name, ts1, t->name, f->name, a->name, ts2);
                    return;
                }
            }
            for (uint32_t k = 0; k < f->nargs; k++) {
                const gql_input_value *a = &f->args[k];
                if (a->type->kind == GQL_TR_NON_NULL && !a->default_value &&
                    !gql_field_arg(ifd, a->name)) {
                    sb_fail(b, loc,
                            "Object field %s.%s includes required argument %s that is missing "
                            "from the Interface field %s.%s.",
                            t->name, f->name, a->name, it->name, ifd->name);
                    return;
                }
            }
        }
    }
}

/* An input object must not reach itself through non-null, non-list fields
 * (no finite value could be given). Depth-first from `start`; `path` holds
 * the field names walked so far. */
static bool sb_input_cycle(gql_sbuild *b, const gql_type *start, const gql_type *t, uint8_t *onpath,
                           const char **path, uint32_t depth, gql_loc loc)
{
    onpath[t->index] = 1;
    for (uint32_t i = 0; i < t->ninput_fields; i++) {
        const gql_input_value *f = &t->input_fields[i];
        if (f->type->kind != GQL_TR_NON_NULL || f->type->of->kind != GQL_TR_NAMED) continue;
        const gql_type *ft = f->type->of->named;
        if (ft->kind != GQL_T_INPUT_OBJECT) continue;
        path[depth] = f->name;
        if (ft == start) {
            char buf[512];
            size_t n = 0;
            for (uint32_t k = 0; k <= depth && n < sizeof buf; k++)
                n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", k ? "." : "", path[k]);
            sb_fail(b, loc,
                    "Cannot reference Input Object \"%s\" within itself through a series of "
                    "non-null fields: \"%s\".",
                    start->name, buf);
            return true;
        }
        if (!onpath[ft->index] && sb_input_cycle(b, start, ft, onpath, path, depth + 1, loc))
            return true;
    }
    onpath[t->index] = 0;
    return false;
}

static void sb_check_inputs(gql_sbuild *b)
{
    gql_schema *s = b->s;
    uint8_t *onpath = cd_arena_calloc(&s->arena, s->ntypes ? s->ntypes : 1, 1);
    const char **path = cd_arena_calloc(&s->arena, s->ntypes + 1, sizeof *path);
    if (!onpath || !path) {
        sb_oom(b);
        return;
    }
    for (uint32_t i = 0; i < s->ntypes && !b->failed; i++) {
        const gql_type *t = s->types[i];
        if (t->kind == GQL_T_INPUT_OBJECT) {
            memset(onpath, 0, s->ntypes);
            sb_input_cycle(b, t, t, onpath, path, 0, b->defs[i]->loc);
        }
    }
}

static void sb_directives(gql_sbuild *b)
{
    uint32_t n = 0;
    for (int d = 0; d < 2; d++)
        for (uint32_t i = 0; b->docs[d] && i < b->docs[d]->ndefs; i++)
            if (b->docs[d]->defs[i].kind == GQL_DEF_DIRECTIVE) n++;
    b->s->directives = cd_arena_calloc(&b->s->arena, n ? n : 1, sizeof *b->s->directives);
    if (!b->s->directives) {
        sb_oom(b);
        return;
    }
    /* First create them all (arguments of one may not refer to others, but
     * the applied-directive check needs the full list). */
    for (int d = 0; d < 2 && !b->failed; d++) {
        for (uint32_t i = 0; b->docs[d] && i < b->docs[d]->ndefs; i++) {
            if (b->docs[d]->defs[i].kind != GQL_DEF_DIRECTIVE) continue;
            const gql_directive_def *dd = b->docs[d]->defs[i].u.dir;
            gql_directive_type *prev = gql_schema_directive(b->s, dd->name);
            uint32_t slot = b->s->ndirectives;
            if (prev && prev->builtin) {
                /* the SDL may redeclare a built-in directive (graphql-js
                 * buildSchema keeps the SDL's) */
                for (slot = 0; b->s->directives[slot] != prev; slot++) {
                }
            } else if (prev) {
                sb_fail(b, dd->loc, "There can be only one directive named \"@%s\".", dd->name);
                return;
            }
            gql_directive_type *dt = cd_arena_calloc(&b->s->arena, 1, sizeof *dt);
            if (!dt) {
                sb_oom(b);
                return;
            }
            dt->name = dd->name;
            dt->desc = dd->desc;
            dt->repeatable = dd->repeatable;
            dt->locations = dd->locations;
            dt->builtin = d == 0;
            char *coord = cd_arena_sprintf(&b->s->arena, "@%s", dd->name);
            if (!coord) {
                sb_oom(b);
                return;
            }
            dt->nargs = dd->nargs;
            dt->args = sb_input_values(b, dd->args, dd->nargs, coord, false);
            b->s->directives[slot] = dt;
            if (slot == b->s->ndirectives) b->s->ndirectives++;
        }
    }
}

static gql_type *sb_root(gql_sbuild *b, const char *name, gql_loc loc, const char *which)
{
    gql_type *t = gql_schema_type(b->s, name);
    if (!t) {
        sb_fail(b, loc, "Unknown type \"%s\".", name);
        return NULL;
    }
    if (t->kind != GQL_T_OBJECT) {
        sb_fail(b, loc, "%s root type must be Object type, it cannot be %s.", which, name);
        return NULL;
    }
    return t;
}

static void sb_roots(gql_sbuild *b)
{
    static const char *const words[3] = {"Query", "Mutation", "Subscription"};
    const gql_document *doc = b->docs[1];
    const gql_schema_def *def = NULL;
    bool any = false;
    for (uint32_t i = 0; i < doc->ndefs && !b->failed; i++) {
        if (doc->defs[i].kind != GQL_DEF_SCHEMA) continue;
        const gql_schema_def *sd = doc->defs[i].u.schema;
        if (!sd->extension) {
            if (def) {
                sb_fail(b, sd->loc, "Must provide only one schema definition.");
                return;
            }
            def = sd;
            b->s->desc = sd->desc;
        }
        sb_check_dirs(b, sd->dirs, sd->ndirs, GQL_DL_SCHEMA);
        for (int op = 0; op < 3 && !b->failed; op++) {
            if (!sd->root[op]) continue;
            if (b->s->root[op]) {
                sb_fail(b, sd->loc, "Type for %s already defined in the schema.",
                        op == 0   ? "query"
                        : op == 1 ? "mutation"
                                  : "subscription");
                return;
            }
            b->s->root[op] = sb_root(b, sd->root[op], sd->loc, words[op]);
            any = true;
        }
    }
    if (b->failed) return;
    if (!any) {
        for (int op = 0; op < 3; op++) {
            gql_type *t = gql_schema_type(b->s, words[op]);
            if (t && t->kind == GQL_T_OBJECT) b->s->root[op] = t;
        }
    }
    if (!b->s->root[GQL_OP_QUERY]) {
        gql_loc loc = {1, 1};
        if (def) loc = def->loc;
        sb_fail(b, loc, "Query root type must be provided.");
    }
}

static gql_field *sb_meta_fields(gql_sbuild *b)
{
    gql_schema *s = b->s;
    cd_arena *a = &s->arena;
    gql_field *m = cd_arena_calloc(a, 3, sizeof *m);
    gql_tref *tr = cd_arena_calloc(a, 7, sizeof *tr);
    gql_input_value *arg = cd_arena_calloc(a, 1, sizeof *arg);
    if (!m || !tr || !arg) return NULL;
    /* String!, __Schema!, __Type, String! (for name:) */
    tr[0] = (gql_tref){.kind = GQL_TR_NAMED, .named = s->t_string};
    tr[1] = (gql_tref){.kind = GQL_TR_NON_NULL, .of = &tr[0]};
    tr[2] = (gql_tref){.kind = GQL_TR_NAMED, .named = s->t_schema};
    tr[3] = (gql_tref){.kind = GQL_TR_NON_NULL, .of = &tr[2]};
    tr[4] = (gql_tref){.kind = GQL_TR_NAMED, .named = s->t_type};
    m[0].name = "__typename";
    m[0].desc = "The name of the current Object type at runtime.";
    m[0].type = &tr[1];
    m[1].name = "__schema";
    m[1].desc = "Access the current type schema of this server.";
    m[1].type = &tr[3];
    m[2].name = "__type";
    m[2].desc = "Request the type information of a single type.";
    m[2].type = &tr[4];
    arg->name = "name";
    arg->type = &tr[1];
    m[2].args = arg;
    m[2].nargs = 1;
    return m;
}

static bool is_builtin_scalar(const char *name)
{
    static const char *const names[] = {"Int", "Float", "String", "Boolean", "ID"};
    for (size_t i = 0; i < CD_ARRAY_LEN(names); i++)
        if (strcmp(names[i], name) == 0) return true;
    return false;
}

/* Step: parse the built-in SDL and the user's. */
static void sb_parse(gql_sbuild *b)
{
    gql_schema *s = b->s;
    gql_syntax_error se;
    gql_document *bdoc = NULL, *udoc = NULL;
    memset(&se, 0, sizeof se);
    int rc = gql_parse(&s->arena, gql_builtin_sdl, sizeof gql_builtin_sdl - 1, &bdoc, &se);
    if (rc != 0) {
        if (rc == CD_ENOMEM)
            sb_oom(b);
        else
            sb_fail(b, se.loc, "built-in SDL: %s", se.message);
        return;
    }
    rc = gql_parse(&s->arena, b->sdl, b->len, &udoc, &se);
    if (rc != 0) {
        if (rc == CD_ENOMEM)
            sb_oom(b);
        else
            sb_fail(b, se.loc, "%s", se.message);
        return;
    }
    b->docs[0] = bdoc;
    b->docs[1] = udoc;
}

/* Step: one gql_type per type definition (extensions come later). */
static void sb_create_types(gql_sbuild *b)
{
    gql_schema *s = b->s;
    uint32_t n = 0;
    for (int d = 0; d < 2; d++)
        for (uint32_t i = 0; i < b->docs[d]->ndefs; i++) {
            const gql_definition *def = &b->docs[d]->defs[i];
            if (def->kind == GQL_DEF_OPERATION || def->kind == GQL_DEF_FRAGMENT) {
                gql_loc loc = def->kind == GQL_DEF_OPERATION ? def->u.op->loc : def->u.frag->loc;
                sb_fail(b, loc, "Executable definitions are not allowed in a schema.");
                return;
            }
            if (def->kind == GQL_DEF_TYPE && !def->u.type->extension) n++;
        }
    s->types = cd_arena_calloc(&s->arena, n, sizeof *s->types);
    b->defs = cd_arena_calloc(&s->arena, n, sizeof *b->defs);
    if (!s->types || !b->defs) {
        sb_oom(b);
        return;
    }
    for (int d = 0; d < 2; d++)
        for (uint32_t i = 0; i < b->docs[d]->ndefs; i++) {
            const gql_definition *def = &b->docs[d]->defs[i];
            if (def->kind != GQL_DEF_TYPE || def->u.type->extension) continue;
            const gql_type_def *td = def->u.type;
            if (d == 1 && td->kind == GQL_T_SCALAR && is_builtin_scalar(td->name)) continue;
            if (d == 1 && is_reserved(td->name)) {
                sb_fail(b, td->loc,
                        "Name \"%s\" must not begin with \"__\", which is reserved by GraphQL "
                        "introspection.",
                        td->name);
                return;
            }
            gql_type *t = cd_arena_calloc(&s->arena, 1, sizeof *t);
            if (!t) {
                sb_oom(b);
                return;
            }
            t->kind = td->kind;
            t->builtin = d == 0;
            t->name = td->name;
            t->desc = td->desc;
            t->index = s->ntypes;
            b->defs[s->ntypes] = td;
            s->types[s->ntypes++] = t;
        }
}

/* Step: sort the types by name, carrying the definition nodes along; one
 * type per name; the well-known types. */
static void sb_sort_types(gql_sbuild *b)
{
    gql_schema *s = b->s;
    for (uint32_t i = 0; i < s->ntypes; i++)
        s->types[i]->index = i;
    const gql_type_def **orig = cd_arena_calloc(&s->arena, s->ntypes ? s->ntypes : 1, sizeof *orig);
    if (!orig) {
        sb_oom(b);
        return;
    }
    memcpy(orig, b->defs, s->ntypes * sizeof *orig);
    qsort(s->types, s->ntypes, sizeof *s->types, type_cmp);
    for (uint32_t i = 0; i < s->ntypes; i++) {
        b->defs[i] = orig[s->types[i]->index];
        s->types[i]->index = i;
    }
    for (uint32_t i = 1; i < s->ntypes; i++)
        if (strcmp(s->types[i - 1]->name, s->types[i]->name) == 0) {
            const gql_type_def *later = b->defs[i];
            if (b->defs[i - 1]->loc.line > later->loc.line ||
                (b->defs[i - 1]->loc.line == later->loc.line &&
                 b->defs[i - 1]->loc.col > later->loc.col))
                later = b->defs[i - 1];
            sb_fail(b, later->loc, "There can be only one type named \"%s\".", s->types[i]->name);
            return;
        }
    s->t_string = gql_schema_type(s, "String");
    s->t_int = gql_schema_type(s, "Int");
    s->t_float = gql_schema_type(s, "Float");
    s->t_boolean = gql_schema_type(s, "Boolean");
    s->t_id = gql_schema_type(s, "ID");
    s->t_schema = gql_schema_type(s, "__Schema");
    s->t_type = gql_schema_type(s, "__Type");
}

/* Step: extensions must extend an existing type of the same kind. */
static void sb_check_extensions(gql_sbuild *b)
{
    gql_schema *s = b->s;
    const gql_document *udoc = b->docs[1];
    for (uint32_t i = 0; i < udoc->ndefs; i++) {
        const gql_definition *def = &udoc->defs[i];
        if (def->kind != GQL_DEF_TYPE || !def->u.type->extension) continue;
        const gql_type_def *td = def->u.type;
        gql_type *t = gql_schema_type(s, td->name);
        if (!t) {
            sb_fail(b, td->loc, "Cannot extend type \"%s\" because it is not defined.", td->name);
            return;
        }
        if (t->builtin) {
            sb_fail(b, td->loc, "Cannot extend built-in type \"%s\".", td->name);
            return;
        }
        if (t->kind != td->kind) {
            sb_fail(b, td->loc, "Cannot extend non-%s type \"%s\".", type_kind_word[td->kind],
                    td->name);
            return;
        }
    }
}

static void sb_fill_scalar(gql_sbuild *b, gql_type *t, const sb_parts *p)
{
    (void)b;
    for (uint32_t k = 0; k < p->n && !t->specified_by; k++)
        t->specified_by = string_arg(p->v[k]->dirs, p->v[k]->ndirs, "specifiedBy", "url");
}

static void sb_fill_object(gql_sbuild *b, gql_type *t, const sb_parts *p)
{
    sb_fill_fields(b, t, p);
    if (!b->failed) sb_fill_interfaces(b, t, p);
}

/* Step: the members of every type, from its definition plus extensions. */
static void sb_fill_types(gql_sbuild *b)
{
    static void (*const fill[])(gql_sbuild *, gql_type *, const sb_parts *) = {
        [GQL_T_SCALAR] = sb_fill_scalar,    [GQL_T_OBJECT] = sb_fill_object,
        [GQL_T_INTERFACE] = sb_fill_object, [GQL_T_UNION] = sb_fill_union,
        [GQL_T_ENUM] = sb_fill_enum,        [GQL_T_INPUT_OBJECT] = sb_fill_input,
    };
    gql_schema *s = b->s;
    sb_parts parts;
    for (uint32_t i = 0; i < s->ntypes && !b->failed; i++) {
        gql_type *t = s->types[i];
        sb_collect_parts(b, b->defs[i], &parts);
        for (uint32_t k = 0; k < parts.n && !b->failed; k++)
            sb_check_type_dirs(b, parts.v[k]);
        if (b->failed) return;
        fill[t->kind](b, t, &parts);
    }
}

/* Step: objects and interfaces implement their interfaces correctly. */
static void sb_check_implementations(gql_sbuild *b)
{
    gql_schema *s = b->s;
    for (uint32_t i = 0; i < s->ntypes && !b->failed; i++) {
        gql_type *t = s->types[i];
        if (t->kind == GQL_T_OBJECT || t->kind == GQL_T_INTERFACE)
            sb_check_implements(b, t, b->defs[i]->loc);
    }
}

/* Step: the possible (object) types of every interface. */
static void sb_possible_types(gql_sbuild *b)
{
    gql_schema *s = b->s;
    for (uint32_t i = 0; i < s->ntypes; i++) {
        gql_type *it = s->types[i];
        if (it->kind != GQL_T_INTERFACE) continue;
        uint32_t cnt = 0;
        for (uint32_t j = 0; j < s->ntypes; j++)
            if (s->types[j]->kind == GQL_T_OBJECT && gql_type_is_possible(it, s->types[j])) cnt++;
        if (!cnt) continue;
        it->possible = cd_arena_calloc(&s->arena, cnt, sizeof *it->possible);
        if (!it->possible) {
            sb_oom(b);
            return;
        }
        for (uint32_t j = 0; j < s->ntypes; j++)
            if (s->types[j]->kind == GQL_T_OBJECT && gql_type_is_possible(it, s->types[j]))
                it->possible[it->npossible++] = s->types[j];
    }
}

/* Step: __typename, __schema and __type. */
static void sb_add_meta_fields(gql_sbuild *b)
{
    b->s->meta_fields = sb_meta_fields(b);
    if (!b->s->meta_fields) sb_oom(b);
}

/* Builds b->s from b->sdl: each step runs only if every step before it
 * succeeded; the first failure is the one reported. */
static void sb_build(gql_sbuild *b)
{
    static void (*const steps[])(gql_sbuild *) = {
        sb_parse,      sb_create_types,          sb_sort_types,     sb_check_extensions,
        sb_directives, /* before the members: they check the directives applied */
        sb_fill_types, sb_check_implementations, sb_possible_types, sb_check_inputs,
        sb_roots,      sb_add_meta_fields,
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(steps) && !b->failed; i++)
        steps[i](b);
}

int gql_schema_build(const char *sdl, size_t len, gql_schema **out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    *out = NULL;
    gql_schema *s = cd_calloc(1, sizeof *s);
    if (!s) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return CD_ENOMEM;
    }
    cd_arena_init(&s->arena, GQL_SCHEMA_ARENA_BLOCK);
    gql_sbuild b = {
        .s = s, .err = err, .errlen = errlen, .sdl = sdl ? sdl : "", .len = sdl ? len : 0};
    sb_build(&b);
    if (!b.failed) {
        gql_scalars_install(s);
        int rc = gql_introspection_bind(s);
        if (rc == CD_ENOMEM) {
            sb_oom(&b);
        } else if (rc != 0) {
            gql_loc none = {0, 0};
            sb_fail(&b, none, "cannot bind introspection resolvers");
        }
    }
    if (b.failed) {
        bool oom = err && strstr(err, "out of memory") != NULL;
        gql_schema_free(s);
        return oom ? CD_ENOMEM : CD_EBAD;
    }
    *out = s;
    return 0;
}
