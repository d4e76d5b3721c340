/*
 * execute_internal.h — shared by coerce.c and the executor's files
 * (execute.c: runs and resolvers; execute_plan.c: field plans;
 * execute_write.c: the response writer): value printing for messages, leaf
 * serialisation, and the executor's internal types. Not for other files.
 */
#ifndef CHATD_GQL_EXECUTE_INTERNAL_H
#define CHATD_GQL_EXECUTE_INTERNAL_H

#include "graphql/gql_internal.h"

/* Appends v the way graphql-js's inspect() prints a JS value in messages:
 * strings JSON-quoted, lists "[1, 2]", objects "{ a: 1 }", nesting beyond
 * two levels as "[Object]" / "[Array]", at most 10 list items. */
void gql_inspect(cd_buf *b, const gql_value *v);
/* Formats a double as JavaScript's Number#toString does. buf >= 32 bytes. */
void gql_js_number(char *buf, size_t len, double f);
/* Serialises a result leaf for `t` (SCALAR or ENUM): runs the scalar's
 * serialize hook or the enum check. 0 or CD_EBAD with msg. */
int gql_serialize_leaf(cd_arena *a, const gql_type *t, const gql_value *in, gql_value *out,
                       char *msg, size_t msglen);

/* ---- executor state shared by execute.c, execute_plan.c, execute_write.c ---- */

enum { R_PENDING = 0, R_NULL, R_LEAF, R_OBJ, R_LIST };
/* ARGS_STATIC: coerced once and kept in the plan; ARGS_PER_EXEC: the field's
 * arguments read variables and its plan is shared, so each exec coerces them
 * (kept in gql_exec.vargs). */
enum { ARGS_UNKNOWN = 0, ARGS_STATIC, ARGS_PER_EXEC };
enum { M_NONE = 0, M_TYPENAME, M_SCHEMA, M_TYPE };

typedef struct gql_pset gql_pset;
typedef struct gql_pfield gql_pfield;
typedef struct gql_rval gql_rval;

typedef struct gql_psub {
    const gql_type *type;
    gql_pset *ps;
} gql_psub;

struct gql_pfield {
    const char *key; /* response key */
    char *jkey;      /* "key": (JSON, with quotes and colon) */
    uint32_t jkeylen;
    gql_field *def;
    uint8_t meta;
    bool nonnull;      /* def->type is NON_NULL */
    uint8_t args_mode; /* ARGS_*: how this field's arguments are coerced */
    uint32_t hint;     /* index where the parent object last held this property */
    const gql_selection **nodes;
    uint32_t nnodes;
    gql_loc *locs;
    gql_value args;            /* ARGS_STATIC: coerced arguments (OBJECT) */
    const gql_error *args_err; /* ARGS_STATIC: coercion failure, raised per instance */
    gql_psub *subs;
    uint32_t nsubs, capsubs;
};

struct gql_pset {
    const gql_type *type;
    gql_pfield *f;
    uint32_t n;
};

struct gql_rval {
    uint8_t kind;
    bool nulled;       /* null by propagation or error */
    bool nonnull;      /* this position's type is non-null */
    bool in_loop;      /* OBJ: its fields are being started */
    bool loop_promise; /* OBJ in loop: an earlier field is still pending */
    bool deferred;     /* OBJ: a non-null failure waits for its pending fields */
    uint32_t n;        /* LIST length */
    uint32_t pending;  /* resolvers in flight in this subtree */
    gql_rval *up;      /* container (OBJ or LIST), NULL for data */
    union {
        gql_value leaf;
        struct {
            const gql_pset *ps;
            gql_rval *vals;
            gql_error *derr; /* deferred: the error to report when it settles */
        } obj;
        gql_rval *items;
    } u;
};

/* Per-exec arguments of a shared plan field that reads variables. */
typedef struct gql_vargs {
    const gql_pfield *pf;
    gql_value args;
    const gql_error *err;
} gql_vargs;

struct gql_exec {
    gql_schema *schema;
    gql_cache *cache;
    cd_arena prep;
    cd_arena run;
    gql_cached_doc *doc;
    const gql_operation *op;
    gql_type *root_type;
    gql_value vars;
    bool vars_ready, vars_failed;
    bool running, cancelled, has_data, oom;
    int8_t shared;  /* plans live in the document: 1, in prep: 0, unknown: -1 */
    bool too_large; /* est_bytes passed limits.max_response_bytes */
    /* request errors (prepare / variables) */
    const gql_error *req_errs;
    uint32_t nreq_errs;
    uint32_t borrowers;  /* base: execs borrowing it (gql_exec_borrow) */
    gql_error_list errs; /* run errors, in the run arena */
    gql_pset *root_plan;
    gql_vargs *vargs; /* prep arena */
    uint32_t nvargs, capvargs;
    gql_exec_opts opts;
    gql_exec_limits limits; /* filled in: no zeros */
    uint64_t cost;          /* estimate of the operation (set_variables) */
    size_t est_bytes;       /* the run's response so far: a lower bound */
    size_t prep_exact;      /* gql_exec_compact: size of a subscription's prep block */
    gql_exec_done_fn done;
    void *done_ud;
    const gql_value *root_value;
    gql_rval *data;
    uint32_t pending;
    uint32_t next_root; /* mutations: next root field to start */
    /* gql_exec_borrow: a borrower runs `base`'s prepared state (document,
     * variables, plans, root arguments) and holds a reference on it; what
     * its runs add to that state (nested plans and arguments) goes to the
     * base, so every borrower reuses it. */
    gql_exec *base;
    bool orphan; /* base: gql_exec_free'd while borrowed */
};

/* The exec holding ex's prepared state: its base when borrowed, else ex. */
static inline gql_exec *gql_exec_owner(gql_exec *ex)
{
    return ex->base ? ex->base : ex;
}

extern const gql_value gql_null_value;   /* {kind NULL} */
extern const gql_value gql_empty_object; /* {} */

/* execute_plan.c: the field plans (CollectFields, once per document or exec).
 * gql_plan_root: the operation's root plan; gql_plan_sub: the plan of a
 * field's sub-selection for object type t; both NULL on OOM.
 * gql_plan_args: the field's coerced arguments (0, CD_EBAD with *err, or
 * CD_ENOMEM). */
gql_pset *gql_plan_root(gql_exec *ex);
gql_pset *gql_plan_sub(gql_exec *ex, gql_pfield *pf, const gql_type *t);
int gql_plan_args(gql_exec *ex, gql_pfield *pf, const gql_value **args, const gql_error **err);

#endif
