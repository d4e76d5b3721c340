/*
 * sender.h — the sender role (design §4–5): chat and message mutations,
 * read marks and typing, written to PostgreSQL and published through Redis.
 *
 * Every mutation validates its arguments and the caller (authz.h), then runs
 * ONE prepared statement: a plpgsql function of db/migrations/0003_chats.sql
 * that, in one transaction, takes the chat's next seq under its row lock,
 * makes the change, maintains unread_counts with single atomic statements
 * and appends the chat_events row (the log and the outbox). The function
 * returns the result JSON and the Redis publications; after COMMIT the
 * resolver publishes them (chat events on chat:<id>, notifications on
 * user:<id>), returns the result (the same JSON the event carries, parsed
 * into the resolver arena), and confirmed publishes are marked in
 * chat_events in batches. The sweeper (sweeper.c) republishes events whose
 * publish was never confirmed — a sender killed between COMMIT and PUBLISH
 * loses nothing — and prunes the log after CHATD_EVENT_RETENTION.
 *
 * Errors (extensions.code): BAD_USER_INPUT (limits below, empty content,
 * bad type/chatType, direct-chat rules), NOT_FOUND (unknown chat, message,
 * user), FORBIDDEN (not a participant, not the author, acting as someone
 * else), CHAT_REMOVED (the chat was removed), SERVICE_UNAVAILABLE (database
 * down: fails at once once the pool has lost its connections).
 *
 * Test hook: with test fixtures on (CHATD_TEST_FIXTURES=1) AND
 * CHATD_TEST_CRASH_AFTER_COMMIT=1 the process _exits with status
 * SENDER_CRASH_EXIT_CODE right after the first createMessage commits, before
 * anything is published (tests/integration/sender-crash.test.js).
 */
#ifndef CHATD_CHAT_SENDER_H
#define CHATD_CHAT_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "graphql/value.h"
#include "protocol/protocol.h"
#include "store/pg.h"

#define CHAT_E_CHAT_REMOVED "CHAT_REMOVED"

#define SENDER_CONTENT_MAX 10000u  /* bytes of message content */
#define SENDER_METADATA_MAX 8192u  /* bytes of metadata as JSON text */
#define SENDER_CLIENT_ID_MAX 128u  /* bytes of a clientId */
#define SENDER_TYPE_MAX 32u        /* bytes of a message type: [a-z0-9_.-] */
#define SENDER_CHAT_NAME_MAX 100u  /* bytes of a chat name */
#define SENDER_CHAT_DESC_MAX 1000u /* bytes of a chat description */
#define SENDER_MAX_IDS 500u        /* user ids in one createChat / addParticipants */
#define SENDER_MSG_ECHO_MAX 64     /* bytes of input echoed in messages */
#define SENDER_CRASH_EXIT_CODE 86

/* Outbox and sweeper (sweeper.c). The grace period before a sweeper may
 * republish a fresh row is chat_events.sweep_after's default (2 s, in the
 * migration); a claim pushes sweep_after forward by the lease. */
#define SENDER_SWEEP_INTERVAL_MS 1000 /* sweeper tick */
#define SENDER_SWEEP_LEASE_S 10       /* a claimed row is not re-claimed before this */
#define SENDER_SWEEP_BATCH 500        /* rows claimed per tick */
#define SENDER_MARK_FLUSH_MS 20       /* confirmed publishes are marked after at most this */
#define SENDER_MARK_BATCH 256         /* ... or when this many are waiting */
#define SENDER_PRUNE_EVERY 60         /* ticks between retention prunes */
#define SENDER_PRUNE_BATCH 5000       /* rows deleted per prune */
#define SENDER_RETENTION_DEFAULT_S (30L * 24 * 3600) /* CHATD_EVENT_RETENTION default */

/* Binds Mutation.createChat, addParticipant(s), removeParticipant,
 * removeChat, createMessage, updateMessage, removeMessage,
 * markMessageAsRead, markChatAsRead, setTyping. In the sender and all roles
 * with a database configured it also starts the sweeper. 0 or CD_*. */
int chat_bind_sender_role(proto_server *srv);

/* Validation (NULL = valid, else a static message for BAD_USER_INPUT). */
const char *chat_sender_check_content(const char *s, size_t len);
const char *chat_sender_check_type(const char *s, size_t len);
const char *chat_sender_check_client_id(const char *s, size_t len);
const char *chat_sender_check_chat_name(const char *s, size_t len);
const char *chat_sender_check_chat_desc(const char *s, size_t len);

/* Appends a Postgres uuid[] literal "{a,b,...}" of the LIST of strings
 * `ids`, with `first` (may be NULL) put in front when not already in the
 * list. Returns 0, CD_ELIMIT (more than SENDER_MAX_IDS), or CD_EBAD with
 * *bad set to the offending (non-UUID) entry. */
int chat_sender_uuid_array(cd_buf *b, const gql_value *ids, const char *first, const char **bad);

/* extensions.code for an error raised by the chat functions (SQLSTATE class
 * CD) or a data exception (class 22: BAD_USER_INPUT), or NULL for any other
 * SQLSTATE. */
const char *chat_sender_code_for_sqlstate(const char *sqlstate);

/* CHATD_EVENT_RETENTION: seconds, or a number with s/m/h/d. NULL/"" → the
 * default. Returns seconds, or -1 when malformed or not positive. */
int64_t chat_sender_parse_retention(const char *s);

/* ---- module-internal (sender.c ↔ sweeper.c) ---- */

/* The pool with the sender's statements registered, or NULL. */
pg_pool *chat_sender_pool(proto_server *srv);
/* Publishes a chat event and, once Redis confirms it, marks (chat_id, seq)
 * published (batched). */
void chat_outbox_publish_event(proto_server *srv, const char *channel, const char *payload,
                               size_t len, const char *chat_id, const char *seq);
/* Publishes a notification (no log, no confirmation). */
void chat_outbox_publish(proto_server *srv, const char *channel, const char *payload, size_t len);
/* Starts the sweeper timer (once per process). */
int chat_sweeper_start(proto_server *srv);

#endif
