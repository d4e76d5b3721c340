/*
 * validate_internal.h — state shared by the files of the validator. Private
 * to them:
 *   validate.c          the driver (gql_validate), the context (errors, the
 *                       work budget, scratch memory), the document indexes
 *                       (fragments by name, spreads, referenced fragments)
 *                       and chatd's cost limits;
 *   validate_walk.c     the document walk: graphql-js TypeInfo carried down a
 *                       pre-order walk, calling the rules at each node;
 *   validate_rules.c    the spec rules (graphql-js specifiedRules), one
 *                       function per node kind they visit;
 *   validate_overlap.c  OverlappingFieldsCanBeMerged;
 *   validate_suggest.c  the "Did you mean ...?" suggestions.
 *
 * Memory: every temporary structure lives in `scratch`, an arena created and
 * freed by one gql_validate() call; error messages and locations go to the
 * caller's error list (its arena).
 */
#ifndef CHATD_GQL_VALIDATE_INTERNAL_H
#define CHATD_GQL_VALIDATE_INTERNAL_H

#include "graphql/gql_internal.h"

/* Nesting of the rule's recursive comparisons (fragment chains, nested
 * same-named fields) before validation ends with "Validation aborted.". */
#define GQL_V_OVERLAP_MAX_DEPTH 4000u

typedef struct gql_vov gql_vov; /* validate_overlap.c */

typedef struct gql_vctx {
    const gql_schema *s;
    const gql_document *doc;
    gql_error_list *errs;
    cd_arena scratch;
    uint32_t nerr;
    bool aborted; /* stop walking: error cap, budget or OOM */
    bool oom;
    /* fragments by name: sorted unique names and the definition each name
     * resolves to (the last one, as graphql-js's getFragment) */
    uint32_t nfrag;
    const char **frag_name;
    const gql_fragment **frag_def;
    gql_vov *ov;
    long budget;       /* OverlappingFieldsCanBeMerged comparisons left */
    long budget_start; /* ... of how many */
    long work;         /* units of work done (GQL_V_WORK_BUDGET) */
    long work_budget;
    uint32_t ov_depth; /* its current recursion depth */
} gql_vctx;

void *gql_v_alloc(gql_vctx *v, size_t n); /* zeroed scratch memory; NULL on OOM */
void gql_v_error(gql_vctx *v, const gql_loc *locs, uint32_t nlocs, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Index of a fragment name in frag_name, or -1. */
int gql_v_frag_index(const gql_vctx *v, const char *name);
const gql_fragment *gql_v_fragment(const gql_vctx *v, const char *name);
/* "[Foo!]" of a resolved type, a value literal, a type reference: in scratch. */
const char *gql_v_tref_str(gql_vctx *v, const gql_tref *t);
const char *gql_v_value_str(gql_vctx *v, const gql_value *val);
const char *gql_v_type_ref_str(gql_vctx *v, const gql_type_ref *t);
/* Moves a buffer's text to scratch and frees the buffer; "" on failure. */
const char *gql_v_buf_str(gql_vctx *v, cd_buf *b);
/* The named type inside list / non-null wrappers of a type reference. */
static inline const gql_type_ref *gql_v_innermost(const gql_type_ref *t)
{
    while (t && t->kind != GQL_TR_NAMED)
        t = t->of;
    return t;
}

/* Deducts overlap comparisons; false (and aborted, with the "Validation
 * aborted." error) once the budget is exhausted. */
bool gql_v_spend(gql_vctx *v, long cost);
/* Counts units of work against GQL_V_WORK_BUDGET; false (and aborted, with
 * the same error) once it is exceeded. */
bool gql_v_work(gql_vctx *v, long units);

/* OverlappingFieldsCanBeMerged for one selection set (the rule's visitor). */
void gql_v_overlap(gql_vctx *v, const gql_type *parent, const gql_selection_set *ss);

/* ------------------------------------------------------- the walk's state */

typedef struct v_usage {
    const gql_value *node;  /* GQL_V_VARIABLE */
    const gql_tref *type;   /* input type at the usage, or NULL */
    bool has_default;       /* the location (argument / input field) has a default */
    const gql_tref *parent; /* getParentInputType() at the usage, or NULL */
} v_usage;

typedef struct v_usages {
    v_usage *items;
    uint32_t n, cap;
} v_usages;

typedef struct v_sels { /* a growable list of selections (fragment spreads) */
    const gql_selection **items;
    uint32_t n, cap;
} v_sels;

/* The "output type" slot of graphql-js TypeInfo: a wrapped type of a field,
 * or a bare named type (operation root, fragment type condition). */
typedef struct v_type {
    const gql_tref *ref;
    const gql_type *named;
} v_type;

static inline const gql_type *vt_named(v_type t)
{
    return t.ref ? gql_tref_named(t.ref) : t.named;
}

typedef struct v_ti {
    v_type type;                /* getType() */
    const gql_type *parent;     /* getParentType() */
    const gql_field *field_def; /* getFieldDef() */
} v_ti;

typedef struct v_in {
    const gql_tref *type;   /* getInputType() */
    const gql_tref *parent; /* getParentInputType() */
    bool has_default;       /* getDefaultValue() !== undefined */
} v_in;

/* A cached result of referenced_fragments(). */
typedef struct v_refset {
    const char *key; /* the directly spread names, sorted, each followed by ',' */
    int *frags;      /* fragment name indexes */
    uint32_t nfrags;
} v_refset;

/* Walk state beyond TypeInfo. */
typedef struct v_walk {
    gql_vctx *v;
    bool collect;         /* first pass: only gather variable usages */
    v_usages *usages;     /* collect: where this definition's usages go */
    bool in_var_def;      /* usages inside variable definitions do not count */
    v_usages *def_usages; /* by document definition index */
    v_sels *def_spreads;  /* by definition index: getFragmentSpreads of its top set */
    bool *def_spreads_done;
    int *frag_def_index; /* by fragment name index: definition index */
    uint32_t nops;
    /* per-document state of rules */
    const gql_operation **op_names; /* UniqueOperationNames: seen ops with a name */
    uint32_t nop_names;
    const gql_fragment **frag_seen; /* UniqueFragmentNames */
    uint32_t nfrag_seen;
    /* NoFragmentCycles */
    bool *cyc_visited;
    int *cyc_index;
    v_sels cyc_path;
    v_refset **refsets;
    uint32_t nrefsets, caprefsets;
} v_walk;

bool gql_v_sels_push(gql_vctx *v, v_sels *l, const gql_selection *s);
bool gql_v_usages_push(gql_vctx *v, v_usages *l, v_usage u);
/* graphql-js getFragmentSpreads of a selection set, appended to out. */
void gql_v_collect_spreads(gql_vctx *v, const gql_selection_set *top, v_sels *out);
/* graphql-js getRecursivelyReferencedFragments of the operations at these
 * definition indexes; NULL on OOM. */
const v_refset *gql_v_referenced_fragments(v_walk *w, const uint32_t *ops, uint32_t nops);

/* validate_walk.c: one pass over the document (w->collect chooses which). */
void gql_v_walk_document(v_walk *w);

/* validate_rules.c: the rules, named by the node they visit; each reports
 * through gql_v_error. "enter" runs before the node's children, "leave" after. */
typedef struct v_dir { /* a directive as the rules see it */
    bool known;
    uint32_t locations;
    bool repeatable;
    const gql_directive_type *st; /* from the schema, or */
    const gql_directive_def *dd;  /* from a definition inside the document */
} v_dir;
v_dir gql_v_dir_info(gql_vctx *v, const char *name);

void gql_v_rule_document_enter(v_walk *w);
void gql_v_rule_document_leave(v_walk *w);
void gql_v_rule_operation_enter(v_walk *w, const gql_operation *op);
void gql_v_rule_operation_leave(v_walk *w, const gql_operation *op, uint32_t defidx);
void gql_v_rule_var_def(v_walk *w, const gql_var_def *vd, const gql_tref *t);
void gql_v_rule_fragment_enter(v_walk *w, const gql_fragment *fd, const gql_type *ct);
void gql_v_rule_field_enter(v_walk *w, const gql_selection *f, v_ti ti, const gql_field *def);
void gql_v_rule_field_leave(v_walk *w, const gql_selection *f, const gql_field *def);
void gql_v_rule_spread(v_walk *w, const gql_selection *s, v_ti ti);
/* ct: the type condition's type; ft: the fragment's output type */
void gql_v_rule_inline_fragment(v_walk *w, const gql_selection *s, v_ti ti, const gql_type *ct,
                                const gql_type *ft);
void gql_v_rule_directive_enter(v_walk *w, const gql_directive *d, gql_dir_loc where,
                                const v_dir *info);
void gql_v_rule_directive_leave(v_walk *w, const gql_directive *d, const v_dir *info);
void gql_v_rule_unique_directives(v_walk *w, const gql_directive *dirs, uint32_t n);
void gql_v_rule_known_argument(v_walk *w, const gql_argument *a, v_ti ti);
void gql_v_rule_known_type(v_walk *w, const char *name, gql_loc loc);
/* ValuesOfCorrectType. The list and object rules return false when they
 * reported the node and the rule skips its children (graphql-js returns
 * false from the visitor). */
void gql_v_rule_leaf_value(v_walk *w, const gql_value *val, const gql_tref *loctype);
void gql_v_rule_null_value(v_walk *w, const gql_value *val, const gql_tref *type);
bool gql_v_rule_list_value(v_walk *w, const gql_value *val, const gql_tref *type,
                           const gql_tref *item);
bool gql_v_rule_object_value(v_walk *w, const gql_value *val, const gql_tref *type);
/* An object field: unknown field (when vc) and UniqueInputFieldNames. */
void gql_v_rule_object_field(v_walk *w, const gql_value *obj, uint32_t i, const gql_type *ot,
                             const gql_input_value *fd, bool vc);

/* validate_suggest.c: " Did you mean [sub ]"a", "b", or "c"?" or "". */
const char *gql_v_suggest(gql_vctx *v, const char *sub, const char *input,
                          const char *const *options, uint32_t n);
const char *gql_v_suggest_fields(gql_vctx *v, const char *input, const gql_field *f, uint32_t n);
const char *gql_v_suggest_input_values(gql_vctx *v, const char *sub, const char *input,
                                       const gql_input_value *iv, uint32_t n);
const char *gql_v_suggest_enum(gql_vctx *v, const gql_type *t, const char *input);
/* FieldsOnCorrectType's types hint for an abstract type, or "". */
const char *gql_v_suggest_types_for_field(gql_vctx *v, const gql_type *t, const char *field);

#endif
