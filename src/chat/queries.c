/*
 * queries.c — the receiver role's queries (design §4): chats, chat,
 * chatsByParticipant, messages (keyset pages by seq), message,
 * messageReadStatus, unreadCounts, unreadCount, onlineUsers,
 * chatEventsSince, and the nested Chat/Message fields.
 *
 * Each root query is ONE prepared statement whose rows are the JSON the
 * API returns, built by the same SQL functions the sender's events use
 * (chatd_chat_json, chatd_msg_json in 0003_chats.sql), parsed into the
 * resolver's arena — so a query and an event show the same object.
 *
 * Nested fields that would otherwise query once per parent
 * (Chat.participants, Message.sender, Chat.messages, Chat.lastMessage,
 * Chat.unreadCount) go through a batch loader: resolvers called in one loop
 * iteration queue their keys; a zero-delay timer then runs one statement
 * per (statement, caller) with all distinct keys as a uuid[] and completes
 * every waiting field from the rows (no N+1).
 *
 * Authorization (authz.c): token mode — the caller must be an active
 * participant of the chat a query reads (FORBIDDEN otherwise); a userId
 * argument must be the caller. Trust mode — the seed's behaviour: the
 * user-id header, when present, is checked the same way; without one,
 * nothing is checked.
 *
 * Database: every statement here is a read the streaming replica may
 * answer (DATABASE_REPLICA_URL): roots and loaders go through replica.c,
 * which serves them from the replica only once it has replayed what the
 * primary had flushed when the read arrived, else from the primary.
 *
 * Memory: per-call state in gql_ri_arena; loader batches are heap objects
 * freed when their statement completes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/text.h"

#define RECV_MESSAGES_MAX_LIMIT 1000 /* largest page */
#define Q_STR_(x) #x
#define Q_STR(x) Q_STR_(x)
/* ts_headline options of searchMessages: a short plain-text excerpt */
#define RECV_SEARCH_HEADLINE_OPTS                                                                  \
    "'StartSel=«, StopSel=», MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=\" … \"'"
#define RECV_EVENTS_DEFAULT_LIMIT 500 /* chatEventsSince without limit */
#define RECV_BATCH_KEYS_MAX 5000u     /* distinct keys in one loader statement */

#define MEMBER(chat, uid)                                                                          \
    "(" uid "::uuid IS NULL OR EXISTS (SELECT 1 FROM chat_participants p WHERE p.chat_id = " chat  \
    " AND p.user_id = " uid "::uuid AND p.left_seq IS NULL))"
/* History rule: the lowest seq `uid` may see in `chat` (chatd_visible_from of
 * 0009_search_reactions_replies.sql, THE one place the rule lives). FLOOR:
 * a non-member sees nothing; FLOOR0: for single-row reads that answer
 * FORBIDDEN to non-members from the MEMBER column. */
#define FLOOR(chat, uid)                                                                           \
    "coalesce(chatd_visible_from(" chat ", " uid "::uuid), 9223372036854775807)"
#define FLOOR0(chat, uid) "coalesce(chatd_visible_from(" chat ", " uid "::uuid), 0)"
#define USER_OBJ(u)                                                                                \
    "json_build_object('id', " u ".id, 'username', " u ".username, 'displayName', " u              \
    ".display_name, 'isActive', " u ".is_active, 'createdAt', chatd_ts(" u ".created_at),"         \
    " 'updatedAt', chatd_ts(" u ".updated_at))"
#define USER_JSON(u)                                                                               \
    "json_build_object('id', " u ".id, 'username', " u ".username, 'displayName', " u              \
    ".display_name, 'isActive', " u ".is_active, 'createdAt', chatd_ts(" u ".created_at),"         \
    " 'updatedAt', chatd_ts(" u ".updated_at))::text"

static const chat_stmt query_stmts[] = {
    {"recv_q_chats",
     "SELECT chatd_chat_json(c)::text FROM chats c WHERE c.is_active AND " MEMBER(
         "c.id", "$1") " ORDER BY c.updated_at DESC, c.id",
     1},
    {"recv_q_chat",
     "SELECT chatd_chat_json(c)::text, " MEMBER(
         "c.id", "$2") " FROM chats c WHERE c.id = $1::uuid AND c.is_active",
     2},
    {"recv_q_by_participant",
     "SELECT chatd_chat_json(c)::text FROM chats c JOIN chat_participants p ON p.chat_id = c.id"
     " WHERE p.user_id = $1::uuid AND p.left_seq IS NULL AND c.is_active"
     " ORDER BY c.updated_at DESC, c.id",
     1},
    {"recv_q_messages",
     "SELECT EXISTS (SELECT 1 FROM chats WHERE id = $1::uuid AND is_active), " MEMBER(
         "$1::uuid",
         "$2") ", (SELECT coalesce(json_agg(x.j ORDER BY x.seq), '[]'::json) FROM"
               "   (SELECT chatd_msg_json(m) j, m.seq FROM messages m WHERE m.chat_id = $1::uuid"
               "     AND m.deleted_at IS NULL AND m.seq >= " FLOOR(
                   "$1::uuid", "$2") ""
                                     "     AND ($4::bigint IS NULL OR m.seq < $4::bigint)"
                                     "     AND ($5::bigint IS NULL OR m.seq > $5::bigint)"
                                     "     ORDER BY CASE WHEN $5::bigint IS NULL THEN -m.seq ELSE "
                                     "m.seq END LIMIT "
                                     "$3::int) x)::text",
     5},
    {"recv_q_message",
     "SELECT chatd_msg_json(m)::text, " MEMBER(
         "m.chat_id", "$2") " FROM messages m WHERE m.id = $1::uuid AND m.deleted_at IS NULL"
                            " AND m.seq >= " FLOOR0("m.chat_id", "$2"),
     2},
    {"recv_q_read_status",
     "SELECT json_build_object('messageId', m.id, 'totalParticipants', t.total,"
     " 'readByCount', t.cnt, 'isFullyRead', t.cnt >= t.total, 'readByUsers', "
     "t.users)::text, " MEMBER(
         "m.chat_id", "$2") " FROM messages m, LATERAL (SELECT count(*) AS total,"
                            "   count(*) FILTER (WHERE p.last_read_seq >= m.seq) AS cnt,"
                            "   coalesce(json_agg(json_build_object('userId', p.user_id, 'readAt', "
                            "chatd_ts(coalesce("
                            "     r.read_at, (SELECT min(e.created_at) FROM chat_events e WHERE "
                            "e.chat_id = m.chat_id"
                            "       AND e.kind = 'read' AND e.seq > m.seq AND e.payload->>'userId' "
                            "= p.user_id::text"
                            "       AND (e.payload->>'upToSeq')::bigint >= m.seq), m.created_at)))"
                            "     ORDER BY p.joined_seq, p.pos) FILTER (WHERE p.last_read_seq >= "
                            "m.seq), '[]'::json) AS users"
                            "   FROM chat_participants p LEFT JOIN message_reads r"
                            "     ON r.message_id = m.id AND r.user_id = p.user_id"
                            "   WHERE p.chat_id = m.chat_id AND p.left_seq IS NULL AND p.user_id "
                            "<> m.sender_id) t"
                            " WHERE m.id = $1::uuid AND m.deleted_at IS NULL"
                            " AND m.seq >= " FLOOR0("m.chat_id", "$2"),
     2},
    /* unread counts are derived from the watermarks (0005_unread_watermarks.sql:
     * chatd_unread_above over the index messages_chat_seq, 0016); id is
     * stable per (chat, user), seq is the chat's seq the count reflects */
    {"recv_q_unread_counts",
     "SELECT json_build_object('id', md5(p.chat_id::text || ':' || p.user_id::text)::uuid,"
     " 'chatId', p.chat_id, 'userId', p.user_id,"
     " 'unreadCount', chatd_unread_above(p.chat_id, p.user_id,"
     "   greatest(p.last_read_seq, p.joined_seq)),"
     " 'createdAt', chatd_ts(p.joined_at),"
     " 'updatedAt', chatd_ts(greatest(p.joined_at, c.updated_at)), 'seq', c.last_seq)::text"
     " FROM chat_participants p JOIN chats c ON c.id = p.chat_id AND c.is_active"
     " WHERE p.user_id = $1::uuid AND p.left_seq IS NULL ORDER BY c.updated_at DESC, c.id",
     1},
    {"recv_q_unread_count", "SELECT chatd_unread($1::uuid, $2::uuid)", 2},
    {"recv_q_chat_users",
     "SELECT u.id::text, " USER_JSON("u") ", " MEMBER(
         "$1::uuid", "$2") " FROM chat_participants q JOIN users u ON u.id = q.user_id"
                           " WHERE q.chat_id = $1::uuid AND q.left_seq IS NULL AND u.is_active"
                           " ORDER BY q.joined_seq, q.pos",
     2},
    {"recv_q_events",
     "SELECT " MEMBER(
         "$1::uuid",
         "$2") ", (SELECT min(seq) FROM chat_events WHERE chat_id = $1::uuid),"
               " (SELECT last_seq FROM chats WHERE id = $1::uuid),"
               " (SELECT coalesce(json_agg(json_build_object('chatId', e.chat_id, 'seq', e.seq,"
               "   'kind', e.kind, 'at', chatd_ts(e.created_at), 'data', e.payload) ORDER BY "
               "e.seq),"
               "   '[]'::json) FROM (SELECT * FROM chat_events WHERE chat_id = $1::uuid"
               "   AND seq > greatest($3::bigint, " FLOOR(
                   "$1::uuid", "$2") " - 1)"
                                     "   AND (NOT (kind LIKE 'message.%' OR kind = 'reaction')"
                                     "        OR (payload->>'seq')::bigint >= " FLOOR(
                                         "$1::uuid",
                                         "$2") ")"
                                               "   ORDER BY seq LIMIT $4::int) e)::text, " FLOOR0(
                                                   "$1::uuid", "$2"),
     4},
    /* Chat.members: $1 chat, $2 viewer, after ($3 joined_seq, $4 pos, $5 user), $6 limit;
     * one row (member?, member_count, JSON list of edges) */
    {"recv_q_members",
     "SELECT " MEMBER(
         "c.id",
         "$2") ", c.member_count,"
               " (SELECT coalesce(json_agg(json_build_object("
               "    'cursor', x.joined_seq || ':' || x.pos || ':' || x.user_id,"
               "    'node', json_build_object('user', " USER_OBJ(
                   "u") ","
                        "      'role', upper(x.role),"
                        "      'joinedAt', chatd_ts(x.joined_at))) ORDER BY x.joined_seq, "
                        "x.pos, x.user_id),"
                        "    '[]'::json)"
                        "  FROM (SELECT p.user_id, p.joined_seq, p.pos, p.joined_at, p.role FROM "
                        "chat_participants p"
                        "         WHERE p.chat_id = c.id AND p.left_seq IS NULL"
                        "           AND (p.joined_seq, p.pos, p.user_id) > ($3::bigint, "
                        "$4::int, $5::uuid)"
                        "         ORDER BY p.joined_seq, p.pos, p.user_id LIMIT $6::int) x"
                        "  JOIN users u ON u.id = x.user_id)::text"
                        " FROM chats c WHERE c.id = $1::uuid AND c.is_active",
     6},
    /* batch loaders: $1 = uuid[] of keys; rows (key, json) */
    {"recv_b_users",
     "SELECT u.id::text, " USER_JSON("u") " FROM users u WHERE u.id = ANY ($1::uuid[])", 1},
    /* $2 viewer, $3 the history cap + 1 (more rows: HISTORY_TOO_LONG) */
    {"recv_b_chat_msgs",
     "SELECT k.id::text, x.j::text FROM unnest($1::uuid[]) AS k(id) CROSS JOIN LATERAL"
     " (SELECT * FROM (SELECT chatd_msg_json(m) j, m.seq FROM messages m WHERE m.chat_id = k.id"
     "   AND m.deleted_at IS NULL AND m.seq >= " FLOOR(
         "k.id", "$2") ""
                       "   ORDER BY m.seq DESC LIMIT $3::int) y ORDER BY y.seq) x",
     3},
    {"recv_b_last_msg",
     "SELECT k.id::text, x.j::text FROM unnest($1::uuid[]) AS k(id) CROSS JOIN LATERAL"
     " (SELECT chatd_msg_json(m) j FROM messages m WHERE m.chat_id = k.id AND m.deleted_at IS NULL"
     "   AND m.seq >= " FLOOR("k.id", "$2") " ORDER BY m.seq DESC LIMIT 1) x",
     2},
    /* Message.replyTo: the original if the viewer may see it (removed ones
     * show removed: their content is already gone) */
    {"recv_b_reply_to",
     "SELECT m.id::text, chatd_msg_json(m)::text FROM messages m"
     " WHERE m.id = ANY ($1::uuid[]) AND m.seq >= " FLOOR("m.chat_id", "$2"),
     2},
    {"recv_b_reply_count",
     "SELECT k.id::text, (SELECT count(*) FROM messages r WHERE r.reply_to_id = k.id"
     "   AND r.deleted_at IS NULL)::text FROM unnest($1::uuid[]) AS k(id)",
     1},
    /* Message.reactions: one row per (message, emoji), in first-use order,
     * with the first RECV_REACTION_USERS_MAX users */
    {"recv_b_reactions",
     "SELECT g.message_id::text, json_build_object('emoji', g.emoji, 'count', g.n,"
     "   'reactedByMe', coalesce(g.mine, false), 'users',"
     "   (SELECT coalesce(json_agg(" USER_OBJ(
         "u") " ORDER BY x.created_at, x.user_id), '[]'::json)"
              "      FROM (SELECT r.user_id, r.created_at FROM message_reactions r"
              "             WHERE r.message_id = g.message_id AND r.emoji = g.emoji"
              "             ORDER BY r.created_at, r.user_id LIMIT $3::int) x"
              "      JOIN users u ON u.id = x.user_id))::text"
              " FROM (SELECT r.message_id, r.emoji, count(*) AS n, bool_or(r.user_id = $2::uuid) "
              "AS mine,"
              "         min(r.created_at) AS first_at FROM message_reactions r"
              "        WHERE r.message_id = ANY ($1::uuid[]) GROUP BY r.message_id, r.emoji) g"
              " ORDER BY g.message_id, g.first_at, g.emoji",
     3},
    /* searchMessages: $1 caller, $2 tokens, $3 chat or NULL, $4 page + 1,
     * after ($5 rank, $6 id); one row: (chat filter allowed?, JSON list of
     * {rank, id, highlight, message}) best first */
    {"recv_q_search",
     "SELECT ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM chat_participants"
     "   WHERE chat_id = $3::uuid AND user_id = $1::uuid AND left_seq IS NULL)),"
     " (WITH q AS (SELECT chatd_search_query($2::text[]) AS q),"
     "  my AS (SELECT p.chat_id, chatd_visible_from(p.chat_id, p.user_id) AS floor"
     "          FROM chat_participants p JOIN chats c ON c.id = p.chat_id AND c.is_active"
     "         WHERE p.user_id = $1::uuid AND p.left_seq IS NULL"
     "           AND ($3::uuid IS NULL OR p.chat_id = $3::uuid)),"
     "  hits AS (SELECT m.id, ts_rank(to_tsvector('simple', m.content), q.q) AS rank"
     "          FROM q, my JOIN messages m ON m.chat_id = my.chat_id AND m.seq >= my.floor"
     "         WHERE m.deleted_at IS NULL AND to_tsvector('simple', m.content) @@ q.q),"
     "  page AS (SELECT * FROM hits h WHERE $5::real IS NULL OR (h.rank, h.id) < ($5::real, "
     "$6::uuid)"
     "           ORDER BY h.rank DESC, h.id DESC LIMIT $4::int)"
     "  SELECT coalesce(json_agg(json_build_object('rank', p.rank::text, 'id', m.id,"
     "    'highlight', left(ts_headline('simple', m.content, q.q, " RECV_SEARCH_HEADLINE_OPTS "),"
     "                      " Q_STR(
         RECV_SEARCH_HIGHLIGHT_MAX) "),"
                                    "    'message', chatd_msg_json(m)) ORDER BY p.rank DESC, p.id "
                                    "DESC), '[]'::json)"
                                    "   FROM page p JOIN messages m ON m.id = p.id, q)::text",
     6},
    /* Chat.myRole: $2 = the viewer (0008_roles_delivered.sql) */
    {"recv_b_my_role",
     "SELECT p.chat_id::text, to_json(upper(p.role))::text FROM chat_participants p"
     " WHERE p.chat_id = ANY ($1::uuid[]) AND p.user_id = $2::uuid AND p.left_seq IS NULL",
     2},
    /* MessageReadStatus delivered fields: the same participants as
     * readByCount (active, not the sender); delivered = greatest(delivered,
     * read) watermark; the time = the first delivered/read event covering it */
    {"recv_b_delivered",
     "SELECT m.id::text, json_build_object('deliveredCount', t.cnt, 'isFullyDelivered',"
     " t.cnt >= t.total, 'deliveredToUsers', t.users)::text"
     " FROM messages m, LATERAL (SELECT count(*) AS total, count(*) FILTER (WHERE"
     "   greatest(p.last_delivered_seq, p.last_read_seq) >= m.seq) AS cnt,"
     "   coalesce(json_agg(json_build_object('userId', p.user_id, 'readAt', chatd_ts(coalesce("
     "     (SELECT min(e.created_at) FROM chat_events e WHERE e.chat_id = m.chat_id"
     "       AND e.kind IN ('delivered', 'read') AND e.seq > m.seq"
     "       AND e.payload->>'userId' = p.user_id::text"
     "       AND (e.payload->>'upToSeq')::bigint >= m.seq), m.created_at)))"
     "     ORDER BY p.joined_seq, p.pos) FILTER (WHERE"
     "     greatest(p.last_delivered_seq, p.last_read_seq) >= m.seq), '[]'::json) AS users"
     "   FROM chat_participants p WHERE p.chat_id = m.chat_id AND p.left_seq IS NULL"
     "     AND p.user_id <> m.sender_id) t"
     " WHERE m.id = ANY ($1::uuid[])",
     1},
    {"recv_b_unread",
     "SELECT p.chat_id::text, chatd_unread_above(p.chat_id, p.user_id,"
     "   greatest(p.last_read_seq, p.joined_seq))::text FROM chat_participants p"
     " WHERE p.chat_id = ANY ($1::uuid[]) AND p.user_id = $2::uuid AND p.left_seq IS NULL",
     2},
};

/* ---- helpers ---- */

typedef enum q_mode {
    Q_LIST,     /* every row's column 0 is an item (JSON) */
    Q_ONE,      /* row 0 column 0 (JSON), column 1 = member; no row → NOT_FOUND */
    Q_MESSAGES, /* one row: chat exists, member, JSON list */
    Q_INT,      /* row 0 column 0 is an Int */
    Q_USERS,    /* onlineUsers: rows (id, JSON, member) filtered by presence */
    Q_EVENTS,   /* chatEventsSince */
    Q_MEMBERS,  /* Chat.members: one row (member, count, edges + 1) */
    Q_SEARCH    /* searchMessages: one row (allowed, hits + 1) */
} q_mode;

typedef struct qop {
    chat_op base;
    q_mode mode;
    const char *what; /* "Chat" / "Message" for NOT_FOUND */
    const char *id;
    int64_t after;
    int64_t first; /* Chat.members / searchMessages page size */
    int64_t cap;   /* messages without limit: the history cap (0 = a page) */
    /* onlineUsers */
    gql_value *users;
    bool *online;
    int nusers;
    int pending;
} qop;

static bool parse_json(gql_rinfo *ri, const char *s, gql_value *out)
{
    char err[64];
    if (!s || gql_json_parse(gql_ri_arena(ri), s, strlen(s), out, err, sizeof err) != 0) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Internal server error");
        return false;
    }
    return true;
}

static bool is_true(const char *s)
{
    return s && s[0] == 't';
}

static void on_events_rows(qop *op, const pg_result *r);
static void start_online(qop *op, const pg_result *r);
static void on_members_row(qop *op, const pg_result *r);
static void on_search_row(qop *op, const pg_result *r);

/* The history cap (RECV_HISTORY_CAP; lowered by CHATD_TEST_HISTORY_CAP with
 * test fixtures on) and the same + 1 as SQL text (the loader's limit). */
static int64_t history_cap = RECV_HISTORY_CAP;
static char history_cap_sql[24] = "10001";

static void history_too_long(gql_rinfo *ri)
{
    gql_ri_error(ri, CHAT_E_HISTORY_TOO_LONG,
                 "The chat has more than %lld visible messages; read it in pages with limit and "
                 "beforeSeq / afterSeq",
                 (long long)history_cap);
}

static void on_query(const pg_result *r, void *ud)
{
    qop *op = ud;
    gql_rinfo *ri = op->base.ri;
    if (r->status != 0) {
        chat_fail_pg(ri, r->status, r->message, "receiver query");
        return;
    }
    int n = pg_result_rows(r);
    cd_arena *a = gql_ri_arena(ri);
    switch (op->mode) {
    case Q_LIST: {
        gql_value *l = gql_list_new(a, (uint32_t)n);
        if (!l) break;
        for (int i = 0; i < n; i++)
            if (!parse_json(ri, pg_result_get(r, i, 0), &l->u.items[i])) return;
        gql_ri_return(ri, *l);
        return;
    }
    case Q_ONE: {
        if (n == 0) {
            gql_ri_error(ri, CHAT_E_NOT_FOUND, "%s with ID %s not found", op->what, op->id);
            return;
        }
        if (!is_true(pg_result_get(r, 0, 1))) {
            gql_ri_error(ri, CHAT_E_FORBIDDEN, "Forbidden: not a participant of this chat");
            return;
        }
        gql_value v;
        if (parse_json(ri, pg_result_get(r, 0, 0), &v)) gql_ri_return(ri, v);
        return;
    }
    case Q_MESSAGES: {
        if (n == 0 || !is_true(pg_result_get(r, 0, 0))) {
            gql_ri_error(ri, CHAT_E_NOT_FOUND, "Chat with ID %s not found", op->id);
            return;
        }
        if (!is_true(pg_result_get(r, 0, 1))) {
            gql_ri_error(ri, CHAT_E_FORBIDDEN, "Forbidden: not a participant of this chat");
            return;
        }
        gql_value v;
        if (!parse_json(ri, pg_result_get(r, 0, 2), &v)) return;
        if (op->cap && v.kind == GQL_V_LIST && (int64_t)v.len > op->cap) {
            history_too_long(ri);
            return;
        }
        gql_ri_return(ri, v);
        return;
    }
    case Q_INT: {
        const char *s = n > 0 ? pg_result_get(r, 0, 0) : NULL;
        gql_ri_return(ri, gql_int(s ? strtoll(s, NULL, 10) : 0));
        return;
    }
    case Q_USERS:
        start_online(op, r);
        return;
    case Q_EVENTS:
        on_events_rows(op, r);
        return;
    case Q_MEMBERS:
        on_members_row(op, r);
        return;
    case Q_SEARCH:
        on_search_row(op, r);
        return;
    }
    gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
}

static qop *new_op(gql_rinfo *ri, q_mode mode)
{
    qop *op = CHAT_OP_NEW(ri, qop);
    if (op) op->mode = mode;
    return op;
}

/* Every statement of this file is a read the replica may answer
 * (replica.c). */
static void run(qop *op, const char *stmt, int n, const char *const *params)
{
    chat_op_run_read(&op->base, stmt, n, params, on_query);
}

/* A UUID argument, or NULL after completing with BAD_USER_INPUT. */
static const char *uuid_arg(gql_rinfo *ri, const char *name)
{
    const gql_value *v = gql_ri_arg(ri, name);
    if (!v || v->kind != GQL_V_STRING || !cd_uuid_valid(v->u.s, v->len)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s must be a UUID", name);
        return NULL;
    }
    return v->u.s;
}

/* The caller to check membership for: token mode the token's user (NULL
 * after UNAUTHENTICATED), trust mode the header's user or "" (no check). */
static const char *viewer(gql_rinfo *ri)
{
    if (chat_authz_trust(ri)) {
        const char *u = chat_authz_user_opt(ri);
        return u && cd_uuid_valid(u, strlen(u)) ? u : "";
    }
    return chat_authz_user(ri);
}

#define NULLIF_EMPTY(s) ((s) && *(s) ? (s) : NULL)

static bool int_arg(gql_rinfo *ri, const char *name, int64_t *out)
{
    const gql_value *v = gql_ri_arg(ri, name);
    if (!v || v->kind != GQL_V_INT) return false;
    *out = v->u.i;
    return true;
}

/* ---- root queries ---- */

static void r_chats(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    qop *op = new_op(ri, Q_LIST);
    if (!op) return;
    const char *params[] = {NULLIF_EMPTY(uid)};
    run(op, "recv_q_chats", 1, params);
}

static void r_chat(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    const char *id = uuid_arg(ri, "id");
    if (!id) return;
    qop *op = new_op(ri, Q_ONE);
    if (!op) return;
    op->what = "Chat";
    op->id = id;
    const char *params[] = {id, NULLIF_EMPTY(uid)};
    run(op, "recv_q_chat", 2, params);
}

static void r_chats_by_participant(gql_rinfo *ri)
{
    const char *user = uuid_arg(ri, "userId");
    if (!user) return;
    if (!chat_authz_acting_as(ri, user, "list another user's chats")) return;
    qop *op = new_op(ri, Q_LIST);
    if (!op) return;
    const char *params[] = {user};
    run(op, "recv_q_by_participant", 1, params);
}

static void r_messages(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    const char *id = uuid_arg(ri, "chatId");
    if (!id) return;
    int64_t limit = 0, before = 0, after = 0;
    bool has_limit = int_arg(ri, "limit", &limit);
    bool has_before = int_arg(ri, "beforeSeq", &before);
    bool has_after = int_arg(ri, "afterSeq", &after);
    if (has_limit && (limit < 1 || limit > RECV_MESSAGES_MAX_LIMIT)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "limit must be between 1 and %d",
                     RECV_MESSAGES_MAX_LIMIT);
        return;
    }
    if ((has_before && before < 0) || (has_after && after < 0)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "beforeSeq and afterSeq must not be negative");
        return;
    }
    qop *op = new_op(ri, Q_MESSAGES);
    if (!op) return;
    op->id = id;
    if (!has_limit) { /* the whole visible history (of the range): cap + 1 tells */
        op->cap = history_cap;
        limit = history_cap + 1;
    }
    char l[24], b[24], a[24];
    snprintf(l, sizeof l, "%" PRId64, limit);
    snprintf(b, sizeof b, "%" PRId64, before);
    snprintf(a, sizeof a, "%" PRId64, after);
    const char *params[] = {id, NULLIF_EMPTY(uid), l, has_before ? b : NULL, has_after ? a : NULL};
    run(op, "recv_q_messages", 5, params);
}

static void r_message(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    const char *id = uuid_arg(ri, "id");
    if (!id) return;
    qop *op = new_op(ri, Q_ONE);
    if (!op) return;
    op->what = "Message";
    op->id = id;
    const char *params[] = {id, NULLIF_EMPTY(uid)};
    run(op, "recv_q_message", 2, params);
}

static void r_read_status(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    const char *id = uuid_arg(ri, "messageId");
    if (!id) return;
    qop *op = new_op(ri, Q_ONE);
    if (!op) return;
    op->what = "Message";
    op->id = id;
    /* columns: json, member */
    const char *params[] = {id, NULLIF_EMPTY(uid)};
    run(op, "recv_q_read_status", 2, params);
}

static void r_unread_counts(gql_rinfo *ri)
{
    const char *user = uuid_arg(ri, "userId");
    if (!user) return;
    if (!chat_authz_acting_as(ri, user, "read another user's unread counts")) return;
    qop *op = new_op(ri, Q_LIST);
    if (!op) return;
    const char *params[] = {user};
    run(op, "recv_q_unread_counts", 1, params);
}

static void r_unread_count(gql_rinfo *ri)
{
    const char *chat = uuid_arg(ri, "chatId");
    if (!chat) return;
    const char *user = uuid_arg(ri, "userId");
    if (!user) return;
    if (!chat_authz_acting_as(ri, user, "read another user's unread count")) return;
    qop *op = new_op(ri, Q_INT);
    if (!op) return;
    const char *params[] = {chat, user};
    run(op, "recv_q_unread_count", 2, params);
}

/* onlineUsers: the chat's participants whose presence hash holds a field
 * that has not expired (presence.c). */
static void on_presence(void *ud, int status, const redisReply *reply)
{
    qop *op = ud;
    /* which user: the reply order = command order, tracked by op->pending */
    int idx = op->nusers - op->pending;
    op->pending--;
    if (status == 0 && reply && reply->type == REDIS_REPLY_ARRAY) {
        uv_timeval64_t tv;
        uv_gettimeofday(&tv);
        int64_t now = (int64_t)tv.tv_sec * 1000;
        for (size_t i = 1; i < reply->elements; i += 2) {
            const redisReply *v = reply->element[i];
            if (v->type == REDIS_REPLY_STRING && strtoll(v->str, NULL, 10) > now) {
                op->online[idx] = true;
                break;
            }
        }
    }
    if (op->pending > 0) return;
    int k = 0;
    for (int i = 0; i < op->nusers; i++)
        if (op->online[i]) k++;
    gql_value *l = gql_list_new(gql_ri_arena(op->base.ri), (uint32_t)k);
    if (!l) {
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    k = 0;
    for (int i = 0; i < op->nusers; i++)
        if (op->online[i]) l->u.items[k++] = op->users[i];
    gql_ri_return(op->base.ri, *l);
}

static void start_online(qop *op, const pg_result *r)
{
    gql_rinfo *ri = op->base.ri;
    int n = pg_result_rows(r);
    cd_arena *a = gql_ri_arena(ri);
    if (n > 0 && !is_true(pg_result_get(r, 0, 2))) {
        gql_ri_error(ri, CHAT_E_FORBIDDEN, "Forbidden: not a participant of this chat");
        return;
    }
    op->users = cd_arena_calloc(a, (size_t)n + 1, sizeof *op->users);
    op->online = cd_arena_calloc(a, (size_t)n + 1, sizeof *op->online);
    if (!op->users || !op->online) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    op->nusers = n;
    for (int i = 0; i < n; i++)
        if (!parse_json(ri, pg_result_get(r, i, 1), &op->users[i])) return;
    if (n == 0 || !op->base.srv->rd) {
        op->pending = 1;
        op->nusers = n;
        /* no broker: nobody can be known online */
        memset(op->online, 0, (size_t)n);
        op->pending = 0;
        gql_value *l = gql_list_new(a, 0);
        if (l)
            gql_ri_return(ri, *l);
        else
            gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    op->pending = n;
    for (int i = 0; i < n; i++) {
        char key[PROTO_MAX_USER_ID + 16];
        snprintf(key, sizeof key, "presence:%s", pg_result_get(r, i, 0));
        const char *argv[] = {"HGETALL", key};
        if (rd_command(op->base.srv->rd, 2, argv, NULL, on_presence, op) != 0) {
            /* count it as answered (offline) */
            on_presence(op, CD_EUNAVAIL, NULL);
        }
    }
}

static void r_online_users(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    const char *id = uuid_arg(ri, "chatId");
    if (!id) return;
    qop *op = new_op(ri, Q_USERS);
    if (!op) return;
    const char *params[] = {id, NULLIF_EMPTY(uid)};
    run(op, "recv_q_chat_users", 2, params);
}

/* chatEventsSince: the log after afterSeq as ChatEvent objects. */
static void on_events_rows(qop *op, const pg_result *r)
{
    gql_rinfo *ri = op->base.ri;
    if (pg_result_rows(r) == 0 || !pg_result_get(r, 0, 2)) {
        gql_ri_error(ri, CHAT_E_NOT_FOUND, "Chat with ID %s not found", op->id);
        return;
    }
    if (!is_true(pg_result_get(r, 0, 0))) {
        gql_ri_error(ri, CHAT_E_FORBIDDEN, "Forbidden: not a participant of this chat");
        return;
    }
    const char *oldest = pg_result_get(r, 0, 1);
    const char *fl = pg_result_get(r, 0, 4);
    int64_t floor = fl ? strtoll(fl, NULL, 10) : 0;
    int64_t last = strtoll(pg_result_get(r, 0, 2), NULL, 10), from;
    if (recv_replay_start(op->after, floor > 0 ? floor - 1 : 0,
                          oldest ? strtoll(oldest, NULL, 10) : -1, last, &from) != 0) {
        gql_ri_error(ri, CHAT_E_RESYNC,
                     "afterSeq is older than the retained event log; refetch the history");
        return;
    }
    gql_value list;
    if (!parse_json(ri, pg_result_get(r, 0, 3), &list)) return;
    cd_arena *a = gql_ri_arena(ri);
    for (uint32_t i = 0; i < list.len; i++) {
        gql_value *ev = &list.u.items[i];
        const gql_value *data = gql_obj_get(ev, "data");
        const gql_value *kind = gql_obj_get(ev, "kind");
        const gql_value *at = gql_obj_get(ev, "at");
        const gql_value *seq = gql_obj_get(ev, "seq");
        const gql_value *cid = gql_obj_get(ev, "chatId");
        bool is_msg = kind && ((kind->len > 8 && strncmp(kind->u.s, "message.", 8) == 0) ||
                               (kind->len == strlen(CHAT_EV_REACTION) &&
                                memcmp(kind->u.s, CHAT_EV_REACTION, kind->len) == 0));
        gql_value *o = gql_obj_new(a, 13);
        if (!o || !data || !kind) {
            gql_ri_error(ri, CHAT_E_INTERNAL, "Internal server error");
            return;
        }
        const gql_value *chat = gql_obj_get(data, "chat");
        const gql_value *uid = gql_obj_get(data, "userId");
        const gql_value *upto = gql_obj_get(data, "upToSeq");
        const gql_value *rat = gql_obj_get(data, "readAt");
        gql_obj_set(o, 0, "chatId", *cid);
        gql_obj_set(o, 1, "seq", *seq);
        gql_obj_set(o, 2, "kind", *kind);
        gql_obj_set(o, 3, "createdAt", at ? *at : gql_null());
        gql_obj_set(o, 4, "message", is_msg ? *data : gql_null());
        gql_obj_set(o, 5, "chat", chat ? *chat : gql_null());
        gql_obj_set(o, 6, "userId", uid ? *uid : gql_null());
        gql_obj_set(o, 7, "upToSeq", upto ? *upto : gql_null());
        gql_obj_set(o, 8, "readAt", rat ? *rat : gql_null());
        const gql_value *emoji = gql_obj_get(data, "emoji"), *added = gql_obj_get(data, "added");
        gql_obj_set(o, 9, "emoji", emoji ? *emoji : gql_null());
        gql_obj_set(o, 10, "added", added ? *added : gql_null());
        const gql_value *dat = gql_obj_get(data, "deliveredAt");
        bool is_role = kind->len == strlen(CHAT_EV_PARTICIPANT_ROLE) &&
                       memcmp(kind->u.s, CHAT_EV_PARTICIPANT_ROLE, kind->len) == 0;
        const gql_value *role = is_role ? gql_obj_get(data, "role") : NULL;
        gql_obj_set(o, 11, "deliveredAt", dat ? *dat : gql_null());
        gql_obj_set(o, 12, "role", role ? *role : gql_null());
        *ev = *o;
    }
    gql_ri_return(ri, list);
}

static void r_events_since(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    const char *id = uuid_arg(ri, "chatId");
    if (!id) return;
    int64_t after = 0, limit = RECV_EVENTS_DEFAULT_LIMIT;
    int_arg(ri, "afterSeq", &after);
    if (int_arg(ri, "limit", &limit) && (limit < 1 || limit > RECV_MESSAGES_MAX_LIMIT)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "limit must be between 1 and %d",
                     RECV_MESSAGES_MAX_LIMIT);
        return;
    }
    if (after < 0) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "afterSeq must not be negative");
        return;
    }
    qop *op = new_op(ri, Q_EVENTS);
    if (!op) return;
    op->id = id;
    op->after = after;
    char a[24], l[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(l, sizeof l, "%" PRId64, limit);
    const char *params[] = {id, NULLIF_EMPTY(uid), a, l};
    run(op, "recv_q_events", 4, params);
}

/* ---- batch loader (nested fields) ---- */

/* LD_HISTORY: LD_MANY that fails HISTORY_TOO_LONG past the history cap;
 * LD_FIELD: like LD_ONE, then the row object's property `field` */
typedef enum ld_mode { LD_ONE, LD_EACH, LD_MANY, LD_INT, LD_HISTORY, LD_FIELD } ld_mode;

typedef struct ld_item {
    struct ld_item *next;
    gql_rinfo *ri;
    const char **keys;
    uint32_t nkeys;
    ld_mode mode;
    const char *field; /* LD_FIELD */
} ld_item;

typedef struct ld_batch {
    struct ld_batch *next;
    const char *stmt;
    char extra[PROTO_MAX_USER_ID + 1]; /* second parameter ("" = NULL) */
    int nparams;                       /* 1, 2 (extra) or 3 (extra, the statement's third) */
    const char *third;                 /* static text */
    ld_item *items;
    unsigned nitems;
} ld_batch;

static struct {
    ld_batch *pending;
    uv_timer_t timer;
    bool timer_init;
    bool armed;
    proto_server *srv;
} ld;

static void ld_fail_all(ld_batch *b, int status, const char *msg)
{
    /* completing a field may free its arena, which holds the item */
    for (ld_item *it = b->items, *nx; it; it = nx) {
        nx = it->next;
        chat_fail_pg(it->ri, status, msg, b->stmt);
    }
}

static void ld_complete(ld_item *it, const pg_result *r)
{
    gql_rinfo *ri = it->ri;
    cd_arena *a = gql_ri_arena(ri);
    int n = pg_result_rows(r);
    if (it->mode == LD_ONE || it->mode == LD_INT || it->mode == LD_FIELD) {
        for (int i = 0; i < n; i++)
            if (strcmp(pg_result_get(r, i, 0), it->keys[0]) == 0) {
                const char *s = pg_result_get(r, i, 1);
                if (it->mode == LD_INT) {
                    gql_ri_return(ri, gql_int(strtoll(s, NULL, 10)));
                    return;
                }
                gql_value v;
                if (!parse_json(ri, s, &v)) return;
                if (it->mode == LD_FIELD) {
                    const gql_value *f = v.kind == GQL_V_OBJECT ? gql_obj_get(&v, it->field) : NULL;
                    gql_ri_return(ri, f ? *f : gql_null());
                    return;
                }
                gql_ri_return(ri, v);
                return;
            }
        gql_ri_return(ri, gql_null());
        return;
    }
    if (it->mode == LD_HISTORY) {
        int64_t k = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(pg_result_get(r, i, 0), it->keys[0]) == 0) k++;
        if (k > history_cap) {
            history_too_long(ri);
            return;
        }
    }
    /* LD_EACH: keys in order; LD_MANY / LD_HISTORY: every row of keys[0] */
    uint32_t cap = it->mode == LD_EACH ? it->nkeys : (uint32_t)n;
    gql_value *l = gql_list_new(a, cap);
    if (!l) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    uint32_t k = 0;
    if (it->mode == LD_EACH) {
        for (uint32_t j = 0; j < it->nkeys; j++)
            for (int i = 0; i < n; i++)
                if (strcmp(pg_result_get(r, i, 0), it->keys[j]) == 0) {
                    if (!parse_json(ri, pg_result_get(r, i, 1), &l->u.items[k++])) return;
                    break;
                }
    } else {
        for (int i = 0; i < n; i++)
            if (strcmp(pg_result_get(r, i, 0), it->keys[0]) == 0)
                if (!parse_json(ri, pg_result_get(r, i, 1), &l->u.items[k++])) return;
    }
    l->len = k;
    gql_ri_return(ri, *l);
}

static void ld_on_rows(const pg_result *r, void *ud)
{
    ld_batch *b = ud;
    if (r->status != 0)
        ld_fail_all(b, r->status, r->message);
    else
        for (ld_item *it = b->items, *nx; it; it = nx) {
            nx = it->next;
            ld_complete(it, r);
        }
    cd_free(b);
}

static bool has_key(const cd_buf *b, const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, k, n) == 0) return true;
    return false;
}

static void ld_flush(uv_timer_t *t)
{
    (void)t;
    ld.armed = false;
    ld_batch *list = ld.pending;
    ld.pending = NULL;
    while (list) {
        ld_batch *b = list;
        list = b->next;
        cd_buf keys;
        cd_buf_init(&keys);
        cd_buf_putc(&keys, '{');
        unsigned nk = 0;
        for (ld_item *it = b->items; it; it = it->next)
            for (uint32_t j = 0; j < it->nkeys; j++) {
                /* distinct keys: UUIDs have one length, so a substring
                 * match in the list built so far is an exact match */
                if (nk >= RECV_BATCH_KEYS_MAX || cd_buf_failed(&keys)) break;
                if (has_key(&keys, it->keys[j])) continue;
                if (nk++) cd_buf_putc(&keys, ',');
                cd_buf_puts(&keys, it->keys[j]);
            }
        cd_buf_putc(&keys, '}');
        cd_buf_putc(&keys, 0);
        cd_debug("receiver", "loader %s: %u fields, %u keys", b->stmt, b->nitems, nk);
        int qs = CD_ENOMEM;
        if (!cd_buf_failed(&keys)) {
            const char *params[] = {keys.data, b->extra[0] ? b->extra : NULL, b->third};
            qs = chat_read_query(ld.srv, b->stmt, b->nparams, params, ld_on_rows, b);
        }
        cd_buf_free(&keys);
        if (qs != 0) {
            ld_fail_all(b, qs, "loader");
            cd_free(b);
        }
    }
}

static void ld_close(proto_server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    if (ld.timer_init) {
        uv_timer_stop(&ld.timer);
        uv_close((uv_handle_t *)&ld.timer, NULL);
        ld.timer_init = false;
    }
}

/* Queues one nested field. keys point into the resolver arena. extra: the
 * statement's $2 (NULL: it has none; "": NULL), third: its $3 (static);
 * field: the property LD_FIELD returns (static storage or the arena). */
static void ld_load_full(gql_rinfo *ri, const char *stmt, const char *extra, const char *third,
                         const char **keys, uint32_t nkeys, ld_mode mode, const char *field)
{
    int nparams = third ? 3 : extra ? 2 : 1;
    proto_server *srv = gql_ri_userdata(ri);
    if (!chat_pool(srv)) {
        gql_ri_error(ri, CHAT_E_UNAVAILABLE, "Database unavailable");
        return;
    }
    ld_item *it = cd_arena_calloc(gql_ri_arena(ri), 1, sizeof *it);
    if (!it) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    it->ri = ri;
    it->keys = keys;
    it->nkeys = nkeys;
    it->mode = mode;
    it->field = field;
    if (!extra) extra = "";
    if (strlen(extra) > PROTO_MAX_USER_ID) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Internal server error");
        return;
    }
    ld_batch *b = ld.pending;
    for (; b; b = b->next)
        if (strcmp(b->stmt, stmt) == 0 && strcmp(b->extra, extra) == 0 && b->third == third) break;
    if (!b) {
        b = cd_calloc(1, sizeof *b);
        if (!b) {
            gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
            return;
        }
        b->stmt = stmt;
        b->nparams = nparams;
        b->third = third;
        snprintf(b->extra, sizeof b->extra, "%s", extra);
        b->next = ld.pending;
        ld.pending = b;
    }
    it->next = b->items;
    b->items = it;
    b->nitems++;
    if (!ld.timer_init) {
        ld.srv = srv;
        uv_timer_init(srv->loop, &ld.timer);
        ld.timer_init = true;
        proto_on_shutdown(srv, ld_close, NULL);
    }
    if (!ld.armed) {
        ld.armed = true;
        uv_timer_start(&ld.timer, ld_flush, 0, 0);
    }
}

static void ld_load(gql_rinfo *ri, const char *stmt, const char *extra, const char **keys,
                    uint32_t nkeys, ld_mode mode)
{
    ld_load_full(ri, stmt, extra, NULL, keys, nkeys, mode, NULL);
}

/* The parent's string property `name` if it is a UUID. */
static const char *parent_uuid(gql_rinfo *ri, const char *name)
{
    const gql_value *p = gql_ri_parent(ri);
    const gql_value *v = p && p->kind == GQL_V_OBJECT ? gql_obj_get(p, name) : NULL;
    if (!v || v->kind != GQL_V_STRING || !cd_uuid_valid(v->u.s, v->len)) return NULL;
    return v->u.s;
}

static const char **one_key(gql_rinfo *ri, const char *k)
{
    const char **keys = cd_arena_alloc(gql_ri_arena(ri), sizeof *keys);
    if (keys) keys[0] = k;
    return keys;
}

static void r_message_sender(gql_rinfo *ri)
{
    const char *id = parent_uuid(ri, "senderId");
    const char **keys = id ? one_key(ri, id) : NULL;
    if (!keys) {
        gql_ri_return(ri, gql_null());
        return;
    }
    ld_load(ri, "recv_b_users", NULL, keys, 1, LD_ONE);
}

static void r_chat_participants(gql_rinfo *ri)
{
    const gql_value *p = gql_ri_parent(ri);
    const gql_value *ids = p && p->kind == GQL_V_OBJECT ? gql_obj_get(p, "participantIds") : NULL;
    if (!ids || ids->kind != GQL_V_LIST) {
        gql_ri_return(ri, gql_null());
        return;
    }
    const char **keys = cd_arena_calloc(gql_ri_arena(ri), ids->len + 1, sizeof *keys);
    if (!keys) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < ids->len; i++) {
        const gql_value *v = &ids->u.items[i];
        if (v->kind == GQL_V_STRING && cd_uuid_valid(v->u.s, v->len)) keys[n++] = v->u.s;
    }
    ld_load(ri, "recv_b_users", NULL, keys, n, LD_EACH);
}

static void r_chat_messages(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    const char *id = parent_uuid(ri, "id");
    const char **keys = id ? one_key(ri, id) : NULL;
    if (!keys) {
        gql_ri_return(ri, gql_null());
        return;
    }
    ld_load_full(ri, "recv_b_chat_msgs", uid, history_cap_sql, keys, 1, LD_HISTORY, NULL);
}

static void r_chat_last_message(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    const char *id = parent_uuid(ri, "id");
    const char **keys = id ? one_key(ri, id) : NULL;
    if (!keys) {
        gql_ri_return(ri, gql_null());
        return;
    }
    ld_load(ri, "recv_b_last_msg", uid, keys, 1, LD_ONE);
}

/* ---- replies and reactions (nested Message fields) ---- */

static void r_message_reply_to(gql_rinfo *ri)
{
    const char *id = parent_uuid(ri, "replyToId");
    const char **keys = id ? one_key(ri, id) : NULL;
    if (!keys) {
        gql_ri_return(ri, gql_null());
        return;
    }
    const char *uid = viewer(ri);
    if (!uid) return;
    ld_load(ri, "recv_b_reply_to", uid, keys, 1, LD_ONE);
}

static void r_message_reply_count(gql_rinfo *ri)
{
    const char *id = parent_uuid(ri, "id");
    const char **keys = id ? one_key(ri, id) : NULL;
    if (!keys) {
        gql_ri_return(ri, gql_int(0));
        return;
    }
    ld_load(ri, "recv_b_reply_count", NULL, keys, 1, LD_INT);
}

static void r_message_reactions(gql_rinfo *ri)
{
    static char users_max[16];
    if (!users_max[0]) snprintf(users_max, sizeof users_max, "%d", RECV_REACTION_USERS_MAX);
    const char *id = parent_uuid(ri, "id");
    const char **keys = id ? one_key(ri, id) : NULL;
    if (!keys) {
        gql_value *l = gql_list_new(gql_ri_arena(ri), 0);
        if (l)
            gql_ri_return(ri, *l);
        else
            gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    const char *uid = viewer(ri);
    if (!uid) return;
    ld_load_full(ri, "recv_b_reactions", uid, users_max, keys, 1, LD_MANY, NULL);
}

/* ReactionGroup.users(first:): the loader fetched the first
 * RECV_REACTION_USERS_MAX; this takes the first `first` of them. */
static void r_reaction_users(gql_rinfo *ri)
{
    int64_t first;
    if (!chat_int_arg(ri, "first", RECV_REACTION_USERS_DEFAULT, 1, RECV_REACTION_USERS_MAX, &first))
        return;
    const gql_value *p = gql_ri_parent(ri);
    const gql_value *u = p && p->kind == GQL_V_OBJECT ? gql_obj_get(p, "users") : NULL;
    if (!u || u->kind != GQL_V_LIST) {
        gql_value *l = gql_list_new(gql_ri_arena(ri), 0);
        if (l)
            gql_ri_return(ri, *l);
        else
            gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    gql_value v = *u;
    if ((int64_t)v.len > first) v.len = (uint32_t)first;
    gql_ri_return(ri, v);
}

/* A field of the parent Chat that depends on the viewer: loaded with the
 * caller's id as $2; null without an identity (trust mode). */
static void load_for_viewer(gql_rinfo *ri, const char *stmt, ld_mode mode)
{
    const char *id = parent_uuid(ri, "id");
    const char *uid = chat_authz_user_opt(ri);
    const char **keys = id ? one_key(ri, id) : NULL;
    if (!keys || !uid || !cd_uuid_valid(uid, strlen(uid))) {
        gql_ri_return(ri, gql_null());
        return;
    }
    ld_load(ri, stmt, uid, keys, 1, mode);
}

static void r_chat_unread(gql_rinfo *ri)
{
    load_for_viewer(ri, "recv_b_unread", LD_INT);
}

/* Chat.myRole: the viewer's role (null for a non-participant or without
 * an identity in trust mode). */
static void r_chat_my_role(gql_rinfo *ri)
{
    load_for_viewer(ri, "recv_b_my_role", LD_ONE);
}

/* MessageReadStatus.deliveredCount / isFullyDelivered / deliveredToUsers:
 * one loader statement for the three (same key and statement). The parent
 * came from messageReadStatus, which checked the caller. */
static void r_read_status_delivered(gql_rinfo *ri)
{
    const char *id = parent_uuid(ri, "messageId");
    const char **keys = id ? one_key(ri, id) : NULL;
    if (!keys) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Internal server error");
        return;
    }
    ld_load_full(ri, "recv_b_delivered", NULL, NULL, keys, 1, LD_FIELD, gql_ri_field_name(ri));
}

/* ---- Chat.members ---- */

/* Parses a Chat.members cursor "<joined_seq>:<pos>:<user uuid>" into the
 * three keyset params (text in the arena). false when it is not one. */
static bool parse_member_cursor(cd_arena *a, const char *s, size_t len, const char **seq,
                                const char **pos, const char **user)
{
    if (!s || len == 0 || len > RECV_MEMBER_CURSOR_MAX) return false;
    const char *c1 = memchr(s, ':', len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;
    if (!c1 || !c2) return false;
    size_t l1 = (size_t)(c1 - s), l2 = (size_t)(c2 - c1 - 1), l3 = len - (size_t)(c2 + 1 - s);
    if (l1 == 0 || l1 > 18 || l2 == 0 || l2 > 9 || !cd_uuid_valid(c2 + 1, l3)) return false;
    for (size_t i = 0; i < l1; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    for (size_t i = 0; i < l2; i++)
        if (c1[1 + i] < '0' || c1[1 + i] > '9') return false;
    char *p1 = cd_arena_alloc(a, l1 + 1), *p2 = cd_arena_alloc(a, l2 + 1),
         *p3 = cd_arena_alloc(a, l3 + 1);
    if (!p1 || !p2 || !p3) return false;
    memcpy(p1, s, l1);
    p1[l1] = 0;
    memcpy(p2, c1 + 1, l2);
    p2[l2] = 0;
    memcpy(p3, c2 + 1, l3);
    p3[l3] = 0;
    *seq = p1;
    *pos = p2;
    *user = p3;
    return true;
}

static void on_members_row(qop *op, const pg_result *r)
{
    gql_rinfo *ri = op->base.ri;
    cd_arena *a = gql_ri_arena(ri);
    if (pg_result_rows(r) == 0) {
        gql_ri_error(ri, CHAT_E_NOT_FOUND, "Chat with ID %s not found", op->id);
        return;
    }
    if (!is_true(pg_result_get(r, 0, 0))) {
        gql_ri_error(ri, CHAT_E_FORBIDDEN, "Forbidden: not a participant of this chat");
        return;
    }
    const char *count = pg_result_get(r, 0, 1);
    gql_value edges;
    if (!parse_json(ri, pg_result_get(r, 0, 2), &edges)) return;
    bool more = edges.kind == GQL_V_LIST && (int64_t)edges.len > op->first;
    if (more) edges.len = (uint32_t)op->first;
    gql_value end = gql_null();
    if (edges.kind == GQL_V_LIST && edges.len > 0) {
        const gql_value *c = gql_obj_get(&edges.u.items[edges.len - 1], "cursor");
        if (c) end = *c;
    }
    gql_value *page = gql_obj_new(a, 2), *conn = gql_obj_new(a, 3);
    if (!page || !conn) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    gql_obj_set(page, 0, "hasNextPage", gql_bool(more));
    gql_obj_set(page, 1, "endCursor", end);
    gql_obj_set(conn, 0, "edges", edges);
    gql_obj_set(conn, 1, "pageInfo", *page);
    gql_obj_set(conn, 2, "totalCount", gql_int(count ? strtoll(count, NULL, 10) : 0));
    gql_ri_return(ri, *conn);
}

static void r_chat_members(gql_rinfo *ri)
{
    const char *id = parent_uuid(ri, "id");
    if (!id) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Internal server error");
        return;
    }
    const char *uid = viewer(ri);
    if (!uid) return;
    int64_t first;
    if (!chat_int_arg(ri, "first", RECV_MEMBERS_DEFAULT_PAGE, 1, RECV_MEMBERS_MAX_PAGE, &first))
        return;
    const char *seq = "-1", *pos = "-1", *user = "00000000-0000-0000-0000-000000000000";
    size_t alen = 0;
    const char *after = chat_str_arg(ri, "after", &alen);
    if (after && !parse_member_cursor(gql_ri_arena(ri), after, alen, &seq, &pos, &user)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "after is not a cursor of Chat.members");
        return;
    }
    qop *op = new_op(ri, Q_MEMBERS);
    if (!op) return;
    char *lim = cd_arena_alloc(gql_ri_arena(ri), 24);
    if (!lim) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    snprintf(lim, 24, "%lld", (long long)first + 1);
    op->id = id;
    op->first = first;
    const char *params[] = {id, NULLIF_EMPTY(uid), seq, pos, user, lim};
    run(op, "recv_q_members", 6, params);
}

/* ---- searchMessages ---- */

int recv_search_tokens(const char *query, size_t len, cd_buf *out)
{
    int n = 0;
    size_t i = 0;
    cd_buf_putc(out, '{');
    while (i < len) {
        unsigned char c = (unsigned char)query[i];
        bool word =
            c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!word) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len) {
            unsigned char d = (unsigned char)query[j];
            if (!(d >= 0x80 || (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') ||
                  (d >= 'A' && d <= 'Z')))
                break;
            j++;
        }
        if (++n > RECV_SEARCH_TERMS_MAX) return -1;
        if (n > 1) cd_buf_putc(out, ',');
        cd_buf_putc(out, '"');
        cd_buf_append(out, query + i, j - i);
        cd_buf_putc(out, '"');
        i = j;
    }
    cd_buf_putc(out, '}');
    return n;
}

static const char hexd[] = "0123456789abcdef";

/* A search cursor: hex of "<rank>:<message id>" (opaque to clients). */
static gql_value search_cursor(cd_arena *a, const gql_value *rank, const gql_value *id)
{
    if (!rank || rank->kind != GQL_V_STRING || !id || id->kind != GQL_V_STRING) return gql_null();
    size_t n = rank->len + 1 + id->len;
    char *o = cd_arena_alloc(a, n * 2 + 1);
    if (!o) return gql_null();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = i < rank->len    ? (unsigned char)rank->u.s[i]
                          : i == rank->len ? ':'
                                           : (unsigned char)id->u.s[i - rank->len - 1];
        o[k++] = hexd[c >> 4];
        o[k++] = hexd[c & 15];
    }
    o[k] = 0;
    return gql_str_ref(o, k);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Parses a search cursor into (rank, id) text in the arena; false when it is
 * not one. */
static bool parse_search_cursor(cd_arena *a, const char *s, size_t len, const char **rank,
                                const char **id)
{
    if (!s || len == 0 || len > RECV_SEARCH_CURSOR_MAX || len % 2) return false;
    size_t n = len / 2;
    char *t = cd_arena_alloc(a, n + 1);
    if (!t) return false;
    for (size_t i = 0; i < n; i++) {
        int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
        if (h < 0 || l < 0) return false;
        t[i] = (char)(h << 4 | l);
    }
    t[n] = 0;
    char *colon = memchr(t, ':', n);
    if (!colon || colon == t || colon - t > 24) return false;
    for (char *c = t; c < colon; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == '-' || *c == '+'))
            return false;
    if (!cd_uuid_valid(colon + 1, n - (size_t)(colon + 1 - t))) return false;
    *colon = 0;
    char *end = NULL;
    strtod(t, &end);
    if (!end || *end) return false;
    *rank = t;
    *id = colon + 1;
    return true;
}

static void on_search_row(qop *op, const pg_result *r)
{
    gql_rinfo *ri = op->base.ri;
    cd_arena *a = gql_ri_arena(ri);
    if (pg_result_rows(r) == 0 || !is_true(pg_result_get(r, 0, 0))) {
        gql_ri_error(ri, CHAT_E_FORBIDDEN, "Forbidden: not a participant of this chat");
        return;
    }
    gql_value hits;
    if (!parse_json(ri, pg_result_get(r, 0, 1), &hits)) return;
    if (hits.kind != GQL_V_LIST) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Internal server error");
        return;
    }
    bool more = (int64_t)hits.len > op->first;
    uint32_t n = more ? (uint32_t)op->first : hits.len;
    gql_value *edges = gql_list_new(a, n);
    gql_value *page = gql_obj_new(a, 2), *conn = gql_obj_new(a, 2);
    if (!edges || !page || !conn) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    gql_value end = gql_null();
    for (uint32_t i = 0; i < n; i++) {
        const gql_value *h = &hits.u.items[i];
        gql_value *e = gql_obj_new(a, 3);
        if (!e) {
            gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
            return;
        }
        gql_value cur = search_cursor(a, gql_obj_get(h, "rank"), gql_obj_get(h, "id"));
        const gql_value *hl = gql_obj_get(h, "highlight");
        const gql_value *m = gql_obj_get(h, "message");
        gql_obj_set(e, 0, "cursor", cur);
        gql_obj_set(e, 1, "highlight", hl ? *hl : gql_str_ref("", 0));
        gql_obj_set(e, 2, "message", m ? *m : gql_null());
        edges->u.items[i] = *e;
        end = cur;
    }
    gql_obj_set(page, 0, "hasNextPage", gql_bool(more));
    gql_obj_set(page, 1, "endCursor", end);
    gql_obj_set(conn, 0, "edges", *edges);
    gql_obj_set(conn, 1, "pageInfo", *page);
    gql_ri_return(ri, *conn);
}

static void r_search_messages(gql_rinfo *ri)
{
    const char *uid = viewer(ri);
    if (!uid) return;
    if (!*uid) { /* trust mode without the user-id header: whose chats? */
        gql_ri_error(ri, CHAT_E_UNAUTHENTICATED,
                     "searchMessages needs a caller (a token, or the user-id header)");
        return;
    }
    size_t qlen = 0;
    const char *q = chat_str_arg(ri, "query", &qlen);
    if (!q || qlen == 0 || qlen > RECV_SEARCH_QUERY_MAX) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "query must be 1 to %d bytes", RECV_SEARCH_QUERY_MAX);
        return;
    }
    if (!cd_text_is_clean(q, qlen, false)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "query contains invalid characters");
        return;
    }
    int64_t first;
    if (!chat_int_arg(ri, "first", RECV_SEARCH_DEFAULT_PAGE, 1, RECV_SEARCH_MAX_PAGE, &first))
        return;
    const char *chat = NULL;
    const gql_value *cv = gql_ri_arg(ri, "chatId");
    if (cv && cv->kind != GQL_V_NULL && !(chat = uuid_arg(ri, "chatId"))) return;
    const char *rank = NULL, *after_id = NULL;
    size_t alen = 0;
    const char *after = chat_str_arg(ri, "after", &alen);
    cd_arena *a = gql_ri_arena(ri);
    if (after && !parse_search_cursor(a, after, alen, &rank, &after_id)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "after is not a cursor of searchMessages");
        return;
    }
    cd_buf t;
    cd_buf_init(&t);
    int nt = recv_search_tokens(q, qlen, &t);
    char *tokens = nt > 0 && !cd_buf_failed(&t) ? cd_arena_alloc(a, t.len + 1) : NULL;
    if (tokens) {
        memcpy(tokens, t.data, t.len);
        tokens[t.len] = 0;
    }
    cd_buf_free(&t);
    if (nt < 0) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "query has too many words (at most %d)",
                     RECV_SEARCH_TERMS_MAX);
        return;
    }
    if (nt == 0) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "query must contain a letter or a digit");
        return;
    }
    char *lim = cd_arena_alloc(a, 24);
    qop *op = tokens && lim ? new_op(ri, Q_SEARCH) : NULL;
    if (!op) {
        if (!tokens || !lim) gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    snprintf(lim, 24, "%lld", (long long)first + 1);
    op->first = first;
    const char *params[] = {uid, tokens, chat, lim, rank, after_id};
    run(op, "recv_q_search", 6, params);
}

/* ---- binding ---- */

int recv_queries_bind(proto_server *srv)
{
    static const struct {
        const char *coord;
        gql_resolve_fn fn;
    } binds[] = {
        {"Query.chats", r_chats},
        {"Query.chat", r_chat},
        {"Query.chatsByParticipant", r_chats_by_participant},
        {"Query.messages", r_messages},
        {"Query.message", r_message},
        {"Query.messageReadStatus", r_read_status},
        {"Query.unreadCounts", r_unread_counts},
        {"Query.unreadCount", r_unread_count},
        {"Query.onlineUsers", r_online_users},
        {"Query.chatEventsSince", r_events_since},
        {"Message.sender", r_message_sender},
        {"Message.replyTo", r_message_reply_to},
        {"Message.replyCount", r_message_reply_count},
        {"Message.reactions", r_message_reactions},
        {"ReactionGroup.users", r_reaction_users},
        {"Query.searchMessages", r_search_messages},
        {"Chat.participants", r_chat_participants},
        {"Chat.members", r_chat_members},
        {"Chat.messages", r_chat_messages},
        {"Chat.lastMessage", r_chat_last_message},
        {"Chat.unreadCount", r_chat_unread},
        {"Chat.myRole", r_chat_my_role},
        {"MessageReadStatus.deliveredCount", r_read_status_delivered},
        {"MessageReadStatus.isFullyDelivered", r_read_status_delivered},
        {"MessageReadStatus.deliveredToUsers", r_read_status_delivered},
    };
    for (unsigned i = 0; i < CD_ARRAY_LEN(binds); i++) {
        int r = gql_schema_bind(srv->schema, binds[i].coord, binds[i].fn, srv);
        if (r != 0) {
            cd_error("receiver", "bind %s: %s", binds[i].coord, cd_strerror(r));
            return r;
        }
    }
    const cd_config *cfg = srv->cfg;
    const char *cap = getenv("CHATD_TEST_HISTORY_CAP");
    if (cap && *cap && cfg && cfg->test_fixtures) {
        long long v = strtoll(cap, NULL, 10);
        if (v >= 1 && v <= RECV_HISTORY_CAP) {
            history_cap = v;
            cd_warn("receiver", "CHATD_TEST_HISTORY_CAP=%lld: history cap lowered (test hook)", v);
        }
    }
    snprintf(history_cap_sql, sizeof history_cap_sql, "%lld", (long long)history_cap + 1);
    return chat_stmts_add_reads(query_stmts, CD_ARRAY_LEN(query_stmts));
}
