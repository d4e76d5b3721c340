/*
 * events.h — names and shapes of chat events on Redis (the contract between
 * the sender, which writes and publishes, and the receiver, which fans out
 * and gap-fills). The full contract: docs/api.md ("Chat events").
 *
 * The sender's payloads are built by the database functions of
 * db/migrations/0003_chats.sql (one source: the same JSON is stored in
 * chat_events, published, and returned as the mutation result). This header
 * holds what C code on either side needs: channel names, event kinds, the
 * ephemeral typing payload, and a parser for envelopes (live Redis messages
 * and replayed log rows look the same).
 *
 * Memory: chat_ev_parse allocates in the caller's arena; nothing here keeps
 * state.
 */
#ifndef CHATD_CHAT_EVENTS_H
#define CHATD_CHAT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "graphql/value.h"

/* Channels: chat:<chatId> (sequenced log events), chat:<chatId>:eph
 * (typing), user:<userId> (per-user state notifications), presence. */
#define CHAT_EV_CHAT_PREFIX "chat:"
#define CHAT_EV_EPH_SUFFIX ":eph"
#define CHAT_EV_USER_PREFIX "user:"
#define CHAT_EV_PRESENCE_CHANNEL "presence"
#define CHAT_EV_CHANNEL_MAX 64 /* "chat:" + 36-char uuid + ":eph" + NUL fits */

/* Kinds on chat:<id> (envelope "kind"). */
#define CHAT_EV_MESSAGE_CREATED "message.created"
#define CHAT_EV_MESSAGE_UPDATED "message.updated"
#define CHAT_EV_MESSAGE_DELETED "message.deleted"
#define CHAT_EV_READ "read"
#define CHAT_EV_PARTICIPANTS_ADDED "participants.added"
#define CHAT_EV_PARTICIPANT_REMOVED "participant.removed"
#define CHAT_EV_CHAT_UPDATED "chat.updated"
#define CHAT_EV_CHAT_REMOVED "chat.removed"
/* Kinds on user:<id> (notification "kind"). */
#define CHAT_NOTE_CHAT_ADDED "chat.added"
#define CHAT_NOTE_CHAT_UPDATED "chat.updated"
#define CHAT_NOTE_CHAT_REMOVED "chat.removed"
#define CHAT_NOTE_UNREAD "unread"
#define CHAT_NOTE_PREVIEW "preview"
/* Kind on chat:<id>:eph. */
#define CHAT_EPH_TYPING "typing"

/* Writes "chat:<id>", "chat:<id>:eph" or "user:<id>" into out (at least
 * CHAT_EV_CHANNEL_MAX bytes). Returns 0, or CD_EBAD when id is too long
 * for a channel (ids are UUIDs). */
int chat_ev_chat_channel(char *out, size_t outlen, const char *chat_id);
int chat_ev_eph_channel(char *out, size_t outlen, const char *chat_id);
int chat_ev_user_channel(char *out, size_t outlen, const char *user_id);

/* Appends the typing message {"kind":"typing","chatId","userId","isTyping",
 * "at"} (ids are validated UUIDs; `at` an ISO-8601 timestamp). */
void chat_ev_typing_json(cd_buf *b, const char *chat_id, const char *user_id, bool is_typing,
                         const char *at);

/* Writes the current UTC time as 2026-11-26T16:05:08.123Z (25 bytes incl.
 * NUL) to out. */
void chat_ev_now_iso(char out[32]);

/* A parsed envelope: chat events {"chatId","seq","kind","at","data"} and
 * user notifications {"userId","chatId","seq","kind","data"} share it
 * (user_id NULL / at NULL when absent). Strings point into the arena. */
typedef struct chat_ev {
    const char *chat_id;
    const char *user_id;
    const char *kind;
    const char *at;
    int64_t seq;
    const gql_value *data; /* OBJECT, never NULL after a successful parse */
} chat_ev;

/* Parses an envelope from JSON text into the arena. 0, CD_EBAD (not JSON,
 * or chatId/kind/seq/data missing or of the wrong type), CD_ENOMEM. */
int chat_ev_parse(cd_arena *a, const char *json, size_t len, chat_ev *out);

#endif
