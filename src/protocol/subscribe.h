/*
 * subscribe.h — the subscription source registry: how role code (src/chat)
 * feeds events into graphql-transport-ws operations.
 *
 * Per Subscription root field name, code registers a source (start + stop).
 * When a client subscribes, the transport prepares and validates the
 * document, reads the root field and its coerced arguments, and calls the
 * field's start(). The source then calls proto_sub_emit() once per event
 * with the field's value (e.g. a Message OBJECT); the transport executes the
 * operation's selection set on {"<field>": value} (gql_exec_run) and sends a
 * `next` message. Events are executed one at a time in emit order.
 *
 * Lifecycle (exactly one of these ends a subscription):
 *   - the transport calls stop(state, ud) — client `complete`, connection
 *     closed, server drain. After stop returns the source must not use `sub`
 *     again; stop frees the source's state.
 *   - the source calls proto_sub_complete(sub) or proto_sub_fail(sub, ...) —
 *     the transport sends the pending events, then `complete` (or the error
 *     as `next` with errors, then `complete`). stop is NOT called afterwards;
 *     the source frees its state before or right after that call and must
 *     not use `sub` again.
 * emit/complete/fail may be called from inside start() too.
 *
 * Memory: values passed to proto_sub_emit are deep-copied before it returns.
 * The args and caller given to start() are valid only during start(): copy
 * what you keep (or read them via proto_sub_args/caller, which stay valid
 * until the subscription ends).
 */
#ifndef CHATD_PROTO_SUBSCRIBE_H
#define CHATD_PROTO_SUBSCRIBE_H

#include <uv.h>

#include "graphql/graphql.h"
#include "protocol/protocol.h"

#define PROTO_SUB_MAX_SOURCES 64u /* registered Subscription fields */

typedef struct proto_sub proto_sub;

/* Starts the source for one subscription. Returns 0 and sets *state (may be
 * NULL), or a negative CD_* code with a client-facing message in err and an
 * extensions.code in *code (static string, e.g. "FORBIDDEN"); the
 * subscription then ends with that error. */
typedef int (*proto_sub_start_fn)(proto_sub *sub, const gql_value *args, const proto_caller *caller,
                                  void *ud, void **state, const char **code, char *err,
                                  size_t errlen);
typedef void (*proto_sub_stop_fn)(void *state, void *ud);

/* Registers the source of Subscription.<field>. CD_EEXIST if already taken,
 * CD_ELIMIT beyond PROTO_SUB_MAX_SOURCES. `field` must be static. */
int proto_sub_register(const char *field, proto_sub_start_fn start, proto_sub_stop_fn stop,
                       void *ud);
/* Removes every registration (tests, shutdown). */
void proto_sub_registry_clear(void);

/* Looked up by the transport. Returns 0 or CD_ENOENT. */
typedef struct proto_sub_source {
    const char *field;
    proto_sub_start_fn start;
    proto_sub_stop_fn stop;
    void *ud;
} proto_sub_source;
const proto_sub_source *proto_sub_lookup(const char *field);

/* ---- source → transport ---- */

/* Queues one event (the field's value, deep-copied). 0, CD_ECLOSED when the
 * subscription is ending, CD_ELIMIT when the client cannot keep up (the
 * connection is being closed with 4008; stop will follow), CD_ENOMEM. */
int proto_sub_emit(proto_sub *sub, const gql_value *value);
/* Fan-out without a copy per subscriber: build the event once
 * (proto_event_new deep-copies the value; NULL on OOM), queue it on any
 * number of subscriptions with proto_sub_emit_event (each takes its own
 * reference; same returns as proto_sub_emit), then drop yours with
 * proto_event_release. The value is read-only once shared. */
typedef struct proto_event proto_event;
proto_event *proto_event_new(const gql_value *value);
int proto_sub_emit_event(proto_sub *sub, proto_event *ev);
void proto_event_release(proto_event *ev);

/* Ends the stream normally after the queued events. */
void proto_sub_complete(proto_sub *sub);
/* Ends the stream with an error (sent as a `next` carrying errors with
 * extensions.code, then `complete`), after the queued events. */
void proto_sub_fail(proto_sub *sub, const char *code, const char *message);

const proto_caller *proto_sub_caller(const proto_sub *sub);
const gql_value *proto_sub_args(const proto_sub *sub);
uv_loop_t *proto_sub_loop(const proto_sub *sub);

#endif
