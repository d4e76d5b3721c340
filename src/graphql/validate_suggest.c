/*
 * validate_suggest.c — the "Did you mean ...?" hints of validation errors,
 * as graphql-js suggestionList / didYouMean compute them: options within a
 * Damerau-Levenshtein distance of 40% of the input (a case-insensitive match
 * counts 1), best first, ties in natural order, at most five shown.
 *
 * Memory: results and temporaries live in the validation's scratch arena.
 */
#include <string.h>

#include "graphql/validate_internal.h"

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
    for (uint32_t i = 0; i < n && gql_v_work(v, k + 3 * (long)strlen(input) + 1); i++) {
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
    return gql_v_buf_str(v, &b);
}

const char *gql_v_suggest(gql_vctx *v, const char *sub, const char *input,
                          const char *const *options, uint32_t n)
{
    const char **out = gql_v_alloc(v, (n ? n : 1) * sizeof *out);
    if (!out) return "";
    return did_you_mean(v, sub, out, suggestion_list(v, input, options, n, out));
}

const char *gql_v_suggest_fields(gql_vctx *v, const char *input, const gql_field *f, uint32_t n)
{
    const char **names = gql_v_alloc(v, (n ? n : 1) * sizeof *names);
    if (!names) return "";
    for (uint32_t i = 0; i < n; i++)
        names[i] = f[i].name;
    return gql_v_suggest(v, NULL, input, names, n);
}

const char *gql_v_suggest_input_values(gql_vctx *v, const char *sub, const char *input,
                                       const gql_input_value *iv, uint32_t n)
{
    const char **names = gql_v_alloc(v, (n ? n : 1) * sizeof *names);
    if (!names) return "";
    for (uint32_t i = 0; i < n; i++)
        names[i] = iv[i].name;
    return gql_v_suggest(v, sub, input, names, n);
}

const char *gql_v_suggest_enum(gql_vctx *v, const gql_type *t, const char *input)
{
    const char **names = gql_v_alloc(v, (t->nvalues ? t->nvalues : 1) * sizeof *names);
    if (!names) return "";
    for (uint32_t i = 0; i < t->nvalues; i++)
        names[i] = t->values[i].name;
    return gql_v_suggest(v, "the enum value", input, names, t->nvalues);
}

/* FieldsOnCorrectType: for an abstract type, the possible types (and their
 * interfaces) that have the field, most used first, super types first. */
const char *gql_v_suggest_types_for_field(gql_vctx *v, const gql_type *t, const char *field)
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
