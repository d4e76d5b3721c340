/*
 * fuzz_protocol_wsmsg.c — libFuzzer driver for gqlws_parse_message (the
 * graphql-transport-ws message classifier). Checks the invariants the
 * transport relies on: a valid message has a known type, a subscribe has a
 * non-empty id within GQLWS_MAX_ID_LEN and a query, variables/extensions are
 * objects when set; an invalid one has a non-empty reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/core.h"
#include "protocol/gql_ws.h"
#include "protocol/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_arena a;
    cd_arena_init(&a, 4096);
    gqlws_msg m;
    char reason[200];
    reason[0] = 0;
    int rc = gqlws_parse_message(&a, (const char *)data, size, &m, reason, sizeof reason);
    if (rc == 0) {
        if (m.type == GQLWS_MSG_INVALID) abort();
        if (m.type == GQLWS_MSG_SUBSCRIBE || m.type == GQLWS_MSG_COMPLETE) {
            if (!m.id || m.id_len == 0 || m.id_len > GQLWS_MAX_ID_LEN) abort();
        }
        if (m.type == GQLWS_MSG_SUBSCRIBE) {
            if (!m.query) abort();
            if (m.variables && m.variables->kind != GQL_V_OBJECT) abort();
            if (m.extensions && m.extensions->kind != GQL_V_OBJECT) abort();
        }
        if (m.payload && m.payload->kind != GQL_V_OBJECT) abort();
    } else if (rc == CD_EBAD) {
        if (!reason[0] || m.type != GQLWS_MSG_INVALID) abort();
    } else if (rc != CD_ENOMEM) {
        abort();
    }
    cd_arena_free(&a);
    return 0;
}
