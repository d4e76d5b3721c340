/*
 * feed.h — the receiver role's fan-out (design §5, docs/architecture.md):
 * subscriptions fed by Redis, backed by the chat_events log in PostgreSQL.
 *
 * One rc_chan per Redis channel with local subscribers (chat:<id>,
 * chat:<id>:eph, user:<id>, presence). A channel is subscribed on Redis
 * while it has at least one local subscriber (reference count = its list of
 * subscribers) and unsubscribed when the last one leaves.
 *
 * Delivery promise for chat:<id> (sequenced): each subscriber keeps the seq
 * of the last event it was given (`last`). An event is handed to a
 * subscriber only when its seq is last + 1; older ones are duplicates and
 * dropped. The channel keeps the highest seq known to be committed
 * (`known`: from the subscribe-time read of chats.last_seq, live events and
 * fills). While some subscriber's last < known, the channel runs ONE fill
 * query (chat_events with seq > min(last), in seq order, a batch at a time)
 * and offers each row to every subscriber in order — live events that
 * arrive meanwhile only raise `known`. After Redis confirms a (re)subscribe
 * the channel fills unconditionally (events published while it was not
 * subscribed are only in the log). afterSeq sets a new subscriber's last,
 * so replay and live continue through the same path with no seam.
 *
 * Ownership: rc_chan and rc_sub are heap objects (cd_malloc) owned by this
 * file. An rc_sub is freed when it has left its channel and no query of its
 * own is in flight; a channel when it has no subscribers and no fill in
 * flight. Subscribers that end while their channel is delivering are only
 * marked and swept after the delivery loop (stop may run re-entrantly from
 * proto_sub_emit when a slow client is closed).
 */
#ifndef CHATD_CHAT_FEED_H
#define CHATD_CHAT_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include "chat/events.h"
#include "protocol/protocol.h"
#include "protocol/subscribe.h"

#define RC_FILL_BATCH 500     /* chat_events rows per fill query */
#define RC_CHAN_BUCKETS 4096u /* hash buckets of the channel table */
#define RC_MAX_READERS 1000u  /* participants tracked per messageReadUpdated subscription */
#define RC_E_RESYNC "RESYNC_REQUIRED"

/* Subscription fields served by the receiver. */
typedef enum rc_field {
    RC_F_MESSAGE_ADDED = 0,
    RC_F_MESSAGE_UPDATED,
    RC_F_MESSAGE_DELETED,
    RC_F_CHAT_EVENTS,
    RC_F_MESSAGE_READ_UPDATED,
    RC_F_TYPING,
    RC_F_PRESENCE_UPDATED,
    RC_F_CHAT_MESSAGE_NOTIFICATION,
    RC_F_MESSAGE_UPDATE_FOR_CHAT_LIST,
    RC_F_CHAT_ADDED,
    RC_F_CHAT_UPDATED,
    RC_F_UNREAD_COUNT_UPDATED,
    RC_F_COUNT
} rc_field;

/* Binds the receiver role: queries (queries.c) and subscription sources
 * (rc_feed_bind). Called by main.c for every role. 0 or CD_*. */
int chat_bind_receiver_role(proto_server *srv);

/* Registers every receiver subscription source (subscribe.h) and hooks the
 * broker callbacks (chaining the ones already installed). 0 or CD_*. */
int rc_feed_bind(proto_server *srv);

/* The pool with the receiver's statements registered, or NULL (no database
 * configured / prepare failed). Shared by queries.c and feed.c. */
pg_pool *rc_pool(proto_server *srv);

/* ---- pure helpers (unit-tested in tests/unit/test_chat_feed.c) ---- */

/* Where a sequenced event stands for a subscriber that last got `last`. */
typedef enum rc_seq_step {
    RC_SEQ_NEXT = 0, /* seq == last + 1: deliver */
    RC_SEQ_DUP,      /* seq <= last: already delivered, drop */
    RC_SEQ_GAP       /* seq > last + 1: fill from the log first */
} rc_seq_step;
rc_seq_step rc_seq_classify(int64_t last, int64_t seq);

/* The starting point of a replay: a subscriber asking for events after
 * `after` (< 0: none, live from `last_seq`) of a chat it joined at `joined`,
 * whose log keeps seqs from `oldest` on (< 0: the log is empty) and whose
 * newest seq is `last_seq`. Sets *from (the seq to deliver after) and
 * returns 0, or CD_ENOENT when events after *from are no longer retained
 * (→ RESYNC_REQUIRED). Nothing before `joined` is the user's. */
int rc_replay_start(int64_t after, int64_t joined, int64_t oldest, int64_t last_seq, int64_t *from);

/* Id lists ",id,id," (readers still to come, participants). has: true when
 * id (len bytes) is in the list; take: removes it, true when it was there. */
bool rc_idlist_has(const char *list, const char *id, size_t len);
bool rc_idlist_take(char *list, const char *id, size_t len);

/* Counters (metrics / tests). */
typedef struct rc_feed_stats {
    uint64_t channels;   /* channels with local subscribers */
    uint64_t subs;       /* live receiver subscriptions */
    uint64_t delivered;  /* events handed to subscriptions */
    uint64_t duplicates; /* live events dropped as already delivered */
    uint64_t fills;      /* fill queries run */
    uint64_t fill_rows;  /* chat_events rows read by fill queries */
    uint64_t gaps;       /* events a subscriber was not ready for (seq > last + 1):
                          * it gets them, in order, from a fill */
    uint64_t resyncs;    /* subscriptions ended with RESYNC_REQUIRED */
} rc_feed_stats;
/* The counters above as Prometheus text (chatd_receiver_*), appended to
 * /metrics by a cd_metrics section rc_feed_bind registers. */
void rc_feed_metrics_render(cd_buf *out, void *ud);
void rc_feed_stats_get(rc_feed_stats *out);

/* Presence (presence.c): a user's first / last live subscription on this
 * process. */
void rc_presence_user_up(proto_server *srv, const char *user_id);
void rc_presence_user_down(proto_server *srv, const char *user_id);

/* True when s (len bytes) is a canonical UUID (users.h). */
bool chat_uuid_valid(const char *s, size_t len);

#endif
