/*
 * fuzz_compat_ws.c — libFuzzer driver for the seed-003 /ws JSON events:
 * compat_ws_parse (envelope, event type, roomId, each handler's payload
 * checks) without a connection or database.
 *
 * Invariants checked: a bad envelope has a code and message; a valid event
 * has a known kind, a payload object, every id it carries a UUID, and the
 * fields of its kind in range; an invalid event has a code and message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compat/compat_internal.h"
#include "core/arena.h"
#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_arena a;
    cd_arena_init(&a, size + 512);
    compat_ws_msg m;
    int rc = compat_ws_parse(&a, (const char *)data, size, &m);
    if (rc != 0) {
        if ((rc != CD_EBAD && rc != CD_ENOMEM) || !m.err_code || !m.err_msg) abort();
    } else {
        if (!m.type || !m.payload || m.payload->kind != GQL_V_OBJECT) abort();
        if (m.err_code) {
            if (!m.err_msg || !*m.err_msg) abort();
        } else {
            if (m.ev == COMPAT_EV_UNKNOWN) abort();
            if (m.ev != COMPAT_EV_AUTH && m.room && !compat_uuid_ok(m.room)) abort();
            switch (m.ev) {
            case COMPAT_EV_JOIN:
                if (!m.room && !compat_uuid_ok(m.target)) abort();
                break;
            case COMPAT_EV_LEAVE:
            case COMPAT_EV_TYPING:
                if (!m.room) abort();
                break;
            case COMPAT_EV_SEND:
                if (!m.room || !compat_str(m.payload, "content")) abort();
                break;
            case COMPAT_EV_READ:
                if (!m.room || m.seq < 0 || m.seq > INT32_MAX) abort();
                break;
            default:
                break;
            }
        }
    }
    cd_arena_free(&a);
    return 0;
}
