/*
 * validate.c — validation of executable documents: every rule of the spec's
 * Validation section, implemented the way graphql-js 16.8's `specifiedRules`
 * are (the version chatd's differential tests pin), so the same document gets
 * the same errors at the same locations in the same order; then chatd's cost
 * limits (depth, field count, aliases).
 *
 * How it mirrors graphql-js: one pre-order walk over the document carries the
 * TypeInfo state (output type, parent type, field definition, input type,
 * parent input type, location default) down the recursion; at each node the
 * rules that have a visitor for that node kind run in specifiedRules order,
 * and "leave" rules run after the children. Rules that graphql-js skips below
 * a node (ValuesOfCorrectType after a type mismatch, KnownArgumentNames inside
 * directives) are skipped the same way.
 * Variable usages (graphql-js getVariableUsages) are gathered by a first walk
 * of the same code in "collect" mode, so operations can see the usages of
 * fragments defined after them.
 *
 * The limits run only when the spec rules found nothing, so they never change
 * the spec error list.
 *
 * Memory: scratch structures live in an arena private to one call; errors go
 * to the caller's list.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/validate_internal.h"

/* ------------------------------------------------------------ utilities */

void *gql_v_alloc(gql_vctx *v, size_t n)
{
    void *p = cd_arena_calloc(&v->scratch, 1, n ? n : 1);
    if (!p) v->oom = v->aborted = true;
    return p;
}

void gql_v_error(gql_vctx *v, const gql_loc *locs, uint32_t nlocs, const char *fmt, ...)
{
    if (v->aborted) return;
    if (v->nerr >= GQL_MAX_ERRORS) {
        /* graphql-js (maxErrors 100) then adds this notice and aborts; the
         * list's own cap is bypassed for it so counts match */
        gql_error_list *l = v->errs;
        gql_error *ni = cd_arena_alloc(l->arena, (l->n + 1) * sizeof *ni);
        v->aborted = true;
        if (!ni) {
            v->oom = true;
            return;
        }
        if (l->n) memcpy(ni, l->items, l->n * sizeof *ni);
        memset(&ni[l->n], 0, sizeof *ni);
        ni[l->n].message = "Too many validation errors, error limit reached. Validation aborted.";
        l->items = ni;
        l->cap = ++l->n;
        v->nerr++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = cd_arena_vsprintf(&v->scratch, fmt, ap);
    va_end(ap);
    if (!msg) {
        v->oom = v->aborted = true;
        return;
    }
    if (!gql_errors_add(v->errs, locs, nlocs, "%s", msg)) {
        v->oom = v->aborted = true;
        return;
    }
    v->nerr++;
}

bool gql_v_spend(gql_vctx *v, long cost)
{
    if (v->aborted) return false;
    v->budget -= cost;
    if (v->budget < 0) {
        gql_v_error(v, NULL, 0, "Validation aborted.");
        v->aborted = true;
        return false;
    }
    return true;
}

int gql_v_frag_index(const gql_vctx *v, const char *name)
{
    uint32_t lo = 0, hi = v->nfrag;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, v->frag_name[mid]);
        if (c == 0) return (int)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

const gql_fragment *gql_v_fragment(const gql_vctx *v, const char *name)
{
    int i = gql_v_frag_index(v, name);
    return i < 0 ? NULL : v->frag_def[i];
}

static const char *buf_to_scratch(gql_vctx *v, cd_buf *b)
{
    const char *out = NULL;
    if (!b->failed) out = cd_arena_strndup(&v->scratch, b->data ? b->data : "", b->len);
    cd_buf_free(b);
    if (!out) {
        v->oom = v->aborted = true;
        return "";
    }
    return out;
}

const char *gql_v_tref_str(gql_vctx *v, const gql_tref *t)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_print_tref(&b, t);
    return buf_to_scratch(v, &b);
}

static const char *value_str(gql_vctx *v, const gql_value *val)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_print_value(&b, val);
    return buf_to_scratch(v, &b);
}

static const char *type_ref_str(gql_vctx *v, const gql_type_ref *t)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_print_type_ref(&b, t);
    return buf_to_scratch(v, &b);
}

/* Locations of name nodes. The parser records them; when it did not (0), the
 * usual single-space layout is assumed. */
static gql_loc loc_plus(gql_loc l, uint32_t n)
{
    l.col += n;
    return l;
}

static gql_loc op_name_loc(const gql_operation *op)
{
    static const uint32_t kw[] = {6, 9, 13}; /* "query ", "mutation ", "subscription " */
    return op->name_loc.line ? op->name_loc : loc_plus(op->loc, kw[op->op % 3]);
}

static gql_loc frag_name_loc(const gql_fragment *f)
{
    return f->name_loc.line ? f->name_loc : loc_plus(f->loc, 9);
}

static gql_loc spread_name_loc(const gql_selection *s)
{
    return s->name_loc.line ? s->name_loc : loc_plus(s->loc, 3);
}

static gql_loc var_name_loc(const gql_var_def *d)
{
    return d->name_loc.line ? d->name_loc : loc_plus(d->loc, 1);
}

static const gql_type_ref *innermost(const gql_type_ref *t)
{
    while (t && t->kind != GQL_TR_NAMED)
        t = t->of;
    return t;
}

static const gql_tref *nullable(const gql_tref *t)
{
    return t && t->kind == GQL_TR_NON_NULL ? t->of : t;
}

/* graphql-js doTypesOverlap. */
static bool types_overlap(const gql_type *a, const gql_type *b)
{
    if (a == b) return true;
    if (gql_type_is_abstract(a)) {
        if (gql_type_is_abstract(b)) {
            for (uint32_t i = 0; i < a->npossible; i++)
                if (gql_type_is_possible(b, a->possible[i])) return true;
            return false;
        }
        return gql_type_is_possible(a, b);
    }
    if (gql_type_is_abstract(b)) return gql_type_is_possible(b, a);
    return false;
}

/* ---------------------------------------------------------- suggestions */

/* graphql-js suggestionList / didYouMean: options within a Damerau-
 * Levenshtein distance of 40% of the input (case-insensitive match counts
 * 1), best first, ties in natural order, at most five shown. */
#define GQL_V_MAX_SUGGESTIONS 5

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* graphql-js naturalCompare: digit runs compare as numbers. */
static int natural_cmp(const char *a, const char *b)
{
    size_t ai = 0, bi = 0, al = strlen(a), bl = strlen(b);
    while (ai < al && bi < bl) {
        int ac = (unsigned char)a[ai], bc = (unsigned char)b[bi];
        if (is_digit(ac) && is_digit(bc)) {
            uint64_t an = 0, bn = 0;
            do {
                ++ai;
                an = an * 10 + (uint64_t)(ac - '0');
                ac = ai < al ? (unsigned char)a[ai] : 0;
            } while (is_digit(ac) && an > 0);
            do {
                ++bi;
                bn = bn * 10 + (uint64_t)(bc - '0');
                bc = bi < bl ? (unsigned char)b[bi] : 0;
            } while (is_digit(bc) && bn > 0);
            if (an != bn) return an < bn ? -1 : 1;
        } else {
            if (ac != bc) return ac < bc ? -1 : 1;
            ++ai;
            ++bi;
        }
    }
    return (int)al - (int)bl;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Distance of `option` from `input` (graphql-js LexicalDistance), or -1
 * when above threshold. rows: 3 * (strlen(input) + 1) + slack ints. */
static int lex_distance(const char *input, const char *option, int threshold, int *rows,
                        size_t rowcap)
{
    if (strcmp(input, option) == 0) return 0;
    size_t il = strlen(input), ol = strlen(option);
    bool same_lower = il == ol;
    for (size_t i = 0; same_lower && i < il; i++)
        same_lower = ascii_lower((unsigned char)input[i]) == ascii_lower((unsigned char)option[i]);
    if (same_lower) return 1;
    const char *a = option, *b = input;
    size_t alen = ol, blen = il;
    if (alen < blen) {
        a = input;
        b = option;
        alen = il;
        blen = ol;
    }
    if ((int)(alen - blen) > threshold) return -1;
    if (3 * (blen + 1) > rowcap) return -1;
    int *r[3] = {rows, rows + blen + 1, rows + 2 * (blen + 1)};
    for (size_t j = 0; j <= blen; j++)
        r[0][j] = (int)j;
    for (size_t i = 1; i <= alen; i++) {
        int *up = r[(i - 1) % 3], *cur = r[i % 3];
        int smallest = cur[0] = (int)i;
        for (size_t j = 1; j <= blen; j++) {
            int ca = ascii_lower((unsigned char)a[i - 1]),
                cb = ascii_lower((unsigned char)b[j - 1]);
            int cost = ca == cb ? 0 : 1;
            int cell = up[j] + 1;
            if (cur[j - 1] + 1 < cell) cell = cur[j - 1] + 1;
            if (up[j - 1] + cost < cell) cell = up[j - 1] + cost;
            if (i > 1 && j > 1 && ca == ascii_lower((unsigned char)b[j - 2]) &&
                ascii_lower((unsigned char)a[i - 2]) == cb) {
                int dd = r[(i - 2) % 3][j - 2] + 1;
                if (dd < cell) cell = dd;
            }
            if (cell < smallest) smallest = cell;
            cur[j] = cell;
        }
        if (smallest > threshold) return -1;
    }
    int d = r[alen % 3][blen];
    return d <= threshold ? d : -1;
}

/* The matching options, best first; returns how many went to out. */
static uint32_t suggestion_list(gql_vctx *v, const char *input, const char *const *options,
                                uint32_t n, const char **out)
{
    int threshold = (int)(strlen(input) * 4 / 10) + 1;
    size_t rowcap = 3 * (strlen(input) + 1);
    int *rows = gql_v_alloc(v, rowcap * sizeof *rows);
    int *dist = gql_v_alloc(v, (n ? n : 1) * sizeof *dist);
    if (!rows || !dist) return 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool dup = false;
        for (uint32_t j = 0; j < k && !dup; j++)
            dup = strcmp(out[j], options[i]) == 0;
        if (dup) continue;
        int d = lex_distance(input, options[i], threshold, rows, rowcap);
        if (d < 0) continue;
        /* stable insertion by (distance, natural order) */
        uint32_t j = k++;
        while (j > 0 &&
               (dist[j - 1] > d || (dist[j - 1] == d && natural_cmp(out[j - 1], options[i]) > 0))) {
            out[j] = out[j - 1];
            dist[j] = dist[j - 1];
            j--;
        }
        out[j] = options[i];
        dist[j] = d;
    }
    return k;
}

/* " Did you mean [sub ]"a", "b", or "c"?" or "" (in scratch). */
static const char *did_you_mean(gql_vctx *v, const char *sub, const char *const *sugg, uint32_t n)
{
    if (!n) return "";
    if (n > GQL_V_MAX_SUGGESTIONS) n = GQL_V_MAX_SUGGESTIONS;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, " Did you mean ");
    if (sub) cd_buf_printf(&b, "%s ", sub);
    for (uint32_t i = 0; i < n; i++) {
        if (i && n == 2)
            cd_buf_puts(&b, " or ");
        else if (i && i + 1 == n)
            cd_buf_puts(&b, ", or ");
        else if (i)
            cd_buf_puts(&b, ", ");
        cd_buf_printf(&b, "\"%s\"", sugg[i]);
    }
    cd_buf_putc(&b, '?');
    return buf_to_scratch(v, &b);
}

static const char *suggest(gql_vctx *v, const char *sub, const char *input,
                           const char *const *options, uint32_t n)
{
    const char **out = gql_v_alloc(v, (n ? n : 1) * sizeof *out);
    if (!out) return "";
    return did_you_mean(v, sub, out, suggestion_list(v, input, options, n, out));
}

static const char *suggest_fields(gql_vctx *v, const char *input, const gql_field *f, uint32_t n)
{
    const char **names = gql_v_alloc(v, (n ? n : 1) * sizeof *names);
    if (!names) return "";
    for (uint32_t i = 0; i < n; i++)
        names[i] = f[i].name;
    return suggest(v, NULL, input, names, n);
}

static const char *suggest_input_values(gql_vctx *v, const char *sub, const char *input,
                                        const gql_input_value *iv, uint32_t n)
{
    const char **names = gql_v_alloc(v, (n ? n : 1) * sizeof *names);
    if (!names) return "";
    for (uint32_t i = 0; i < n; i++)
        names[i] = iv[i].name;
    return suggest(v, sub, input, names, n);
}

/* FieldsOnCorrectType: for an abstract type, the possible types (and their
 * interfaces) that have the field, most used first, super types first. */
static const char *suggest_types_for_field(gql_vctx *v, const gql_type *t, const char *field)
{
    if (!gql_type_is_abstract(t)) return "";
    uint32_t cap = 0;
    for (uint32_t i = 0; i < t->npossible; i++)
        cap += 1 + t->possible[i]->ninterfaces;
    const gql_type **types = gql_v_alloc(v, (cap ? cap : 1) * sizeof *types);
    uint32_t *count = gql_v_alloc(v, (cap ? cap : 1) * sizeof *count);
    if (!types || !count) return "";
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->npossible; i++) {
        const gql_type *pt = t->possible[i];
        if (!gql_type_field(pt, field)) continue;
        types[n] = pt;
        count[n++] = 1;
        for (uint32_t k = 0; k < pt->ninterfaces; k++) {
            const gql_type *it = pt->interfaces[k];
            if (!gql_type_field(it, field)) continue;
            uint32_t j = 0;
            while (j < n && types[j] != it)
                j++;
            if (j == n) {
                types[n] = it;
                count[n++] = 0;
            }
            count[j]++;
        }
    }
    /* stable insertion sort with graphql-js's comparator */
    for (uint32_t i = 1; i < n; i++) {
        const gql_type *ti = types[i];
        uint32_t ci = count[i], j = i;
        while (j > 0) {
            const gql_type *tj = types[j - 1];
            int c = (int)ci - (int)count[j - 1];
            int order; /* <0: ti before tj */
            if (c != 0)
                order = -c;
            else if (tj->kind == GQL_T_INTERFACE && gql_type_is_possible(tj, ti))
                order = 1;
            else if (ti->kind == GQL_T_INTERFACE && gql_type_is_possible(ti, tj))
                order = -1;
            else
                order = natural_cmp(ti->name, tj->name);
            if (order >= 0) break;
            types[j] = tj;
            count[j] = count[j - 1];
            j--;
        }
        types[j] = ti;
        count[j] = ci;
    }
    const char **names = gql_v_alloc(v, (n ? n : 1) * sizeof *names);
    if (!names) return "";
    for (uint32_t i = 0; i < n; i++)
        names[i] = types[i]->name;
    return did_you_mean(v, "to use an inline fragment on", names, n);
}

/* ------------------------------------------------------ document indexes */

typedef struct v_usage {
    const gql_value *node; /* GQL_V_VARIABLE */
    const gql_tref *type;  /* input type at the usage, or NULL */
    bool has_default;      /* the location (argument / input field) has a default */
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

static const gql_type *vt_named(v_type t)
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

static bool sels_push(gql_vctx *v, v_sels *l, const gql_selection *s)
{
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : 8;
        const gql_selection **ni = gql_v_alloc(v, ncap * sizeof *ni);
        if (!ni) return false;
        if (l->n) memcpy(ni, l->items, l->n * sizeof *ni);
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = s;
    return true;
}

static bool usages_push(gql_vctx *v, v_usages *l, v_usage u)
{
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : 8;
        v_usage *ni = gql_v_alloc(v, ncap * sizeof *ni);
        if (!ni) return false;
        if (l->n) memcpy(ni, l->items, l->n * sizeof *ni);
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = u;
    return true;
}

/* graphql-js getFragmentSpreads: spreads of a selection set, nested sets
 * visited from a stack (so the order is not document order). */
static void collect_spreads(gql_vctx *v, const gql_selection_set *top, v_sels *out)
{
    uint32_t cap = 16, n = 0;
    const gql_selection_set **stack = gql_v_alloc(v, cap * sizeof *stack);
    if (!stack || !top) return;
    stack[n++] = top;
    while (n) {
        const gql_selection_set *set = stack[--n];
        for (uint32_t i = 0; i < set->n; i++) {
            const gql_selection *s = &set->items[i];
            if (s->kind == GQL_SEL_FRAGMENT_SPREAD) {
                if (!sels_push(v, out, s)) return;
            } else if (s->sel) {
                if (n == cap) {
                    const gql_selection_set **ns = gql_v_alloc(v, cap * 2 * sizeof *ns);
                    if (!ns) return;
                    memcpy(ns, stack, n * sizeof *ns);
                    stack = ns;
                    cap *= 2;
                }
                stack[n++] = s->sel;
            }
        }
    }
}

static const v_sels *def_spreads(v_walk *w, uint32_t defidx)
{
    if (!w->def_spreads_done[defidx]) {
        const gql_definition *d = &w->v->doc->defs[defidx];
        const gql_selection_set *ss = d->kind == GQL_DEF_OPERATION  ? d->u.op->sel
                                      : d->kind == GQL_DEF_FRAGMENT ? d->u.frag->sel
                                                                    : NULL;
        collect_spreads(w->v, ss, &w->def_spreads[defidx]);
        w->def_spreads_done[defidx] = true;
    }
    return &w->def_spreads[defidx];
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* graphql-js getRecursivelyReferencedFragments: the fragments (name indexes)
 * reachable from the operations, in breadth-first order of discovery. Cached
 * by the set of names the operations spread directly, so documents with many
 * operations over the same fragments stay linear. */
static const v_refset *referenced_fragments(v_walk *w, const uint32_t *ops, uint32_t nops)
{
    gql_vctx *v = w->v;
    uint32_t nnames = 0;
    for (uint32_t k = 0; k < nops; k++)
        nnames += def_spreads(w, ops[k])->n;
    const char **names = gql_v_alloc(v, (nnames ? nnames : 1) * sizeof *names);
    if (!names) return NULL;
    uint32_t nn = 0;
    for (uint32_t k = 0; k < nops; k++) {
        const v_sels *sp = def_spreads(w, ops[k]);
        for (uint32_t i = 0; i < sp->n; i++)
            names[nn++] = sp->items[i]->name;
    }
    qsort(names, nn, sizeof *names, name_cmp);
    cd_buf kb;
    cd_buf_init(&kb);
    for (uint32_t i = 0; i < nn; i++) {
        if (i && !strcmp(names[i], names[i - 1])) continue;
        cd_buf_printf(&kb, "%s,", names[i]);
    }
    const char *key = buf_to_scratch(v, &kb);
    for (uint32_t i = 0; i < w->nrefsets; i++)
        if (!strcmp(w->refsets[i]->key, key)) return w->refsets[i];
    v_refset *rs = gql_v_alloc(v, sizeof *rs);
    if (!rs) return NULL;
    rs->key = key;
    rs->frags = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *rs->frags);
    bool *seen = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *seen);
    if (!rs->frags || !seen) return NULL;
    uint32_t n = 0;
    for (uint32_t k = 0; k < nops; k++) {
        const v_sels *sp = def_spreads(w, ops[k]);
        for (uint32_t i = 0; i < sp->n; i++) {
            int fi = gql_v_frag_index(v, sp->items[i]->name);
            if (fi >= 0 && !seen[fi]) {
                seen[fi] = true;
                rs->frags[n++] = fi;
            }
        }
    }
    for (uint32_t q = 0; q < n; q++) {
        const v_sels *sp = def_spreads(w, (uint32_t)w->frag_def_index[rs->frags[q]]);
        for (uint32_t i = 0; i < sp->n; i++) {
            int fi = gql_v_frag_index(v, sp->items[i]->name);
            if (fi >= 0 && !seen[fi]) {
                seen[fi] = true;
                rs->frags[n++] = fi;
            }
        }
    }
    rs->nfrags = n;
    if (w->nrefsets == w->caprefsets) {
        uint32_t ncap = w->caprefsets ? w->caprefsets * 2 : 8;
        v_refset **ni = gql_v_alloc(v, ncap * sizeof *ni);
        if (!ni) return NULL;
        if (w->nrefsets) memcpy(ni, w->refsets, w->nrefsets * sizeof *ni);
        w->refsets = ni;
        w->caprefsets = ncap;
    }
    w->refsets[w->nrefsets++] = rs;
    return rs;
}

/* ------------------------------------------------------- directive views */

/* A directive as the rules see it: from the schema, or (overriding) from a
 * directive definition inside the document itself. */
typedef struct v_dir {
    bool known;
    uint32_t locations;
    bool repeatable;
    const gql_directive_type *st;
    const gql_directive_def *dd;
} v_dir;

static v_dir dir_info(gql_vctx *v, const char *name)
{
    v_dir d = {0};
    for (uint32_t i = v->doc->ndefs; i-- > 0;) {
        const gql_definition *def = &v->doc->defs[i];
        if (def->kind == GQL_DEF_DIRECTIVE && strcmp(def->u.dir->name, name) == 0) {
            d.known = true;
            d.dd = def->u.dir;
            d.locations = def->u.dir->locations;
            d.repeatable = def->u.dir->repeatable;
            return d;
        }
    }
    d.st = gql_schema_directive(v->s, name);
    if (d.st) {
        d.known = true;
        d.locations = d.st->locations;
        d.repeatable = d.st->repeatable;
    }
    return d;
}

static uint32_t dir_nargs(const v_dir *d)
{
    return d->dd ? d->dd->nargs : d->st ? d->st->nargs : 0;
}

static const char *dir_arg_name(const v_dir *d, uint32_t i)
{
    return d->dd ? d->dd->args[i].name : d->st->args[i].name;
}

/* ------------------------------------------------------------ the walk */

static void walk_selection_set(v_walk *w, const gql_selection_set *ss, v_ti ti);
static void walk_directives(v_walk *w, const gql_directive *dirs, uint32_t n, gql_dir_loc where,
                            v_ti ti);

/* UniqueDirectivesPerLocation for one node's directive list. */
static void rule_unique_directives(v_walk *w, const gql_directive *dirs, uint32_t n)
{
    gql_vctx *v = w->v;
    for (uint32_t i = 1; i < n; i++) {
        v_dir d = dir_info(v, dirs[i].name);
        if (!d.known || d.repeatable) continue;
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(dirs[j].name, dirs[i].name) != 0) continue;
            /* graphql-js keeps the first occurrence as the reference */
            gql_loc locs[2] = {dirs[j].loc, dirs[i].loc};
            gql_v_error(v, locs, 2, "The directive \"@%s\" can only be used once at this location.",
                        dirs[i].name);
            break;
        }
    }
}

/* UniqueArgumentNames: one error per repeated name listing every occurrence. */
static void rule_unique_args(v_walk *w, const gql_argument *args, uint32_t n)
{
    gql_vctx *v = w->v;
    for (uint32_t i = 0; i < n; i++) {
        bool first = true, dup = false;
        for (uint32_t j = 0; j < i && first; j++)
            if (strcmp(args[j].name, args[i].name) == 0) first = false;
        if (!first) continue;
        uint32_t cnt = 0;
        for (uint32_t j = i; j < n; j++)
            if (strcmp(args[j].name, args[i].name) == 0) cnt++;
        dup = cnt > 1;
        if (!dup) continue;
        gql_loc *locs = gql_v_alloc(v, cnt * sizeof *locs);
        if (!locs) return;
        uint32_t k = 0;
        for (uint32_t j = i; j < n; j++)
            if (strcmp(args[j].name, args[i].name) == 0) locs[k++] = args[j].loc;
        gql_v_error(v, locs, cnt, "There can be only one argument named \"%s\".", args[i].name);
    }
}

static bool is_builtin_scalar(const gql_schema *s, const gql_type *t)
{
    return t == s->t_int || t == s->t_float || t == s->t_string || t == s->t_boolean ||
           t == s->t_id;
}

static const char *suggest_enum(gql_vctx *v, const gql_type *t, const char *input)
{
    const char **names = gql_v_alloc(v, (t->nvalues ? t->nvalues : 1) * sizeof *names);
    if (!names) return "";
    for (uint32_t i = 0; i < t->nvalues; i++)
        names[i] = t->values[i].name;
    return suggest(v, "the enum value", input, names, t->nvalues);
}

/* ValuesOfCorrectType isValidValueNode: a literal against a location type. */
static void valid_value_node(v_walk *w, const gql_value *val, const gql_tref *loctype)
{
    gql_vctx *v = w->v;
    if (!loctype) return;
    const gql_type *t = gql_tref_named(loctype);
    if (!gql_type_is_leaf(t)) {
        gql_v_error(v, &val->loc, 1, "Expected value of type \"%s\", found %s.",
                    gql_v_tref_str(v, loctype), value_str(v, val));
        return;
    }
    const gql_schema *s = v->s;
    if (t->kind == GQL_T_ENUM) {
        if (val->kind != GQL_V_ENUM) {
            const char *vs = value_str(v, val);
            gql_v_error(v, &val->loc, 1, "Enum \"%s\" cannot represent non-enum value: %s.%s",
                        t->name, vs, suggest_enum(v, t, vs));
        } else if (!gql_type_enum_value(t, val->u.s)) {
            gql_v_error(v, &val->loc, 1, "Value \"%s\" does not exist in \"%s\" enum.%s", val->u.s,
                        t->name, suggest_enum(v, t, val->u.s));
        }
        return;
    }
    if (!is_builtin_scalar(s, t)) return; /* custom scalars accept any literal */
    if (t == s->t_int) {
        if (val->kind != GQL_V_INT)
            gql_v_error(v, &val->loc, 1, "Int cannot represent non-integer value: %s",
                        value_str(v, val));
        else if ((val->flags & GQL_VF_BIG) || val->u.i > INT32_MAX || val->u.i < INT32_MIN)
            gql_v_error(v, &val->loc, 1, "Int cannot represent non 32-bit signed integer value: %s",
                        value_str(v, val));
    } else if (t == s->t_float) {
        if (val->kind != GQL_V_INT && val->kind != GQL_V_FLOAT)
            gql_v_error(v, &val->loc, 1, "Float cannot represent non numeric value: %s",
                        value_str(v, val));
    } else if (t == s->t_string) {
        if (val->kind != GQL_V_STRING)
            gql_v_error(v, &val->loc, 1, "String cannot represent a non string value: %s",
                        value_str(v, val));
    } else if (t == s->t_boolean) {
        if (val->kind != GQL_V_BOOL)
            gql_v_error(v, &val->loc, 1, "Boolean cannot represent a non boolean value: %s",
                        value_str(v, val));
    } else if (t == s->t_id) {
        if (val->kind != GQL_V_STRING && val->kind != GQL_V_INT)
            gql_v_error(v, &val->loc, 1,
                        "ID cannot represent a non-string and non-integer value: %s",
                        value_str(v, val));
    }
}

/* A value literal: variable usages, ValuesOfCorrectType (when `vc`, i.e. the
 * rule is not skipping this subtree) and UniqueInputFieldNames. */
static void walk_value(v_walk *w, const gql_value *val, v_in in, bool vc)
{
    gql_vctx *v = w->v;
    if (v->aborted) return;
    switch (val->kind) {
    case GQL_V_VARIABLE:
        if (w->collect && !w->in_var_def) {
            v_usage u = {val, in.type, in.has_default};
            usages_push(v, w->usages, u);
        }
        return;
    case GQL_V_NULL:
        if (!w->collect && vc && in.type && in.type->kind == GQL_TR_NON_NULL)
            gql_v_error(v, &val->loc, 1, "Expected value of type \"%s\", found null.",
                        gql_v_tref_str(v, in.type));
        return;
    case GQL_V_LIST: {
        const gql_tref *lt = nullable(in.type);
        const gql_tref *item = lt && lt->kind == GQL_TR_LIST ? lt->of : lt;
        v_in sub = {item, in.type, false};
        if (!w->collect && vc) {
            /* the rule reads the list position type (now the parent) */
            const gql_tref *pt = nullable(in.type);
            if (!pt || pt->kind != GQL_TR_LIST) {
                valid_value_node(w, val, item);
                vc = false;
            }
        }
        for (uint32_t i = 0; i < val->len && !v->aborted; i++)
            walk_value(w, &val->u.items[i], sub, vc);
        return;
    }
    case GQL_V_OBJECT: {
        const gql_type *ot = gql_tref_named(in.type);
        bool is_input = ot && ot->kind == GQL_T_INPUT_OBJECT;
        if (!w->collect && vc) {
            if (!is_input) {
                valid_value_node(w, val, in.type);
                vc = false;
            } else {
                for (uint32_t i = 0; i < ot->ninput_fields; i++) {
                    const gql_input_value *fd = &ot->input_fields[i];
                    if (fd->type->kind != GQL_TR_NON_NULL || fd->default_value) continue;
                    bool given = false;
                    for (uint32_t j = 0; j < val->len && !given; j++)
                        given = strcmp(val->u.fields[j].name, fd->name) == 0;
                    if (!given)
                        gql_v_error(v, &val->loc, 1,
                                    "Field \"%s.%s\" of required type \"%s\" was not provided.",
                                    ot->name, fd->name, gql_v_tref_str(v, fd->type));
                }
            }
        }
        for (uint32_t i = 0; i < val->len && !v->aborted; i++) {
            const gql_kv *kv = &val->u.fields[i];
            const gql_input_value *fd = is_input ? gql_type_input_field(ot, kv->name) : NULL;
            v_in sub = {fd ? fd->type : NULL, in.type, fd && fd->default_value};
            if (!w->collect) {
                if (vc && !fd && is_input) {
                    gql_v_error(v, &kv->loc, 1, "Field \"%s\" is not defined by type \"%s\".%s",
                                kv->name, ot->name,
                                suggest_input_values(v, NULL, kv->name, ot->input_fields,
                                                     ot->ninput_fields));
                }
                /* UniqueInputFieldNames */
                for (uint32_t j = 0; j < i; j++) {
                    if (strcmp(val->u.fields[j].name, kv->name) != 0) continue;
                    gql_loc locs[2] = {val->u.fields[j].loc, kv->loc};
                    gql_v_error(v, locs, 2, "There can be only one input field named \"%s\".",
                                kv->name);
                    break;
                }
            }
            walk_value(w, &kv->value, sub, vc);
        }
        return;
    }
    default:
        if (!w->collect && vc) valid_value_node(w, val, in.type);
        return;
    }
}

/* Arguments of a field (owner_args = its definition's) or of a directive. */
static void walk_arguments(v_walk *w, const gql_argument *args, uint32_t n,
                           const gql_input_value *defs, uint32_t ndefs, bool in_directive, v_ti ti)
{
    gql_vctx *v = w->v;
    for (uint32_t i = 0; i < n && !v->aborted; i++) {
        const gql_argument *a = &args[i];
        const gql_input_value *def = NULL;
        for (uint32_t k = 0; k < ndefs && !def; k++)
            if (strcmp(defs[k].name, a->name) == 0) def = &defs[k];
        if (!w->collect && !in_directive && !def && ti.field_def && ti.parent) {
            /* KnownArgumentNames (field arguments only) */
            gql_v_error(
                v, &a->loc, 1, "Unknown argument \"%s\" on field \"%s.%s\".%s", a->name,
                ti.parent->name, ti.field_def->name,
                suggest_input_values(v, NULL, a->name, ti.field_def->args, ti.field_def->nargs));
        }
        v_in in = {def ? def->type : NULL, NULL, def && def->default_value};
        walk_value(w, &a->value, in, true);
    }
}

static void walk_directive(v_walk *w, const gql_directive *d, gql_dir_loc where, v_ti ti)
{
    gql_vctx *v = w->v;
    v_dir info = dir_info(v, d->name);
    if (!w->collect) {
        /* KnownDirectives */
        if (!info.known) {
            gql_v_error(v, &d->loc, 1, "Unknown directive \"@%s\".", d->name);
        } else if (!(info.locations & (1u << where))) {
            gql_v_error(v, &d->loc, 1, "Directive \"@%s\" may not be used on %s.", d->name,
                        gql_dir_loc_names[where]);
        }
        /* KnownArgumentNamesOnDirectives */
        if (info.known) {
            for (uint32_t i = 0; i < d->nargs; i++) {
                bool known = false;
                for (uint32_t k = 0; k < dir_nargs(&info) && !known; k++)
                    known = strcmp(dir_arg_name(&info, k), d->args[i].name) == 0;
                if (known) continue;
                uint32_t na = dir_nargs(&info);
                const char **names = gql_v_alloc(v, (na ? na : 1) * sizeof *names);
                if (!names) return;
                for (uint32_t k = 0; k < na; k++)
                    names[k] = dir_arg_name(&info, k);
                gql_v_error(v, &d->args[i].loc, 1,
                            "Unknown argument \"%s\" on directive \"@%s\".%s", d->args[i].name,
                            d->name, suggest(v, NULL, d->args[i].name, names, na));
            }
        }
        rule_unique_args(w, d->args, d->nargs);
    }
    /* TypeInfo: arguments resolve against the schema's directive, else
     * (unknown directive) against the enclosing field. */
    const gql_directive_type *st = gql_schema_directive(v->s, d->name);
    if (st)
        walk_arguments(w, d->args, d->nargs, st->args, st->nargs, true, ti);
    else if (ti.field_def)
        walk_arguments(w, d->args, d->nargs, ti.field_def->args, ti.field_def->nargs, true, ti);
    else
        walk_arguments(w, d->args, d->nargs, NULL, 0, true, ti);
    if (!w->collect && info.known && !v->aborted) {
        /* ProvidedRequiredArgumentsOnDirectives (leave) */
        for (uint32_t k = 0; k < dir_nargs(&info); k++) {
            const char *an = dir_arg_name(&info, k);
            const char *ts = NULL;
            if (info.dd) {
                const gql_input_value_def *ad = &info.dd->args[k];
                if (ad->type->kind != GQL_TR_NON_NULL || ad->default_value) continue;
            } else {
                const gql_input_value *ad = &info.st->args[k];
                if (ad->type->kind != GQL_TR_NON_NULL || ad->default_value) continue;
            }
            bool given = false;
            for (uint32_t i = 0; i < d->nargs && !given; i++)
                given = strcmp(d->args[i].name, an) == 0;
            if (given) continue;
            ts = info.dd ? type_ref_str(v, info.dd->args[k].type)
                         : gql_v_tref_str(v, info.st->args[k].type);
            gql_v_error(v, &d->loc, 1,
                        "Directive \"@%s\" argument \"%s\" of type \"%s\" is required, but it was "
                        "not provided.",
                        d->name, an, ts);
        }
    }
}

static void walk_directives(v_walk *w, const gql_directive *dirs, uint32_t n, gql_dir_loc where,
                            v_ti ti)
{
    for (uint32_t i = 0; i < n && !w->v->aborted; i++)
        walk_directive(w, &dirs[i], where, ti);
}

/* KnownTypeNames for a NamedType node; suggestions come from the schema's
 * types and the types the document defines. */
static void rule_known_type(v_walk *w, const char *name, gql_loc loc)
{
    gql_vctx *v = w->v;
    if (gql_schema_type(v->s, name)) return;
    uint32_t ndefined = 0;
    for (uint32_t i = 0; i < v->doc->ndefs; i++) {
        const gql_definition *d = &v->doc->defs[i];
        if (d->kind != GQL_DEF_TYPE || d->u.type->extension) continue;
        if (strcmp(d->u.type->name, name) == 0) return;
        ndefined++;
    }
    uint32_t n = v->s->ntypes + ndefined;
    const char **names = gql_v_alloc(v, (n ? n : 1) * sizeof *names);
    if (!names) return;
    uint32_t k = 0;
    for (uint32_t i = 0; i < v->s->ntypes; i++)
        names[k++] = v->s->types[i]->name;
    for (uint32_t i = 0; i < v->doc->ndefs; i++) {
        const gql_definition *d = &v->doc->defs[i];
        if (d->kind == GQL_DEF_TYPE && !d->u.type->extension) names[k++] = d->u.type->name;
    }
    gql_v_error(v, &loc, 1, "Unknown type \"%s\".%s", name, suggest(v, NULL, name, names, n));
}

static void walk_field(v_walk *w, const gql_selection *f, v_ti ti)
{
    gql_vctx *v = w->v;
    const gql_field *def = ti.parent ? gql_field_lookup(v->s, ti.parent, f->name) : NULL;
    v_ti sub = ti;
    sub.field_def = def;
    sub.type.ref = def ? def->type : NULL;
    sub.type.named = NULL;
    if (!w->collect) {
        /* ScalarLeafs */
        if (def) {
            const gql_type *nt = gql_tref_named(def->type);
            if (gql_type_is_leaf(nt)) {
                if (f->sel)
                    gql_v_error(v, &f->sel->loc, 1,
                                "Field \"%s\" must not have a selection since type \"%s\" has no "
                                "subfields.",
                                f->name, gql_v_tref_str(v, def->type));
            } else if (!f->sel) {
                gql_v_error(v, &f->loc, 1,
                            "Field \"%s\" of type \"%s\" must have a selection of subfields. Did "
                            "you mean \"%s { ... }\"?",
                            f->name, gql_v_tref_str(v, def->type), f->name);
            } else if (f->sel->n == 0) {
                gql_v_error(v, &f->loc, 1,
                            "Field \"%s\" of type \"%s\" must have at least one field selected.",
                            f->name, gql_v_tref_str(v, def->type));
            }
        }
        /* FieldsOnCorrectType */
        if (ti.parent && !def) {
            const char *hint = suggest_types_for_field(v, ti.parent, f->name);
            if (!*hint && (ti.parent->kind == GQL_T_OBJECT || ti.parent->kind == GQL_T_INTERFACE))
                hint = suggest_fields(v, f->name, ti.parent->fields, ti.parent->nfields);
            gql_v_error(v, &f->loc, 1, "Cannot query field \"%s\" on type \"%s\".%s", f->name,
                        ti.parent->name, hint);
        }
        rule_unique_directives(w, f->dirs, f->ndirs);
        rule_unique_args(w, f->args, f->nargs);
    }
    walk_arguments(w, f->args, f->nargs, def ? def->args : NULL, def ? def->nargs : 0, false, sub);
    walk_directives(w, f->dirs, f->ndirs, GQL_DL_FIELD, sub);
    if (f->sel) walk_selection_set(w, f->sel, sub);
    if (!w->collect && def && !v->aborted) {
        /* ProvidedRequiredArguments (leave) */
        for (uint32_t k = 0; k < def->nargs; k++) {
            const gql_input_value *ad = &def->args[k];
            if (ad->type->kind != GQL_TR_NON_NULL || ad->default_value) continue;
            bool given = false;
            for (uint32_t i = 0; i < f->nargs && !given; i++)
                given = strcmp(f->args[i].name, ad->name) == 0;
            if (!given)
                gql_v_error(v, &f->loc, 1,
                            "Field \"%s\" argument \"%s\" of type \"%s\" is required, but it was "
                            "not provided.",
                            def->name, ad->name, gql_v_tref_str(v, ad->type));
        }
    }
}

static void walk_spread(v_walk *w, const gql_selection *s, v_ti ti)
{
    gql_vctx *v = w->v;
    if (!w->collect) {
        const gql_fragment *fd = gql_v_fragment(v, s->name);
        /* KnownFragmentNames */
        if (!fd) {
            gql_loc l = spread_name_loc(s);
            gql_v_error(v, &l, 1, "Unknown fragment \"%s\".", s->name);
        }
        /* PossibleFragmentSpreads */
        const gql_type *ft = fd ? gql_schema_type(v->s, fd->type_cond) : NULL;
        if (ft && gql_type_is_composite(ft) && ti.parent && !types_overlap(ft, ti.parent))
            gql_v_error(v, &s->loc, 1,
                        "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can "
                        "never be of type \"%s\".",
                        s->name, ti.parent->name, ft->name);
        rule_unique_directives(w, s->dirs, s->ndirs);
    }
    walk_directives(w, s->dirs, s->ndirs, GQL_DL_FRAGMENT_SPREAD, ti);
}

static void walk_inline(v_walk *w, const gql_selection *s, v_ti ti)
{
    gql_vctx *v = w->v;
    v_ti sub = ti;
    const gql_type *ct = s->type_cond ? gql_schema_type(v->s, s->type_cond) : NULL;
    sub.type.ref = NULL;
    sub.type.named = s->type_cond ? (gql_type_is_output(ct) ? ct : NULL) : vt_named(ti.type);
    if (!w->collect) {
        /* FragmentsOnCompositeTypes */
        if (ct && !gql_type_is_composite(ct))
            gql_v_error(v, &s->type_cond_loc, 1,
                        "Fragment cannot condition on non composite type \"%s\".", ct->name);
        /* PossibleFragmentSpreads */
        const gql_type *ft = sub.type.named;
        if (gql_type_is_composite(ft) && gql_type_is_composite(ti.parent) &&
            !types_overlap(ft, ti.parent))
            gql_v_error(v, &s->loc, 1,
                        "Fragment cannot be spread here as objects of type \"%s\" can never be of "
                        "type \"%s\".",
                        ti.parent->name, ft->name);
        rule_unique_directives(w, s->dirs, s->ndirs);
        if (s->type_cond) rule_known_type(w, s->type_cond, s->type_cond_loc);
    }
    walk_directives(w, s->dirs, s->ndirs, GQL_DL_INLINE_FRAGMENT, sub);
    if (s->sel) walk_selection_set(w, s->sel, sub);
}

static void walk_selection_set(v_walk *w, const gql_selection_set *ss, v_ti ti)
{
    gql_vctx *v = w->v;
    v_ti sub = ti;
    const gql_type *nt = vt_named(ti.type);
    sub.parent = gql_type_is_composite(nt) ? nt : NULL;
    /* OverlappingFieldsCanBeMerged (graphql-js 16.8 visits every selection
     * set, inline fragments' too) */
    if (!w->collect && !v->aborted) gql_v_overlap(v, sub.parent, ss);
    for (uint32_t i = 0; i < ss->n && !v->aborted; i++) {
        const gql_selection *s = &ss->items[i];
        switch (s->kind) {
        case GQL_SEL_FIELD:
            walk_field(w, s, sub);
            break;
        case GQL_SEL_FRAGMENT_SPREAD:
            walk_spread(w, s, sub);
            break;
        default:
            walk_inline(w, s, sub);
            break;
        }
    }
}

/* ------------------------------------------------ definition-level rules */

/* SingleFieldSubscriptions: graphql-js collectFields with no variables. */
typedef struct v_group {
    const char *key;
    const gql_selection **fields;
    uint32_t n, cap;
} v_group;

typedef struct v_groups {
    v_group *items;
    uint32_t n, cap;
} v_groups;

static bool sub_include(const gql_selection *s)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *dname = pass == 0 ? "skip" : "include";
        for (uint32_t i = 0; i < s->ndirs; i++) {
            if (strcmp(s->dirs[i].name, dname) != 0) continue;
            const gql_value *val = NULL;
            for (uint32_t k = 0; k < s->dirs[i].nargs; k++)
                if (strcmp(s->dirs[i].args[k].name, "if") == 0) val = &s->dirs[i].args[k].value;
            /* graphql-js throws for a missing / variable / non-boolean `if`;
             * such a document is invalid anyway: treat it as included */
            if (val && val->kind == GQL_V_BOOL && val->u.b == (pass == 0)) return false;
            break;
        }
    }
    return true;
}

static bool sub_condition_matches(gql_vctx *v, const char *cond, const gql_type *rt)
{
    if (!cond) return true;
    const gql_type *ct = gql_schema_type(v->s, cond);
    if (ct == rt) return true;
    if (gql_type_is_abstract(ct)) return gql_type_is_possible(ct, rt);
    return false;
}

static void sub_collect(gql_vctx *v, const gql_type *rt, const gql_selection_set *ss, v_groups *g,
                        bool *visited)
{
    for (uint32_t i = 0; ss && i < ss->n && !v->aborted; i++) {
        const gql_selection *s = &ss->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            if (!sub_include(s)) continue;
            const char *key = s->alias ? s->alias : s->name;
            v_group *grp = NULL;
            for (uint32_t k = 0; k < g->n && !grp; k++)
                if (strcmp(g->items[k].key, key) == 0) grp = &g->items[k];
            if (!grp) {
                if (g->n == g->cap) {
                    uint32_t ncap = g->cap ? g->cap * 2 : 4;
                    v_group *ni = gql_v_alloc(v, ncap * sizeof *ni);
                    if (!ni) return;
                    if (g->n) memcpy(ni, g->items, g->n * sizeof *ni);
                    g->items = ni;
                    g->cap = ncap;
                }
                grp = &g->items[g->n++];
                grp->key = key;
            }
            if (grp->n == grp->cap) {
                uint32_t ncap = grp->cap ? grp->cap * 2 : 4;
                const gql_selection **ni = gql_v_alloc(v, ncap * sizeof *ni);
                if (!ni) return;
                if (grp->n) memcpy(ni, grp->fields, grp->n * sizeof *ni);
                grp->fields = ni;
                grp->cap = ncap;
            }
            grp->fields[grp->n++] = s;
        } else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
            if (!sub_include(s) || !sub_condition_matches(v, s->type_cond, rt)) continue;
            sub_collect(v, rt, s->sel, g, visited);
        } else {
            int fi = gql_v_frag_index(v, s->name);
            if (fi >= 0 && visited[fi]) continue;
            if (!sub_include(s)) continue;
            if (fi < 0) continue;
            visited[fi] = true;
            const gql_fragment *fd = v->frag_def[fi];
            if (!sub_condition_matches(v, fd->type_cond, rt)) continue;
            sub_collect(v, rt, fd->sel, g, visited);
        }
    }
}

static void rule_single_field_subscription(v_walk *w, const gql_operation *op)
{
    gql_vctx *v = w->v;
    const gql_type *rt = v->s->root[GQL_OP_SUBSCRIPTION];
    if (op->op != GQL_OP_SUBSCRIPTION || !rt) return;
    bool *visited = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *visited);
    if (!visited) return;
    v_groups g = {0};
    sub_collect(v, rt, op->sel, &g, visited);
    if (v->aborted) return;
    if (g.n > 1) {
        uint32_t cnt = 0;
        for (uint32_t k = 1; k < g.n; k++)
            cnt += g.items[k].n;
        gql_loc *locs = gql_v_alloc(v, cnt * sizeof *locs);
        if (!locs) return;
        uint32_t j = 0;
        for (uint32_t k = 1; k < g.n; k++)
            for (uint32_t i = 0; i < g.items[k].n; i++)
                locs[j++] = g.items[k].fields[i]->loc;
        if (op->name)
            gql_v_error(v, locs, cnt, "Subscription \"%s\" must select only one top level field.",
                        op->name);
        else
            gql_v_error(v, locs, cnt,
                        "Anonymous Subscription must select only one top level field.");
    }
    for (uint32_t k = 0; k < g.n; k++) {
        if (strncmp(g.items[k].fields[0]->name, "__", 2) != 0) continue;
        gql_loc *locs = gql_v_alloc(v, g.items[k].n * sizeof *locs);
        if (!locs) return;
        for (uint32_t i = 0; i < g.items[k].n; i++)
            locs[i] = g.items[k].fields[i]->loc;
        if (op->name)
            gql_v_error(v, locs, g.items[k].n,
                        "Subscription \"%s\" must not select an introspection top level field.",
                        op->name);
        else
            gql_v_error(v, locs, g.items[k].n,
                        "Anonymous Subscription must not select an introspection top level field.");
    }
}

/* NoFragmentCycles' depth-first search. */
static void cycles_dfs(v_walk *w, const gql_fragment *frag)
{
    gql_vctx *v = w->v;
    int fi = gql_v_frag_index(v, frag->name);
    if (fi < 0 || w->cyc_visited[fi] || v->aborted) return;
    w->cyc_visited[fi] = true;
    /* getFragmentSpreads of this very definition node */
    v_sels spreads = {0};
    collect_spreads(v, frag->sel, &spreads);
    if (!spreads.n) return;
    w->cyc_index[fi] = (int)w->cyc_path.n;
    for (uint32_t i = 0; i < spreads.n && !v->aborted; i++) {
        const gql_selection *sp = spreads.items[i];
        int si = gql_v_frag_index(v, sp->name);
        int cycle = si >= 0 ? w->cyc_index[si] : -1;
        if (!sels_push(v, &w->cyc_path, sp)) return;
        if (cycle < 0) {
            if (si >= 0) cycles_dfs(w, v->frag_def[si]);
        } else {
            uint32_t n = w->cyc_path.n - (uint32_t)cycle;
            gql_loc *locs = gql_v_alloc(v, n * sizeof *locs);
            cd_buf via;
            cd_buf_init(&via);
            for (uint32_t k = 0; k < n; k++) {
                const gql_selection *ps = w->cyc_path.items[(uint32_t)cycle + k];
                if (locs) locs[k] = ps->loc;
                if (k + 1 < n) cd_buf_printf(&via, "%s\"%s\"", k ? ", " : "", ps->name);
            }
            const char *vs = buf_to_scratch(v, &via);
            if (!locs) return;
            if (*vs)
                gql_v_error(v, locs, n, "Cannot spread fragment \"%s\" within itself via %s.",
                            sp->name, vs);
            else
                gql_v_error(v, locs, n, "Cannot spread fragment \"%s\" within itself.", sp->name);
        }
        w->cyc_path.n--;
    }
    w->cyc_index[fi] = -1;
}

static void walk_fragment(v_walk *w, const gql_fragment *fd)
{
    gql_vctx *v = w->v;
    const gql_type *ct = gql_schema_type(v->s, fd->type_cond);
    v_ti ti = {0};
    ti.type.named = gql_type_is_output(ct) ? ct : NULL;
    if (!w->collect) {
        /* FragmentsOnCompositeTypes */
        if (ct && !gql_type_is_composite(ct))
            gql_v_error(v, &fd->type_cond_loc, 1,
                        "Fragment \"%s\" cannot condition on non composite type \"%s\".", fd->name,
                        ct->name);
        /* UniqueFragmentNames */
        const gql_fragment *first = NULL;
        for (uint32_t i = 0; i < w->nfrag_seen && !first; i++)
            if (strcmp(w->frag_seen[i]->name, fd->name) == 0) first = w->frag_seen[i];
        if (first) {
            gql_loc locs[2] = {frag_name_loc(first), frag_name_loc(fd)};
            gql_v_error(v, locs, 2, "There can be only one fragment named \"%s\".", fd->name);
        } else {
            w->frag_seen[w->nfrag_seen++] = fd;
        }
        /* NoFragmentCycles */
        cycles_dfs(w, fd);
        rule_unique_directives(w, fd->dirs, fd->ndirs);
        rule_known_type(w, fd->type_cond, fd->type_cond_loc);
    }
    walk_directives(w, fd->dirs, fd->ndirs, GQL_DL_FRAGMENT_DEFINITION, ti);
    if (fd->sel) walk_selection_set(w, fd->sel, ti);
}

static void walk_var_def(v_walk *w, const gql_var_def *vd)
{
    gql_vctx *v = w->v;
    const gql_type_ref *nref = innermost(vd->type);
    gql_tref *t = gql_tref_from_ast(&v->scratch, v->s, vd->type);
    if (!w->collect) {
        /* VariablesAreInputTypes */
        if (t && !gql_type_is_input(gql_tref_named(t)))
            gql_v_error(v, &vd->type->loc, 1, "Variable \"$%s\" cannot be non-input type \"%s\".",
                        vd->name, type_ref_str(v, vd->type));
        rule_unique_directives(w, vd->dirs, vd->ndirs);
        if (nref) rule_known_type(w, nref->name, nref->loc);
    }
    v_in in = {t && gql_type_is_input(gql_tref_named(t)) ? t : NULL, NULL, false};
    w->in_var_def = true;
    if (vd->default_value) walk_value(w, vd->default_value, in, true);
    v_ti ti = {0};
    walk_directives(w, vd->dirs, vd->ndirs, GQL_DL_VARIABLE_DEFINITION, ti);
    w->in_var_def = false;
}

/* The three variable rules that run when leaving an operation. */
static void operation_leave(v_walk *w, const gql_operation *op, uint32_t defidx)
{
    gql_vctx *v = w->v;
    const v_refset *rs = referenced_fragments(w, &defidx, 1);
    if (!rs) return;
    /* usages: the operation's own, then each referenced fragment's */
    v_usages all = {0};
    const v_usages *own = &w->def_usages[defidx];
    for (uint32_t i = 0; i < own->n; i++)
        usages_push(v, &all, own->items[i]);
    for (uint32_t k = 0; k < rs->nfrags; k++) {
        const v_usages *fu = &w->def_usages[w->frag_def_index[rs->frags[k]]];
        for (uint32_t i = 0; i < fu->n; i++)
            usages_push(v, &all, fu->items[i]);
    }
    if (v->aborted) return;
    /* NoUndefinedVariables */
    for (uint32_t i = 0; i < all.n; i++) {
        const char *name = all.items[i].node->u.s;
        bool defined = false;
        for (uint32_t k = 0; k < op->nvars && !defined; k++)
            defined = !strcmp(op->vars[k].name, name);
        if (defined) continue;
        gql_loc locs[2] = {all.items[i].node->loc, op->loc};
        if (op->name)
            gql_v_error(v, locs, 2, "Variable \"$%s\" is not defined by operation \"%s\".", name,
                        op->name);
        else
            gql_v_error(v, locs, 2, "Variable \"$%s\" is not defined.", name);
    }
    /* NoUnusedVariables */
    for (uint32_t k = 0; k < op->nvars; k++) {
        bool used = false;
        for (uint32_t i = 0; i < all.n && !used; i++)
            used = !strcmp(all.items[i].node->u.s, op->vars[k].name);
        if (used) continue;
        if (op->name)
            gql_v_error(v, &op->vars[k].loc, 1,
                        "Variable \"$%s\" is never used in operation \"%s\".", op->vars[k].name,
                        op->name);
        else
            gql_v_error(v, &op->vars[k].loc, 1, "Variable \"$%s\" is never used.",
                        op->vars[k].name);
    }
    /* VariablesInAllowedPosition */
    for (uint32_t i = 0; i < all.n && !v->aborted; i++) {
        const v_usage *u = &all.items[i];
        const gql_var_def *vd = NULL;
        for (uint32_t k = 0; k < op->nvars; k++)
            if (!strcmp(op->vars[k].name, u->node->u.s)) vd = &op->vars[k]; /* last wins */
        if (!vd || !u->type) continue;
        const gql_tref *vt = gql_tref_from_ast(&v->scratch, v->s, vd->type);
        if (!vt) continue;
        bool ok;
        if (u->type->kind == GQL_TR_NON_NULL && vt->kind != GQL_TR_NON_NULL) {
            bool var_default = vd->default_value && vd->default_value->kind != GQL_V_NULL;
            ok = (var_default || u->has_default) && gql_tref_is_subtype(v->s, vt, u->type->of);
        } else {
            ok = gql_tref_is_subtype(v->s, vt, u->type);
        }
        if (ok) continue;
        gql_loc locs[2] = {vd->loc, u->node->loc};
        gql_v_error(v, locs, 2,
                    "Variable \"$%s\" of type \"%s\" used in position expecting type \"%s\".",
                    vd->name, gql_v_tref_str(v, vt), gql_v_tref_str(v, u->type));
    }
}

static void walk_operation(v_walk *w, const gql_operation *op, uint32_t defidx)
{
    gql_vctx *v = w->v;
    v_ti ti = {0};
    const gql_type *root = v->s->root[op->op % 3];
    ti.type.named = root && root->kind == GQL_T_OBJECT ? root : NULL;
    if (!w->collect) {
        /* UniqueOperationNames */
        if (op->name) {
            const gql_operation *first = NULL;
            for (uint32_t i = 0; i < w->nop_names && !first; i++)
                if (!strcmp(w->op_names[i]->name, op->name)) first = w->op_names[i];
            if (first) {
                gql_loc locs[2] = {op_name_loc(first), op_name_loc(op)};
                gql_v_error(v, locs, 2, "There can be only one operation named \"%s\".", op->name);
            } else {
                w->op_names[w->nop_names++] = op;
            }
        }
        /* LoneAnonymousOperation */
        if (!op->name && w->nops > 1)
            gql_v_error(v, &op->loc, 1,
                        "This anonymous operation must be the only defined operation.");
        rule_single_field_subscription(w, op);
        /* UniqueVariableNames */
        for (uint32_t i = 0; i < op->nvars; i++) {
            bool first = true;
            for (uint32_t j = 0; j < i && first; j++)
                first = strcmp(op->vars[j].name, op->vars[i].name) != 0;
            if (!first) continue;
            uint32_t cnt = 0;
            for (uint32_t j = i; j < op->nvars; j++)
                cnt += !strcmp(op->vars[j].name, op->vars[i].name);
            if (cnt < 2) continue;
            gql_loc *locs = gql_v_alloc(v, cnt * sizeof *locs);
            if (!locs) return;
            uint32_t k = 0;
            for (uint32_t j = i; j < op->nvars; j++)
                if (!strcmp(op->vars[j].name, op->vars[i].name))
                    locs[k++] = var_name_loc(&op->vars[j]);
            gql_v_error(v, locs, cnt, "There can be only one variable named \"$%s\".",
                        op->vars[i].name);
        }
        rule_unique_directives(w, op->dirs, op->ndirs);
    }
    for (uint32_t i = 0; i < op->nvars && !v->aborted; i++)
        walk_var_def(w, &op->vars[i]);
    static const gql_dir_loc where[3] = {GQL_DL_QUERY, GQL_DL_MUTATION, GQL_DL_SUBSCRIPTION};
    walk_directives(w, op->dirs, op->ndirs, where[op->op % 3], ti);
    if (op->sel) walk_selection_set(w, op->sel, ti);
    if (!w->collect && !v->aborted) operation_leave(w, op, defidx);
}

/* Type-system definitions inside an executable document are reported by
 * ExecutableDefinitions; the rules that also visit their nodes in graphql-js
 * (KnownTypeNames, KnownDirectives, directive argument rules, unique
 * directives) run over them here. */
static void walk_sdl_type_ref(v_walk *w, const gql_type_ref *t)
{
    const gql_type_ref *n = innermost(t);
    if (n) rule_known_type(w, n->name, n->loc);
}

static void walk_sdl_dirs(v_walk *w, const gql_directive *dirs, uint32_t n, gql_dir_loc where)
{
    v_ti ti = {0};
    rule_unique_directives(w, dirs, n);
    walk_directives(w, dirs, n, where, ti);
}

static void walk_sdl_input_values(v_walk *w, const gql_input_value_def *d, uint32_t n,
                                  gql_dir_loc where)
{
    for (uint32_t i = 0; i < n; i++) {
        walk_sdl_type_ref(w, d[i].type);
        if (d[i].default_value) {
            v_in in = {0};
            walk_value(w, d[i].default_value, in, true);
        }
        walk_sdl_dirs(w, d[i].dirs, d[i].ndirs, where);
    }
}

static void walk_sdl(v_walk *w, const gql_definition *def)
{
    static const gql_dir_loc kind_loc[] = {GQL_DL_SCALAR, GQL_DL_OBJECT, GQL_DL_INTERFACE,
                                           GQL_DL_UNION,  GQL_DL_ENUM,   GQL_DL_INPUT_OBJECT};
    if (def->kind == GQL_DEF_SCHEMA) {
        const gql_schema_def *sd = def->u.schema;
        walk_sdl_dirs(w, sd->dirs, sd->ndirs, GQL_DL_SCHEMA);
        for (int i = 0; i < 3; i++)
            if (sd->root[i]) rule_known_type(w, sd->root[i], sd->loc);
    } else if (def->kind == GQL_DEF_DIRECTIVE) {
        walk_sdl_input_values(w, def->u.dir->args, def->u.dir->nargs, GQL_DL_ARGUMENT_DEFINITION);
    } else if (def->kind == GQL_DEF_TYPE) {
        const gql_type_def *td = def->u.type;
        walk_sdl_dirs(w, td->dirs, td->ndirs, kind_loc[td->kind % 6]);
        for (uint32_t i = 0; i < td->ninterfaces; i++)
            rule_known_type(w, td->interfaces[i], td->loc);
        for (uint32_t i = 0; i < td->nfields; i++) {
            walk_sdl_input_values(w, td->fields[i].args, td->fields[i].nargs,
                                  GQL_DL_ARGUMENT_DEFINITION);
            walk_sdl_type_ref(w, td->fields[i].type);
            walk_sdl_dirs(w, td->fields[i].dirs, td->fields[i].ndirs, GQL_DL_FIELD_DEFINITION);
        }
        for (uint32_t i = 0; i < td->nmembers; i++)
            rule_known_type(w, td->members[i], td->loc);
        for (uint32_t i = 0; i < td->nvalues; i++)
            walk_sdl_dirs(w, td->values[i].dirs, td->values[i].ndirs, GQL_DL_ENUM_VALUE);
        walk_sdl_input_values(w, td->input_fields, td->ninput_fields,
                              GQL_DL_INPUT_FIELD_DEFINITION);
    }
}

/* ------------------------------------------------------------- limits */

typedef struct v_cost {
    uint64_t depth, fields, aliases;
} v_cost;

#define GQL_V_COST_CAP (1ull << 40)

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t s = a + b;
    return s > GQL_V_COST_CAP ? GQL_V_COST_CAP : s;
}

typedef struct v_costs {
    v_cost *memo;
    uint8_t *state; /* 0 = not yet, 1 = in progress, 2 = done */
} v_costs;

static v_cost cost_set(gql_vctx *v, v_costs *c, const gql_selection_set *ss);

static v_cost cost_frag(gql_vctx *v, v_costs *c, const char *name)
{
    v_cost z = {0, 0, 0};
    int fi = gql_v_frag_index(v, name);
    if (fi < 0 || c->state[fi] == 1) return z; /* cycles were rejected already */
    if (c->state[fi] == 0) {
        c->state[fi] = 1;
        c->memo[fi] = cost_set(v, c, v->frag_def[fi]->sel);
        c->state[fi] = 2;
    }
    return c->memo[fi];
}

static v_cost cost_set(gql_vctx *v, v_costs *c, const gql_selection_set *ss)
{
    v_cost r = {0, 0, 0};
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        const gql_selection *s = &ss->items[i];
        v_cost sub;
        if (s->kind == GQL_SEL_FIELD) {
            sub = cost_set(v, c, s->sel);
            sub.depth += 1;
            sub.fields = sat_add(sub.fields, 1);
            if (s->alias) sub.aliases = sat_add(sub.aliases, 1);
        } else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
            sub = cost_set(v, c, s->sel);
        } else {
            sub = cost_frag(v, c, s->name);
        }
        if (sub.depth > r.depth) r.depth = sub.depth;
        r.fields = sat_add(r.fields, sub.fields);
        r.aliases = sat_add(r.aliases, sub.aliases);
    }
    return r;
}

static void check_limits(gql_vctx *v)
{
    v_costs c;
    c.memo = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *c.memo);
    c.state = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1));
    if (!c.memo || !c.state) return;
    for (uint32_t i = 0; i < v->doc->ndefs && !v->aborted; i++) {
        if (v->doc->defs[i].kind != GQL_DEF_OPERATION) continue;
        const gql_operation *op = v->doc->defs[i].u.op;
        v_cost k = cost_set(v, &c, op->sel);
        uint32_t before = v->nerr;
        if (k.depth > GQL_MAX_DEPTH)
            gql_v_error(v, &op->loc, 1,
                        "Query is too complex: selection depth %llu exceeds the limit of %u.",
                        (unsigned long long)k.depth, GQL_MAX_DEPTH);
        if (k.fields > GQL_MAX_FIELDS)
            gql_v_error(v, &op->loc, 1,
                        "Query is too complex: %llu field selections after fragment expansion "
                        "exceed the limit of %u.",
                        (unsigned long long)k.fields, GQL_MAX_FIELDS);
        if (k.aliases > GQL_MAX_ALIASES)
            gql_v_error(v, &op->loc, 1,
                        "Query is too complex: %llu aliased fields exceed the limit of %u.",
                        (unsigned long long)k.aliases, GQL_MAX_ALIASES);
        for (uint32_t e = before; e < v->nerr; e++)
            v->errs->items[v->errs->n - (v->nerr - e)].code = "QUERY_TOO_COMPLEX";
    }
}

/* ------------------------------------------------------------- driver */

static int frag_sort_cmp(const void *a, const void *b)
{
    const gql_fragment *x = *(const gql_fragment *const *)a, *y = *(const gql_fragment *const *)b;
    return strcmp(x->name, y->name);
}

static bool index_fragments(gql_vctx *v, v_walk *w)
{
    const gql_document *doc = v->doc;
    uint32_t n = 0;
    for (uint32_t i = 0; i < doc->ndefs; i++)
        n += doc->defs[i].kind == GQL_DEF_FRAGMENT;
    const gql_fragment **all = gql_v_alloc(v, (n ? n : 1) * sizeof *all);
    v->frag_name = gql_v_alloc(v, (n ? n : 1) * sizeof *v->frag_name);
    v->frag_def = gql_v_alloc(v, (n ? n : 1) * sizeof *v->frag_def);
    w->frag_def_index = gql_v_alloc(v, (n ? n : 1) * sizeof *w->frag_def_index);
    if (!all || !v->frag_name || !v->frag_def || !w->frag_def_index) return false;
    n = 0;
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_FRAGMENT) all[n++] = doc->defs[i].u.frag;
    qsort(all, n, sizeof *all, frag_sort_cmp);
    for (uint32_t i = 0; i < n; i++) {
        if (v->nfrag && !strcmp(v->frag_name[v->nfrag - 1], all[i]->name)) continue;
        v->frag_name[v->nfrag++] = all[i]->name;
    }
    /* the definition a name resolves to is the last one in the document */
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        if (doc->defs[i].kind != GQL_DEF_FRAGMENT) continue;
        int fi = gql_v_frag_index(v, doc->defs[i].u.frag->name);
        v->frag_def[fi] = doc->defs[i].u.frag;
        w->frag_def_index[fi] = (int)i;
    }
    return true;
}

static void walk_document(v_walk *w)
{
    gql_vctx *v = w->v;
    const gql_document *doc = v->doc;
    if (!w->collect) {
        /* ExecutableDefinitions */
        for (uint32_t i = 0; i < doc->ndefs; i++) {
            const gql_definition *d = &doc->defs[i];
            if (d->kind == GQL_DEF_OPERATION || d->kind == GQL_DEF_FRAGMENT) continue;
            if (d->kind == GQL_DEF_SCHEMA)
                gql_v_error(v, &d->u.schema->loc, 1, "The schema definition is not executable.");
            else if (d->kind == GQL_DEF_DIRECTIVE)
                gql_v_error(v, &d->u.dir->loc, 1, "The \"%s\" definition is not executable.",
                            d->u.dir->name);
            else
                gql_v_error(v, &d->u.type->loc, 1, "The \"%s\" definition is not executable.",
                            d->u.type->name);
        }
    }
    for (uint32_t i = 0; i < doc->ndefs && !v->aborted; i++) {
        const gql_definition *d = &doc->defs[i];
        w->usages = &w->def_usages[i];
        if (d->kind == GQL_DEF_OPERATION)
            walk_operation(w, d->u.op, i);
        else if (d->kind == GQL_DEF_FRAGMENT)
            walk_fragment(w, d->u.frag);
        else if (!w->collect)
            walk_sdl(w, d);
    }
    if (w->collect || v->aborted) return;
    /* NoUnusedFragments (document leave) */
    uint32_t nops = 0;
    uint32_t *ops = gql_v_alloc(v, (doc->ndefs ? doc->ndefs : 1) * sizeof *ops);
    bool *is_used = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *is_used);
    if (!ops || !is_used) return;
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_OPERATION) ops[nops++] = i;
    const v_refset *rs = referenced_fragments(w, ops, nops);
    if (!rs) return;
    for (uint32_t i = 0; i < rs->nfrags; i++)
        is_used[rs->frags[i]] = true;
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        if (doc->defs[i].kind != GQL_DEF_FRAGMENT) continue;
        const gql_fragment *fd = doc->defs[i].u.frag;
        int fi = gql_v_frag_index(v, fd->name);
        if (fi >= 0 && is_used[fi]) continue;
        gql_v_error(v, &fd->loc, 1, "Fragment \"%s\" is never used.", fd->name);
    }
}

uint32_t gql_validate(const gql_schema *s, const gql_document *doc, gql_error_list *errs)
{
    gql_vctx v;
    memset(&v, 0, sizeof v);
    v.s = s;
    v.doc = doc;
    v.errs = errs;
    v.budget = GQL_V_OVERLAP_BUDGET;
    cd_arena_init(&v.scratch, 32u * 1024u);

    v_walk w;
    memset(&w, 0, sizeof w);
    w.v = &v;
    uint32_t nd = doc->ndefs ? doc->ndefs : 1;
    w.def_usages = gql_v_alloc(&v, nd * sizeof *w.def_usages);
    w.def_spreads = gql_v_alloc(&v, nd * sizeof *w.def_spreads);
    w.def_spreads_done = gql_v_alloc(&v, nd * sizeof *w.def_spreads_done);
    w.op_names = gql_v_alloc(&v, nd * sizeof *w.op_names);
    w.frag_seen = gql_v_alloc(&v, nd * sizeof *w.frag_seen);
    if (!v.aborted && index_fragments(&v, &w)) {
        uint32_t nf = v.nfrag ? v.nfrag : 1;
        w.cyc_visited = gql_v_alloc(&v, nf * sizeof *w.cyc_visited);
        w.cyc_index = gql_v_alloc(&v, nf * sizeof *w.cyc_index);
        for (uint32_t i = 0; !v.aborted && i < nf; i++)
            w.cyc_index[i] = -1;
        for (uint32_t i = 0; i < doc->ndefs; i++)
            w.nops += doc->defs[i].kind == GQL_DEF_OPERATION;
        /* pass 1: variable usages of every operation and fragment */
        w.collect = true;
        if (!v.aborted) walk_document(&w);
        /* pass 2: the rules */
        w.collect = false;
        if (!v.aborted) walk_document(&w);
        if (!v.aborted && v.nerr == 0) check_limits(&v);
    }
    cd_arena_free(&v.scratch);
    if (v.oom) {
        /* Never accept (or cache) a document we could not check: an "Out of
         * memory" error says so; if even that cannot be added, the count
         * returned exceeds errs->n, which callers treat as out of memory. */
        if (gql_errors_add(errs, NULL, 0, "Out of memory while validating the document."))
            return v.nerr + 1;
        return errs->n + 1;
    }
    return v.nerr;
}
