/*
 * execute_internal.h — helpers shared by coerce.c and execute.c only (value
 * printing for error messages, literal coercion). Not for other files.
 */
#ifndef CHATD_GQL_EXECUTE_INTERNAL_H
#define CHATD_GQL_EXECUTE_INTERNAL_H

#include "gql_internal.h"

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

#endif
