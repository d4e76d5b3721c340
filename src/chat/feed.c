/*
 * feed.c — the receiver's subscription sources and fan-out (see the feed.c
 * section of chat_internal.h for the delivery algorithm and ownership rules).
 *
 * Flow of one chat subscription: start() validates arguments and the
 * caller, then runs one prepared statement (chat state + membership +
 * oldest retained seq). Its callback refuses non-participants (FORBIDDEN),
 * an afterSeq older than the retained log (RESYNC_REQUIRED), or attaches the
 * subscriber to the chat's channel with last = afterSeq (or the chat's
 * current seq). From then on only chan_offer() hands it events, in seq
 * order, once each.
 *
 * Per-user streams (chatMessageNotification, messageUpdateForChatList,
 * unreadCountUpdated) are derived here, not published per member: the
 * subscription is a head on user:<id> owning one leg per chat of the user,
 * a sequenced subscriber of chat:<id> like any other (so exactly-once, order,
 * gap fill and afterSeqs resume hold per chat); the leg keeps the user's
 * watermark and unread count and hands each event to its head. Membership
 * follows chat.added notes on user:<id> and re-lookups of the user's chats
 * (docs/architecture.md, "Per-user streams derived at the receiver").
 *
 * Events are parsed once per Redis message (or log row) into a scratch
 * arena; the value of each subscription field is built once per event and
 * shared by every subscriber of that field (proto_event, reference counted).
 * Only messageReadUpdated, typing and presence build a value per subscriber
 * (they filter or personalise).
 */
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "core/text.h"

#define FEED_RETRY_MS 200               /* a failed fill query is retried after this */
#define FEED_SCRATCH_BLOCK 4096         /* scratch arena block for one event */
#define FEED_ID_MAX 40                  /* a UUID and its NUL, with room */
#define FEED_UUID_BUF (CD_UUID_LEN + 1) /* a UUID and its NUL (feed_sub: ids are checked UUIDs) */
#define FEED_START_BATCH 250            /* subscribe lookups answered by one statement */
#define FEED_LOOK_BATCH 500 /* per-user stream lookups (users) answered by one statement */
#define FEED_NOTE_SEQS 64   /* (chat, kind) seqs remembered per user channel */
#define FEED_TEST_LOOK_DELAY_MAX 10000 /* CHATD_TEST_LOOKUP_DELAY_MS upper bound (ms) */
/* After a burst of at least FEED_TRIM_MIN_STARTS subscribe lookups answered,
 * FEED_TRIM_DELAY_MS after the last of them, the heap's free pages go back
 * to the kernel (glibc malloc_trim): the lookups' scratch memory (results,
 * batches) freed between long-lived state would otherwise stay resident
 * when the burst outlasts the net layer's trim of the connections' burst. */
#define FEED_TRIM_MIN_STARTS 64
#define FEED_TRIM_DELAY_MS 1000
#define FEED_LEG_NOTES_MAX 4   /* unread notes one leg holds ahead of its chat's events */
#define FEED_NOTE_WAIT_MS 2000 /* a held note's events not there by then: filled from the log */

typedef enum feed_kind { FEED_K_CHAT, FEED_K_EPH, FEED_K_USER, FEED_K_PRESENCE } feed_kind;

typedef struct feed_sub feed_sub;
typedef struct feed_chan feed_chan;

/* A UUID (checked text, cd_uuid_valid) in its 16 bytes. */
typedef struct feed_uuid {
    uint8_t b[16];
} feed_uuid;

/* u from a checked UUID's text (either case). */
static void uuid_pack(feed_uuid *u, const char *text)
{
    (void)cd_uuid_parse(text, CD_UUID_LEN, u->b);
}

/* u's text, lowercase, in out (FEED_UUID_BUF bytes). */
static const char *uuid_text(const feed_uuid *u, char *out)
{
    return cd_uuid_format(u->b, false, out);
}

/* True when text (len bytes) is a UUID equal to u. */
static bool uuid_is(const feed_uuid *u, const char *text, size_t len)
{
    feed_uuid v;
    return cd_uuid_parse(text, len, v.b) != CD_UUID_INVALID && memcmp(u->b, v.b, 16) == 0;
}

struct feed_chan {
    feed_chan *hnext;     /* hash chain */
    char id[FEED_ID_MAX]; /* chat or user id ("" for presence); the broker's
                             name of the channel is formatted from it and
                             the kind when needed (chan_name) */
    feed_kind kind;
    feed_sub *subs; /* local subscribers */
    unsigned nsubs;
    unsigned busy;    /* delivery loops on the stack */
    int64_t known;    /* highest committed seq known (chat channels) */
    bool filling;     /* a fill query is in flight */
    bool again;       /* pump again after the current fill */
    bool force_again; /* ... unconditionally (a re-subscribe happened meanwhile) */
    bool retry;       /* the last fill failed: the retry timer pumps it */
    bool has_dead;    /* some subscriber waits for the sweep */
    bool confirmed;   /* Redis confirmed the subscription (at least once) */
    proto_server *srv;
    /* user channels: newest seq seen per (chat, kind) of notification, so a
     * notification overtaken by a newer one of the same chat is dropped
     * (two senders may publish them out of commit order). Allocated on
     * the first notification; a ring of FEED_NOTE_SEQS entries. */
    struct feed_note_seq *note_seqs;
    unsigned note_next;
    /* room watches (chat_watch_start): a chat channel with watches keeps
     * the broker subscription of its typing channel (eph; a feed_chan of
     * its own only while GraphQL typing subscribers exist) and the
     * presence channel (pins) and routes their messages to its watches;
     * `members` (",id,id,", as of seq members_seq) says whose presence
     * concerns the room */
    unsigned pins;    /* chat channels with watches that keep this one */
    unsigned nwatch;  /* chat channel: watches attached */
    feed_chan *wnext; /* in feed.watched (chat channels with watches) */
    feed_chan *wprev;
    char *members;
    int64_t members_seq;
};
_Static_assert(sizeof(feed_chan) <= 160, "feed_chan in the pool's 160-byte class");

typedef struct feed_note_seq {
    char chat[FEED_ID_MAX];
    char kind[16];
    int64_t seq;
} feed_note_seq;

/* The part of a feed_sub only per-user stream heads and legs have (a side
 * block, so plain chat subscribers do not carry it). */
typedef struct feed_stream {
    feed_sub *head;         /* leg: its head (NULL once the head ended) */
    feed_sub *legs;         /* head: its legs, by lnext */
    feed_sub *lnext;        /* leg: next leg of the same head */
    int64_t wm;             /* leg: greatest(last_read_seq, joined_seq) of the user */
    int64_t unread;         /* leg: the user's unread count as of `last` */
    int64_t emitted;        /* leg: seq of the last unreadCountUpdated sent for it */
    struct feed_held *held; /* leg: unread notes ahead of `last`, by seq (lazily) */
    unsigned nheld;
    struct feed_after *afters; /* head: afterSeqs until the first lookup */
    unsigned nafters;
    bool looking;    /* head: a chat lookup is in flight (owns the head) */
    bool look_again; /* head: look up again when it answers */
    bool started;    /* head: the first lookup has been applied */
} feed_stream;

struct feed_sub {
    feed_sub *next, *prev; /* in chan->subs */
    feed_sub *qnext;       /* in the start-lookup queue */
    feed_chan *ch;         /* NULL until attached */
    proto_sub *ps;         /* NULL once the subscription ended */
    uint8_t field;         /* recv_field */
    bool ready : 1;        /* attached and authorised */
    bool dead : 1;         /* ended: unlink and free at the next sweep */
    bool querying : 1;     /* the start query is in flight (owns the sub) */
    bool counted : 1;      /* presence counted this subscriber */
    bool stat : 1;         /* counted in chatd_receiver_subscriptions */
    bool leg : 1;          /* a per-user stream's leg (ps NULL; emits through
                              st->head) */
    bool has_user : 1;     /* user is set (else unknown: trust mode) */
    /* the caller, a UUID as src_start and chat_watch_start check, and the
     * chatId / userId / messageId argument (a UUID): 16 bytes each, read as
     * lowercase text with sub_user / sub_arg */
    feed_uuid user, arg;
    /* last delivered seq (chat channels); until the start lookup answers,
     * the afterSeq argument (-1 when absent) */
    int64_t last;
    int64_t floor; /* lowest seq the caller may see (history rule,
                      chatd_visible_from); 0 = everything */
    /* what only one kind of subscriber uses, by its field (feed_sub_st,
     * feed_sub_watch, feed_sub_read: one overlay) */
    union {
        /* per-user streams (chatMessageNotification, messageUpdateForChatList,
         * unreadCountUpdated, field_is_derived): the subscription is a "head"
         * on user:<id>; it owns one "leg" per chat of the user, a feed_sub on
         * chat:<id> (same field) that is sequenced like any chat subscriber
         * and hands its events to the head. Heads and legs: their state. */
        feed_stream *st;
        /* messageReadUpdated / presenceUpdated */
        struct {
            char *others;    /* messageReadUpdated: ",id,id," readers still to
                                come; presenceUpdated: ",id,id," participants */
            int64_t msg_seq; /* messageReadUpdated: the message's seq */
        } rd;
        /* room watch (field RECV_F_ROOM): its sink, ops NULL once it ended */
        struct {
            const chat_watch_ops *ops;
            void *ud;
        } w;
    } u;
};
/* (its server is feed.srv: the one the receiver is bound to) */
_Static_assert(sizeof(feed_sub) <= 112, "feed_sub in the pool's 112-byte class");

/* s's caller as text ("" when unknown) and its argument, in out
 * (FEED_UUID_BUF bytes). */
static const char *sub_user(const feed_sub *s, char *out)
{
    if (!s->has_user) return out[0] = 0, out;
    return uuid_text(&s->user, out);
}
static const char *sub_arg(const feed_sub *s, char *out)
{
    return uuid_text(&s->arg, out);
}
/* s's caller is the user of text (len bytes). */
static bool sub_user_is(const feed_sub *s, const char *text, size_t len)
{
    return s->has_user && uuid_is(&s->user, text, len);
}
static bool sub_user_is_v(const feed_sub *s, const gql_value *v)
{
    return v && v->kind == GQL_V_STRING && sub_user_is(s, v->u.s, v->len);
}
/* Sets s's caller from checked text ("" = unknown). */
static void sub_set_user(feed_sub *s, const char *text)
{
    s->has_user = text[0] != 0;
    /* (src_start refuses a caller whose id is not a UUID before it counts) */
    if (cd_uuid_valid(text, strlen(text)))
        uuid_pack(&s->user, text);
    else
        memset(&s->user, 0, sizeof s->user);
}

/* The overlay's member of s's kind, NULL for the other kinds. */
static feed_stream *feed_sub_st(const feed_sub *s)
{
    bool derived = s->field == RECV_F_CHAT_MESSAGE_NOTIFICATION ||
                   s->field == RECV_F_MESSAGE_UPDATE_FOR_CHAT_LIST ||
                   s->field == RECV_F_UNREAD_COUNT_UPDATED;
    return derived ? s->u.st : NULL;
}

static const chat_watch_ops *feed_sub_watch(const feed_sub *s)
{
    return s->field == RECV_F_ROOM ? s->u.w.ops : NULL;
}

static char *feed_sub_read(const feed_sub *s)
{
    bool rd = s->field == RECV_F_MESSAGE_READ_UPDATED || s->field == RECV_F_PRESENCE_UPDATED;
    return rd ? s->u.rd.others : NULL;
}

/* An unread note a leg holds until its chat's events up to `seq` have been
 * delivered (the note may overtake them: another Redis shard). */
typedef struct feed_held {
    int64_t seq, count;
    uint64_t due; /* loop time (ms) to fill up to seq from the log; 0 once asked */
} feed_held;

/* One afterSeqs entry of a per-user stream. */
typedef struct feed_after {
    char chat[FEED_ID_MAX];
    int64_t seq;
} feed_after;

/* A one-shot timer of the feed, initialised on first use. */
typedef struct feed_timer {
    uv_timer_t t; /* first: the callback's handle is the feed_timer */
    bool init;
    bool armed;
} feed_timer;

enum {
    FEED_TIMER_KEEP_LOOP = 1, /* holds the loop open while armed (default: unref'd) */
    FEED_TIMER_RESTART = 2,   /* an armed timer starts over at ms from now */
};

/* Arms ft to call cb in ms (a no-op while armed unless FEED_TIMER_RESTART). */
static void feed_timer_arm(feed_timer *ft, uv_loop_t *loop, uv_timer_cb cb, uint64_t ms,
                           unsigned flags)
{
    if (ft->armed && !(flags & FEED_TIMER_RESTART)) return;
    if (!ft->init) {
        uv_timer_init(loop, &ft->t);
        if (!(flags & FEED_TIMER_KEEP_LOOP)) uv_unref((uv_handle_t *)&ft->t);
        ft->init = true;
    }
    ft->armed = true;
    uv_timer_start(&ft->t, cb, ms, 0);
}

/* In a timer's callback: it is no longer armed (may be armed again). */
static void feed_timer_fired(uv_timer_t *t)
{
    ((feed_timer *)t)->armed = false;
}

static void feed_timer_close(feed_timer *ft)
{
    if (!ft->init) return;
    uv_timer_stop(&ft->t);
    uv_close((uv_handle_t *)&ft->t, NULL);
    ft->init = false;
    ft->armed = false;
}

static struct {
    feed_chan *buckets[RECV_CHAN_BUCKETS];
    proto_server *srv;
    feed_timer retry; /* FEED_RETRY_MS after a failed gap fill */
    recv_feed_stats stats;
    /* subscribe lookups waiting for the next flush: [0] chat, [1] message,
     * [2] per-user stream heads (their chats, FEED_Q_HEADS) */
    feed_sub *q_head[3], *q_tail[3];
    feed_timer start;            /* sends the lookups queued in this loop iteration */
    int chan_err;                /* why the last chan_get returned NULL */
    unsigned test_chans_max;     /* CHATD_TEST_FEED_CHANNELS (fixtures): broker subscribes
                                    beyond this many channels fail as at RD_MAX_CHANNELS */
    unsigned test_look_delay_ms; /* CHATD_TEST_LOOKUP_DELAY_MS (fixtures): subscribe
                                    lookups are sent this late (a race made wide) */
    feed_timer note;             /* held unread notes that waited FEED_NOTE_WAIT_MS */
    feed_timer sweep;            /* deferred sweep of ended legs */
    feed_chan *watched;          /* chat channels with room watches */
    feed_chan *presence;         /* pinned while `watched` is not empty */
    feed_timer trim;             /* FEED_TRIM_DELAY_MS after a burst of lookups */
    unsigned trim_starts;        /* lookups answered since the last trim */
} feed;

void recv_feed_stats_get(recv_feed_stats *out)
{
    *out = feed.stats;
}

void recv_feed_metrics_render(cd_buf *b, void *ud)
{
    CD_UNUSED(ud);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } rows[] = {
        {"chatd_receiver_channels", "gauge", "Broker channels with local subscribers.",
         offsetof(recv_feed_stats, channels)},
        {"chatd_receiver_subscriptions", "gauge", "Live receiver subscriptions.",
         offsetof(recv_feed_stats, subs)},
        {"chatd_receiver_events_delivered_total", "counter",
         "Events handed to receiver subscriptions.", offsetof(recv_feed_stats, delivered)},
        {"chatd_receiver_duplicates_dropped_total", "counter",
         "Events dropped as already delivered to a subscriber.",
         offsetof(recv_feed_stats, duplicates)},
        {"chatd_receiver_gaps_total", "counter",
         "Events a subscriber was not ready for (a gap, filled from the log).",
         offsetof(recv_feed_stats, gaps)},
        {"chatd_receiver_fills_total", "counter", "Gap-fill queries run on chat_events.",
         offsetof(recv_feed_stats, fills)},
        {"chatd_receiver_fill_rows_total", "counter", "chat_events rows read by gap fills.",
         offsetof(recv_feed_stats, fill_rows)},
        {"chatd_receiver_resyncs_total", "counter",
         "Subscriptions ended with RESYNC_REQUIRED (events no longer retained).",
         offsetof(recv_feed_stats, resyncs)},
    };
    for (unsigned i = 0; i < CD_ARRAY_LEN(rows); i++) {
        uint64_t v;
        memcpy(&v, (const char *)&feed.stats + rows[i].off, sizeof v);
        cd_metrics_help(b, rows[i].name, rows[i].type, rows[i].help);
        cd_buf_printf(b, "%s %llu\n", rows[i].name, (unsigned long long)v);
    }
}

/* ---- id lists ---- */

/* Finds ",id," in list; NULL when absent or id is not list-shaped. */
static char *idlist_find(const char *list, const char *id, size_t len)
{
    if (!list || len == 0 || len >= FEED_ID_MAX || memchr(id, ',', len)) return NULL;
    char key[FEED_ID_MAX + 2];
    key[0] = ',';
    memcpy(key + 1, id, len);
    key[len + 1] = ',';
    key[len + 2] = 0;
    return strstr(list, key);
}

bool recv_idlist_has(const char *list, const char *id, size_t len)
{
    return idlist_find(list, id, len) != NULL;
}

bool recv_idlist_take(char *list, const char *id, size_t len)
{
    char *hit = idlist_find(list, id, len);
    if (!hit) return false;
    /* keep the comma before, drop "id," */
    memmove(hit + 1, hit + len + 2, strlen(hit + len + 2) + 1);
    return true;
}

/* ---- channel table ---- */

static unsigned hash_name(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % RECV_CHAN_BUCKETS;
}

/* The broker channel of kind for id: 0, or CD_EBAD when it does not fit. */
static int chan_format(char *out, size_t outlen, feed_kind kind, const char *id)
{
    switch (kind) {
    case FEED_K_CHAT:
        return chat_ev_chat_channel(out, outlen, id);
    case FEED_K_EPH:
        return chat_ev_eph_channel(out, outlen, id);
    case FEED_K_USER:
        return chat_ev_user_channel(out, outlen, id);
    case FEED_K_PRESENCE:
        break;
    }
    snprintf(out, outlen, "%s", CHAT_EV_PRESENCE_CHANNEL);
    return 0;
}

/* c's broker channel name, in out (CHAT_EV_CHANNEL_MAX bytes). */
static const char *chan_name(const feed_chan *c, char *out)
{
    if (chan_format(out, CHAT_EV_CHANNEL_MAX, c->kind, c->id) != 0) out[0] = 0;
    return out;
}

static feed_chan *chan_find(const char *name)
{
    char nm[CHAT_EV_CHANNEL_MAX];
    for (feed_chan *c = feed.buckets[hash_name(name)]; c; c = c->hnext)
        if (strcmp(chan_name(c, nm), name) == 0) return c;
    return NULL;
}

static feed_chan *chan_get(proto_server *srv, feed_kind kind, const char *id)
{
    char name[CHAT_EV_CHANNEL_MAX];
    feed.chan_err = CD_EBAD;
    if (kind != FEED_K_PRESENCE && (!id || strlen(id) >= FEED_ID_MAX)) return NULL;
    if (chan_format(name, sizeof name, kind, id) != 0) return NULL;
    feed_chan *c = chan_find(name);
    if (c) return c;
    /* the broker subscription first: a channel this process cannot follow
     * (RD_MAX_CHANNELS reached, client closing) is refused to the
     * subscriber with an error instead of attaching it to silence */
    int r = 0;
    if (feed.test_chans_max && feed.stats.channels >= feed.test_chans_max)
        r = CD_ELIMIT;
    else if (srv->rd)
        r = rd_subscribe(srv->rd, name);
    if (r != 0) {
        cd_warn("receiver", "subscribe %s: %s", name, cd_strerror(r));
        feed.chan_err = r;
        return NULL;
    }
    _Static_assert(sizeof(feed_chan) <= CD_POOL_MAX, "feed_chan in the pool");
    c = cd_pool_calloc(sizeof *c);
    if (!c) {
        if (srv->rd) rd_unsubscribe(srv->rd, name);
        feed.chan_err = CD_ENOMEM;
        return NULL;
    }
    snprintf(c->id, sizeof c->id, "%s", kind == FEED_K_PRESENCE || !id ? "" : id);
    c->kind = kind;
    c->known = -1;
    c->srv = srv;
    unsigned b = hash_name(name);
    c->hnext = feed.buckets[b];
    feed.buckets[b] = c;
    feed.stats.channels++;
    return c;
}

/* The error for a subscriber whose channel chan_get refused. */
static const char *chan_err_code(void)
{
    return feed.chan_err == CD_ENOMEM ? CHAT_E_INTERNAL : CHAT_E_UNAVAILABLE;
}
static const char *chan_err_msg(void)
{
    return feed.chan_err == CD_ENOMEM ? "Out of memory"
                                      : "This receiver cannot follow more channels; try again "
                                        "or another receiver";
}

/* The chat channel of chat_id when it has room watches, else NULL. */
static feed_chan *chan_watched(const char *chat_id)
{
    char name[CHAT_EV_CHANNEL_MAX];
    if (chat_ev_chat_channel(name, sizeof name, chat_id) != 0) return NULL;
    feed_chan *c = chan_find(name);
    return c && c->nwatch > 0 ? c : NULL;
}

/* Frees the channel once nothing refers to it. True when freed. */
static bool chan_maybe_free(feed_chan *c)
{
    if (c->nsubs > 0 || c->busy > 0 || c->filling || c->pins > 0) return false;
    char name[CHAT_EV_CHANNEL_MAX];
    chan_name(c, name);
    /* (an eph channel stays subscribed while its chat has room watches) */
    if (c->srv->rd && rd_is_wanted(c->srv->rd, name) &&
        !(c->kind == FEED_K_EPH && chan_watched(c->id)))
        rd_unsubscribe(c->srv->rd, name);
    feed_chan **pp = &feed.buckets[hash_name(name)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp) *pp = c->hnext;
    feed.stats.channels--;
    cd_free(c->note_seqs);
    cd_free(c->members);
    cd_pool_free(c);
    return true;
}

static void chan_unpin(feed_chan *p)
{
    if (p && p->pins > 0 && --p->pins == 0) chan_maybe_free(p);
}

/* Chat channel c gets its first room watch: subscribe its typing channel
 * (its messages reach the watches through hook_message, with no feed_chan
 * of their own) and keep the presence channel subscribed (without them the
 * watch still gets the chat's events). */
static void watch_chan_up(feed_chan *c)
{
    if (c->nwatch++ > 0) return;
    char name[CHAT_EV_CHANNEL_MAX];
    int r = chat_ev_eph_channel(name, sizeof name, c->id);
    if (r == 0 && c->srv->rd) r = rd_subscribe(c->srv->rd, name);
    if (r != 0) cd_warn("receiver", "subscribe %s: %s", name, cd_strerror(r));
    if (!feed.watched) {
        feed.presence = chan_get(c->srv, FEED_K_PRESENCE, NULL);
        if (feed.presence) feed.presence->pins++;
    }
    c->wprev = NULL;
    c->wnext = feed.watched;
    if (feed.watched) feed.watched->wprev = c;
    feed.watched = c;
}

/* ... and its last one left. */
static void watch_chan_down(feed_chan *c)
{
    if (c->nwatch == 0 || --c->nwatch > 0) return;
    char name[CHAT_EV_CHANNEL_MAX];
    /* the typing channel, unless GraphQL typing subscribers still follow it */
    if (c->srv->rd && chat_ev_eph_channel(name, sizeof name, c->id) == 0 && !chan_find(name) &&
        rd_is_wanted(c->srv->rd, name))
        rd_unsubscribe(c->srv->rd, name);
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        feed.watched = c->wnext;
    if (c->wnext) c->wnext->wprev = c->wprev;
    c->wnext = c->wprev = NULL;
    cd_free(c->members);
    c->members = NULL;
    c->members_seq = 0;
    if (!feed.watched) {
        feed_chan *p = feed.presence;
        feed.presence = NULL;
        chan_unpin(p);
    }
}

static void sub_free(feed_sub *s)
{
    cd_free(feed_sub_read(s));
    feed_stream *st = feed_sub_st(s);
    if (st) {
        cd_free(st->afters);
        cd_free(st->held);
    }
    cd_free(st);
    cd_pool_free(s);
}

/* Takes leg l out of its head's list (the leg is being freed). */
static void leg_detach(feed_sub *l)
{
    feed_sub *h = l->u.st->head;
    if (!h) return;
    for (feed_sub **pp = &h->u.st->legs; *pp; pp = &(*pp)->u.st->lnext)
        if (*pp == l) {
            *pp = l->u.st->lnext;
            break;
        }
    l->u.st->head = NULL;
    l->u.st->lnext = NULL;
}

static void sub_unlink(feed_sub *s)
{
    feed_chan *c = s->ch;
    if (!c) return;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->subs = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->ch = NULL;
    c->nsubs--;
    if (s->stat) feed.stats.subs--;
    s->stat = false;
    if (s->field == RECV_F_ROOM) watch_chan_down(c);
    char ub[FEED_UUID_BUF];
    if (s->counted) recv_presence_user_down(feed.srv, sub_user(s, ub));
    s->counted = false;
}

/* Removes subscribers marked dead (after a delivery loop). True when the
 * channel itself was freed. */
static bool chan_sweep(feed_chan *c)
{
    if (c->busy > 0) return false;
    if (!c->has_dead) return chan_maybe_free(c);
    c->has_dead = false;
    for (feed_sub *s = c->subs, *n; s; s = n) {
        n = s->next;
        if (!s->dead) continue;
        sub_unlink(s);
        if (s->leg) leg_detach(s);
        if (!s->querying && !(feed_sub_st(s) && s->u.st->looking)) sub_free(s);
    }
    return chan_maybe_free(c);
}

/* The subscription ends from our side (removal cutoff, chat removed,
 * resync): stop is not called afterwards, so the sub is swept by us. */
/* Sweeps every channel with dead subscribers, from a zero-delay timer
 * (ending a head's legs may happen inside a loop over one of their
 * channels, so they are not swept on the spot). */
static void sweep_tick(uv_timer_t *t)
{
    feed_timer_fired(t);
    for (unsigned b = 0; b < RECV_CHAN_BUCKETS; b++)
        for (feed_chan *c = feed.buckets[b], *n; c; c = n) {
            n = c->hnext;
            if (c->has_dead) chan_sweep(c);
        }
}

static void defer_sweep(void)
{
    if (feed.srv) feed_timer_arm(&feed.sweep, feed.srv->loop, sweep_tick, 0, 0);
}

/* A head ended: its legs end with it (swept by their channels, later). */
static void head_drop_legs(feed_sub *h)
{
    if (!feed_sub_st(h) || !h->u.st->legs) return;
    while (h->u.st->legs) {
        feed_sub *l = h->u.st->legs;
        h->u.st->legs = l->u.st->lnext;
        l->u.st->lnext = NULL;
        l->u.st->head = NULL;
        l->dead = true;
        if (l->ch)
            l->ch->has_dead = true;
        else
            sub_free(l);
    }
    defer_sweep();
}

static void sub_end(feed_sub *s, const char *code, const char *msg)
{
    if (s->dead) return;
    proto_sub *ps = s->ps;
    s->ps = NULL;
    s->dead = true;
    if (s->ch) s->ch->has_dead = true;
    if (s->leg) {
        /* a leg that cannot go on (events no longer retained) ends the
         * whole per-user stream: the client must resync it */
        if (code && s->u.st->head) sub_end(s->u.st->head, code, msg);
        return;
    }
    head_drop_legs(s);
    if ((ps || feed_sub_watch(s)) && code && strcmp(code, CHAT_E_RESYNC) == 0) feed.stats.resyncs++;
    if (feed_sub_watch(s)) {
        const chat_watch_ops *ops = s->u.w.ops;
        s->u.w.ops = NULL;
        ops->on_end(s->u.w.ud, code, msg);
        return;
    }
    if (ps) {
        if (code)
            proto_sub_fail(ps, code, msg);
        else
            proto_sub_complete(ps);
    }
}

static bool field_is_derived(recv_field f)
{
    return f == RECV_F_CHAT_MESSAGE_NOTIFICATION || f == RECV_F_MESSAGE_UPDATE_FOR_CHAT_LIST ||
           f == RECV_F_UNREAD_COUNT_UPDATED;
}

static void sub_attach(feed_sub *s, feed_chan *c)
{
    s->ch = c;
    s->next = c->subs;
    if (c->subs) c->subs->prev = s;
    c->subs = s;
    c->nsubs++;
    /* a per-user stream counts once its chats are attached (look_apply) */
    if (!s->leg && !field_is_derived(s->field)) {
        s->stat = true;
        feed.stats.subs++;
    }
    if (s->field == RECV_F_ROOM) watch_chan_up(c);
    s->ready = true;
    if (s->has_user && !s->leg) {
        s->counted = true;
        char ub[FEED_UUID_BUF];
        recv_presence_user_up(feed.srv, sub_user(s, ub));
    }
}

/* ---- building event values ---- */

static const gql_value *obj(const gql_value *o, const char *k)
{
    return o && o->kind == GQL_V_OBJECT ? gql_obj_get(o, k) : NULL;
}

static bool str_eq(const gql_value *v, const char *s)
{
    return v && v->kind == GQL_V_STRING && strlen(s) == v->len && memcmp(v->u.s, s, v->len) == 0;
}

/* Events whose data is a message (message.*, reaction). */
static bool carries_message(const char *kind)
{
    return strncmp(kind, "message.", 8) == 0 || strcmp(kind, CHAT_EV_REACTION) == 0;
}

/* History rule: an event about a message from before the subscriber's
 * floor (an edit, removal or reaction of an older message) is not theirs. */
static bool before_floor(const feed_sub *s, const chat_ev *e)
{
    if (s->floor <= 1 || !carries_message(e->kind)) return false;
    const gql_value *seq = obj(e->data, "seq");
    return seq && seq->kind == GQL_V_INT && seq->u.i < s->floor;
}

/* The ChatEvent object of a log event. */
static gql_value chat_event_value(cd_arena *a, const chat_ev *e)
{
    gql_value *o = gql_obj_new(a, 13);
    if (!o) return gql_null();
    bool is_msg = carries_message(e->kind);
    const gql_value *chat = obj(e->data, "chat");
    const gql_value *uid = obj(e->data, "userId");
    const gql_value *upto = obj(e->data, "upToSeq");
    const gql_value *read_at = obj(e->data, "readAt");
    gql_obj_set(o, 0, "chatId", gql_str_ref(e->chat_id, strlen(e->chat_id)));
    gql_obj_set(o, 1, "seq", gql_int(e->seq));
    gql_obj_set(o, 2, "kind", gql_str_ref(e->kind, strlen(e->kind)));
    gql_obj_set(o, 3, "createdAt", e->at ? gql_str_ref(e->at, strlen(e->at)) : gql_null());
    gql_obj_set(o, 4, "message", is_msg ? *e->data : gql_null());
    gql_obj_set(o, 5, "chat", chat ? *chat : gql_null());
    gql_obj_set(o, 6, "userId", uid ? *uid : gql_null());
    gql_obj_set(o, 7, "upToSeq", upto ? *upto : gql_null());
    gql_obj_set(o, 8, "readAt", read_at ? *read_at : gql_null());
    const gql_value *emoji = obj(e->data, "emoji"), *added = obj(e->data, "added");
    gql_obj_set(o, 9, "emoji", emoji ? *emoji : gql_null());
    gql_obj_set(o, 10, "added", added ? *added : gql_null());
    const gql_value *dat = obj(e->data, "deliveredAt");
    const gql_value *role =
        strcmp(e->kind, CHAT_EV_PARTICIPANT_ROLE) == 0 ? obj(e->data, "role") : NULL;
    gql_obj_set(o, 11, "deliveredAt", dat ? *dat : gql_null());
    gql_obj_set(o, 12, "role", role ? *role : gql_null());
    return *o;
}

/* The shared value of `f` for log event e, or NULL when e is not for f. */
static proto_event *shared_event(cd_arena *a, const chat_ev *e, recv_field f, proto_event **cache)
{
    if (cache[f]) return cache[f];
    const char *want = NULL;
    switch (f) {
    case RECV_F_MESSAGE_ADDED:
        want = CHAT_EV_MESSAGE_CREATED;
        break;
    case RECV_F_MESSAGE_UPDATED:
        want = CHAT_EV_MESSAGE_UPDATED;
        break;
    case RECV_F_MESSAGE_DELETED:
        want = CHAT_EV_MESSAGE_DELETED;
        break;
    case RECV_F_CHAT_EVENTS:
        break;
    default:
        return NULL;
    }
    gql_value v;
    if (want) {
        /* a reaction changes the message: messageUpdated reflects it */
        if (strcmp(e->kind, want) != 0 &&
            !(f == RECV_F_MESSAGE_UPDATED && strcmp(e->kind, CHAT_EV_REACTION) == 0))
            return NULL;
        v = *e->data;
    } else {
        v = chat_event_value(a, e);
    }
    cache[f] = proto_event_new(&v);
    return cache[f];
}

static void emit_value(feed_sub *s, const gql_value *v)
{
    if (!s->ps) return;
    int r = proto_sub_emit(s->ps, v);
    if (r == 0) feed.stats.delivered++;
}

/* messageReadUpdated: a read event moved `userId`'s watermark to upToSeq;
 * emits when that covers the message and the user had not read it yet. */
static void deliver_read(feed_sub *s, cd_arena *a, const chat_ev *e)
{
    if (strcmp(e->kind, CHAT_EV_READ) != 0 || !feed_sub_read(s)) return;
    const gql_value *uid = obj(e->data, "userId");
    const gql_value *upto = obj(e->data, "upToSeq");
    const gql_value *at = obj(e->data, "readAt");
    if (!uid || uid->kind != GQL_V_STRING || !upto || upto->kind != GQL_V_INT) return;
    if (upto->u.i < s->u.rd.msg_seq) return;
    if (!recv_idlist_take(s->u.rd.others, uid->u.s, uid->len)) return;
    gql_value *o = gql_obj_new(a, 3);
    if (!o) return;
    char ab[FEED_UUID_BUF];
    const char *mid = sub_arg(s, ab);
    gql_obj_set(o, 0, "messageId", gql_str_ref(mid, strlen(mid)));
    gql_obj_set(o, 1, "userId", *uid);
    gql_obj_set(o, 2, "readAt", at ? *at : gql_null());
    emit_value(s, o);
}

/* ---- per-user streams (heads and legs) ---- */

static void head_lookup(feed_sub *h);
static void chan_pump(feed_chan *c, bool force);

/* unreadCountUpdated for leg l's chat at `seq` (when it is newer than the
 * last one sent for that chat: a note on user:<id> may have carried it). */
static void leg_emit_unread(feed_sub *l, cd_arena *a, int64_t seq, int64_t count)
{
    feed_sub *h = l->u.st->head;
    if (!h || !h->ps || h->field != RECV_F_UNREAD_COUNT_UPDATED || seq <= l->u.st->emitted) return;
    l->u.st->emitted = seq;
    gql_value *o = gql_obj_new(a, 4);
    if (!o) return;
    char ab[FEED_UUID_BUF], ub[FEED_UUID_BUF];
    const char *cid = sub_arg(l, ab), *uid = sub_user(l, ub);
    gql_obj_set(o, 0, "chatId", gql_str_ref(cid, strlen(cid)));
    gql_obj_set(o, 1, "userId", gql_str_ref(uid, strlen(uid)));
    gql_obj_set(o, 2, "unreadCount", gql_int(count < 0 ? 0 : count));
    gql_obj_set(o, 3, "seq", gql_int(seq));
    emit_value(h, o);
}

static void note_arm(uint64_t ms);

/* The `unread` note (seq, count) of a read reached leg l before the chat's
 * events up to seq were delivered to it (chat:<id> and user:<id> may sit
 * on different Redis Cluster shards): sent out once they are (leg_release),
 * so a count never overtakes an earlier change of the chat. At most
 * FEED_LEG_NOTES_MAX wait per leg; beyond that the oldest waiting note is
 * superseded by the newer ones (its read event still sends its count). */
static void leg_hold(feed_sub *l, int64_t seq, int64_t count)
{
    if (seq <= l->u.st->emitted) return; /* a count at or after seq went out already */
    if (!l->u.st->held) {
        l->u.st->held = cd_calloc(FEED_LEG_NOTES_MAX, sizeof *l->u.st->held);
        if (!l->u.st->held) return; /* the read event still carries the count */
    }
    unsigned i = 0;
    while (i < l->u.st->nheld && l->u.st->held[i].seq < seq)
        i++;
    if (i < l->u.st->nheld && l->u.st->held[i].seq == seq) { /* the same note twice */
        feed.stats.duplicates++;
        return;
    }
    if (l->u.st->nheld == FEED_LEG_NOTES_MAX) {
        if (i == 0) return; /* older than every waiting one: superseded */
        memmove(l->u.st->held, l->u.st->held + 1, (size_t)(i - 1) * sizeof *l->u.st->held);
        i--;
        l->u.st->nheld--;
    }
    memmove(l->u.st->held + i + 1, l->u.st->held + i,
            (size_t)(l->u.st->nheld - i) * sizeof *l->u.st->held);
    l->u.st->held[i] =
        (feed_held){.seq = seq, .count = count, .due = uv_now(feed.srv->loop) + FEED_NOTE_WAIT_MS};
    l->u.st->nheld++;
    note_arm(FEED_NOTE_WAIT_MS);
}

/* Leg l has delivered its chat's events up to l->last: the newest held
 * note at or below it goes out (unless the events sent that seq's count or
 * a newer one already); older ones are superseded by it. */
static void leg_release(feed_sub *l, cd_arena *a)
{
    unsigned k = 0;
    while (k < l->u.st->nheld && l->u.st->held[k].seq <= l->last)
        k++;
    if (k == 0) return;
    int64_t seq = l->u.st->held[k - 1].seq, count = l->u.st->held[k - 1].count;
    memmove(l->u.st->held, l->u.st->held + k, (size_t)(l->u.st->nheld - k) * sizeof *l->u.st->held);
    l->u.st->nheld -= k;
    if (l->u.st->nheld == 0) { /* a leg holds notes rarely: no memory kept for it */
        cd_free(l->u.st->held);
        l->u.st->held = NULL;
    }
    leg_emit_unread(l, a, seq, count);
}

/* Held notes whose events have not come within FEED_NOTE_WAIT_MS: the note
 * says they were committed, so the chat has a gap like a live one (known
 * raised to the note's seq) and the leg fills it from the log (chan_pump,
 * on_fill: events no longer retained end the stream with RESYNC_REQUIRED). */
static void note_tick(uv_timer_t *t)
{
    feed_timer_fired(t);
    uint64_t now = uv_now(t->loop), next = 0;
    for (unsigned b = 0; b < RECV_CHAN_BUCKETS; b++)
        for (feed_chan *c = feed.buckets[b]; c; c = c->hnext) {
            if (c->kind != FEED_K_CHAT) continue;
            bool pump = false;
            for (feed_sub *s = c->subs; s; s = s->next) {
                if (!s->leg || !feed_sub_st(s) || s->dead || !s->ready) continue;
                for (unsigned i = 0; i < s->u.st->nheld; i++) {
                    feed_held *k = &s->u.st->held[i];
                    if (!k->due) continue;
                    if (k->due <= now) {
                        if (k->seq > c->known) c->known = k->seq;
                        k->due = 0;
                        pump = true;
                    } else if (!next || k->due < next) {
                        next = k->due;
                    }
                }
            }
            if (pump) chan_pump(c, false);
        }
    if (next) note_arm(next - now);
}

static void note_arm(uint64_t ms)
{
    if (feed.srv) feed_timer_arm(&feed.note, feed.srv->loop, note_tick, ms, 0);
}

/* Leg l takes chat event e (its next one, exactly once, in order): keeps
 * the user's watermark and unread count as of e and derives the head's
 * per-user event. The count follows the design's definition: a message of
 * another sender that is not a system message counts from its creation
 * until it is removed or the user's watermark passes it; a read event of
 * the user carries the exact count at its seq (computed under the chat
 * lock by chatd_mark_read). */
static void leg_offer(feed_sub *l, cd_arena *a, const chat_ev *e, proto_event **cache)
{
    feed_sub *h = l->u.st->head;
    if (!h || !h->ps) return;
    if (strcmp(e->kind, CHAT_EV_MESSAGE_CREATED) == 0) {
        bool own = sub_user_is_v(l, obj(e->data, "senderId"));
        bool counted = !own && !str_eq(obj(e->data, "type"), "system");
        if (counted) l->u.st->unread++;
        switch (h->field) {
        case RECV_F_CHAT_MESSAGE_NOTIFICATION: /* others' messages, as the seed */
            if (own) break;
            /* fall through */
        case RECV_F_MESSAGE_UPDATE_FOR_CHAT_LIST: /* the sender's other devices too */
            if (!cache[h->field]) cache[h->field] = proto_event_new(e->data);
            if (cache[h->field] && proto_sub_emit_event(h->ps, cache[h->field]) == 0)
                feed.stats.delivered++;
            break;
        case RECV_F_UNREAD_COUNT_UPDATED:
            if (counted) leg_emit_unread(l, a, e->seq, l->u.st->unread);
            break;
        default:
            break;
        }
    } else if (strcmp(e->kind, CHAT_EV_MESSAGE_DELETED) == 0) {
        const gql_value *mseq = obj(e->data, "seq");
        bool counted = !sub_user_is_v(l, obj(e->data, "senderId")) &&
                       !str_eq(obj(e->data, "type"), "system") && mseq && mseq->kind == GQL_V_INT &&
                       mseq->u.i > l->u.st->wm;
        if (counted && l->u.st->unread > 0) {
            l->u.st->unread--;
            leg_emit_unread(l, a, e->seq, l->u.st->unread);
        }
    } else if (strcmp(e->kind, CHAT_EV_READ) == 0 && sub_user_is_v(l, obj(e->data, "userId"))) {
        const gql_value *upto = obj(e->data, "upToSeq");
        const gql_value *n = obj(e->data, "unreadCount");
        if (upto && upto->kind == GQL_V_INT && upto->u.i > l->u.st->wm) l->u.st->wm = upto->u.i;
        if (n && n->kind == GQL_V_INT) l->u.st->unread = n->u.i;
        /* (a read event written before 0005 carries no count: the count
         * stays as it was until the next read) */
        leg_emit_unread(l, a, e->seq, l->u.st->unread);
    }
}

/* The live leg of head h for chat `chat`, or NULL. */
static feed_sub *leg_find(feed_sub *h, const char *chat, size_t len)
{
    for (feed_sub *l = h->u.st->legs; l; l = l->u.st->lnext)
        if (!l->dead && uuid_is(&l->arg, chat, len)) return l;
    return NULL;
}

/* Starts a leg of head h on chat `chat` after seq `from` (the chat's
 * newest seq is at least `known`), with the user's watermark and unread
 * count as of `from`. A chat that already has a live leg is skipped. */
static feed_sub *leg_add(feed_sub *h, const char *chat, int64_t from, int64_t known, int64_t wm,
                         int64_t unread)
{
    size_t len = strlen(chat);
    if (h->dead || len >= FEED_ID_MAX || !cd_uuid_valid(chat, len) || leg_find(h, chat, len))
        return NULL;
    _Static_assert(sizeof(feed_sub) <= CD_POOL_MAX, "feed_sub in the pool");
    feed_sub *l = cd_pool_calloc(sizeof *l);
    if (l) l->u.st = cd_calloc(1, sizeof *l->u.st);
    feed.chan_err = CD_ENOMEM;
    feed_chan *c = l && l->u.st ? chan_get(feed.srv, FEED_K_CHAT, chat) : NULL;
    if (!c) {
        if (l) cd_free(l->u.st);
        cd_pool_free(l);
        sub_end(h, chan_err_code(), chan_err_msg());
        return NULL;
    }
    l->field = h->field;
    l->leg = true;
    l->u.st->head = h;
    l->last = from;
    l->u.st->wm = wm;
    l->u.st->unread = unread;
    l->u.st->emitted = from;
    l->has_user = h->has_user;
    l->user = h->user;
    uuid_pack(&l->arg, chat);
    l->u.st->lnext = h->u.st->legs;
    h->u.st->legs = l;
    if (known > c->known) c->known = known;
    sub_attach(l, c);
    chan_pump(c, false);
    return l;
}

#define FEED_Q_HEADS 2 /* feed.q_head[] index of the per-user stream lookups */

static void start_arm(void);

/* A head that ended while its lookup was queued or in flight: freed here,
 * or by its channel's sweep. */
static void head_release(feed_sub *h)
{
    if (h->ch) {
        h->ch->has_dead = true;
        chan_sweep(h->ch);
    } else {
        sub_free(h);
    }
}

/* Head h's lookup could not be made or answered: the client gets the
 * error (the stream would otherwise miss events silently). */
static void look_fail(feed_sub *h, const char *code, const char *msg)
{
    h->u.st->looking = false;
    if (h->dead) {
        head_release(h);
        return;
    }
    sub_end(h, code, msg);
    if (h->ch) chan_sweep(h->ch);
}

/* Applies rows [lo, hi) of a recv_sub_users result to head h: the user's
 * chats (columns after the ordinal: chat id, last_seq, joined_seq,
 * watermark, oldest retained seq, unread count at last_seq, history floor).
 * The first lookup starts every leg (live from last_seq, or after the
 * afterSeqs entry); later ones (a broker re-subscribe, the user removed
 * from a chat) only add legs for chats that have none: those the user
 * joined meanwhile, from the join on (the count is 0 there). */
static void look_apply(feed_sub *h, const pg_result *r, int lo, int hi)
{
    h->u.st->looking = false;
    if (h->dead) {
        head_release(h);
        return;
    }
    bool first = !h->u.st->started;
    h->u.st->started = true;
    cd_arena a;
    cd_arena_init(&a, FEED_SCRATCH_BLOCK);
    for (int i = lo; i < hi && !h->dead; i++) {
        const char *chat = pg_result_get(r, i, 1);
        int64_t last_seq = strtoll(pg_result_get(r, i, 2), NULL, 10);
        int64_t joined = strtoll(pg_result_get(r, i, 3), NULL, 10);
        int64_t wm = strtoll(pg_result_get(r, i, 4), NULL, 10);
        const char *old = pg_result_get(r, i, 5);
        int64_t oldest = old ? strtoll(old, NULL, 10) : -1;
        const char *un = pg_result_get(r, i, 6);
        int64_t unread = un ? strtoll(un, NULL, 10) : 0;
        if (!chat || leg_find(h, chat, strlen(chat))) continue;
        int64_t after = -1;
        for (unsigned k = 0; first && k < h->u.st->nafters; k++)
            if (strcmp(h->u.st->afters[k].chat, chat) == 0) after = h->u.st->afters[k].seq;
        int64_t from = last_seq;
        if (!first) {
            /* joined after this stream started: everything since the join */
            if (recv_replay_start(joined, joined, oldest, last_seq, &from) == 0) {
                wm = joined;
                unread = 0;
            } else {
                from = last_seq;
            }
        } else if (after >= 0 && h->field != RECV_F_UNREAD_COUNT_UPDATED) {
            if (recv_replay_start(after, joined, oldest, last_seq, &from) != 0) {
                sub_end(h, CHAT_E_RESYNC,
                        "afterSeqs names a seq older than the retained event log; refetch "
                        "the history");
                break;
            }
            /* the count is only kept for unreadCountUpdated */
        }
        feed_sub *l = leg_add(h, chat, from, last_seq, wm, unread);
        const char *fl = pg_result_get(r, i, 7);
        if (l && fl) l->floor = strtoll(fl, NULL, 10);
        /* unreadCountUpdated is a state stream: a resume sends the current
         * count of every chat that moved past its afterSeqs entry. The leg
         * starts at last_seq (emitted = last_seq would drop it): the caller
         * has seen up to `after`, unless a newer count went out already. */
        if (l && first && after >= 0 && last_seq > after && l->u.st->emitted == last_seq) {
            l->u.st->emitted = after;
            leg_emit_unread(l, &a, last_seq, unread);
        }
        cd_arena_reset(&a);
    }
    cd_arena_free(&a);
    cd_free(h->u.st->afters);
    h->u.st->afters = NULL;
    h->u.st->nafters = 0;
    if (h->dead) {
        if (h->ch) chan_sweep(h->ch);
        return;
    }
    /* every leg holds its start position now: whatever commits from here on
     * reaches the stream, so it counts as attached (the gauge the benchmark
     * waits on before sending) */
    if (!h->stat && h->ch) {
        h->stat = true;
        feed.stats.subs++;
    }
    if (h->u.st->look_again) {
        h->u.st->look_again = false;
        head_lookup(h);
    }
}

typedef struct look_batch {
    unsigned n;
    feed_sub *heads[FEED_LOOK_BATCH];
} look_batch;

/* The answer to one recv_sub_users statement: rows ordered by ordinal,
 * each head gets its run of rows (none: the user has no chats). */
static void on_look_rows(const pg_result *r, void *ud)
{
    look_batch *b = ud;
    if (r->status != 0) {
        cd_warn("receiver", "per-user lookup: %s", r->message);
        for (unsigned i = 0; i < b->n; i++)
            look_fail(b->heads[i], CHAT_E_UNAVAILABLE, "Database unavailable, try again");
        cd_free(b);
        return;
    }
    int rows = pg_result_rows(r), row = 0;
    for (unsigned i = 0; i < b->n; i++) {
        while (row < rows && strtol(pg_result_get(r, row, 0), NULL, 10) < (long)i + 1)
            row++;
        int lo = row;
        while (row < rows && strtol(pg_result_get(r, row, 0), NULL, 10) == (long)i + 1)
            row++;
        look_apply(b->heads[i], r, lo, row);
    }
    cd_free(b);
}

/* Sends the queued per-user lookups: one statement per FEED_LOOK_BATCH
 * heads (10,000 users subscribing at once cost 20 statements, not 10,000
 * queued one by one behind each other in the pool). */
static void look_flush(void)
{
    const int q = FEED_Q_HEADS;
    while (feed.q_head[q]) {
        look_batch *b = cd_malloc(sizeof *b);
        if (!b) {
            while (feed.q_head[q]) {
                feed_sub *h = feed.q_head[q];
                feed.q_head[q] = h->qnext;
                h->qnext = NULL;
                look_fail(h, CHAT_E_INTERNAL, "Out of memory");
            }
            feed.q_tail[q] = NULL;
            return;
        }
        cd_buf users, want;
        cd_buf_init(&users);
        cd_buf_init(&want);
        b->n = 0;
        while (feed.q_head[q] && b->n < FEED_LOOK_BATCH) {
            feed_sub *h = feed.q_head[q];
            feed.q_head[q] = h->qnext;
            if (!feed.q_head[q]) feed.q_tail[q] = NULL;
            h->qnext = NULL;
            if (h->dead) { /* stopped before its lookup was sent */
                h->u.st->looking = false;
                head_release(h);
                continue;
            }
            const char *sep = b->n ? "," : "{";
            char ub[FEED_UUID_BUF];
            cd_buf_printf(&users, "%s%s", sep, sub_user(h, ub));
            cd_buf_printf(&want, "%s%s", sep, h->field == RECV_F_UNREAD_COUNT_UPDATED ? "t" : "f");
            b->heads[b->n++] = h;
        }
        cd_buf_putc(&users, '}');
        cd_buf_putc(&want, '}');
        cd_buf_putc(&users, 0);
        cd_buf_putc(&want, 0);
        pg_pool *p = chat_pool(feed.srv);
        bool sent = b->n == 0;
        if (b->n > 0 && p && !cd_buf_failed(&users) && !cd_buf_failed(&want)) {
            const char *params[] = {users.data, want.data};
            sent = pg_pool_query(p, "recv_sub_users", 2, params, on_look_rows, b) == 0;
        }
        cd_buf_free(&users);
        cd_buf_free(&want);
        if (sent && b->n > 0) continue; /* owned by the callback */
        for (unsigned i = 0; i < b->n; i++)
            look_fail(b->heads[i], CHAT_E_UNAVAILABLE, "Database unavailable, try again");
        cd_free(b);
    }
}

/* Looks up head h's chats (again): queued and sent with the other heads'
 * lookups of this loop iteration (look_flush). */
static void head_lookup(feed_sub *h)
{
    if (h->dead) return;
    if (h->u.st->looking) {
        h->u.st->look_again = true;
        return;
    }
    const int q = FEED_Q_HEADS;
    h->u.st->looking = true;
    h->qnext = NULL;
    if (feed.q_tail[q])
        feed.q_tail[q]->qnext = h;
    else
        feed.q_head[q] = h;
    feed.q_tail[q] = h;
    start_arm();
}

/* A participant left (or the chat is gone: user NULL): their unsequenced
 * subscriptions of that chat (typing, presence) end too. */
static void cutoff_side_channels(proto_server *srv, const char *chat_id, const gql_value *user)
{
    char name[CHAT_EV_CHANNEL_MAX];
    feed_chan *side[2] = {NULL, NULL};
    if (chat_ev_eph_channel(name, sizeof name, chat_id) == 0) side[0] = chan_find(name);
    side[1] = chan_find(CHAT_EV_PRESENCE_CHANNEL);
    (void)srv;
    for (int i = 0; i < 2; i++) {
        feed_chan *c = side[i];
        if (!c) continue;
        bool any = false;
        for (feed_sub *s = c->subs; s; s = s->next) {
            if (s->dead || !uuid_is(&s->arg, chat_id, strlen(chat_id))) continue;
            if (user && !sub_user_is_v(s, user)) continue;
            sub_end(s, NULL, NULL);
            any = true;
        }
        if (any) chan_sweep(c);
    }
}

/* Keeps a watched chat's participant list (presence routing) current
 * with its membership events. */
static void watch_members_apply(feed_chan *c, const chat_ev *e)
{
    c->members_seq = e->seq;
    if (!c->members) return;
    if (strcmp(e->kind, CHAT_EV_PARTICIPANT_REMOVED) == 0) {
        const gql_value *u = obj(e->data, "userId");
        if (u && u->kind == GQL_V_STRING) recv_idlist_take(c->members, u->u.s, u->len);
        return;
    }
    if (strcmp(e->kind, CHAT_EV_PARTICIPANTS_ADDED) != 0) return;
    const gql_value *l = obj(e->data, "userIds");
    for (uint32_t i = 0; l && l->kind == GQL_V_LIST && i < l->len; i++) {
        const gql_value *u = &l->u.items[i];
        if (u->kind != GQL_V_STRING || u->len == 0 || u->len >= FEED_ID_MAX ||
            memchr(u->u.s, ',', u->len) || recv_idlist_has(c->members, u->u.s, u->len))
            continue;
        size_t n = strlen(c->members); /* ",a,b," + "id," */
        char *m = cd_realloc(c->members, n + u->len + 2);
        if (!m) return;
        memcpy(m + n, u->u.s, u->len);
        m[n + u->len] = ',';
        m[n + u->len + 1] = 0;
        c->members = m;
    }
}

/* Hands log event e to every subscriber whose next seq it is. */
static void chan_offer(feed_chan *c, cd_arena *a, const chat_ev *e)
{
    if (e->seq > c->known) c->known = e->seq;
    if (c->nwatch > 0 && e->seq > c->members_seq) watch_members_apply(c, e);
    proto_event *cache[RECV_F_COUNT] = {0};
    const gql_value *removed = NULL;
    if (strcmp(e->kind, CHAT_EV_PARTICIPANT_REMOVED) == 0) removed = obj(e->data, "userId");
    bool chat_gone = strcmp(e->kind, CHAT_EV_CHAT_REMOVED) == 0;
    c->busy++;
    for (feed_sub *s = c->subs; s; s = s->next) {
        if (s->dead || !s->ready) continue;
        recv_seq_step st = recv_seq_classify(s->last, e->seq);
        if (st != RECV_SEQ_NEXT) {
            if (st == RECV_SEQ_DUP)
                feed.stats.duplicates++;
            else
                feed.stats.gaps++;
            continue;
        }
        s->last = e->seq;
        if (before_floor(s, e)) {
            /* not the subscriber's: only its seq is taken */
        } else if (s->leg) {
            leg_offer(s, a, e, cache);
        } else if (s->field == RECV_F_MESSAGE_READ_UPDATED) {
            deliver_read(s, a, e);
        } else if (s->field == RECV_F_ROOM) {
            if (s->u.w.ops) {
                s->u.w.ops->on_event(s->u.w.ud, e->kind, e->seq, e->data);
                feed.stats.delivered++;
            }
        } else {
            proto_event *pe = shared_event(a, e, s->field, cache);
            if (pe && s->ps && proto_sub_emit_event(s->ps, pe) == 0) feed.stats.delivered++;
        }
        if (s->leg && feed_sub_st(s) && s->u.st->nheld) leg_release(s, a);
        /* events after the removal seq are not this user's; a removed
         * chat has no more events */
        if (chat_gone || (removed && sub_user_is_v(s, removed))) {
            feed_sub *h = s->leg ? s->u.st->head : NULL;
            sub_end(s, NULL, NULL);
            /* the user may be back in the chat by now (re-added): the
             * head looks its chats up again */
            if (h && !chat_gone) head_lookup(h);
        }
    }
    c->busy--;
    for (unsigned i = 0; i < RECV_F_COUNT; i++)
        if (cache[i]) proto_event_release(cache[i]);
    if (chat_gone || (removed && removed->kind == GQL_V_STRING))
        cutoff_side_channels(c->srv, c->id, chat_gone ? NULL : removed);
    chan_sweep(c);
}

/* ---- gap fill ---- */

static void retry_tick(uv_timer_t *t)
{
    feed_timer_fired(t);
    for (unsigned b = 0; b < RECV_CHAN_BUCKETS; b++)
        for (feed_chan *c = feed.buckets[b], *n; c; c = n) {
            n = c->hnext;
            if (c->retry) {
                c->retry = false;
                chan_pump(c, true);
            }
        }
}

static void arm_retry(feed_chan *c)
{
    c->retry = true;
    feed_timer_arm(&feed.retry, c->srv->loop, retry_tick, FEED_RETRY_MS, 0);
}

static int64_t chan_min_last(feed_chan *c)
{
    int64_t min = INT64_MAX;
    for (feed_sub *s = c->subs; s; s = s->next)
        if (s->ready && !s->dead && s->last < min) min = s->last;
    return min;
}

typedef struct fill_op {
    feed_chan *ch;
    int64_t from;  /* the query asks for seq > from */
    int64_t known; /* c->known when it was sent: committed before its snapshot */
} fill_op;

static void on_fill(const pg_result *r, void *ud)
{
    fill_op *f = ud;
    feed_chan *c = f->ch;
    int64_t from = f->from, sent_known = f->known;
    cd_free(f);
    c->filling = false;
    if (c->nsubs == 0 || r->status == CD_ECLOSED) {
        chan_maybe_free(c);
        return;
    }
    if (r->status != 0) {
        char nm[CHAT_EV_CHANNEL_MAX];
        cd_warn("receiver", "fill %s after %" PRId64 ": %s", chan_name(c, nm), from, r->message);
        arm_retry(c);
        return;
    }
    int n = pg_result_rows(r);
    cd_arena a;
    cd_arena_init(&a, FEED_SCRATCH_BLOCK);
    int64_t first = -1;
    c->busy++; /* keep c while offering */
    for (int i = 0; i < n; i++) {
        chat_ev e = {0};
        e.chat_id = c->id;
        e.seq = strtoll(pg_result_get(r, i, 0), NULL, 10);
        e.kind = pg_result_get(r, i, 1);
        e.at = pg_result_get(r, i, 2);
        const char *payload = pg_result_get(r, i, 3);
        gql_value *data = cd_arena_alloc(&a, sizeof *data);
        char err[64];
        if (!data || !payload ||
            gql_json_parse(&a, payload, strlen(payload), data, err, sizeof err) != 0 ||
            data->kind != GQL_V_OBJECT) {
            cd_error("receiver", "bad chat_events payload %s/%" PRId64, c->id, e.seq);
            static const gql_value empty = {.kind = GQL_V_OBJECT};
            data = (gql_value *)&empty;
        }
        e.data = data;
        if (first < 0) {
            first = e.seq;
            /* rows before `first` are gone (retention): subscribers that
             * still need them must refetch history */
            if (first > from + 1)
                for (feed_sub *s = c->subs; s; s = s->next)
                    if (s->ready && !s->dead && recv_fill_lost(from, sent_known, first, s->last))
                        sub_end(s, CHAT_E_RESYNC,
                                "Events after the requested seq are no longer retained; "
                                "refetch the history");
        }
        chan_offer(c, &a, &e);
        cd_arena_reset(&a);
    }
    cd_arena_free(&a);
    c->busy--;
    feed.stats.fills++;
    feed.stats.fill_rows += (uint64_t)n;
    int64_t min = chan_min_last(c);
    if (n == 0 && from < sent_known) {
        /* the log has nothing after `from` although events up to
         * sent_known were committed before the query ran: gone (retention).
         * Only what this query answered counts: a subscriber that attached
         * meanwhile further back (afterSeq), or events that became known
         * meanwhile, are the next round's, not proof of a pruned log */
        for (feed_sub *s = c->subs; s; s = s->next)
            if (s->ready && !s->dead && recv_fill_lost(from, sent_known, -1, s->last))
                sub_end(
                    s, CHAT_E_RESYNC,
                    "Events after the requested seq are no longer retained; refetch the history");
    }
    bool force = c->force_again;
    bool again = c->again || n == RECV_FILL_BATCH || (n > 0 && min < c->known);
    c->again = c->force_again = false;
    if (chan_sweep(c)) return;
    if (again || force) chan_pump(c, force);
}

/* Runs a fill when a subscriber is behind `known` (or always with force:
 * after a (re)subscribe nothing says what was missed). */
static void chan_pump(feed_chan *c, bool force)
{
    if (c->kind != FEED_K_CHAT) return;
    if (c->filling) {
        c->again = true;
        if (force) c->force_again = true;
        return;
    }
    int64_t min = chan_min_last(c);
    if (min == INT64_MAX) return;
    if (!force && min >= c->known) return;
    pg_pool *p = chat_pool(c->srv);
    if (!p) return;
    fill_op *f = cd_malloc(sizeof *f);
    if (!f) {
        arm_retry(c);
        return;
    }
    f->ch = c;
    f->from = min;
    f->known = c->known;
    char seq[24], lim[16];
    snprintf(seq, sizeof seq, "%" PRId64, min);
    snprintf(lim, sizeof lim, "%d", RECV_FILL_BATCH);
    const char *params[] = {c->id, seq, lim};
    int r = pg_pool_query(p, "recv_fill", 3, params, on_fill, f);
    if (r != 0) {
        cd_free(f);
        char nm[CHAT_EV_CHANNEL_MAX];
        cd_warn("receiver", "fill %s: %s", chan_name(c, nm), cd_strerror(r));
        arm_retry(c);
        return;
    }
    c->filling = true;
}

/* ---- Redis messages ---- */

static void on_chat_message(feed_chan *c, const char *data, size_t len)
{
    cd_arena a;
    cd_arena_init(&a, FEED_SCRATCH_BLOCK);
    chat_ev e;
    if (chat_ev_parse(&a, data, len, &e) != 0) {
        char nm[CHAT_EV_CHANNEL_MAX];
        cd_warn("receiver", "malformed event on %s", chan_name(c, nm));
        cd_arena_free(&a);
        return;
    }
    /* subscribers for whom it is next get it now, even while a fill runs
     * for others (a replaying subscriber does not delay the live ones);
     * the rest get it, in order, from the fill */
    c->busy++;
    chan_offer(c, &a, &e);
    c->busy--;
    cd_arena_free(&a);
    if (chan_sweep(c)) return;
    if (chan_min_last(c) < c->known) chan_pump(c, false);
}

/* User channels: false when a notification of (chat, kind) with a newer
 * seq was already delivered (the stale one is dropped); records seq. */
static bool note_fresh(feed_chan *c, const gql_value *chat, const gql_value *kind,
                       const gql_value *seq)
{
    if (!chat || chat->kind != GQL_V_STRING || chat->len >= FEED_ID_MAX || !kind ||
        kind->kind != GQL_V_STRING || kind->len >= 16 || !seq || seq->kind != GQL_V_INT)
        return true;
    if (!c->note_seqs) {
        c->note_seqs = cd_calloc(FEED_NOTE_SEQS, sizeof *c->note_seqs);
        if (!c->note_seqs) return true;
    }
    for (unsigned i = 0; i < FEED_NOTE_SEQS; i++) {
        feed_note_seq *n = &c->note_seqs[i];
        if (strlen(n->chat) == chat->len && memcmp(n->chat, chat->u.s, chat->len) == 0 &&
            strlen(n->kind) == kind->len && memcmp(n->kind, kind->u.s, kind->len) == 0) {
            if (seq->u.i < n->seq) return false;
            n->seq = seq->u.i;
            return true;
        }
    }
    feed_note_seq *n = &c->note_seqs[c->note_next++ % FEED_NOTE_SEQS];
    memcpy(n->chat, chat->u.s, chat->len);
    n->chat[chat->len] = 0;
    memcpy(n->kind, kind->u.s, kind->len);
    n->kind[kind->len] = 0;
    n->seq = seq->u.i;
    return true;
}

/* A notification on user:<id> for a per-user stream's head: the user was
 * added to a chat (a leg from the join on), or read on some device (the
 * count at that seq once the chat's leg has delivered the events up to it,
 * unless the leg sent that seq's count or a newer one, or has no leg). */
static void head_note(feed_sub *h, cd_arena *a, const gql_value *v, const gql_value *kind)
{
    const gql_value *chat = gql_obj_get(v, "chatId");
    const gql_value *seq = gql_obj_get(v, "seq");
    if (!chat || chat->kind != GQL_V_STRING || chat->len >= FEED_ID_MAX || !seq ||
        seq->kind != GQL_V_INT)
        return;
    char id[FEED_ID_MAX];
    memcpy(id, chat->u.s, chat->len);
    id[chat->len] = 0;
    if (str_eq(kind, CHAT_NOTE_CHAT_ADDED)) {
        /* before the first lookup answers too: its snapshot may predate
         * the join (the lookup then skips the chat) */
        leg_add(h, id, seq->u.i, seq->u.i, seq->u.i, 0);
        return;
    }
    if (!str_eq(kind, CHAT_NOTE_UNREAD) || h->field != RECV_F_UNREAD_COUNT_UPDATED) return;
    const gql_value *data = gql_obj_get(v, "data");
    const gql_value *n = obj(data, "unreadCount");
    if (!n || n->kind != GQL_V_INT) return;
    /* the sender publishes the chat event of a read before its note, so
     * the leg normally has it already (same seq: not sent twice, an older
     * one not at all). A note ahead of the leg waits in it until the
     * chat's events up to its seq are delivered (leg_hold): with Redis
     * Cluster the note may overtake an earlier event of the chat, whose
     * count change would otherwise be dropped as older. A chat without a
     * leg (yet) gets nothing here: before the first lookup answers, the leg
     * it starts sends the counts from its snapshot on (with afterSeqs the
     * current count first), so a note sent here came ahead of them — out
     * of order, or twice at one seq (unread-streams.test.js, "a read while
     * the stream's lookup is in flight"); a chat joined later gets its leg
     * from chat.added or the re-lookup, which replays from the join. */
    feed_sub *l = leg_find(h, id, chat->len);
    if (!l || !l->ch) return;
    if (seq->u.i > l->last)
        leg_hold(l, seq->u.i, n->u.i);
    else if (l->last >= l->ch->known) /* (behind: its events send the counts in order) */
        leg_emit_unread(l, a, seq->u.i, n->u.i);
}

/* Hands one watched chat's watches a callback (fn) for user `uid`. */
typedef void (*watch_fn)(feed_sub *s, const char *uid, const gql_value *a, const gql_value *b);

static void watch_each(feed_chan *cc, const char *uid, watch_fn fn, const gql_value *a,
                       const gql_value *b)
{
    for (feed_sub *s = cc->subs; s; s = s->next)
        if (!s->dead && s->ready && feed_sub_watch(s)) fn(s, uid, a, b);
}

static void typing_to(feed_sub *s, const char *uid, const gql_value *on, const gql_value *unused)
{
    (void)unused;
    if (sub_user_is(s, uid, strlen(uid))) return; /* never back to the typist */
    s->u.w.ops->on_typing(s->u.w.ud, uid, on->u.b);
    feed.stats.delivered++;
}

static void presence_to(feed_sub *s, const char *uid, const gql_value *on, const gql_value *at)
{
    s->u.w.ops->on_presence(s->u.w.ud, uid, on && on->kind == GQL_V_BOOL && on->u.b,
                            at && at->kind != GQL_V_NULL ? at : NULL);
    feed.stats.delivered++;
}

/* A typing message of chat chat_id: to the watches of its chat channel. */
static void watch_typing(const char *chat_id, const gql_value *uid, const gql_value *on)
{
    char user[PROTO_MAX_USER_ID + 1];
    if (!uid || uid->kind != GQL_V_STRING || uid->len > PROTO_MAX_USER_ID || !on ||
        on->kind != GQL_V_BOOL)
        return;
    feed_chan *cc = chan_watched(chat_id);
    if (!cc) return;
    memcpy(user, uid->u.s, uid->len);
    user[uid->len] = 0;
    cc->busy++;
    watch_each(cc, user, typing_to, on, NULL);
    cc->busy--;
    chan_sweep(cc);
}

/* A presence change: to the watches of every watched chat the user is a
 * participant of. Every watched channel is held (busy) until the end: a
 * callback may stop watches of other chats. */
static void watch_presence(const gql_value *uid, const gql_value *on, const gql_value *at)
{
    char user[PROTO_MAX_USER_ID + 1];
    if (!uid || uid->kind != GQL_V_STRING || uid->len > PROTO_MAX_USER_ID) return;
    memcpy(user, uid->u.s, uid->len);
    user[uid->len] = 0;
    for (feed_chan *cc = feed.watched; cc; cc = cc->wnext)
        cc->busy++;
    for (feed_chan *cc = feed.watched; cc; cc = cc->wnext)
        if (recv_idlist_has(cc->members, uid->u.s, uid->len))
            watch_each(cc, user, presence_to, on, at);
    for (feed_chan *cc = feed.watched, *n; cc; cc = n) {
        n = cc->wnext;
        cc->busy--;
        chan_sweep(cc);
    }
}

/* typing / presence / user notifications: no seq, personalised values. */
static void on_plain_message(feed_chan *c, const char *data, size_t len)
{
    cd_arena a;
    cd_arena_init(&a, FEED_SCRATCH_BLOCK);
    gql_value v;
    char err[64];
    if (gql_json_parse(&a, data, len, &v, err, sizeof err) != 0 || v.kind != GQL_V_OBJECT) {
        cd_arena_free(&a);
        return;
    }
    const gql_value *kind = gql_obj_get(&v, "kind");
    const gql_value *uid = gql_obj_get(&v, "userId");
    const gql_value *payload = gql_obj_get(&v, "data");
    if (c->kind == FEED_K_USER &&
        !note_fresh(c, gql_obj_get(&v, "chatId"), kind, gql_obj_get(&v, "seq"))) {
        feed.stats.duplicates++;
        cd_arena_free(&a);
        return;
    }
    proto_event *cache[RECV_F_COUNT] = {0};
    c->busy++;
    for (feed_sub *s = c->subs; s; s = s->next) {
        if (s->dead || !s->ready || !s->ps) continue;
        switch (s->field) {
        case RECV_F_TYPING:
            /* never back to the typist */
            if (!str_eq(kind, CHAT_EPH_TYPING) || sub_user_is_v(s, uid)) break;
            emit_value(s, &v);
            break;
        case RECV_F_PRESENCE_UPDATED: {
            if (!uid || uid->kind != GQL_V_STRING ||
                !recv_idlist_has(feed_sub_read(s), uid->u.s, uid->len))
                break;
            const gql_value *on = gql_obj_get(&v, "online");
            const gql_value *at = gql_obj_get(&v, "at");
            gql_value *o = gql_obj_new(&a, 4);
            if (!o) break;
            char ab[FEED_UUID_BUF];
            const char *cid = sub_arg(s, ab);
            gql_obj_set(o, 0, "chatId", gql_str_ref(cid, strlen(cid)));
            gql_obj_set(o, 1, "userId", *uid);
            gql_obj_set(o, 2, "online", on && on->kind == GQL_V_BOOL ? *on : gql_bool(false));
            gql_obj_set(o, 3, "lastSeenAt", at ? *at : gql_null());
            emit_value(s, o);
            break;
        }
        case RECV_F_CHAT_MESSAGE_NOTIFICATION:
        case RECV_F_MESSAGE_UPDATE_FOR_CHAT_LIST:
        case RECV_F_UNREAD_COUNT_UPDATED:
            head_note(s, &a, &v, kind);
            break;
        default: {
            if (!payload || payload->kind != GQL_V_OBJECT) break;
            bool match = false;
            switch (s->field) {
            case RECV_F_CHAT_ADDED:
                match = str_eq(kind, CHAT_NOTE_CHAT_ADDED);
                break;
            case RECV_F_CHAT_UPDATED:
                match =
                    str_eq(kind, CHAT_NOTE_CHAT_UPDATED) || str_eq(kind, CHAT_NOTE_CHAT_REMOVED);
                break;
            default:
                break;
            }
            if (!match) break;
            if (!cache[s->field]) cache[s->field] = proto_event_new(payload);
            if (cache[s->field] && proto_sub_emit_event(s->ps, cache[s->field]) == 0)
                feed.stats.delivered++;
            break;
        }
        }
    }
    /* the room watches of the chat (typing) or of the user's chats
     * (presence), while c is still held: the last watch ending unpins it */
    if (c->kind == FEED_K_EPH && str_eq(kind, CHAT_EPH_TYPING))
        watch_typing(c->id, uid, gql_obj_get(&v, "isTyping"));
    else if (c->kind == FEED_K_PRESENCE && feed.watched)
        watch_presence(uid, gql_obj_get(&v, "online"), gql_obj_get(&v, "at"));
    c->busy--;
    for (unsigned i = 0; i < RECV_F_COUNT; i++)
        if (cache[i]) proto_event_release(cache[i]);
    cd_arena_free(&a);
    chan_sweep(c);
}

/* The chat id of an eph channel name (chat:<id>:eph, or chat:{<id>}:eph
 * with hash tags) in id, or false. */
static bool eph_chat_id(const char *name, size_t len, char id[FEED_ID_MAX])
{
    size_t pl = sizeof CHAT_EV_CHAT_PREFIX - 1, sl = sizeof CHAT_EV_EPH_SUFFIX - 1;
    if (len <= pl + sl || memcmp(name, CHAT_EV_CHAT_PREFIX, pl) ||
        memcmp(name + len - sl, CHAT_EV_EPH_SUFFIX, sl))
        return false;
    const char *p = name + pl;
    size_t n = len - pl - sl;
    if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
        p++;
        n -= 2;
    }
    if (n == 0 || n >= FEED_ID_MAX) return false;
    memcpy(id, p, n);
    id[n] = 0;
    char check[CHAT_EV_CHANNEL_MAX];
    return chat_ev_eph_channel(check, sizeof check, id) == 0 && strcmp(check, name) == 0;
}

/* A message on the typing channel of a watched chat that has no GraphQL
 * typing subscriber here: to the chat's room watches. */
static void on_watch_eph(const char *chat_id, const char *data, size_t len)
{
    cd_arena a;
    cd_arena_init(&a, FEED_SCRATCH_BLOCK);
    gql_value v;
    char err[64];
    if (gql_json_parse(&a, data, len, &v, err, sizeof err) == 0 && v.kind == GQL_V_OBJECT &&
        str_eq(gql_obj_get(&v, "kind"), CHAT_EPH_TYPING))
        watch_typing(chat_id, gql_obj_get(&v, "userId"), gql_obj_get(&v, "isTyping"));
    cd_arena_free(&a);
}

static void hook_message(void *ud, const char *ch, size_t chlen, const char *data, size_t len)
{
    char name[CHAT_EV_CHANNEL_MAX], id[FEED_ID_MAX];
    feed_chan *c = NULL;
    if (chlen < sizeof name) {
        memcpy(name, ch, chlen);
        name[chlen] = 0;
        c = chan_find(name);
    }
    (void)ud;
    if (!c && chlen < sizeof name && eph_chat_id(name, chlen, id) && chan_watched(id)) {
        on_watch_eph(id, data, len);
        return;
    }
    if (!c) return; /* no local subscriber (any more) */
    if (c->kind == FEED_K_CHAT)
        on_chat_message(c, data, len);
    else
        on_plain_message(c, data, len);
}

static void hook_subscribed(void *ud, const char *ch, size_t chlen)
{
    (void)ud;
    char name[CHAT_EV_CHANNEL_MAX];
    feed_chan *c = NULL;
    if (chlen < sizeof name) {
        memcpy(name, ch, chlen);
        name[chlen] = 0;
        c = chan_find(name);
    }
    if (!c) return;
    c->confirmed = true;
    if (c->kind == FEED_K_CHAT) chan_pump(c, true);
    if (c->kind != FEED_K_USER) return;
    /* per-user streams look their chats up once notifications of joins
     * reach this process; after a re-subscribe, again (joins announced
     * while the broker was away) */
    c->busy++;
    for (feed_sub *s = c->subs; s; s = s->next)
        if (!s->dead && s->ready && field_is_derived(s->field)) head_lookup(s);
    c->busy--;
    chan_sweep(c);
}

/* ---- subscription sources ---- */

static const char *field_arg(recv_field f)
{
    switch (f) {
    case RECV_F_MESSAGE_READ_UPDATED:
        return "messageId";
    case RECV_F_CHAT_MESSAGE_NOTIFICATION:
    case RECV_F_MESSAGE_UPDATE_FOR_CHAT_LIST:
    case RECV_F_CHAT_ADDED:
    case RECV_F_CHAT_UPDATED:
    case RECV_F_UNREAD_COUNT_UPDATED:
        return "userId";
    default:
        return "chatId";
    }
}

static bool field_is_user(recv_field f)
{
    return strcmp(field_arg(f), "userId") == 0;
}

static void start_flush(uv_timer_t *t);

/* afterSeqs of a per-user stream: [{chatId, seq}], at most
 * RECV_AFTER_SEQS_MAX entries, kept on the head until its first lookup. */
static int parse_afters(feed_sub *s, const gql_value *args, const char **code, char *err,
                        size_t errlen)
{
    const gql_value *l = args ? gql_obj_get(args, "afterSeqs") : NULL;
    if (!l || l->kind != GQL_V_LIST || l->len == 0) return 0;
    if (l->len > RECV_AFTER_SEQS_MAX) {
        *code = CHAT_E_BAD_INPUT;
        snprintf(err, errlen, "afterSeqs has too many entries (at most %u)", RECV_AFTER_SEQS_MAX);
        return CD_EBAD;
    }
    s->u.st->afters = cd_calloc(l->len, sizeof *s->u.st->afters);
    if (!s->u.st->afters) {
        *code = CHAT_E_INTERNAL;
        snprintf(err, errlen, "Out of memory");
        return CD_ENOMEM;
    }
    for (uint32_t i = 0; i < l->len; i++) {
        const gql_value *e = &l->u.items[i];
        const char *chat = chat_str_in(e, "chatId", NULL);
        const gql_value *seq = e->kind == GQL_V_OBJECT ? gql_obj_get(e, "seq") : NULL;
        if (!chat || !cd_uuid_valid(chat, strlen(chat))) {
            *code = CHAT_E_BAD_INPUT;
            snprintf(err, errlen, "afterSeqs[%u].chatId must be a UUID", i);
            return CD_EBAD;
        }
        if (!seq || seq->kind != GQL_V_INT || seq->u.i < 0) {
            *code = CHAT_E_BAD_INPUT;
            snprintf(err, errlen, "afterSeqs[%u].seq must not be negative", i);
            return CD_EBAD;
        }
        snprintf(s->u.st->afters[i].chat, sizeof s->u.st->afters[i].chat, "%s", chat);
        s->u.st->afters[i].seq = seq->u.i;
    }
    s->u.st->nafters = l->len;
    return 0;
}

static int src_start(proto_sub *ps, const gql_value *args, const proto_caller *caller, void *ud,
                     void **state, const char **code, char *err, size_t errlen)
{
    recv_field f = (recv_field)(intptr_t)ud;
    proto_server *srv = feed.srv;
    const char *an = field_arg(f);
    const char *id = chat_str_in(args, an, NULL);
    if (!id || !cd_uuid_valid(id, strlen(id))) {
        *code = CHAT_E_BAD_INPUT;
        snprintf(err, errlen, "%s must be a UUID", an);
        return CD_EBAD;
    }
    const char *uid = caller && caller->user_id ? caller->user_id : "";
    bool trust = caller && caller->trust;
    /* trust mode: a user-id that is not a UUID identifies nobody */
    if (trust && !cd_uuid_valid(uid, strlen(uid))) uid = "";
    if (uid[0] && chat_token_revoked(caller)) uid = ""; /* revoked or removed: JWT still verifies */
    if (!trust && (!caller || !caller->authenticated || !uid[0])) {
        *code = CHAT_E_UNAUTHENTICATED;
        snprintf(err, errlen, "Authentication required");
        return CD_EBAD;
    }
    /* a token whose subject is not a user id is nobody's participant */
    if (!trust && !field_is_user(f) && !cd_uuid_valid(uid, strlen(uid))) {
        *code = CHAT_E_FORBIDDEN;
        snprintf(err, errlen, "Forbidden: not a participant of this chat");
        return CD_EBAD;
    }
    feed_sub *s = cd_pool_calloc(sizeof *s);
    if (!s) {
        *code = CHAT_E_INTERNAL;
        snprintf(err, errlen, "Out of memory");
        return CD_ENOMEM;
    }
    s->ps = ps;
    s->field = f;
    s->last = -1; /* no afterSeq */
    sub_set_user(s, uid);
    uuid_pack(&s->arg, id);
    const gql_value *after = args ? gql_obj_get(args, "afterSeq") : NULL;
    if (after && after->kind == GQL_V_INT) {
        if (after->u.i < 0) {
            cd_pool_free(s);
            *code = CHAT_E_BAD_INPUT;
            snprintf(err, errlen, "afterSeq must not be negative");
            return CD_EBAD;
        }
        s->last = after->u.i;
    }
    if (field_is_user(f)) {
        /* a user's own channel only for that user (trust mode: the argument
         * identifies the caller, as in the seed) */
        if (!trust && strcmp(uid, id) != 0) {
            cd_pool_free(s);
            *code = CHAT_E_FORBIDDEN;
            snprintf(err, errlen, "Forbidden: subscribe to another user's notifications");
            return CD_EBAD;
        }
        if (trust && !s->has_user) sub_set_user(s, id);
        s->last = 0; /* (no start lookup: not an afterSeq) */
        if (field_is_derived(f)) {
            s->u.st = cd_calloc(1, sizeof *s->u.st);
            if (!s->u.st) {
                sub_free(s);
                *code = CHAT_E_INTERNAL;
                snprintf(err, errlen, "Out of memory");
                return CD_ENOMEM;
            }
            int r = parse_afters(s, args, code, err, errlen);
            if (r != 0) {
                sub_free(s);
                return r;
            }
            if (!chat_pool(srv)) {
                sub_free(s);
                *code = CHAT_E_UNAVAILABLE;
                snprintf(err, errlen, "Database unavailable");
                return CD_EUNAVAIL;
            }
        }
        feed_chan *c = chan_get(srv, FEED_K_USER, id);
        if (!c) {
            sub_free(s);
            *code = chan_err_code();
            snprintf(err, errlen, "%s", chan_err_msg());
            return feed.chan_err == CD_ENOMEM ? CD_ENOMEM : CD_EUNAVAIL;
        }
        sub_attach(s, c);
        *state = s;
        /* derived streams look the user's chats up once joins announced on
         * user:<id> reach us (hook_subscribed), or now if they already do */
        if (field_is_derived(f) && (c->confirmed || !srv->rd)) head_lookup(s);
        return 0;
    }
    pg_pool *p = chat_pool(srv);
    if (!p) {
        cd_pool_free(s);
        *code = CHAT_E_UNAVAILABLE;
        snprintf(err, errlen, "Database unavailable");
        return CD_EUNAVAIL;
    }
    (void)p;
    /* the lookup is batched with the others of this loop iteration */
    int q = f == RECV_F_MESSAGE_READ_UPDATED;
    if (feed.q_tail[q])
        feed.q_tail[q]->qnext = s;
    else
        feed.q_head[q] = s;
    feed.q_tail[q] = s;
    s->querying = true;
    start_arm();
    *state = s;
    return 0;
}

/* Arms the zero-delay timer that sends the lookups queued in this loop
 * iteration. */
static void start_arm(void)
{
    if (feed.srv)
        feed_timer_arm(&feed.start, feed.srv->loop, start_flush, feed.test_look_delay_ms,
                       FEED_TIMER_KEEP_LOOP);
}

/* Finishes one subscribe lookup: row `row` of r (-1: no row = not found).
 * Columns of recv_sub_chat / recv_sub_msg: ordinal, last_seq, is_active,
 * member, joined_seq, oldest retained seq, id list, [chat_id, msg seq]. */
static void start_row(feed_sub *s, const pg_result *r, int row)
{
    s->querying = false;
    if (s->dead) { /* stopped meanwhile */
        sub_free(s);
        return;
    }
    bool is_msg = s->field == RECV_F_MESSAGE_READ_UPDATED;
    if (row < 0) {
        char m[96];
        char ab[FEED_UUID_BUF];
        snprintf(m, sizeof m, "%s %s not found", is_msg ? "Message" : "Chat", sub_arg(s, ab));
        sub_end(s, CHAT_E_NOT_FOUND, m);
        sub_free(s);
        return;
    }
    const char *ls = pg_result_get(r, row, 1);
    int64_t last_seq = ls ? strtoll(ls, NULL, 10) : 0;
    const char *active = pg_result_get(r, row, 2);
    const char *member = pg_result_get(r, row, 3);
    const char *js = pg_result_get(r, row, 4);
    int64_t joined = js ? strtoll(js, NULL, 10) : 0; /* the history floor - 1 */
    s->floor = joined + 1;
    const char *oldest = pg_result_get(r, row, 5);
    const char *ids = pg_result_get(r, row, 6);
    if (s->has_user && !(member && member[0] == 't')) {
        sub_end(s, CHAT_E_FORBIDDEN, "Forbidden: not a participant of this chat");
        sub_free(s);
        return;
    }
    if (!(active && active[0] == 't')) {
        sub_end(s, CHAT_E_CHAT_REMOVED, "Chat was removed");
        sub_free(s);
        return;
    }
    char ab[FEED_UUID_BUF];
    const char *chat_id = sub_arg(s, ab);
    feed_kind kind = s->field == RECV_F_TYPING             ? FEED_K_EPH
                     : s->field == RECV_F_PRESENCE_UPDATED ? FEED_K_PRESENCE
                                                           : FEED_K_CHAT;
    if (is_msg) {
        chat_id = pg_result_get(r, row, 7);
        s->u.rd.msg_seq = strtoll(pg_result_get(r, row, 8), NULL, 10);
    }
    if (is_msg || s->field == RECV_F_PRESENCE_UPDATED) {
        size_t n = ids ? strlen(ids) : 0;
        s->u.rd.others = cd_malloc(n + 3);
        if (!s->u.rd.others) {
            sub_end(s, CHAT_E_INTERNAL, "Out of memory");
            sub_free(s);
            return;
        }
        snprintf(s->u.rd.others, n + 3, ",%s,", ids ? ids : "");
    }
    /* replay from the log (afterSeq) or live from the chat's seq */
    int64_t after = s->last;
    if (recv_replay_start(after, joined, oldest ? strtoll(oldest, NULL, 10) : -1, last_seq,
                          &s->last) != 0) {
        sub_end(s, CHAT_E_RESYNC,
                "afterSeq is older than the retained event log; refetch the history");
        sub_free(s);
        return;
    }
    feed_chan *c = chan_get(feed.srv, kind, chat_id);
    if (!c) {
        sub_end(s, chan_err_code(), chan_err_msg());
        sub_free(s);
        return;
    }
    if (last_seq > c->known) c->known = last_seq;
    sub_attach(s, c);
    if (s->field == RECV_F_ROOM && (!c->members || last_seq >= c->members_seq)) {
        /* the participants at last_seq; later membership events update it */
        size_t n = ids ? strlen(ids) : 0;
        char *m = cd_malloc(n + 3);
        if (m) {
            snprintf(m, n + 3, ",%s,", ids ? ids : "");
            cd_free(c->members);
            c->members = m;
            c->members_seq = last_seq;
        }
    }
    if (kind == FEED_K_CHAT) chan_pump(c, false);
}

typedef struct start_batch {
    unsigned n;
    feed_sub *subs[FEED_START_BATCH];
} start_batch;

static void trim_fire(uv_timer_t *t)
{
    feed_timer_fired(t);
    feed.trim_starts = 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* n subscribe lookups answered: (re)arms the trim once a burst's worth. */
static void trim_after_starts(unsigned n)
{
    feed.trim_starts += n;
    if (feed.trim_starts < FEED_TRIM_MIN_STARTS || !feed.srv) return;
    feed_timer_arm(&feed.trim, feed.srv->loop, trim_fire, FEED_TRIM_DELAY_MS, FEED_TIMER_RESTART);
}

static void on_start_rows(const pg_result *r, void *ud)
{
    start_batch *b = ud;
    int rows = r->status == 0 ? pg_result_rows(r) : 0;
    if (r->status != 0) cd_warn("receiver", "subscribe lookup: %s", r->message);
    /* rows come back keyed by ordinal; a sub without a row is not found */
    int *row_of = cd_calloc(b->n + 1, sizeof *row_of);
    for (unsigned i = 0; i <= b->n && row_of; i++)
        row_of[i] = -1;
    for (int i = 0; i < rows && row_of; i++) {
        long k = strtol(pg_result_get(r, i, 0), NULL, 10);
        if (k >= 1 && k <= (long)b->n) row_of[k - 1] = i;
    }
    for (unsigned i = 0; i < b->n; i++) {
        feed_sub *s = b->subs[i];
        if (r->status != 0 || !row_of) {
            s->querying = false;
            if (!s->dead) sub_end(s, CHAT_E_UNAVAILABLE, "Database unavailable, try again");
            sub_free(s);
            continue;
        }
        start_row(s, r, row_of[i]);
    }
    trim_after_starts(b->n);
    cd_free(row_of);
    cd_free(b);
}

/* Sends the queued subscribe lookups: one statement per kind and
 * FEED_START_BATCH subscriptions, with the ids as arrays. */
static void start_flush(uv_timer_t *t)
{
    feed_timer_fired(t);
    for (int q = 0; q < 2; q++) {
        while (feed.q_head[q]) {
            start_batch *b = cd_malloc(sizeof *b);
            cd_buf ids, users, want;
            cd_buf_init(&ids);
            cd_buf_init(&users);
            cd_buf_init(&want);
            if (!b) { /* out of memory: every queued lookup of this kind fails */
                while (feed.q_head[q]) {
                    feed_sub *s = feed.q_head[q];
                    feed.q_head[q] = s->qnext;
                    s->querying = false;
                    if (!s->dead) sub_end(s, CHAT_E_INTERNAL, "Out of memory");
                    sub_free(s);
                }
                feed.q_tail[q] = NULL;
                break;
            }
            b->n = 0;
            while (feed.q_head[q] && b->n < FEED_START_BATCH) {
                feed_sub *s = feed.q_head[q];
                feed.q_head[q] = s->qnext;
                if (!feed.q_head[q]) feed.q_tail[q] = NULL;
                s->qnext = NULL;
                if (s->dead) { /* stopped before its lookup was sent */
                    sub_free(s);
                    continue;
                }
                const char *sep = b->n ? "," : "{";
                char ab[FEED_UUID_BUF], ub[FEED_UUID_BUF];
                cd_buf_printf(&ids, "%s%s", sep, sub_arg(s, ab));
                cd_buf_printf(&users, "%s%s", sep, s->has_user ? sub_user(s, ub) : "NULL");
                cd_buf_printf(&want, "%s%s", sep,
                              s->field == RECV_F_PRESENCE_UPDATED || s->field == RECV_F_ROOM ? "t"
                                                                                             : "f");
                b->subs[b->n++] = s;
            }
            cd_buf_putc(&ids, '}');
            cd_buf_putc(&users, '}');
            cd_buf_putc(&want, '}');
            cd_buf_putc(&ids, 0);
            cd_buf_putc(&users, 0);
            cd_buf_putc(&want, 0);
            pg_pool *p = chat_pool(feed.srv);
            if (b->n > 0 && p && !cd_buf_failed(&ids) && !cd_buf_failed(&users) &&
                !cd_buf_failed(&want)) {
                const char *params[] = {ids.data, users.data, want.data};
                if (pg_pool_query(p, q ? "recv_sub_msg" : "recv_sub_chat", q ? 2 : 3, params,
                                  on_start_rows, b) == 0)
                    b = NULL; /* owned by the callback */
            }
            cd_buf_free(&ids);
            cd_buf_free(&users);
            cd_buf_free(&want);
            if (!b) continue;
            for (unsigned i = 0; i < b->n; i++) {
                feed_sub *s = b->subs[i];
                s->querying = false;
                if (!s->dead) sub_end(s, CHAT_E_UNAVAILABLE, "Database unavailable, try again");
                sub_free(s);
            }
            cd_free(b);
        }
    }
    look_flush();
}

static void src_stop(void *state, void *ud)
{
    (void)ud;
    feed_sub *s = state;
    if (!s) return;
    s->ps = NULL;
    if (s->field == RECV_F_ROOM) s->u.w.ops = NULL;
    if (s->dead) return;
    s->dead = true;
    head_drop_legs(s);
    if (s->querying) return; /* start_row frees it */
    feed_chan *c = s->ch;
    if (!c) {
        sub_free(s);
        return;
    }
    c->has_dead = true;
    chan_sweep(c);
}

/* ---- room watches (chat.h) ---- */

int chat_watch_start(proto_server *srv, const proto_caller *caller, const char *chat_id,
                     int64_t after_seq, const chat_watch_ops *ops, void *ud, chat_watch **out,
                     const char **code)
{
    *out = NULL;
    *code = NULL;
    if (!feed.srv) {
        *code = CHAT_E_UNAVAILABLE;
        return CD_EUNAVAIL;
    }
    if (!chat_id || !cd_uuid_valid(chat_id, strlen(chat_id))) {
        *code = CHAT_E_BAD_INPUT;
        return CD_EBAD;
    }
    const char *uid = caller && caller->user_id ? caller->user_id : "";
    bool trust = caller && caller->trust;
    if (trust && !cd_uuid_valid(uid, strlen(uid))) uid = "";
    if (uid[0] && chat_token_revoked(caller)) uid = "";
    if (!trust && (!caller || !caller->authenticated || !uid[0])) {
        *code = CHAT_E_UNAUTHENTICATED;
        return CD_EBAD;
    }
    if (!trust && !cd_uuid_valid(uid, strlen(uid))) {
        *code = CHAT_E_FORBIDDEN;
        return CD_EBAD;
    }
    if (!chat_pool(srv)) {
        *code = CHAT_E_UNAVAILABLE;
        return CD_EUNAVAIL;
    }
    feed_sub *s = cd_pool_calloc(sizeof *s);
    if (!s) {
        *code = CHAT_E_INTERNAL;
        return CD_ENOMEM;
    }
    s->field = RECV_F_ROOM;
    s->last = after_seq < 0 ? -1 : after_seq;
    s->u.w.ops = ops;
    s->u.w.ud = ud;
    sub_set_user(s, uid);
    uuid_pack(&s->arg, chat_id);
    /* the lookup is batched with the others of this loop iteration */
    if (feed.q_tail[0])
        feed.q_tail[0]->qnext = s;
    else
        feed.q_head[0] = s;
    feed.q_tail[0] = s;
    s->querying = true;
    feed_timer_arm(&feed.start, srv->loop, start_flush, feed.test_look_delay_ms,
                   FEED_TIMER_KEEP_LOOP);
    *out = (chat_watch *)s;
    return 0;
}

void chat_watch_stop(chat_watch *w)
{
    if (w) src_stop((feed_sub *)w, NULL);
}

/* ---- statements and binding ---- */

static const chat_stmt feed_stmts[] = {
    {"recv_sub_chat",
     "SELECT k.i, c.last_seq, c.is_active, (p.user_id IS NOT NULL AND p.left_seq IS NULL),"
     " coalesce(chatd_visible_from(c.id, k.usr), 1) - 1,"
     " (SELECT min(e.seq) FROM chat_events e WHERE e.chat_id = c.id),"
     " CASE WHEN k.want THEN (SELECT string_agg(q.user_id::text, ',') FROM chat_participants q"
     "   WHERE q.chat_id = c.id AND q.left_seq IS NULL) END"
     " FROM unnest($1::uuid[], $2::uuid[], $3::bool[]) WITH ORDINALITY AS k(chat, usr, want, i)"
     " JOIN chats c ON c.id = k.chat"
     " LEFT JOIN chat_participants p ON p.chat_id = c.id AND p.user_id = k.usr",
     3},
    {"recv_sub_msg",
     "SELECT k.i, c.last_seq, c.is_active, (p.user_id IS NOT NULL AND p.left_seq IS NULL),"
     " coalesce(chatd_visible_from(m.chat_id, k.usr), 1) - 1, NULL::bigint,"
     " (SELECT string_agg(q.user_id::text, ',') FROM chat_participants q"
     "   WHERE q.chat_id = m.chat_id AND q.left_seq IS NULL AND q.user_id <> m.sender_id"
     "     AND q.last_read_seq < m.seq),"
     " m.chat_id::text, m.seq"
     " FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS k(msg, usr, i)"
     " JOIN messages m ON m.id = k.msg AND m.deleted_at IS NULL"
     "   AND m.seq >= coalesce(chatd_visible_from(m.chat_id, k.usr), 0)"
     " JOIN chats c ON c.id = m.chat_id"
     " LEFT JOIN chat_participants p ON p.chat_id = m.chat_id AND p.user_id = k.usr",
     2},
    /* per-user streams' chats, for up to FEED_LOOK_BATCH users at once
     * (ordinal first, rows ordered by it): the state of each chat at one
     * snapshot (the count is consistent with last_seq: every change of a
     * chat bumps it); want = compute the unread count */
    {"recv_sub_users",
     "SELECT k.i, c.id::text, c.last_seq, p.joined_seq, greatest(p.last_read_seq, p.joined_seq),"
     " (SELECT min(e.seq) FROM chat_events e WHERE e.chat_id = c.id),"
     " CASE WHEN k.want THEN chatd_unread_above(c.id, p.user_id,"
     "   greatest(p.last_read_seq, p.joined_seq)) END,"
     " chatd_visible_from(c.id, p.user_id)"
     " FROM unnest($1::uuid[], $2::bool[]) WITH ORDINALITY AS k(usr, want, i)"
     " JOIN chat_participants p ON p.user_id = k.usr AND p.left_seq IS NULL"
     " JOIN chats c ON c.id = p.chat_id AND c.is_active"
     " ORDER BY k.i",
     2},
    {"recv_fill",
     "SELECT seq, kind, chatd_ts(created_at), payload::text FROM chat_events"
     " WHERE chat_id = $1::uuid AND seq > $2::bigint ORDER BY seq LIMIT $3::int",
     3},
};

static void feed_shutdown(proto_server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    /* every subscription has been stopped by now (WebSockets drained):
     * lookups still queued belong to dead subscriptions */
    for (int q = 0; q < 2; q++) {
        while (feed.q_head[q]) {
            feed_sub *s = feed.q_head[q];
            feed.q_head[q] = s->qnext;
            if (!s->dead) sub_end(s, CHAT_E_UNAVAILABLE, "Server shutting down");
            sub_free(s);
        }
        feed.q_tail[q] = NULL;
    }
    while (feed.q_head[FEED_Q_HEADS]) {
        feed_sub *h = feed.q_head[FEED_Q_HEADS];
        feed.q_head[FEED_Q_HEADS] = h->qnext;
        h->qnext = NULL;
        look_fail(h, CHAT_E_UNAVAILABLE, "Server shutting down");
    }
    feed.q_tail[FEED_Q_HEADS] = NULL;
    feed_timer_close(&feed.trim);
    feed.trim_starts = 0;
    feed_timer_close(&feed.start);
    feed_timer_close(&feed.sweep);
    feed_timer_close(&feed.note);
    feed_timer_close(&feed.retry);
}

int recv_feed_bind(proto_server *srv)
{
    static const struct {
        const char *field;
        recv_field f;
    } fields[] = {
        {"messageAdded", RECV_F_MESSAGE_ADDED},
        {"messageUpdated", RECV_F_MESSAGE_UPDATED},
        {"messageDeleted", RECV_F_MESSAGE_DELETED},
        {"chatEvents", RECV_F_CHAT_EVENTS},
        {"messageReadUpdated", RECV_F_MESSAGE_READ_UPDATED},
        {"typing", RECV_F_TYPING},
        {"presenceUpdated", RECV_F_PRESENCE_UPDATED},
        {"chatMessageNotification", RECV_F_CHAT_MESSAGE_NOTIFICATION},
        {"messageUpdateForChatList", RECV_F_MESSAGE_UPDATE_FOR_CHAT_LIST},
        {"chatAdded", RECV_F_CHAT_ADDED},
        {"chatUpdated", RECV_F_CHAT_UPDATED},
        {"unreadCountUpdated", RECV_F_UNREAD_COUNT_UPDATED},
    };
    feed.srv = srv;
    const char *tmax = getenv("CHATD_TEST_FEED_CHANNELS");
    if (tmax && *tmax && srv->cfg && srv->cfg->test_fixtures) {
        long v = strtol(tmax, NULL, 10);
        if (v >= 1 && v <= RD_MAX_CHANNELS) {
            feed.test_chans_max = (unsigned)v;
            cd_warn("receiver", "CHATD_TEST_FEED_CHANNELS=%ld: channel limit lowered (test hook)",
                    v);
        }
    }
    const char *tdelay = getenv("CHATD_TEST_LOOKUP_DELAY_MS");
    if (tdelay && *tdelay && srv->cfg && srv->cfg->test_fixtures) {
        long v = strtol(tdelay, NULL, 10);
        if (v >= 1 && v <= FEED_TEST_LOOK_DELAY_MAX) {
            feed.test_look_delay_ms = (unsigned)v;
            cd_warn("receiver", "CHATD_TEST_LOOKUP_DELAY_MS=%ld: lookups delayed (test hook)", v);
        }
    }
    int r;
    for (unsigned i = 0; i < CD_ARRAY_LEN(fields); i++) {
        r = proto_sub_register(fields[i].field, src_start, src_stop, (void *)(intptr_t)fields[i].f);
        if (r != 0 && r != CD_EEXIST) return r;
    }
    r = chat_stmts_add(feed_stmts, CD_ARRAY_LEN(feed_stmts));
    if (r != 0) return r;
    r = proto_on_shutdown(srv, feed_shutdown, NULL);
    if (r != 0) return r;
    r = cd_metrics_add_section(recv_feed_metrics_render, NULL);
    if (r != 0) return r;
    static const char *const prefixes[] = {CHAT_EV_CHAT_PREFIX, CHAT_EV_USER_PREFIX,
                                           CHAT_EV_PRESENCE_CHANNEL};
    for (unsigned i = 0; i < CD_ARRAY_LEN(prefixes); i++) {
        r = rd_route_add(&srv->rd_routes, prefixes[i], hook_message, hook_subscribed, NULL, srv);
        if (r != 0 && r != CD_EEXIST) return r;
    }
    return 0;
}
