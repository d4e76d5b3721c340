/*
 * sender.c — the sender role's resolvers (see chat_internal.h).
 *
 * Each resolver validates its arguments and the caller, then runs one
 * prepared statement (a plpgsql function of 0003_chats.sql /
 * 0006_membership_scale.sql) and completes from its callback. createMessage
 * and markChatAsRead go through the group-commit window (batch.c, keyed by
 * their chat id): they share a transaction with concurrent ones, each with
 * its own savepoint and its own result. Per-call state (struct sop) lives in the resolver's
 * arena, valid until the field completes; the publish contexts of the
 * outbox are separate heap allocations (outbox.c).
 *
 * Caller rules (token mode): senderId / userId arguments naming the acting
 * user must equal the token's user (FORBIDDEN); the other mutations act as
 * the token's user. Trust mode: those arguments identify the caller; the
 * others use the user-id header when sent, and skip the participant check
 * when not (the seed's behaviour). Participant, author and role checks
 * (owner/admin/member, 0008_roles_delivered.sql) happen in SQL under the
 * chat's lock, so they cannot race a concurrent removal or role change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/text.h"

#define SENDER_MAX_ATTACHMENTS 10 /* createMessageInput.attachments (docs/api.md "Files") */
#define SENDER_FN_COLS "SELECT o_ch, o_payload, o_chat::text, o_seq::text FROM "

static const chat_stmt sender_stmts[] = {
    {"sender_create_chat",
     SENDER_FN_COLS "chatd_create_chat($1::uuid, $2, $3, $4, $5::uuid[], $6::int)", 6},
    {"sender_add_participants",
     SENDER_FN_COLS "chatd_add_participants($1::uuid, $2::uuid, $3::uuid[], $4::int)", 4},
    {"sender_remove_participant",
     SENDER_FN_COLS "chatd_remove_participant($1::uuid, $2::uuid, $3::uuid)", 3},
    {"sender_remove_chat", SENDER_FN_COLS "chatd_remove_chat($1::uuid, $2::uuid)", 2},
    /* the hot path (0011_write_path.sql); with attachments the files step
     * (0010_attachments.sql) */
    {CHAT_STMT_CREATE_MESSAGE,
     SENDER_FN_COLS
     "chatd_create_message_reply($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6, $7::uuid)",
     7},
    /* a group's createMessage calls in one statement (batch.c's merge rule,
     * 0012_group_commit.sql): params in the order above, as arrays */
    {CHAT_STMT_CREATE_MESSAGES,
     "SELECT o_ch, o_payload, o_chat::text, o_seq::text, o_i, o_state, o_err FROM "
     "chatd_create_messages($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], "
     "$6::text[], $7::uuid[])",
     7},
    {"sender_create_message_files",
     SENDER_FN_COLS
     "chatd_create_message_files($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6, $7::uuid, $8::uuid[])",
     8},
    {"sender_update_message", SENDER_FN_COLS "chatd_update_message($1::uuid, $2::uuid, $3)", 3},
    {"sender_remove_message", SENDER_FN_COLS "chatd_remove_message($1::uuid, $2::uuid)", 2},
    {"sender_mark_read", SENDER_FN_COLS "chatd_mark_read($1::uuid, $2::uuid, $3::uuid, $4::bigint)",
     4},
    {"sender_typing_check", "SELECT chatd_typing_check($1::uuid, $2::uuid)", 2},
    /* reactions (0009_search_reactions_replies.sql) */
    {"sender_react", SENDER_FN_COLS "chatd_react($1::uuid, $2::uuid, $3, $4::bool, $5::int)", 5},
    /* roles, settings, delivered (0008_roles_delivered.sql) */
    {"sender_set_role", SENDER_FN_COLS "chatd_set_role($1::uuid, $2::uuid, $3::uuid, $4)", 4},
    {"sender_update_chat",
     SENDER_FN_COLS "chatd_update_chat($1::uuid, $2::uuid, $3, $4, $5::boolean)", 5},
    {"sender_mark_delivered", SENDER_FN_COLS "chatd_mark_delivered($1::uuid, $2::uuid, $3::bigint)",
     3},
};

static bool sender_crash_after_commit;

/* ---- pure helpers ---- */

static bool all_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return false;
    return true;
}

const char *chat_sender_check_content(const char *s, size_t len)
{
    if (!s || len == 0 || all_space(s, len)) return "content must not be empty";
    if (len > SENDER_CONTENT_MAX) return "content is too long (at most 10000 bytes)";
    if (!cd_text_is_clean(s, len, true)) return "content contains invalid characters";
    return NULL;
}

const char *chat_sender_check_type(const char *s, size_t len)
{
    if (!s || len == 0 || len > SENDER_TYPE_MAX)
        return "type must be 1 to 32 characters of a-z, 0-9, '_', '-', '.'";
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return "type must be 1 to 32 characters of a-z, 0-9, '_', '-', '.'";
    }
    return NULL;
}

bool chat_sender_type_reserved(const char *s, size_t len)
{
    return s && len == 6 && memcmp(s, "system", 6) == 0;
}

const char *chat_sender_check_client_id(const char *s, size_t len)
{
    if (!s || len == 0) return "clientId must not be empty";
    if (len > SENDER_CLIENT_ID_MAX) return "clientId is too long (at most 128 bytes)";
    if (!cd_text_is_clean(s, len, false)) return "clientId contains invalid characters";
    return NULL;
}

const char *chat_sender_check_emoji(const char *s, size_t len)
{
    if (!s || len == 0) return "emoji must not be empty";
    if (len > SENDER_EMOJI_MAX) return "emoji is too long (at most 32 bytes)";
    if (!cd_text_is_clean(s, len, false)) return "emoji contains invalid characters";
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ') return "emoji must not contain spaces";
    return NULL;
}

const char *chat_sender_check_chat_name(const char *s, size_t len)
{
    if (!s || len == 0 || all_space(s, len)) return "name must not be empty";
    if (len > SENDER_CHAT_NAME_MAX) return "name is too long (at most 100 bytes)";
    if (!cd_text_is_clean(s, len, false)) return "name contains invalid characters";
    return NULL;
}

const char *chat_sender_check_chat_desc(const char *s, size_t len)
{
    if (len > SENDER_CHAT_DESC_MAX) return "description is too long (at most 1000 bytes)";
    if (s && !cd_text_is_clean(s, len, true)) return "description contains invalid characters";
    return NULL;
}

int chat_sender_uuid_array(cd_buf *b, const gql_value *ids, const char *first, const char **bad)
{
    *bad = NULL;
    uint32_t n = ids && ids->kind == GQL_V_LIST ? ids->len : 0;
    if (n > SENDER_MAX_IDS) return CD_ELIMIT;
    bool have_first = false;
    for (uint32_t i = 0; i < n; i++) {
        const gql_value *v = &ids->u.items[i];
        if (v->kind != GQL_V_STRING || !cd_uuid_valid(v->u.s, v->len)) {
            *bad = v->kind == GQL_V_STRING ? v->u.s : "null";
            return CD_EBAD;
        }
        if (first && strcasecmp(first, v->u.s) == 0) have_first = true;
    }
    cd_buf_puts(b, "{");
    bool sep = false;
    if (first && !have_first) {
        cd_buf_puts(b, first);
        sep = true;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (sep) cd_buf_puts(b, ",");
        cd_buf_append(b, ids->u.items[i].u.s, ids->u.items[i].len);
        sep = true;
    }
    cd_buf_puts(b, "}");
    return cd_buf_failed(b) ? CD_ENOMEM : 0;
}

/* ---- resolver plumbing ---- */

typedef enum sop_result {
    SOP_OBJECT, /* the result JSON is the field's value */
    SOP_COUNT,  /* {"<count_key>": n} → Int */
    SOP_TRUE,   /* the change is made: true */
    SOP_TYPING  /* no rows to publish from SQL; publish the typing event */
} sop_result;

typedef struct sop {
    chat_op base;
    const char *stmt;
    int nparams;
    const char *params[7];
    sop_result result;
    const char *count_key; /* SOP_COUNT: the result's key (default "unreadCount") */
    bool create_message;
    bool retried;
    const char *group_key; /* group commit under this chat id (NULL = alone) */
    const char *chat_id;   /* setTyping */
    const char *user_id;
    bool is_typing;
} sop;

static sop *sop_new(gql_rinfo *ri)
{
    sop *op = CHAT_OP_NEW(ri, sop);
    if (op) {
        op->base.fail_fast = true;    /* writes: refuse at once once the database is gone */
        op->base.rate_limited = true; /* the caller's write limit (ratelimit.c) */
    }
    return op;
}

static void on_done(const pg_result *r, void *ud);

/* Runs op's statement; on a refused call completes ri (chat_op_run). */
static void run(sop *op)
{
    if (op->group_key)
        chat_op_run_grouped(&op->base, op->group_key, op->stmt, op->nparams, op->params, on_done);
    else
        chat_op_run(&op->base, op->stmt, op->nparams, op->params, on_done);
}

/* The common tail of every mutation resolver: statement `stmt` with its n
 * params, copied into op (they must outlive this call: the write limit and
 * group commit run it later); set op->group_key first to group-commit it. */
static void run_stmt(sop *op, const char *stmt, int n, const char *const *params)
{
    op->stmt = stmt;
    op->nparams = n;
    memcpy(op->params, params, (size_t)n * sizeof *params);
    run(op);
}

static void publish_rows(sop *op, const pg_result *r, const char **result)
{
    int rows = pg_result_rows(r);
    for (int i = 0; i < rows; i++) {
        const char *ch = pg_result_get(r, i, 0);
        const char *payload = pg_result_get(r, i, 1);
        if (!payload) continue;
        if (!ch) {
            *result = payload;
            continue;
        }
        const char *chat = pg_result_get(r, i, 2);
        const char *seq = pg_result_get(r, i, 3);
        if (chat && seq)
            chat_outbox_publish_event(op->base.srv, ch, payload, strlen(payload), chat, seq);
        else
            chat_outbox_publish(op->base.srv, ch, payload, strlen(payload));
    }
}

static void publish_typing(sop *op)
{
    char ch[CHAT_EV_CHANNEL_MAX], at[32];
    if (chat_ev_eph_channel(ch, sizeof ch, op->chat_id) != 0) return;
    chat_ev_now_iso(at);
    cd_buf b;
    cd_buf_init(&b);
    chat_ev_typing_json(&b, op->chat_id, op->user_id, op->is_typing, at);
    if (!cd_buf_failed(&b)) chat_outbox_publish(op->base.srv, ch, b.data, b.len);
    cd_buf_free(&b);
}

static void on_done(const pg_result *r, void *ud)
{
    sop *op = ud;
    if (r->status != 0) {
        /* two first sends of one clientId raced: the loser rolled back
         * entirely; running it again returns the stored message */
        if (r->status == CD_EEXIST && op->create_message && !op->retried) {
            op->retried = true;
            run(op);
            return;
        }
        chat_fail_sql(op->base.ri, r, op->stmt);
        return;
    }
    if (op->result == SOP_TYPING) {
        publish_typing(op);
        gql_ri_return(op->base.ri, gql_bool(true));
        return;
    }
    if (op->create_message && sender_crash_after_commit) {
        cd_warn("sender", "CHATD_TEST_CRASH_AFTER_COMMIT: exiting after COMMIT, before PUBLISH");
        _exit(SENDER_CRASH_EXIT_CODE);
    }
    const char *result = NULL;
    publish_rows(op, r, &result);
    if (!result) {
        cd_error("sender", "%s returned no result row", op->stmt);
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Internal server error");
        return;
    }
    gql_value v;
    char err[128];
    int rc = gql_json_parse(gql_ri_arena(op->base.ri), result, strlen(result), &v, err, sizeof err);
    if (rc != 0) {
        cd_error("sender", "%s: result JSON: %s", op->stmt, err);
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Internal server error");
        return;
    }
    if (op->result == SOP_TRUE) {
        gql_ri_return(op->base.ri, gql_bool(true));
        return;
    }
    if (op->result == SOP_COUNT) {
        const gql_value *n = gql_obj_get(&v, op->count_key ? op->count_key : "unreadCount");
        gql_ri_return(op->base.ri, n && n->kind == GQL_V_INT ? *n : gql_int(0));
        return;
    }
    gql_ri_return(op->base.ri, v);
}

/* ---- argument helpers ---- */

/* A chat/message id argument: a UUID, else NOT_FOUND naming it. */
static const char *id_arg(gql_rinfo *ri, const char *name, const char *what)
{
    size_t len = 0;
    const char *id = chat_str_arg(ri, name, &len);
    if (!id || !cd_uuid_valid(id, len)) {
        gql_ri_error(ri, CHAT_E_NOT_FOUND, "%s %.*s not found", what,
                     chat_echo_len(id ? id : "", len), id ? id : "");
        return NULL;
    }
    return id;
}

/* A user id naming someone other than the caller (a participant). */
static const char *user_arg(gql_rinfo *ri, const char *name)
{
    size_t len = 0;
    const char *id = chat_str_arg(ri, name, &len);
    if (!id || !cd_uuid_valid(id, len)) {
        gql_ri_error(ri, CHAT_E_NOT_FOUND, "User %.*s not found", chat_echo_len(id ? id : "", len),
                     id ? id : "");
        return NULL;
    }
    return id;
}

/* The acting user for an argument naming them (senderId / userId). */
static const char *acting_arg(gql_rinfo *ri, const gql_value *obj, const char *name,
                              const char *what)
{
    size_t len = 0;
    const char *id = chat_str_in(obj, name, &len);
    const char *u = chat_authz_acting_as(ri, id, what);
    if (!u) return NULL;
    if (!cd_uuid_valid(u, strlen(u))) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s is not a valid user id", name);
        return NULL;
    }
    return u;
}

/* The caller for mutations without a user argument. Token mode: required.
 * Trust mode: the user-id header, or NULL (no participant check) when
 * `optional_in_trust`. Sets *ok false after completing ri. */
static const char *actor(gql_rinfo *ri, bool optional_in_trust, bool *ok)
{
    *ok = true;
    const char *u =
        chat_authz_trust(ri) && optional_in_trust ? chat_authz_user_opt(ri) : chat_authz_user(ri);
    if (!u && !(chat_authz_trust(ri) && optional_in_trust)) {
        *ok = false;
        return NULL;
    }
    if (u && !cd_uuid_valid(u, strlen(u))) {
        if (optional_in_trust && chat_authz_trust(ri)) return NULL;
        gql_ri_error(ri, CHAT_E_UNAUTHENTICATED, "Account not found or disabled");
        *ok = false;
        return NULL;
    }
    return u;
}

static const char *uuid_list(gql_rinfo *ri, const gql_value *ids, const char *first,
                             const char *field)
{
    cd_buf b;
    cd_buf_init(&b);
    const char *bad = NULL;
    int rc = chat_sender_uuid_array(&b, ids, first, &bad);
    const char *out = NULL;
    if (rc == CD_ELIMIT)
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s has too many entries (at most %u)", field,
                     SENDER_MAX_IDS);
    else if (rc == CD_EBAD)
        gql_ri_error(ri, CHAT_E_NOT_FOUND, "User %.*s not found", chat_echo_len(bad, strlen(bad)),
                     bad);
    else if (rc != 0 || !(out = cd_arena_strdup(gql_ri_arena(ri), b.data)))
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
    cd_buf_free(&b);
    return out;
}

/* ---- chats ---- */

/* CHATD_MAX_GROUP_MEMBERS as SQL text in the op's arena (NULL after
 * completing ri). */
static const char *max_members_param(sop *op)
{
    const cd_config *cfg = op->base.srv ? op->base.srv->cfg : NULL;
    char *s = cd_arena_alloc(gql_ri_arena(op->base.ri), 16);
    if (!s) {
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
        return NULL;
    }
    snprintf(s, 16, "%u", cfg ? cfg->max_group_members : CD_DEFAULT_MAX_GROUP_MEMBERS);
    return s;
}

static void r_create_chat(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, true, &ok);
    if (!ok) return;
    sop *op = sop_new(ri);
    if (!op) return;
    const gql_value *in = gql_ri_arg(ri, "createChatInput");
    size_t nlen = 0, dlen = 0, tlen = 0;
    const char *name = chat_str_in(in, "name", &nlen);
    const char *desc = chat_str_in(in, "description", &dlen);
    const char *type = chat_str_in(in, "chatType", &tlen);
    const char *bad = chat_sender_check_chat_name(name, nlen);
    if (!bad) bad = chat_sender_check_chat_desc(desc, dlen);
    if (bad) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s", bad);
        return;
    }
    if (!type) type = "group";
    if (strcmp(type, "direct") != 0 && strcmp(type, "group") != 0) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "chatType must be \"direct\" or \"group\"");
        return;
    }
    const char *ids =
        uuid_list(ri, in ? gql_obj_get(in, "participantIds") : NULL, me, "participantIds");
    if (!ids) return;
    const char *max = max_members_param(op);
    if (!max) return;
    run_stmt(op, "sender_create_chat", 6, (const char *const[]){me, name, desc, type, ids, max});
}

static void add_participants(gql_rinfo *ri, const gql_value *list)
{
    bool ok;
    const char *me = actor(ri, true, &ok);
    if (!ok) return;
    const char *chat = id_arg(ri, "chatId", "Chat");
    if (!chat) return;
    if (!list || list->kind != GQL_V_LIST || list->len == 0) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "userIds must not be empty");
        return;
    }
    const char *ids = uuid_list(ri, list, NULL, "userIds");
    if (!ids) return;
    sop *op = sop_new(ri);
    if (!op) return;
    const char *max = max_members_param(op);
    if (!max) return;
    run_stmt(op, "sender_add_participants", 4, (const char *const[]){me, chat, ids, max});
}

static void r_add_participant(gql_rinfo *ri)
{
    const gql_value *u = gql_ri_arg(ri, "userId");
    gql_value list = {.kind = GQL_V_LIST, .len = u ? 1 : 0, .u.items = (gql_value *)u};
    add_participants(ri, &list);
}

static void r_add_participants(gql_rinfo *ri)
{
    add_participants(ri, gql_ri_arg(ri, "userIds"));
}

static void r_remove_participant(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, true, &ok);
    if (!ok) return;
    const char *chat = id_arg(ri, "chatId", "Chat");
    if (!chat) return;
    const char *user = user_arg(ri, "userId");
    if (!user) return;
    sop *op = sop_new(ri);
    if (!op) return;
    run_stmt(op, "sender_remove_participant", 3, (const char *const[]){me, chat, user});
}

static void r_remove_chat(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, true, &ok);
    if (!ok) return;
    const char *chat = id_arg(ri, "id", "Chat");
    if (!chat) return;
    sop *op = sop_new(ri);
    if (!op) return;
    run_stmt(op, "sender_remove_chat", 2, (const char *const[]){me, chat});
}

/* ---- messages ---- */

/* createMessageInput.attachments: NULL/[] → *out NULL; else a uuid[]
 * literal. false after answering an error (too many, a malformed id). */
static bool attachments_arg(gql_rinfo *ri, const gql_value *in, const char **out)
{
    *out = NULL;
    const gql_value *v = in ? gql_obj_get(in, "attachments") : NULL;
    if (!v || v->kind != GQL_V_LIST || v->len == 0) return true;
    if (v->len > SENDER_MAX_ATTACHMENTS) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "A message has at most %d attachments",
                     SENDER_MAX_ATTACHMENTS);
        return false;
    }
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_putc(&b, '{');
    for (uint32_t i = 0; i < v->len; i++) {
        const gql_value *e = &v->u.items[i];
        if (e->kind != GQL_V_STRING || !cd_uuid_valid(e->u.s, e->len)) {
            const char *s = e->kind == GQL_V_STRING ? e->u.s : "";
            size_t n = e->kind == GQL_V_STRING ? e->len : 0;
            gql_ri_error(ri, CHAT_E_NOT_FOUND, "File %.*s not found", chat_echo_len(s, n), s);
            cd_buf_free(&b);
            return false;
        }
        if (i) cd_buf_putc(&b, ',');
        cd_buf_append(&b, e->u.s, e->len);
    }
    cd_buf_putc(&b, '}');
    cd_buf_putc(&b, 0);
    *out = cd_buf_failed(&b) ? NULL : cd_arena_strdup(gql_ri_arena(ri), b.data);
    cd_buf_free(&b);
    if (!*out) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return false;
    }
    return true;
}

static void r_create_message(gql_rinfo *ri)
{
    const gql_value *in = gql_ri_arg(ri, "createMessageInput");
    const char *sender = acting_arg(ri, in, "senderId", "send messages as another user");
    if (!sender) return;
    size_t clen = 0, tlen = 0, cidlen = 0, chlen = 0;
    const char *chat = chat_str_in(in, "chatId", &chlen);
    if (!chat || !cd_uuid_valid(chat, chlen)) {
        gql_ri_error(ri, CHAT_E_NOT_FOUND, "Chat %.*s not found",
                     chat_echo_len(chat ? chat : "", chlen), chat ? chat : "");
        return;
    }
    const char *content = chat_str_in(in, "content", &clen);
    const char *type = chat_str_in(in, "type", &tlen);
    const char *client_id = chat_str_in(in, "clientId", &cidlen);
    size_t rlen = 0;
    const char *reply = chat_str_in(in, "replyToId", &rlen);
    if (reply && !cd_uuid_valid(reply, rlen)) {
        gql_ri_error(ri, CHAT_E_NOT_FOUND, "Message %.*s not found (replyToId)",
                     chat_echo_len(reply, rlen), reply);
        return;
    }
    if (!type) {
        type = "text";
        tlen = 4;
    }
    const char *files = NULL;
    if (!attachments_arg(ri, in, &files)) return;
    /* with attachments the text may be empty (a photo alone) */
    const char *bad =
        files && content && clen == 0 ? NULL : chat_sender_check_content(content, clen);
    if (!bad) bad = chat_sender_check_type(type, tlen);
    const proto_caller *caller = proto_caller_of(ri);
    if (!bad && chat_sender_type_reserved(type, tlen) && !(caller && caller->compat_api))
        bad = "type \"system\" is reserved for messages from the server";
    if (!bad && client_id) bad = chat_sender_check_client_id(client_id, cidlen);
    if (bad) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s", bad);
        return;
    }
    const char *meta = NULL;
    const gql_value *mv = in ? gql_obj_get(in, "metadata") : NULL;
    if (mv && mv->kind != GQL_V_NULL) {
        cd_buf b;
        cd_buf_init(&b);
        gql_json_write(&b, mv);
        if (!cd_buf_failed(&b) && b.len > SENDER_METADATA_MAX) {
            cd_buf_free(&b);
            gql_ri_error(ri, CHAT_E_BAD_INPUT, "metadata is too large (at most %u bytes as JSON)",
                         SENDER_METADATA_MAX);
            return;
        }
        meta = cd_buf_failed(&b) ? NULL : cd_arena_strdup(gql_ri_arena(ri), b.data);
        cd_buf_free(&b);
        if (!meta) {
            gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
            return;
        }
    }
    sop *op = sop_new(ri);
    if (!op) return;
    op->group_key = chat;
    op->create_message = true;
    if (files)
        run_stmt(op, "sender_create_message_files", 8,
                 (const char *const[]){chat, sender, type, content, meta, client_id, reply, files});
    else
        run_stmt(op, CHAT_STMT_CREATE_MESSAGE, 7,
                 (const char *const[]){chat, sender, type, content, meta, client_id, reply});
}

static void r_update_message(gql_rinfo *ri)
{
    const char *me = acting_arg(ri, gql_ri_args(ri), "userId", "edit another user's messages");
    if (!me) return;
    const char *id = id_arg(ri, "id", "Message");
    if (!id) return;
    size_t clen = 0;
    const char *content = chat_str_arg(ri, "content", &clen);
    const char *bad = chat_sender_check_content(content, clen);
    if (bad) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s", bad);
        return;
    }
    sop *op = sop_new(ri);
    if (!op) return;
    run_stmt(op, "sender_update_message", 3, (const char *const[]){id, me, content});
}

static void r_remove_message(gql_rinfo *ri)
{
    const char *me = acting_arg(ri, gql_ri_args(ri), "userId", "remove another user's messages");
    if (!me) return;
    const char *id = id_arg(ri, "id", "Message");
    if (!id) return;
    sop *op = sop_new(ri);
    if (!op) return;
    run_stmt(op, "sender_remove_message", 2, (const char *const[]){id, me});
}

/* ---- reactions ---- */

static void react(gql_rinfo *ri, bool add)
{
    bool ok;
    const char *me = actor(ri, false, &ok);
    if (!ok) return;
    const char *id = id_arg(ri, "messageId", "Message");
    if (!id) return;
    size_t elen = 0;
    const char *emoji = chat_str_arg(ri, "emoji", &elen);
    const char *bad = chat_sender_check_emoji(emoji, elen);
    if (bad) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s", bad);
        return;
    }
    sop *op = sop_new(ri);
    if (!op) return;
    static char max[16];
    snprintf(max, sizeof max, "%u", SENDER_REACTIONS_DISTINCT_MAX);
    run_stmt(op, "sender_react", 5, (const char *const[]){me, id, emoji, add ? "t" : "f", max});
}

static void r_add_reaction(gql_rinfo *ri)
{
    react(ri, true);
}

static void r_remove_reaction(gql_rinfo *ri)
{
    react(ri, false);
}

/* ---- reads and typing ---- */

static void r_mark_message_as_read(gql_rinfo *ri)
{
    const char *me =
        acting_arg(ri, gql_ri_args(ri), "userId", "mark messages read for another user");
    if (!me) return;
    const char *id = id_arg(ri, "messageId", "Message");
    if (!id) return;
    sop *op = sop_new(ri);
    if (!op) return;
    run_stmt(op, "sender_mark_read", 4, (const char *const[]){me, NULL, id, NULL});
}

static void r_mark_chat_as_read(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, false, &ok);
    if (!ok) return;
    const char *chat = id_arg(ri, "chatId", "Chat");
    if (!chat) return;
    const gql_value *upto = gql_ri_arg(ri, "upToSeq");
    char *seq = NULL;
    if (upto && upto->kind == GQL_V_INT) {
        if (upto->u.i < 0) {
            gql_ri_error(ri, CHAT_E_BAD_INPUT, "upToSeq must not be negative");
            return;
        }
        seq = cd_arena_alloc(gql_ri_arena(ri), 24);
        if (!seq) {
            gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
            return;
        }
        snprintf(seq, 24, "%lld", (long long)upto->u.i);
    }
    sop *op = sop_new(ri);
    if (!op) return;
    op->group_key = chat;
    op->result = SOP_COUNT;
    run_stmt(op, "sender_mark_read", 4, (const char *const[]){me, chat, NULL, seq});
}

static void r_set_typing(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, false, &ok);
    if (!ok) return;
    const char *chat = id_arg(ri, "chatId", "Chat");
    if (!chat) return;
    const gql_value *t = gql_ri_arg(ri, "isTyping");
    sop *op = sop_new(ri);
    if (!op) return;
    op->result = SOP_TYPING;
    op->chat_id = chat;
    op->user_id = me;
    op->is_typing = t && t->kind == GQL_V_BOOL && t->u.b;
    run_stmt(op, "sender_typing_check", 2, (const char *const[]){me, chat});
}

/* ---- roles, chat settings, delivered (0008_roles_delivered.sql) ---- */

/* A ChatRole argument as the SQL role name, or NULL after BAD_USER_INPUT. */
static const char *role_arg(gql_rinfo *ri)
{
    const gql_value *v = gql_ri_arg(ri, "role");
    if (v && (v->kind == GQL_V_ENUM || v->kind == GQL_V_STRING)) {
        if (v->len == 5 && memcmp(v->u.s, "OWNER", 5) == 0) return "owner";
        if (v->len == 5 && memcmp(v->u.s, "ADMIN", 5) == 0) return "admin";
        if (v->len == 6 && memcmp(v->u.s, "MEMBER", 6) == 0) return "member";
    }
    gql_ri_error(ri, CHAT_E_BAD_INPUT, "role must be OWNER, ADMIN or MEMBER");
    return NULL;
}

static void r_set_participant_role(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, true, &ok);
    if (!ok) return;
    const char *chat = id_arg(ri, "chatId", "Chat");
    if (!chat) return;
    const char *user = user_arg(ri, "userId");
    if (!user) return;
    const char *role = role_arg(ri);
    if (!role) return;
    sop *op = sop_new(ri);
    if (!op) return;
    run_stmt(op, "sender_set_role", 4, (const char *const[]){me, chat, user, role});
}

/* leaveChat: removeParticipant of the caller themselves (an identity is
 * required, in trust mode too). */
static void r_leave_chat(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, false, &ok);
    if (!ok) return;
    const char *chat = id_arg(ri, "chatId", "Chat");
    if (!chat) return;
    sop *op = sop_new(ri);
    if (!op) return;
    op->result = SOP_TRUE;
    run_stmt(op, "sender_remove_participant", 3, (const char *const[]){me, chat, me});
}

static void r_update_chat(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, true, &ok);
    if (!ok) return;
    const gql_value *in = gql_ri_arg(ri, "updateChatInput");
    size_t ilen = 0, nlen = 0, dlen = 0;
    const char *id = chat_str_in(in, "id", &ilen);
    if (!id || !cd_uuid_valid(id, ilen)) {
        gql_ri_error(ri, CHAT_E_NOT_FOUND, "Chat %.*s not found", chat_echo_len(id ? id : "", ilen),
                     id ? id : "");
        return;
    }
    const char *name = chat_str_in(in, "name", &nlen);
    const char *desc = chat_str_in(in, "description", &dlen);
    const gql_value *dv = in ? gql_obj_get(in, "description") : NULL;
    const char *bad = name ? chat_sender_check_chat_name(name, nlen) : NULL;
    if (!bad) bad = chat_sender_check_chat_desc(desc, dlen);
    if (bad) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s", bad);
        return;
    }
    sop *op = sop_new(ri);
    if (!op) return;
    /* $5: description present (null clears) */
    run_stmt(op, "sender_update_chat", 5,
             (const char *const[]){me, id, name, desc, dv ? "true" : "false"});
}

static void r_mark_chat_as_delivered(gql_rinfo *ri)
{
    bool ok;
    const char *me = actor(ri, false, &ok);
    if (!ok) return;
    const char *chat = id_arg(ri, "chatId", "Chat");
    if (!chat) return;
    int64_t upto;
    if (!chat_int_arg(ri, "upToSeq", 0, 0, INT32_MAX, &upto)) return;
    char *seq = cd_arena_alloc(gql_ri_arena(ri), 24);
    if (!seq) {
        gql_ri_error(ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    snprintf(seq, 24, "%lld", (long long)upto);
    sop *op = sop_new(ri);
    if (!op) return;
    op->group_key = chat; /* group commit, like markChatAsRead */
    op->result = SOP_COUNT;
    op->count_key = "deliveredSeq";
    run_stmt(op, "sender_mark_delivered", 3, (const char *const[]){me, chat, seq});
}

/* ---- binding ---- */

int chat_bind_sender_role(proto_server *srv)
{
    static const struct {
        const char *coord;
        gql_resolve_fn fn;
    } binds[] = {
        {"Mutation.createChat", r_create_chat},
        {"Mutation.addParticipant", r_add_participant},
        {"Mutation.addParticipants", r_add_participants},
        {"Mutation.removeParticipant", r_remove_participant},
        {"Mutation.removeChat", r_remove_chat},
        {"Mutation.createMessage", r_create_message},
        {"Mutation.updateMessage", r_update_message},
        {"Mutation.removeMessage", r_remove_message},
        {"Mutation.markMessageAsRead", r_mark_message_as_read},
        {"Mutation.markChatAsRead", r_mark_chat_as_read},
        {"Mutation.setTyping", r_set_typing},
        {"Mutation.addReaction", r_add_reaction},
        {"Mutation.removeReaction", r_remove_reaction},
        {"Mutation.markChatAsDelivered", r_mark_chat_as_delivered},
        {"Mutation.setParticipantRole", r_set_participant_role},
        {"Mutation.leaveChat", r_leave_chat},
        {"Mutation.updateChat", r_update_chat},
    };
    for (unsigned i = 0; i < CD_ARRAY_LEN(binds); i++) {
        int rc = gql_schema_bind(srv->schema, binds[i].coord, binds[i].fn, srv);
        if (rc != 0) {
            cd_error("sender", "bind %s: %s", binds[i].coord, cd_strerror(rc));
            return rc;
        }
    }
    const cd_config *cfg = srv->cfg;
    const char *crash = getenv("CHATD_TEST_CRASH_AFTER_COMMIT");
    if (crash && strcmp(crash, "1") == 0) {
        if (cfg && cfg->test_fixtures) {
            sender_crash_after_commit = true;
            cd_warn("sender", "CHATD_TEST_CRASH_AFTER_COMMIT=1: the first createMessage exits "
                              "the process after COMMIT (test hook)");
        } else {
            cd_warn("sender", "CHATD_TEST_CRASH_AFTER_COMMIT ignored: test fixtures are off");
        }
    }
    int rc = chat_stmts_add(sender_stmts, CD_ARRAY_LEN(sender_stmts));
    if (rc != 0) return rc;
    rc = cd_metrics_add_section(chat_gc_metrics_render, NULL);
    if (rc != 0) return rc;
    rc = cd_metrics_add_section(chat_outbox_metrics_render, NULL);
    if (rc != 0) return rc;
    return chat_outbox_start(srv);
}
