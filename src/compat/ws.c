/*
 * ws.c — the seed-003 WebSocket event API on /ws (compat_internal.h,
 * docs/api.md). Messages are JSON {"type","payload"}.
 *
 * Client → server: auth (first message, when the upgrade carried no
 * token), joinRoom {roomId | targetUserId}, leaveRoom {roomId},
 * sendMessage {roomId, content, type, metadata, clientId}, typing {roomId,
 * isTyping}, markRead {roomId, sequenceId}.
 * Server → client: connected, roomJoined, roomLeft, message,
 * messageUpdated, messageDeleted, read, delivered, presenceUpdate, typing, messageSent,
 * readMarked, error {code, message, event, roomId}.
 *
 * Writes and one-shot reads run as fixed GraphQL operations in-process
 * (compat_gql) with this connection's caller: the same resolvers, authz,
 * transaction, seq, outbox and publish as a GraphQL client's. Live events
 * come from ONE receiver subscription per joined room (chat_watch_start,
 * chat.h): the chat's log events with the receiver's exactly-once,
 * per-chat-seq delivery (the chatEvents rules), plus the room's typing and
 * its participants' presence; each is written as the seed's event JSON
 * straight from the delivered event (no GraphQL execution, no re-parse).
 * joinRoom answers roomJoined with the newest COMPAT_JOIN_MESSAGES messages
 * first and then starts the watch with afterSeq = the newest seq it
 * returned, so the live stream continues with no gap and no duplicate.
 * The connection embeds a graphql-transport-ws connection (proto_ws_attach)
 * that runs no operation: it gives the socket the shared heartbeat (ping
 * after ws_ping_ms of silence, close 4504 after twice that), the per-user
 * WebSocket cap, the token-expiry close and the drain. Closing stops the
 * watches, which updates presence.
 *
 * Ownership: a cws_conn is heap memory with a reference count: 1 while the
 * socket is open, 1 per in-flight or waiting compat_gql, 1 while the auth
 * timer handle (allocated only while waiting for auth) is open. Rooms are a heap
 * list owned by the conn; a room's watch is stopped when the room is left
 * or the socket closes, and forgotten when the watch ends (w_end). Memory
 * per connection with one joined room: the net layer's ws_conn, the
 * embedded gqlws_conn, the cws_conn, one cws_room and one feed_sub; the
 * room's participant names (cws_names) are shared by every connection of
 * this process that joined it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "auth/auth.h"
#include "chat/chat.h"
#include "compat/compat_internal.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pool.h"

/* ---- returning a join burst's scratch memory ----
 * A joinRoom runs a whole GraphQL query (room, newest messages, online
 * users); a burst of them (clients reconnecting after a restart) leaves
 * freed heap pages scattered below live connection state, which glibc keeps
 * resident. COMPAT_TRIM_DELAY_MS after the last join of a burst answered,
 * malloc_trim hands those pages back to the kernel (once per burst; not
 * built without glibc). */
static struct {
    uv_timer_t timer;
    bool init;
} trim;

#ifdef __GLIBC__
static void trim_fire(uv_timer_t *t)
{
    CD_UNUSED(t);
    malloc_trim(0);
}
#endif

static void trim_shutdown(proto_server *srv, void *ud)
{
    CD_UNUSED(srv);
    CD_UNUSED(ud);
    if (!trim.init) return;
    trim.init = false;
    uv_timer_stop(&trim.timer);
    uv_close((uv_handle_t *)&trim.timer, NULL);
}

/* A join answered: (re)arm the trim. */
static void trim_after_join(proto_server *srv)
{
#ifdef __GLIBC__
    if (!trim.init) {
        if (proto_on_shutdown(srv, trim_shutdown, NULL) != 0) return;
        uv_timer_init(srv->loop, &trim.timer);
        uv_unref((uv_handle_t *)&trim.timer);
        trim.init = true;
    }
    uv_timer_start(&trim.timer, trim_fire, COMPAT_TRIM_DELAY_MS, 0);
#else
    CD_UNUSED(srv);
    CD_UNUSED(trim_shutdown);
#endif
}

/* The joinRoom query: the room, its newest messages, who is online. */
#define CWS_JOIN_QUERY                                                                             \
    "query($c:ID!,$l:Int){chat(id:$c){" COMPAT_ROOM_FIELDS                                         \
    "} messages(chatId:$c,limit:$l){" COMPAT_MSG_FIELDS "} onlineUsers(chatId:$c){id}}"

/* ---- join admission ----
 * At most COMPAT_JOINS_RUNNING join queries of this process run at once;
 * the others wait in arrival order (a small cws_req each). A join's
 * execution holds tens of KiB (its rows, the result tree, the roomJoined
 * text): a burst of them all at once (clients reconnecting after a restart)
 * grows the heap by that much per join, and the rooms' long-lived state
 * allocated meanwhile stays scattered over it, keeping its pages resident
 * after the burst. Joins are bound by the database pool anyway. */
static struct {
    struct cws_req *head, *tail; /* waiting joins */
    unsigned running;            /* join queries in flight */
    unsigned waiting;
    unsigned running_max; /* high-water mark of `running` (metrics) */
    uint64_t waited;      /* joins that waited for a slot (metrics) */
    bool hooked;          /* shutdown hook registered */
} joins;

static void join_started(void)
{
    if (++joins.running > joins.running_max) joins.running_max = joins.running;
}

static void joins_next(void);
static void joins_shutdown(proto_server *srv, void *ud);

static void joins_metrics(cd_buf *b, void *ud)
{
    CD_UNUSED(ud);
    cd_metrics_value(b, "chatd_compat_joins_running", "gauge",
                     "Seed-003 joinRoom queries running (at most COMPAT_JOINS_RUNNING).",
                     joins.running);
    cd_metrics_value(b, "chatd_compat_joins_running_max", "gauge",
                     "Most seed-003 joinRoom queries that ran at once since start.",
                     joins.running_max);
    cd_metrics_value(b, "chatd_compat_joins_waiting", "gauge",
                     "Seed-003 joinRoom requests waiting for a running slot.", joins.waiting);
    cd_metrics_value(b, "chatd_compat_joins_waited_total", "counter",
                     "Seed-003 joinRoom requests that waited for a running slot.", joins.waited);
}

int compat_ws_bind(void)
{
    return cd_metrics_add_section(joins_metrics, NULL);
}

/* A room's participants as "id\0username\0displayName\0"... (typing events
 * and message senders, so live events need no user lookup), shared by every
 * connection of this process that joined the room (reference-counted). */
typedef struct cws_names {
    struct cws_names *next; /* hash chain */
    char *data;             /* cd_malloc'd, exactly len bytes */
    uint32_t refs;
    uint32_t len;
    char id[COMPAT_UUID_LEN + 1]; /* a checked UUID */
} cws_names;
_Static_assert(sizeof(cws_names) <= 64, "cws_names in the pool's 64-byte class");
#define CWS_NAMES_BUCKETS 1024u
static cws_names *names_tab[CWS_NAMES_BUCKETS];

static unsigned names_bucket(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (uint8_t)*id) * 16777619u;
    return h % CWS_NAMES_BUCKETS;
}

static cws_names *names_ref(const char *id)
{
    unsigned b = names_bucket(id);
    for (cws_names *n = names_tab[b]; n; n = n->next)
        if (strcmp(n->id, id) == 0) {
            n->refs++;
            return n;
        }
    cws_names *n = cd_pool_calloc(sizeof *n);
    if (!n) return NULL;
    snprintf(n->id, sizeof n->id, "%s", id);
    n->refs = 1;
    n->next = names_tab[b];
    names_tab[b] = n;
    return n;
}

static void names_unref(cws_names *n)
{
    if (!n || --n->refs) return;
    for (cws_names **pp = &names_tab[names_bucket(n->id)]; *pp; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            break;
        }
    cd_free(n->data);
    cd_pool_free(n);
}

struct cws_conn;

/* A joined room: one receiver subscription (chat_watch) carrying the
 * room's events, typing and presence. */
typedef struct cws_room {
    struct cws_room *next;
    struct cws_conn *c;
    cws_names *names; /* shared participant names; names->id is the room id */
    chat_watch *w;    /* the live subscription (NULL: not joined / ended) */
    bool joined;      /* roomJoined answered and the watch started */
} cws_room;

/* (packed: one per connection; the server is caller.srv) */
typedef struct cws_conn {
    ws_conn *ws;         /* NULL after on_close */
    gqlws_conn *gc;      /* embedded graphql-transport-ws conn, after auth */
    proto_caller caller; /* caller.srv: the server */
    uv_timer_t *timer;   /* auth timeout (allocated only while waiting for auth) */
    cws_room *rooms;
    struct cws_req *wq_head; /* writes waiting for the one in flight */
    double tokens;           /* rate-limit bucket (cfg ws_rate / ws_burst) */
    uint64_t tokens_ms;
    uint32_t refs;
    uint32_t wq_len : 9; /* writes waiting (<= COMPAT_MAX_QUEUED_WRITES) */
    uint32_t nrooms : 7; /* rooms (<= COMPAT_MAX_ROOMS) */
    uint32_t njoins : 7; /* joins waiting or running (<= COMPAT_MAX_PENDING_JOINS) */
    uint32_t authed : 1;
    uint32_t w_busy : 1;  /* a sendMessage / markRead runs */
    proto_session sess[]; /* access log and request id, its text after it */
} cws_conn;
_Static_assert(COMPAT_MAX_QUEUED_WRITES < 512 && COMPAT_MAX_ROOMS < 128 &&
                   COMPAT_MAX_PENDING_JOINS < 128,
               "cws_conn counters");
/* with its proto_session and a generated request id (25 characters): the
 * pool's 208-byte class */
_Static_assert(sizeof(cws_conn) <= 144, "cws_conn in the pool's 208-byte class");

/* One in-flight compat_gql of a conn. */
typedef enum cws_req_kind { Q_JOIN, Q_SEND, Q_READ, Q_TYPING, Q_NAMES } cws_req_kind;
typedef struct cws_req {
    struct cws_req *next; /* write queue */
    char *query;          /* queued writes: the operation and variables */
    char *vars;
    cws_conn *c;
    cws_req_kind kind;
    char room[40];
    char *client_id; /* sendMessage's clientId (echoed in messageSent) */
} cws_req;

static void req_free(struct cws_req *q);

static void conn_unref(cws_conn *c)
{
    if (--c->refs) return;
    while (c->wq_head) {
        struct cws_req *q = c->wq_head;
        c->wq_head = q->next;
        req_free(q);
    }
    while (c->rooms) {
        cws_room *r = c->rooms;
        c->rooms = r->next;
        chat_watch_stop(r->w);
        names_unref(r->names);
        cd_pool_free(r);
    }
    proto_caller_free(&c->caller);
    cd_pool_free(c);
}

static bool open_(const cws_conn *c)
{
    return c->ws && !ws_conn_closing(c->ws);
}

static void send_buf(cws_conn *c, cd_buf *b)
{
    if (!cd_buf_failed(b) && open_(c)) {
        if (ws_conn_write_queue(c->ws) + b->len > c->caller.srv->cfg->ws_max_queued) {
            ws_close(c->ws, GQLWS_CLOSE_SLOW_CONSUMER, "Slow consumer");
        } else if (ws_send_text(c->ws, b->data, b->len) == 0) {
            cd_metrics_g.ws_messages_out++;
            c->sess->msgs_out++;
            c->sess->bytes_out += b->len;
        }
    }
    cd_buf_free(b);
}

static void send_error(cws_conn *c, const char *code, const char *msg, const char *event,
                       const char *room)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"error\",\"payload\":{\"code\":");
    cd_buf_json_str(&b, code, strlen(code));
    cd_buf_puts(&b, ",\"message\":");
    cd_buf_json_str(&b, msg, strlen(msg));
    if (event) {
        cd_buf_puts(&b, ",\"event\":");
        cd_buf_json_str(&b, event, strlen(event));
    }
    if (room) {
        cd_buf_puts(&b, ",\"roomId\":");
        cd_buf_json_str(&b, room, strlen(room));
    }
    cd_buf_puts(&b, "}}");
    send_buf(c, &b);
}

static void now_iso(char *out, size_t len)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    time_t s = (time_t)tv.tv_sec;
    struct tm tm;
    gmtime_r(&s, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%.20s.%03uZ", day, (unsigned)((tv.tv_usec / 1000) % 1000));
}

static cws_room *room_find(cws_conn *c, const char *id)
{
    for (cws_room *r = c->rooms; r; r = r->next)
        if (strcmp(r->names->id, id) == 0) return r;
    return NULL;
}

/* The participant's username (and display name, "" when none), or NULL. */
static const char *room_username(cws_room *r, const char *uid, const char **display)
{
    const char *p = r && r->names ? r->names->data : NULL;
    const char *end = p ? p + r->names->len : NULL;
    while (p && p < end) {
        const char *name = p + strlen(p) + 1;
        if (name >= end) break;
        const char *disp = name + strlen(name) + 1;
        if (disp >= end) break;
        if (strcmp(p, uid) == 0) {
            if (display) *display = disp;
            return name;
        }
        p = disp + strlen(disp) + 1;
    }
    return NULL;
}

/* Drops room r from the connection's list and frees it. */
static void room_forget(cws_conn *c, cws_room *r)
{
    for (cws_room **pp = &c->rooms; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    chat_watch_stop(r->w);
    names_unref(r->names);
    cd_pool_free(r);
    c->nrooms--;
}

static void send_room_left(cws_conn *c, const char *room)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"roomLeft\",\"payload\":{\"roomId\":");
    cd_buf_json_str(&b, room, strlen(room));
    cd_buf_puts(&b, "}}");
    send_buf(c, &b);
}

/* ---- live events: one chat_watch per joined room ----
 * The watch hands over the delivered event itself (kind, seq, the payload
 * OBJECT of the log row or Redis message); the seed's JSON is written from
 * it directly. */

static void refresh_names(cws_conn *c, const char *room);

static void put_member(cd_buf *b, const char *key, const gql_value *o, const char *field)
{
    const gql_value *v = o && o->kind == GQL_V_OBJECT ? gql_obj_get(o, field) : NULL;
    cd_buf_printf(b, ",\"%s\":", key);
    if (v)
        gql_json_write(b, v);
    else
        cd_buf_puts(b, "null");
}

static void w_event(void *ud, const char *kind, int64_t seq, const gql_value *d)
{
    cws_room *r = ud;
    cws_conn *c = r->c;
    const char *room = r->names->id;
    const char *type = NULL;
    if (strcmp(kind, "message.created") == 0)
        type = "message";
    else if (strcmp(kind, "message.updated") == 0)
        type = "messageUpdated";
    else if (strcmp(kind, "message.deleted") == 0)
        type = "messageDeleted";
    bool obj = d && d->kind == GQL_V_OBJECT;
    cd_buf b;
    cd_buf_init(&b);
    if (type && obj) {
        /* the sender from the room's participant list (joinRoom) */
        const char *sid = compat_str(d, "senderId");
        const char *disp = NULL;
        const char *name = sid ? room_username(r, sid, &disp) : NULL;
        gql_kv kv[3];
        gql_value sender = {.kind = GQL_V_OBJECT, .len = 3, .u.fields = kv};
        kv[0] = (gql_kv){.name = "id", .value = gql_str_ref(sid ? sid : "", sid ? strlen(sid) : 0)};
        kv[1] = (gql_kv){.name = "username",
                         .value = name ? gql_str_ref(name, strlen(name)) : gql_null()};
        kv[2] = (gql_kv){.name = "displayName",
                         .value = disp && *disp ? gql_str_ref(disp, strlen(disp)) : gql_null()};
        cd_buf_printf(&b, "{\"type\":\"%s\",\"payload\":", type);
        compat_write_message_as(&b, d, sid ? &sender : NULL);
        cd_buf_puts(&b, "}");
    } else if (strcmp(kind, "reaction") == 0 && obj) {
        cd_buf_puts(&b, "{\"type\":\"reaction\",\"payload\":{\"roomId\":");
        cd_buf_json_str(&b, room, strlen(room));
        put_member(&b, "messageId", d, "id");
        put_member(&b, "userId", d, "userId");
        put_member(&b, "emoji", d, "emoji");
        put_member(&b, "added", d, "added");
        cd_buf_printf(&b, ",\"sequenceId\":%lld}}", (long long)seq);
    } else if (strcmp(kind, "read") == 0) {
        cd_buf_puts(&b, "{\"type\":\"read\",\"payload\":{\"roomId\":");
        cd_buf_json_str(&b, room, strlen(room));
        put_member(&b, "userId", d, "userId");
        put_member(&b, "sequenceId", d, "upToSeq");
        put_member(&b, "readAt", d, "readAt");
        cd_buf_puts(&b, "}}");
    } else if (strcmp(kind, "delivered") == 0) {
        cd_buf_puts(&b, "{\"type\":\"delivered\",\"payload\":{\"roomId\":");
        cd_buf_json_str(&b, room, strlen(room));
        put_member(&b, "userId", d, "userId");
        put_member(&b, "sequenceId", d, "upToSeq");
        put_member(&b, "deliveredAt", d, "deliveredAt");
        cd_buf_puts(&b, "}}");
    } else {
        if (strcmp(kind, "participants.added") == 0) refresh_names(c, room);
        cd_buf_puts(&b, "{\"type\":\"roomEvent\",\"payload\":{\"roomId\":");
        cd_buf_json_str(&b, room, strlen(room));
        cd_buf_puts(&b, ",\"kind\":");
        cd_buf_json_str(&b, kind, strlen(kind));
        cd_buf_printf(&b, ",\"sequenceId\":%lld}}", (long long)seq);
    }
    send_buf(c, &b);
}

static void w_typing(void *ud, const char *uid, bool is_typing)
{
    cws_room *r = ud;
    cws_conn *c = r->c;
    const char *room = r->names->id;
    if (strcmp(uid, c->caller.user_id) == 0) return; /* not one's own */
    const char *name = room_username(r, uid, NULL);
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"typing\",\"payload\":{\"roomId\":");
    cd_buf_json_str(&b, room, strlen(room));
    cd_buf_puts(&b, ",\"userId\":");
    cd_buf_json_str(&b, uid, strlen(uid));
    cd_buf_puts(&b, ",\"username\":");
    if (name)
        cd_buf_json_str(&b, name, strlen(name));
    else
        cd_buf_puts(&b, "null");
    cd_buf_printf(&b, ",\"isTyping\":%s}}", is_typing ? "true" : "false");
    send_buf(c, &b);
}

static void w_presence(void *ud, const char *uid, bool online, const gql_value *last_seen)
{
    cws_room *r = ud;
    cws_conn *c = r->c;
    const char *room = r->names->id;
    char ts[64];
    now_iso(ts, sizeof ts);
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"presenceUpdate\",\"payload\":{\"userId\":");
    cd_buf_json_str(&b, uid, strlen(uid));
    cd_buf_printf(&b, ",\"status\":\"%s\",\"timestamp\":\"%s\",\"roomId\":",
                  online ? "online" : "offline", ts);
    cd_buf_json_str(&b, room, strlen(room));
    cd_buf_puts(&b, ",\"lastSeenAt\":");
    if (last_seen)
        gql_json_write(&b, last_seen);
    else
        cd_buf_puts(&b, "null");
    cd_buf_puts(&b, "}}");
    send_buf(c, &b);
}

/* The stream ended from the server's side: an error (refused, resync)
 * is reported; the room is left (removed from the chat, chat removed). */
static void w_end(void *ud, const char *code, const char *msg)
{
    cws_room *r = ud;
    cws_conn *c = r->c;
    r->w = NULL;
    if (!open_(c)) return;
    if (code) send_error(c, code, msg ? msg : "error", "joinRoom", r->names->id);
    if (r->joined) {
        r->joined = false;
        send_room_left(c, r->names->id);
    }
}

static const chat_watch_ops cws_watch_ops = {
    .on_event = w_event, .on_typing = w_typing, .on_presence = w_presence, .on_end = w_end};

/* The embedded graphql-transport-ws connection runs no operation of its
 * own (the rooms' events come from chat_watch): nothing reaches the tap. */
static int tap(void *ud, const char *data, size_t len)
{
    CD_UNUSED(ud);
    CD_UNUSED(data);
    CD_UNUSED(len);
    return 0;
}

static void subscribe_room(cws_conn *c, cws_room *r, int64_t after)
{
    const char *code = NULL;
    r->joined = true;
    if (chat_watch_start(c->caller.srv, &c->caller, r->names->id, after, &cws_watch_ops, r, &r->w,
                         &code) != 0) {
        r->joined = false;
        r->w = NULL;
        send_error(c, code ? code : "INTERNAL_SERVER_ERROR", "subscription refused", "joinRoom",
                   r->names->id);
    }
}

static void unsubscribe_room(cws_conn *c, cws_room *r)
{
    CD_UNUSED(c);
    r->joined = false;
    chat_watch_stop(r->w);
    r->w = NULL;
}

/* ---- one-shot operations ---- */

/* Caches the participants of a Chat OBJECT for typing events and senders. */
static void set_names(cws_room *r, const gql_value *ch)
{
    const gql_value *ps = gql_obj_get(ch, "participants");
    cd_buf b;
    cd_buf_init(&b);
    for (uint32_t i = 0; ps && ps->kind == GQL_V_LIST && i < ps->len; i++) {
        const char *id = compat_str(&ps->u.items[i], "id");
        const char *nm = compat_str(&ps->u.items[i], "username");
        const char *dn = compat_str(&ps->u.items[i], "displayName");
        if (!id || !nm) continue;
        cd_buf_append(&b, id, strlen(id) + 1);
        cd_buf_append(&b, nm, strlen(nm) + 1);
        cd_buf_append(&b, dn ? dn : "", strlen(dn ? dn : "") + 1);
    }
    char *data = cd_buf_failed(&b) || !b.len || b.len > UINT32_MAX ? NULL : cd_malloc(b.len);
    if (data) {
        memcpy(data, b.data, b.len);
        cd_free(r->names->data);
        r->names->data = data;
        r->names->len = (uint32_t)b.len;
    }
    cd_buf_free(&b);
}

static void req_free(struct cws_req *q)
{
    cd_free(q->client_id);
    cd_free(q->query);
    cd_free(q->vars);
    cd_free(q);
}

static void req_done(const compat_result *res, void *ud);

/* Writes of one connection run one at a time, in the order the client sent
 * them (two sendMessage events get increasing seqs in that order). */
static void write_next(cws_conn *c)
{
    while (!c->w_busy && c->wq_head) {
        struct cws_req *q = c->wq_head;
        c->wq_head = q->next;
        c->wq_len--;
        q->next = NULL;
        if (!open_(c)) {
            req_free(q);
            continue;
        }
        c->w_busy = true;
        c->refs++;
        if (compat_gql(c->caller.srv, &c->caller, q->query, q->vars, req_done, q) != 0) {
            c->w_busy = false;
            c->refs--;
            send_error(c, "INTERNAL_SERVER_ERROR", "out of memory",
                       q->kind == Q_SEND ? "sendMessage" : "markRead", q->room);
            req_free(q);
        }
    }
}

/* roomJoined: the room, its newest messages, unread count and who is
 * online; then the live subscriptions continue after the newest seq. */
static void answer_join(cws_conn *c, cws_req *q, const gql_value *data)
{
    const gql_value *ch = gql_obj_get(data, "chat");
    const gql_value *l = gql_obj_get(data, "messages");
    cws_room *r = room_find(c, q->room);
    if (!r || !ch || ch->kind != GQL_V_OBJECT) {
        send_error(c, "NOT_FOUND", "Room not found", "joinRoom", q->room);
        return;
    }
    uint32_t n = l && l->kind == GQL_V_LIST ? l->len : 0;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"roomJoined\",\"payload\":{\"room\":");
    compat_write_room(&b, ch);
    cd_buf_puts(&b, ",\"messages\":[");
    int64_t after = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i) cd_buf_putc(&b, ',');
        compat_write_message(&b, &l->u.items[i]);
        int64_t s;
        if (compat_int(&l->u.items[i], "seq", &s) && s > after) after = s;
    }
    cd_buf_puts(&b, "],\"unreadCount\":");
    const gql_value *u = gql_obj_get(ch, "unreadCount");
    if (u)
        gql_json_write(&b, u);
    else
        cd_buf_puts(&b, "0");
    /* presence snapshot; presenceUpdate events follow */
    const gql_value *on = gql_obj_get(data, "onlineUsers");
    cd_buf_puts(&b, ",\"onlineUsers\":[");
    for (uint32_t i = 0; on && on->kind == GQL_V_LIST && i < on->len; i++) {
        const char *id = compat_str(&on->u.items[i], "id");
        if (i) cd_buf_putc(&b, ',');
        if (id)
            cd_buf_json_str(&b, id, strlen(id));
        else
            cd_buf_puts(&b, "null");
    }
    cd_buf_puts(&b, "]}}");
    set_names(r, ch);
    send_buf(c, &b);
    if (!r->joined) subscribe_room(c, r, after);
}

static void answer_send(cws_conn *c, cws_req *q, const gql_value *data)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"messageSent\",\"payload\":{\"clientId\":");
    if (q->client_id)
        cd_buf_json_str(&b, q->client_id, strlen(q->client_id));
    else
        cd_buf_puts(&b, "null");
    cd_buf_puts(&b, ",\"message\":");
    compat_write_message(&b, gql_obj_get(data, "createMessage"));
    cd_buf_puts(&b, "}}");
    send_buf(c, &b);
}

static void answer_read(cws_conn *c, cws_req *q, const gql_value *data)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"readMarked\",\"payload\":{\"roomId\":");
    cd_buf_json_str(&b, q->room, strlen(q->room));
    cd_buf_puts(&b, ",\"unreadCount\":");
    gql_json_write(&b, gql_obj_get(data, "markChatAsRead"));
    cd_buf_puts(&b, "}}");
    send_buf(c, &b);
}

static void answer_names(cws_conn *c, cws_req *q, const gql_value *data)
{
    cws_room *r = room_find(c, q->room);
    const gql_value *ch = gql_obj_get(data, "chat");
    if (r && ch && ch->kind == GQL_V_OBJECT) set_names(r, ch);
}

/* Per request kind (cws_req_kind order): the client event it answers (in
 * error messages), whether it is a queued write, whether its failure is
 * reported to the client, and what its result sends (NULL: nothing). */
static const struct cws_req_spec {
    const char *event;
    bool write;
    bool report_errors;
    void (*answer)(cws_conn *c, cws_req *q, const gql_value *data);
} cws_req_specs[] = {
    [Q_JOIN] = {"joinRoom", false, true, answer_join},
    [Q_SEND] = {"sendMessage", true, true, answer_send},
    [Q_READ] = {"markRead", true, true, answer_read},
    [Q_TYPING] = {"typing", false, true, NULL},
    [Q_NAMES] = {"joinRoom", false, false, answer_names},
};

static void req_done(const compat_result *res, void *ud)
{
    cws_req *q = ud;
    cws_conn *c = q->c;
    bool q_join = q->kind == Q_JOIN;
    const struct cws_req_spec *spec = &cws_req_specs[q->kind];
    if (!open_(c) || !c->gc) {
        /* closed meanwhile: nothing to answer */
    } else if (res->err_code || !res->data) {
        if (spec->report_errors)
            send_error(c, res->err_code ? res->err_code : "INTERNAL_SERVER_ERROR",
                       res->err_msg ? res->err_msg : "error", spec->event, q->room);
        cws_room *r = q->kind == Q_JOIN ? room_find(c, q->room) : NULL;
        if (r && !r->joined) room_forget(c, r); /* forget the failed join */
    } else if (spec->answer) {
        spec->answer(c, q, res->data);
    }
    if (spec->write) {
        c->w_busy = false;
        write_next(c);
    }
    if (q->kind == Q_JOIN) {
        joins.running--;
        c->njoins--;
        trim_after_join(c->caller.srv);
    }
    req_free(q);
    conn_unref(c);
    if (q_join) joins_next();
}

static void run_req(cws_conn *c, cws_req_kind kind, const char *room, const char *query,
                    cd_buf *vars, const char *client_id)
{
    const char *event = cws_req_specs[kind].event;
    cws_req *q = cd_calloc(1, sizeof *q);
    cd_buf_putc(vars, '\0');
    if (!q || cd_buf_failed(vars)) {
        cd_free(q);
        cd_buf_free(vars);
        send_error(c, "INTERNAL_SERVER_ERROR", "out of memory", event, room);
        return;
    }
    q->c = c;
    q->kind = kind;
    snprintf(q->room, sizeof q->room, "%s", room ? room : "");
    if (client_id) {
        size_t n = strlen(client_id);
        q->client_id = cd_malloc(n + 1);
        if (q->client_id) memcpy(q->client_id, client_id, n + 1);
    }
    if (cws_req_specs[kind].write) {
        if (c->wq_len >= COMPAT_MAX_QUEUED_WRITES) {
            req_free(q);
            cd_buf_free(vars);
            send_error(c, "RATE_LIMITED", "Too many writes waiting on this connection", event,
                       room);
            return;
        }
        size_t ql = strlen(query);
        q->query = cd_malloc(ql + 1);
        q->vars = cd_malloc(vars->len);
        if (!q->query || !q->vars) {
            req_free(q);
            cd_buf_free(vars);
            send_error(c, "INTERNAL_SERVER_ERROR", "out of memory", event, room);
            return;
        }
        memcpy(q->query, query, ql + 1);
        memcpy(q->vars, vars->data, vars->len);
        cd_buf_free(vars);
        struct cws_req **tail = &c->wq_head; /* (at most COMPAT_MAX_QUEUED_WRITES) */
        while (*tail)
            tail = &(*tail)->next;
        *tail = q;
        c->wq_len++;
        write_next(c);
        return;
    }
    if (kind == Q_JOIN) c->njoins++; /* (join_room checked the limit) */
    if (kind == Q_JOIN && (joins.running >= COMPAT_JOINS_RUNNING || joins.head)) {
        /* wait for a slot (joins_next runs it) */
        q->vars = cd_malloc(vars->len);
        if (!q->vars ||
            (!joins.hooked && proto_on_shutdown(c->caller.srv, joins_shutdown, NULL) != 0)) {
            c->njoins--;
            req_free(q);
            cd_buf_free(vars);
            send_error(c, "INTERNAL_SERVER_ERROR", "out of memory", event, room);
            return;
        }
        joins.hooked = true;
        memcpy(q->vars, vars->data, vars->len);
        cd_buf_free(vars);
        if (joins.tail)
            joins.tail->next = q;
        else
            joins.head = q;
        joins.tail = q;
        joins.waiting++;
        joins.waited++;
        c->refs++;
        return;
    }
    c->refs++;
    if (kind == Q_JOIN) join_started();
    if (compat_gql(c->caller.srv, &c->caller, query, vars->data, req_done, q) != 0) {
        if (kind == Q_JOIN) {
            joins.running--;
            c->njoins--;
        }
        req_free(q);
        c->refs--;
        send_error(c, "INTERNAL_SERVER_ERROR", "out of memory", event, room);
    }
    cd_buf_free(vars);
}

/* Runs waiting joins while slots are free (re-entered from a join that
 * answered at once: the outer call carries on). */
static void joins_next(void)
{
    static bool pumping;
    if (pumping) return;
    pumping = true;
    while (joins.running < COMPAT_JOINS_RUNNING && joins.head) {
        cws_req *q = joins.head;
        joins.head = q->next;
        if (!joins.head) joins.tail = NULL;
        q->next = NULL;
        joins.waiting--;
        cws_conn *c = q->c;
        if (!open_(c) || !c->gc) { /* closed while waiting */
            c->njoins--;
            req_free(q);
            conn_unref(c);
            continue;
        }
        join_started();
        if (compat_gql(c->caller.srv, &c->caller, CWS_JOIN_QUERY, q->vars, req_done, q) != 0) {
            joins.running--;
            c->njoins--;
            send_error(c, "INTERNAL_SERVER_ERROR", "out of memory", "joinRoom", q->room);
            cws_room *r = room_find(c, q->room);
            if (r && !r->joined) room_forget(c, r);
            req_free(q);
            conn_unref(c);
        }
    }
    pumping = false;
}

/* Shutdown: waiting joins are dropped (their sockets are closing). */
static void joins_shutdown(proto_server *srv, void *ud)
{
    CD_UNUSED(srv);
    CD_UNUSED(ud);
    while (joins.head) {
        cws_req *q = joins.head;
        joins.head = q->next;
        joins.waiting--;
        cws_conn *c = q->c;
        c->njoins--;
        req_free(q);
        conn_unref(c);
    }
    joins.tail = NULL;
}

static void join_room(cws_conn *c, const char *id)
{
    if (c->njoins >= COMPAT_MAX_PENDING_JOINS) {
        send_error(c, "RATE_LIMITED", "Too many joins pending on this connection", "joinRoom", id);
        return;
    }
    cws_room *r = room_find(c, id);
    if (!r) {
        if (c->nrooms >= COMPAT_MAX_ROOMS) {
            send_error(c, "TOO_MANY_ROOMS", "Too many joined rooms on this connection", "joinRoom",
                       id);
            return;
        }
        r = cd_pool_calloc(sizeof *r);
        if (!r) {
            send_error(c, "INTERNAL_SERVER_ERROR", "out of memory", "joinRoom", id);
            return;
        }
        r->c = c;
        r->names = names_ref(id);
        if (!r->names) {
            cd_pool_free(r);
            send_error(c, "INTERNAL_SERVER_ERROR", "out of memory", "joinRoom", id);
            return;
        }
        r->next = c->rooms;
        c->rooms = r;
        c->nrooms++;
    }
    cd_buf v;
    cd_buf_init(&v);
    cd_buf_printf(&v, "{\"c\":\"%s\",\"l\":%d}", id, COMPAT_JOIN_MESSAGES);
    run_req(c, Q_JOIN, id, CWS_JOIN_QUERY, &v, NULL);
}

/* New participants: reload the room's names (their messages follow). */
static void refresh_names(cws_conn *c, const char *room)
{
    cd_buf v;
    cd_buf_init(&v);
    cd_buf_printf(&v, "{\"c\":\"%s\"}", room);
    run_req(c, Q_NAMES, room, "query($c:ID!){chat(id:$c){participants{" COMPAT_USER_FIELDS "}}}",
            &v, NULL);
}

static void direct_done(const char *chat_id, const char *code, const char *msg, void *ud)
{
    cws_conn *c = ud;
    if (open_(c)) {
        if (chat_id)
            join_room(c, chat_id);
        else
            send_error(c, code, msg, "joinRoom", NULL);
    }
    conn_unref(c);
}

static bool rate_ok(cws_conn *c)
{
    const cd_config *cfg = c->caller.srv->cfg;
    if (!cfg->ws_rate) return true;
    uint64_t now = uv_now(c->caller.srv->loop);
    c->tokens += (double)(now - c->tokens_ms) * cfg->ws_rate / 1000.0;
    c->tokens_ms = now;
    if (c->tokens > cfg->ws_burst) c->tokens = cfg->ws_burst;
    if (c->tokens < 1.0) return false;
    c->tokens -= 1.0;
    return true;
}

static void send_connected(cws_conn *c)
{
    char ts[64];
    now_iso(ts, sizeof ts);
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"connected\",\"payload\":{\"userId\":");
    cd_buf_json_str(&b, c->caller.user_id, strlen(c->caller.user_id));
    cd_buf_printf(&b, ",\"timestamp\":\"%s\"}}", ts);
    send_buf(c, &b);
}

static void stop_timer(cws_conn *c);

/* Authenticated: embed the graphql-transport-ws connection, say hello. */
static void go_live(cws_conn *c)
{
    stop_timer(c);
    if (!proto_ws_user_has_room(c->caller.srv, c->caller.user_id)) {
        cd_info("compat", "/ws refused: user %s is at its WebSocket cap", c->caller.user_id);
        ws_close(c->ws, GQLWS_CLOSE_TRY_AGAIN, GQLWS_REASON_USER_CAP);
        return;
    }
    c->authed = true;
    c->gc = proto_ws_attach(c->caller.srv, c->ws, &c->caller, NULL, tap, c);
    if (!c->gc) {
        ws_close(c->ws, GQLWS_CLOSE_INTERNAL, "Internal server error");
        return;
    }
    send_connected(c);
}

static bool set_identity(cws_conn *c, const char *tok, size_t tl, const char **why)
{
    auth_identity id;
    const cd_config *cfg = c->caller.srv->cfg;
    if (!cfg->jwt_secret || auth_verify(cfg->jwt_secret, tok, tl, 0, &id, why) != 0) return false;
    c->caller.authenticated = true;
    proto_caller_set(&c->caller, NULL, PROTO_CALLER_USER_ID, id.sub, strlen(id.sub));
    proto_caller_set(&c->caller, NULL, PROTO_CALLER_USERNAME, id.username, strlen(id.username));
    c->caller.token_exp = id.exp;
    c->caller.token_ver = id.ver;
    return true;
}

/* ---- client events: one handler per event type (cws_events) ---- */

/* An event's handler: `room` is the payload's roomId (NULL when absent;
 * checked present and well-formed before the call when the entry says
 * needs_room), `p` the payload OBJECT. */
typedef void (*cws_event_fn)(cws_conn *c, const compat_ws_msg *m);

/* auth on an authenticated connection (token mode): an in-band token
 * refresh. The embedded connection closes the socket 4403 when the token
 * in force expires (proto_ws_refresh); a valid token of the same user moves
 * that deadline and is answered with authRefreshed {userId, expiresAt}; an
 * invalid one closes 4401, another user's 4403. */
static void ev_auth_again(cws_conn *c, const compat_ws_msg *m)
{
    const char *type = m->type;
    const char *tok = m->token;
    if (!tok || c->caller.trust || !c->gc) {
        send_error(c, "ALREADY_AUTHENTICATED", "This connection is already authenticated", type,
                   NULL);
        return;
    }
    const char *why = "bad token";
    int rc = proto_ws_refresh(c->gc, tok, strlen(tok), &why);
    if (rc == 0) rc = proto_caller_refresh(&c->caller, tok, strlen(tok), &why);
    if (rc != 0) {
        bool other = rc == CD_EPERM;
        cd_info("compat", "/ws token refresh refused: %s", why);
        send_error(c, other ? "FORBIDDEN" : "UNAUTHENTICATED",
                   other ? "The token belongs to another user" : "Invalid or expired token", type,
                   NULL);
        ws_close(c->ws, other ? GQLWS_CLOSE_FORBIDDEN : COMPAT_CLOSE_UNAUTHORIZED,
                 other ? "Forbidden" : "Unauthorized");
        return;
    }
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"type\":\"authRefreshed\",\"payload\":{\"userId\":");
    cd_buf_json_str(&b, c->caller.user_id, strlen(c->caller.user_id));
    cd_buf_printf(&b, ",\"expiresAt\":%lld}}", (long long)c->caller.token_exp);
    send_buf(c, &b);
}

/* joinRoom {roomId} joins that room; {targetUserId} the direct room with
 * that user (found or created first). Ids were checked by compat_ws_parse. */
static void ev_join(cws_conn *c, const compat_ws_msg *m)
{
    if (m->room) {
        join_room(c, m->room);
        return;
    }
    c->refs++; /* until direct_done */
    if (compat_direct_room(c->caller.srv, &c->caller, m->target, direct_done, c) != 0) {
        c->refs--;
        send_error(c, "INTERNAL_SERVER_ERROR", "out of memory", m->type, NULL);
    }
}

static void ev_leave(cws_conn *c, const compat_ws_msg *m)
{
    cws_room *r = room_find(c, m->room);
    if (!r) {
        send_error(c, "NOT_JOINED", "Room not joined", m->type, m->room);
        return;
    }
    unsubscribe_room(c, r);
    room_forget(c, r);
    send_room_left(c, m->room);
}

static bool message_type_ok(const char *t)
{
    static const char *const types[] = {"text", "image", "gift", "system"};
    for (unsigned i = 0; t && i < CD_ARRAY_LEN(types); i++)
        if (strcmp(t, types[i]) == 0) return true;
    return false;
}

/* The first problem of a sendMessage payload, or NULL when it is valid. */
static const char *send_payload_problem(const gql_value *p)
{
    const gql_value *tv = gql_obj_get(p, "type");
    const gql_value *meta = gql_obj_get(p, "metadata");
    const gql_value *cid = gql_obj_get(p, "clientId");
    if (!compat_str(p, "content")) return "content must be a string";
    if (tv && tv->kind != GQL_V_NULL && !message_type_ok(compat_str(p, "type")))
        return "type must be text, image, gift or system";
    if (meta && meta->kind != GQL_V_NULL && meta->kind != GQL_V_OBJECT)
        return "metadata must be an object";
    if (cid && cid->kind != GQL_V_NULL && cid->kind != GQL_V_STRING)
        return "clientId must be a string";
    return NULL;
}

/* createMessage's variables {"in":{chatId, senderId, content, type,
 * metadata?, clientId?}} for a valid sendMessage payload. */
static void send_vars(cd_buf *v, const cws_conn *c, const char *room, const gql_value *p)
{
    const char *content = compat_str(p, "content");
    const char *mtype = compat_str(p, "type");
    const gql_value *meta = gql_obj_get(p, "metadata");
    const gql_value *cid = gql_obj_get(p, "clientId");
    if (!mtype) mtype = "text";
    cd_buf_puts(v, "{\"in\":{\"chatId\":");
    cd_buf_json_str(v, room, strlen(room));
    cd_buf_puts(v, ",\"senderId\":");
    cd_buf_json_str(v, c->caller.user_id, strlen(c->caller.user_id));
    cd_buf_puts(v, ",\"content\":");
    cd_buf_json_str(v, content, strlen(content));
    cd_buf_puts(v, ",\"type\":");
    cd_buf_json_str(v, mtype, strlen(mtype));
    if (meta && meta->kind == GQL_V_OBJECT) {
        cd_buf_puts(v, ",\"metadata\":");
        gql_json_write(v, meta);
    }
    if (cid && cid->kind == GQL_V_STRING) {
        cd_buf_puts(v, ",\"clientId\":");
        gql_json_write(v, cid);
    }
    cd_buf_puts(v, "}}");
}

static void ev_send(cws_conn *c, const compat_ws_msg *m)
{
    const gql_value *cid = gql_obj_get(m->payload, "clientId");
    cd_buf v;
    cd_buf_init(&v);
    send_vars(&v, c, m->room, m->payload);
    run_req(c, Q_SEND, m->room,
            "mutation($in:CreateMessageInput!){createMessage(createMessageInput:$in)"
            "{" COMPAT_MSG_FIELDS "}}",
            &v, cid && cid->kind == GQL_V_STRING ? cid->u.s : NULL);
}

static void ev_typing(cws_conn *c, const compat_ws_msg *m)
{
    cd_buf v;
    cd_buf_init(&v);
    cd_buf_printf(&v, "{\"c\":\"%s\",\"t\":%s}", m->room, m->typing ? "true" : "false");
    run_req(c, Q_TYPING, m->room, "mutation($c:ID!,$t:Boolean!){setTyping(chatId:$c,isTyping:$t)}",
            &v, NULL);
}

static void ev_mark_read(cws_conn *c, const compat_ws_msg *m)
{
    cd_buf v;
    cd_buf_init(&v);
    cd_buf_printf(&v, "{\"c\":\"%s\",\"s\":%lld}", m->room, (long long)m->seq);
    run_req(c, Q_READ, m->room, "mutation($c:ID!,$s:Int){markChatAsRead(chatId:$c,upToSeq:$s)}", &v,
            NULL);
}

static const struct cws_event {
    const char *type;
    compat_ws_ev ev;
    bool needs_room; /* roomId required and checked before the handler runs */
    cws_event_fn fn;
} cws_events[] = {
    {"auth", COMPAT_EV_AUTH, false, ev_auth_again},
    {"joinRoom", COMPAT_EV_JOIN, false, ev_join},
    {"leaveRoom", COMPAT_EV_LEAVE, true, ev_leave},
    {"sendMessage", COMPAT_EV_SEND, true, ev_send},
    {"typing", COMPAT_EV_TYPING, true, ev_typing},
    {"markRead", COMPAT_EV_READ, true, ev_mark_read},
};

static void ws_msg_problem(compat_ws_msg *m, const char *code, const char *msg, const char *room)
{
    m->err_code = code;
    m->err_msg = msg;
    m->err_room = room;
}

/* The checks of an event that need no connection: its type, the roomId it
 * needs, the payload fields of its handler. */
static void ws_event_check(compat_ws_msg *m)
{
    const gql_value *p = m->payload;
    const struct cws_event *ev = NULL;
    for (unsigned i = 0; !ev && i < CD_ARRAY_LEN(cws_events); i++)
        if (strcmp(m->type, cws_events[i].type) == 0) ev = &cws_events[i];
    if (!ev) {
        ws_msg_problem(m, "UNKNOWN_EVENT", "Unknown event type", NULL);
        return;
    }
    m->ev = ev->ev;
    m->room = compat_str(p, "roomId");
    m->token = compat_str(p, "token");
    m->target = compat_str(p, "targetUserId");
    if (ev->needs_room && !m->room) {
        ws_msg_problem(m, "INVALID_PAYLOAD", "roomId is required", NULL);
        return;
    }
    if (m->room && !compat_uuid_ok(m->room) && ev->ev != COMPAT_EV_AUTH) {
        ws_msg_problem(m, "NOT_FOUND", "Room not found", m->room);
        return;
    }
    const char *problem = NULL;
    const gql_value *t;
    switch (ev->ev) {
    case COMPAT_EV_JOIN:
        if (m->room) break;
        if (!m->target)
            problem = "joinRoom needs roomId or targetUserId";
        else if (!compat_uuid_ok(m->target))
            problem = "targetUserId must be a user id";
        break;
    case COMPAT_EV_SEND:
        problem = send_payload_problem(p);
        break;
    case COMPAT_EV_TYPING:
        t = gql_obj_get(p, "isTyping");
        if (!t || t->kind != GQL_V_BOOL)
            problem = "isTyping must be a boolean";
        else
            m->typing = t->u.b;
        break;
    case COMPAT_EV_READ:
        if (!compat_int(p, "sequenceId", &m->seq) || m->seq < 0 || m->seq > INT32_MAX)
            problem = "sequenceId must be a non-negative integer";
        break;
    default:
        break;
    }
    if (problem)
        ws_msg_problem(m, "INVALID_PAYLOAD", problem, ev->ev == COMPAT_EV_JOIN ? NULL : m->room);
}

int compat_ws_parse(cd_arena *a, const char *data, size_t len, compat_ws_msg *m)
{
    memset(m, 0, sizeof *m);
    m->ev = COMPAT_EV_UNKNOWN;
    gql_value *v = cd_arena_calloc(a, 2, sizeof *v);
    char err[128];
    if (!v) {
        ws_msg_problem(m, "INTERNAL_SERVER_ERROR", "out of memory", NULL);
        return CD_ENOMEM;
    }
    if (gql_json_parse(a, data, len, v, err, sizeof err) != 0 || v->kind != GQL_V_OBJECT ||
        !(m->type = compat_str(v, "type"))) {
        m->type = NULL;
        ws_msg_problem(m, "INVALID_MESSAGE", "Expected a JSON object {\"type\",\"payload\"}", NULL);
        return CD_EBAD;
    }
    const gql_value *p = gql_obj_get(v, "payload");
    if (p && p->kind != GQL_V_OBJECT && p->kind != GQL_V_NULL) {
        ws_msg_problem(m, "INVALID_PAYLOAD", "payload must be an object", NULL);
        return CD_EBAD;
    }
    if (!p || p->kind == GQL_V_NULL) {
        v[1].kind = GQL_V_OBJECT; /* an absent payload reads as {} */
        p = &v[1];
    }
    m->payload = p;
    ws_event_check(m);
    return 0;
}

static void conn_message(cws_conn *c, bool is_text, const char *data, size_t len);

/* The session's request id is the log context of its messages. */
static void on_message(ws_conn *ws, bool is_text, const char *data, size_t len)
{
    cws_conn *c = ws_conn_user(ws);
    if (!c || ws_conn_closing(ws)) return;
    c->sess->msgs_in++;
    c->sess->bytes_in += len;
    cd_log_ctx saved;
    cd_log_ctx_enter(proto_session_id(c->sess), &saved);
    conn_message(c, is_text, data, len);
    cd_log_ctx_leave(&saved);
}

static void conn_message(cws_conn *c, bool is_text, const char *data, size_t len)
{
    cd_metrics_g.ws_messages_in++;
    if (c->gc) proto_ws_touch(c->gc);
    if (!is_text || len > c->caller.srv->cfg->max_ws_message) {
        send_error(c, "INVALID_MESSAGE",
                   !is_text ? "Binary messages are not supported" : "Message too big", NULL, NULL);
        return;
    }
    if (!rate_ok(c)) {
        send_error(c, "RATE_LIMITED", "Too many messages", NULL, NULL);
        return;
    }
    cd_arena a;
    cd_arena_init(&a, len + 512);
    compat_ws_msg m;
    if (compat_ws_parse(&a, data, len, &m) != 0) {
        send_error(c, m.err_code, m.err_msg, m.type, NULL);
        cd_arena_free(&a);
        return;
    }
    c->refs++;
    if (!c->authed) {
        const char *tok = strcmp(m.type, "auth") == 0 ? m.token : NULL;
        const char *why = "missing token";
        if (!tok) {
            send_error(c, "UNAUTHENTICATED",
                       "Send {\"type\":\"auth\",\"payload\":{\"token\"}} first", m.type, NULL);
            ws_close(c->ws, COMPAT_CLOSE_UNAUTHORIZED, "Unauthorized");
        } else if (!set_identity(c, tok, strlen(tok), &why)) {
            send_error(c, "UNAUTHENTICATED", "Invalid or expired token", m.type, NULL);
            ws_close(c->ws, COMPAT_CLOSE_UNAUTHORIZED, "Unauthorized");
        } else {
            go_live(c);
        }
    } else if (m.err_code) {
        send_error(c, m.err_code, m.err_msg, m.type, m.err_room);
    } else {
        for (unsigned i = 0; i < CD_ARRAY_LEN(cws_events); i++)
            if (cws_events[i].ev == m.ev) cws_events[i].fn(c, &m);
    }
    conn_unref(c);
    cd_arena_free(&a);
}

static void timer_closed(uv_handle_t *h)
{
    cws_conn *c = h->data;
    cd_free(h);
    conn_unref(c);
}

static void stop_timer(cws_conn *c)
{
    if (!c->timer) return;
    uv_timer_stop(c->timer);
    uv_close((uv_handle_t *)c->timer, timer_closed);
    c->timer = NULL;
}

static void auth_timeout(uv_timer_t *t)
{
    cws_conn *c = t->data;
    if (open_(c) && !c->authed)
        ws_close(c->ws, COMPAT_CLOSE_AUTH_TIMEOUT, "Authentication timeout");
    stop_timer(c);
}

static void on_close(ws_conn *ws, int code, const char *reason, size_t reason_len)
{
    CD_UNUSED(reason);
    CD_UNUSED(reason_len);
    cws_conn *c = ws_conn_user(ws);
    cd_metrics_conn_close(CD_MT_WS);
    if (!c) return;
    proto_session_end(c->sess, "/ws", &c->caller, code);
    ws_conn_set_user(ws, NULL);
    if (c->gc) {
        proto_ws_detach(c->gc);
        c->gc = NULL;
    }
    /* the rooms' subscriptions end (presence goes down) */
    for (cws_room *r = c->rooms; r; r = r->next)
        unsubscribe_room(c, r);
    c->ws = NULL;
    stop_timer(c);
    conn_unref(c);
}

static void on_pong(ws_conn *ws, const char *data, size_t len)
{
    CD_UNUSED(data);
    CD_UNUSED(len);
    cws_conn *c = ws_conn_user(ws);
    if (c && c->gc) proto_ws_touch(c->gc);
}

static const ws_callbacks cws_callbacks = {
    .on_message = on_message, .on_close = on_close, .on_pong = on_pong};

/* Finds a token among the offered subprotocols: returns the entry to echo
 * (a non-token entry such as "access_token" when offered, else the token)
 * and the token. */
static const char *proto_token(http_request *req, const char **tok, size_t *tl)
{
    const char *h = http_req_header(req, "sec-websocket-protocol");
    *tok = NULL;
    if (!h) return NULL;
    const char *other = NULL;
    const char *p = h;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t n = (size_t)(p - s);
        if (!n) continue;
        char *e = cd_arena_strndup(req->arena, s, n);
        if (!e) return NULL;
        if (memchr(s, '.', n) && !*tok) {
            *tok = e;
            *tl = n;
        } else if (!other) {
            other = e;
        }
    }
    return *tok ? (other ? other : *tok) : NULL;
}

void compat_ws_upgrade(proto_server *srv, http_request *req)
{
    const char *origin = http_req_header(req, "origin");
    if (origin && !cd_config_origin_allowed(srv->cfg, origin, strlen(origin))) {
        proto_respond(req, 403, "text/plain", NULL, "origin not allowed\n", 19);
        return;
    }
    if (srv->draining) {
        proto_respond(req, 503, "text/plain", NULL, "draining\n", 9);
        return;
    }
    if (!compat_role_serves(srv, "receiver")) {
        static const char body[] =
            "{\"error\":{\"code\":\"WRONG_SERVICE\",\"service\":\"receiver\","
            "\"message\":\"/ws is served by the receiver service\"}}";
        proto_respond(req, 421, "application/json", NULL, body, sizeof body - 1);
        return;
    }
    _Static_assert(sizeof(cws_conn) + sizeof(proto_session) + CD_REQUEST_ID_MAX + 1 <= CD_POOL_MAX,
                   "cws_conn in the pool");
    cws_conn *c = cd_pool_calloc(sizeof *c + proto_session_size(req));
    if (!c) {
        proto_respond(req, 503, "text/plain", NULL, "out of memory\n", 14);
        return;
    }
    c->refs = 1;
    proto_caller_init(&c->caller, srv);
    c->caller.trust = srv->cfg->auth == CD_AUTH_TRUST;
    c->caller.compat_api = true;
    if (req->client_ip)
        proto_caller_set(&c->caller, NULL, PROTO_CALLER_CLIENT_IP, req->client_ip,
                         strlen(req->client_ip));
    c->tokens = srv->cfg->ws_burst;
    c->tokens_ms = uv_now(srv->loop);
    proto_session_begin(c->sess, req);
    const char *echo = NULL;
    bool have = false;
    if (c->caller.trust) {
        const char *u = http_req_header(req, "user-id");
        const char *qv;
        size_t ql;
        if (!u && http_req_query_param(req, "userId", &qv, &ql) == 0) u = qv;
        const char *n = http_req_header(req, "username");
        if (u) proto_caller_set(&c->caller, NULL, PROTO_CALLER_USER_ID, u, strlen(u));
        if (n) proto_caller_set(&c->caller, NULL, PROTO_CALLER_USERNAME, n, strlen(n));
        have = *c->caller.user_id != '\0';
    } else {
        const char *tok = NULL;
        size_t tl = 0;
        if (http_req_query_param(req, "token", &tok, &tl) != 0) {
            tok = NULL;
            echo = proto_token(req, &tok, &tl);
        } else {
            echo = proto_token(req, &(const char *){NULL}, &(size_t){0});
        }
        if (tok) {
            const char *why = "bad token";
            if (!set_identity(c, tok, tl, &why)) {
                cd_info("compat", "/ws refused: %s", why);
                proto_caller_free(&c->caller);
                cd_pool_free(c);
                static const char body[] = "{\"error\":{\"code\":\"UNAUTHENTICATED\",\"message\":"
                                           "\"Invalid or expired token\"},\"statusCode\":401}";
                proto_respond(req, 401, "application/json", NULL, body, sizeof body - 1);
                return;
            }
            have = true;
        }
    }
    ws_conn *ws = NULL;
    int rc = ws_accept(req, echo, &cws_callbacks, c, &ws);
    if (rc != 0 || !ws) {
        proto_caller_free(&c->caller);
        cd_pool_free(c);
        return;
    }
    cd_metrics_conn_open(CD_MT_WS);
    cd_metrics_http_status(101);
    c->ws = ws;
    if (have) {
        go_live(c);
        return;
    }
    /* no token yet: wait for {"type":"auth"} */
    c->timer = cd_malloc(sizeof *c->timer);
    if (!c->timer) {
        ws_close(ws, GQLWS_CLOSE_INTERNAL, "Internal server error");
        return;
    }
    uv_timer_init(srv->loop, c->timer);
    c->timer->data = c;
    c->refs++;
    uv_timer_start(c->timer, auth_timeout, COMPAT_AUTH_TIMEOUT_MS, 0);
}
