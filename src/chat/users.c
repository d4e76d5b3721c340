/*
 * users.c — the user role's resolvers (see chat.h, chat_internal.h).
 *
 * Every resolver validates its arguments, then runs one or more prepared
 * statements on the async pool (pg.h) and completes from the callback.
 * Password hashing and verification run off-loop (auth/password.h); the
 * login delay is a loop timer. Per-call state (struct uop) lives in the
 * resolver's arena (gql_ri_arena), which stays valid until the field is
 * completed; nothing touches it after gql_ri_return / gql_ri_error. The
 * login throttle session (throttle.c) and the delay timer are separate
 * allocations that free themselves.
 *
 * Data rules: SQL is in the prepared statements below, never built from
 * input. Removed accounts are soft-deleted (is_active = false) and behave as
 * unknown everywhere; their names stay reserved. The password hash is read
 * only by login and changePassword and never returned. Emails are visible
 * only to their owner in token mode (User.email resolver).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/password.h"
#include "chat/chat_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "core/text.h"

#define TS(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define USER_COLS                                                                                  \
    "id::text, username, email, display_name, is_active, " TS("created_at") ", " TS("updated_at")
#define USER_COLS_U                                                                                \
    "u.id::text, u.username, u.email, u.display_name, u.is_active, " TS("u.created_at") ", " TS(   \
        "u.updated_at")
#define USER_NCOLS 7

/* ---- prepared statements (one per query) ---- */

static const chat_stmt user_stmts[] = {
    {"user_create",
     "INSERT INTO users (username, email, display_name, password_hash) VALUES ($1, $2, $3, $4) "
     "RETURNING " USER_COLS,
     4},
    {"user_taken",
     "SELECT coalesce(bool_or(lower(username) = lower($1)), false),"
     " coalesce(bool_or(lower(email) = lower($2)), false)"
     " FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($2)",
     2},
    {"user_by_id", "SELECT " USER_COLS " FROM users WHERE id = $1::uuid AND is_active", 1},
    {"user_by_name",
     "SELECT " USER_COLS " FROM users WHERE lower(username) = lower($1) AND is_active", 1},
    {"user_list",
     "SELECT " USER_COLS " FROM users WHERE is_active AND ($1::text IS NULL"
     " OR strpos(lower(username), lower($1)) > 0"
     " OR strpos(lower(coalesce(display_name, '')), lower($1)) > 0)"
     " ORDER BY created_at DESC, id LIMIT $2::int OFFSET $3::int",
     3},
    {"user_update",
     "UPDATE users SET username = coalesce($2, username), email = coalesce($3, email),"
     " display_name = coalesce($4, display_name), updated_at = now()"
     " WHERE id = $1::uuid AND is_active RETURNING " USER_COLS,
     4},
    {"user_remove",
     "WITH u AS (UPDATE users SET is_active = false, deleted_at = now(), updated_at = now(),"
     " password_hash = NULL, token_version = token_version + 1, tokens_revoked_at = now()"
     " WHERE id = $1::uuid AND is_active RETURNING *),"
     " r AS (UPDATE refresh_tokens SET revoked_at = now()"
     " WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL)"
     " SELECT " USER_COLS_U ", u.token_version FROM u",
     1},
    {"user_login",
     "SELECT " USER_COLS ", password_hash, token_version FROM users"
     " WHERE lower(username) = lower($1) AND is_active",
     1},
    {"user_pw_get", "SELECT password_hash, username FROM users WHERE id = $1::uuid AND is_active",
     1},
    {"user_pw_set",
     "WITH u AS (UPDATE users SET password_hash = $2, updated_at = now(),"
     " token_version = token_version + 1, tokens_revoked_at = now()"
     " WHERE id = $1::uuid AND is_active RETURNING id, token_version),"
     " r AS (UPDATE refresh_tokens SET revoked_at = now()"
     " WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL)"
     " SELECT token_version FROM u",
     2},
    {"user_rt_insert",
     "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)"
     " VALUES ($1::uuid, gen_random_uuid(), $2, now() + make_interval(secs => $3::int))",
     3},
    {"user_rt_rotate",
     "WITH old AS (UPDATE refresh_tokens SET used_at = now(), revoked_at = now()"
     " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
     " RETURNING user_id, family_id),"
     " u AS (SELECT users.* FROM users JOIN old ON users.id = old.user_id WHERE users.is_active),"
     " ins AS (INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)"
     " SELECT u.id, old.family_id, $2, now() + make_interval(secs => $3::int) FROM u, old"
     " RETURNING user_id)"
     " SELECT " USER_COLS_U ", u.token_version FROM u JOIN ins ON ins.user_id = u.id",
     3},
    {"user_rt_reuse",
     "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id IN"
     " (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NOT NULL)"
     " AND revoked_at IS NULL",
     1},
    {"user_rt_revoke",
     "UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
     1},
    {"user_rt_revoke_all",
     "WITH u AS (UPDATE users SET token_version = token_version + 1, tokens_revoked_at = now()"
     " WHERE id = $1::uuid AND is_active RETURNING id, token_version),"
     " r AS (UPDATE refresh_tokens SET revoked_at = now()"
     " WHERE user_id = $1::uuid AND revoked_at IS NULL)"
     " SELECT token_version FROM u",
     1},
};

/* ---- pure helpers (chat_internal.h) ---- */

const char *chat_user_check_username(const char *s, size_t len)
{
    if (!s || len == 0) return "username must not be empty";
    if (len > USER_USERNAME_MAX) return "username is too long (at most 50 bytes)";
    if (!cd_text_is_clean(s, len, false)) return "username contains invalid characters";
    if (s[0] == ' ' || s[len - 1] == ' ') return "username must not start or end with a space";
    for (size_t i = 0; i < len; i++)
        if (s[i] == '@') return "username must not contain '@'";
    return NULL;
}

const char *chat_user_check_email(const char *s, size_t len)
{
    if (!s || len == 0) return "email must not be empty";
    if (len > USER_EMAIL_MAX) return "email is too long (at most 254 bytes)";
    if (!cd_text_is_clean(s, len, false)) return "email is not a valid address";
    const char *at = NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') return "email is not a valid address";
        if (s[i] == '@') {
            if (at) return "email is not a valid address";
            at = s + i;
        }
    }
    if (!at || at == s) return "email is not a valid address";
    const char *dom = at + 1;
    size_t dlen = len - (size_t)(dom - s);
    if (dlen < 3) return "email is not a valid address";
    const char *dot = memchr(dom, '.', dlen);
    if (!dot || dot == dom || dom[dlen - 1] == '.') return "email is not a valid address";
    return NULL;
}

const char *chat_user_check_display_name(const char *s, size_t len)
{
    if (len > USER_DISPLAY_NAME_MAX) return "displayName is too long (at most 100 bytes)";
    if (!cd_text_is_clean(s, len, false)) return "displayName contains invalid characters";
    return NULL;
}

void chat_rt_new(char out[USER_RT_TEXT_LEN + 1])
{
    unsigned char raw[USER_RT_BYTES];
    if (sodium_init() < 0) abort(); /* no randomness: refuse to mint tokens */
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, USER_RT_TEXT_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

bool chat_rt_shape_ok(const char *token, size_t len)
{
    if (!token || len != USER_RT_TEXT_LEN) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)token[i];
        bool b64 = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        if (!b64) return false;
    }
    return true;
}

void chat_rt_hash(const char *token, size_t len, char out[USER_RT_HASH_LEN + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, len);
    sodium_bin2hex(out, USER_RT_HASH_LEN + 1, h, sizeof h);
}

/* ---- resolver plumbing ---- */

typedef struct uop uop;
struct uop {
    chat_op base;
    const char *id; /* target / caller user id */
    const char *username;
    size_t ulen;
    const char *email;
    const char *display_name;
    const char *password; /* login/createUser: password; changePassword: old */
    size_t plen;
    const char *new_password;
    size_t nplen;
    char hash[AUTH_PW_HASH_MAX];
    char rt[USER_RT_TEXT_LEN + 1];
    char rt_hash[USER_RT_HASH_LEN + 1];
    char old_rt_hash[USER_RT_HASH_LEN + 1];
    bool have_hash;
    bool self;         /* me: the caller's own record */
    int64_t token_ver; /* the account's token version (issued tokens carry it) */
    gql_value user;
    chat_rl *rl;
    void (*after_check)(uop *op); /* throttled step: runs unless locked */
};

static gql_value str_val(cd_arena *a, const char *s)
{
    return s ? gql_str_dup(a, s, strlen(s)) : gql_null();
}

/* Builds a User object from columns col0.. of row (USER_COLS order). `self`
 * marks the caller's own record (email visible whatever the token says:
 * createUser, login and refresh answer the account being signed into). */
static bool user_from_row(cd_arena *a, const pg_result *r, int row, bool self, gql_value *out)
{
    gql_value *o = gql_obj_new(a, USER_NCOLS + 1);
    if (!o) return false;
    const char *active = pg_result_get(r, row, 4);
    gql_obj_set(o, 0, "id", str_val(a, pg_result_get(r, row, 0)));
    gql_obj_set(o, 1, "username", str_val(a, pg_result_get(r, row, 1)));
    gql_obj_set(o, 2, "email", str_val(a, pg_result_get(r, row, 2)));
    gql_obj_set(o, 3, "displayName", str_val(a, pg_result_get(r, row, 3)));
    gql_obj_set(o, 4, "isActive", gql_bool(active && active[0] == 't'));
    gql_obj_set(o, 5, "createdAt", str_val(a, pg_result_get(r, row, 5)));
    gql_obj_set(o, 6, "updatedAt", str_val(a, pg_result_get(r, row, 6)));
    gql_obj_set(o, 7, "__self", gql_bool(self));
    *out = *o;
    return true;
}

static void return_user_row(uop *op, const pg_result *r, bool self)
{
    gql_value u;
    if (!user_from_row(gql_ri_arena(op->base.ri), r, 0, self, &u)) {
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    gql_ri_return(op->base.ri, u);
}

/* An integer column (0 when NULL or absent). */
static int64_t row_int(const pg_result *r, int row, int col)
{
    const char *v = pg_result_get(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* "<Field> already exists" from a unique violation on users. */
static void fail_duplicate(gql_rinfo *ri, const pg_result *r)
{
    if (r->message && strstr(r->message, "email"))
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "Email already exists");
    else
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "Username already exists");
}

static void not_found_id(gql_rinfo *ri, const char *id, size_t len)
{
    gql_ri_error(ri, CHAT_E_NOT_FOUND, "User with ID %.*s not found", chat_echo_len(id, len), id);
}

/* RATE_LIMITED with extensions.retryAfter (seconds). */
static void fail_rate_limited(gql_rinfo *ri, long retry_after, const char *msg)
{
    gql_value *ext = gql_obj_new(gql_ri_arena(ri), 1);
    if (ext) gql_obj_set(ext, 0, "retryAfter", gql_int(retry_after));
    gql_ri_error_ext(ri, CHAT_E_RATE_LIMITED, ext, "%s", msg);
}

/* A password operation could not start: the argon2id queue is full
 * (CD_ELIMIT → SERVICE_BUSY, retryable) or another failure. */
static void fail_pw_start(gql_rinfo *ri, int rc, const char *what)
{
    if (rc == CD_ELIMIT) {
        gql_value *ext = gql_obj_new(gql_ri_arena(ri), 1);
        if (ext) gql_obj_set(ext, 0, "retryAfter", gql_int(USER_BUSY_RETRY_S));
        cd_warn("users", "argon2id queue full (%u in flight): %s refused", auth_password_inflight(),
                what);
        gql_ri_error_ext(ri, CHAT_E_BUSY, ext, "Server busy, try again in %d second(s)",
                         USER_BUSY_RETRY_S);
        return;
    }
    gql_ri_error(ri, CHAT_E_INTERNAL, "Could not %s", what);
}

/* Takes one password operation from the caller's budget
 * (USER_PW_OPS_PER_REQUEST); false after completing ri with RATE_LIMITED. */
static bool pw_budget(gql_rinfo *ri, proto_server *srv)
{
    proto_caller *c = gql_ri_context(ri);
    if (!c) return true;
    uint64_t now = srv && srv->loop ? uv_now(srv->loop) : 0;
    if (c->pw_ops == 0 || now - c->pw_ops_since >= USER_PW_OPS_WINDOW_MS) {
        c->pw_ops = 0;
        c->pw_ops_since = now;
    }
    if (c->pw_ops >= USER_PW_OPS_PER_REQUEST) {
        long left = (long)((USER_PW_OPS_WINDOW_MS - (now - c->pw_ops_since) + 999) / 1000);
        fail_rate_limited(ri, left > 0 ? left : 1,
                          "Too many password operations in one request (at most 5)");
        return false;
    }
    c->pw_ops++;
    return true;
}

/* ---- User.email ---- */

static void r_user_email(gql_rinfo *ri)
{
    const gql_value *p = gql_ri_parent(ri);
    const gql_value *email = p ? gql_obj_get(p, "email") : NULL;
    const gql_value *self = p ? gql_obj_get(p, "__self") : NULL;
    const gql_value *id = p ? gql_obj_get(p, "id") : NULL;
    if (!email || email->kind != GQL_V_STRING) {
        gql_ri_return(ri, gql_null());
        return;
    }
    bool visible = (self && self->kind == GQL_V_BOOL && self->u.b) ||
                   chat_authz_is_self(ri, id && id->kind == GQL_V_STRING ? id->u.s : NULL);
    gql_ri_return(ri, visible ? *email : gql_null());
}

/* ---- queries ---- */

static void on_user_one(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "user lookup");
        return;
    }
    if (pg_result_rows(r) == 0) {
        if (op->username)
            gql_ri_error(op->base.ri, CHAT_E_NOT_FOUND, "User with username %.*s not found",
                         chat_echo_len(op->username, op->ulen), op->username);
        else if (op->id)
            not_found_id(op->base.ri, op->id, strlen(op->id));
        else
            gql_ri_error(op->base.ri, CHAT_E_UNAUTHENTICATED, "Account not found or disabled");
        return;
    }
    return_user_row(op, r, op->self);
}

/* Token mode: a signed-in caller; trust mode: anyone (the seed's client
 * lists users before it knows who it is). */
static bool may_read_users(gql_rinfo *ri)
{
    return chat_authz_trust(ri) || chat_authz_user(ri) != NULL;
}

static void r_user(gql_rinfo *ri)
{
    if (!may_read_users(ri)) return;
    size_t len = 0;
    const char *id = chat_str_arg(ri, "id", &len);
    if (!id || !cd_uuid_valid(id, len)) {
        not_found_id(ri, id ? id : "", len);
        return;
    }
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    op->id = id;
    const char *params[] = {id};
    chat_op_run(&op->base, "user_by_id", 1, params, on_user_one);
}

static void r_user_by_username(gql_rinfo *ri)
{
    if (!may_read_users(ri)) return;
    size_t len = 0;
    const char *name = chat_str_arg(ri, "username", &len);
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    op->username = name ? name : "";
    op->ulen = len;
    if (!name || len == 0 || len > USER_USERNAME_MAX) {
        on_user_one(&(pg_result){.status = 0}, op); /* same answer as a miss */
        return;
    }
    const char *params[] = {name};
    chat_op_run(&op->base, "user_by_name", 1, params, on_user_one);
}

static void r_me(gql_rinfo *ri)
{
    const char *uid = chat_authz_user(ri);
    if (!uid) return;
    if (!cd_uuid_valid(uid, strlen(uid))) {
        gql_ri_error(ri, CHAT_E_UNAUTHENTICATED, "Account not found or disabled");
        return;
    }
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    op->self = true;
    const char *params[] = {uid};
    chat_op_run(&op->base, "user_by_id", 1, params, on_user_one);
}

static void on_user_list(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "users");
        return;
    }
    int n = pg_result_rows(r);
    cd_arena *a = gql_ri_arena(op->base.ri);
    gql_value *list = gql_list_new(a, (uint32_t)n);
    if (!list) {
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        if (!user_from_row(a, r, i, false, &list->u.items[i])) {
            gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
            return;
        }
    }
    gql_ri_return(op->base.ri, *list);
}

static void r_users(gql_rinfo *ri)
{
    if (!may_read_users(ri)) return;
    size_t slen = 0;
    const char *search = chat_str_arg(ri, "search", &slen);
    if (search && slen > USER_SEARCH_MAX) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "search is too long (at most %u bytes)",
                     USER_SEARCH_MAX);
        return;
    }
    if (search && slen == 0) search = NULL;
    int64_t limit, offset;
    int64_t def = chat_authz_trust(ri) ? USERS_MAX_LIMIT : USERS_DEFAULT_LIMIT;
    if (!chat_int_arg(ri, "limit", def, 1, USERS_MAX_LIMIT, &limit)) return;
    if (!chat_int_arg(ri, "offset", 0, 0, USERS_MAX_OFFSET, &offset)) return;
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    char ls[24], os[24];
    snprintf(ls, sizeof ls, "%lld", (long long)limit);
    snprintf(os, sizeof os, "%lld", (long long)offset);
    const char *params[] = {search, ls, os};
    chat_op_run(&op->base, "user_list", 3, params, on_user_list);
}

/* ---- createUser ---- */

static void on_created(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status == CD_EEXIST) {
        fail_duplicate(op->base.ri, r);
        return;
    }
    if (r->status != 0 || pg_result_rows(r) != 1) {
        chat_fail_pg(op->base.ri, r->status ? r->status : CD_EIO, r->message, "createUser");
        return;
    }
    return_user_row(op, r, true);
}

static void create_insert(uop *op)
{
    const char *params[] = {op->username, op->email, op->display_name,
                            op->have_hash ? op->hash : NULL};
    chat_op_run(&op->base, "user_create", 4, params, on_created);
}

static void on_create_hashed(int status, const char *hash, void *ud)
{
    uop *op = ud;
    if (status != 0) {
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Could not hash the password");
        return;
    }
    snprintf(op->hash, sizeof op->hash, "%s", hash);
    op->have_hash = true;
    create_insert(op);
}

/* The cheap duplicate check before the expensive hash (the insert still
 * catches a race through the unique indexes). */
static void on_create_checked(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "createUser check");
        return;
    }
    const char *un = pg_result_get(r, 0, 0), *em = pg_result_get(r, 0, 1);
    if (un && un[0] == 't') {
        gql_ri_error(op->base.ri, CHAT_E_BAD_INPUT, "Username already exists");
        return;
    }
    if (em && em[0] == 't') {
        gql_ri_error(op->base.ri, CHAT_E_BAD_INPUT, "Email already exists");
        return;
    }
    if (!op->password) {
        create_insert(op);
        return;
    }
    int rc =
        auth_password_hash_async(op->base.srv->loop, op->password, op->plen, on_create_hashed, op);
    if (rc != 0) fail_pw_start(op->base.ri, rc, "hash the password");
}

static void create_check(uop *op)
{
    const char *params[] = {op->username, op->email};
    chat_op_run(&op->base, "user_taken", 2, params, on_create_checked);
}

static void on_signup_checked(void *ud, int status, bool refused, long uf, long af, long retry)
{
    uop *op = ud;
    CD_UNUSED(af);
    chat_rl_finish(op->rl, CHAT_RL_FAILED); /* sign-ups stay counted */
    op->rl = NULL;
    if (status == 0 && refused) {
        const proto_caller *c = proto_caller_of(op->base.ri);
        cd_warn("users", "sign-up refused: %ld sign-ups from %s in %d s", uf,
                c ? c->client_ip : "?", CD_SIGNUP_WINDOW_S);
        char msg[96];
        snprintf(msg, sizeof msg, "Too many sign-ups from your address; try again in %ld seconds",
                 retry);
        fail_rate_limited(op->base.ri, retry, msg);
        return;
    }
    create_check(op);
}

/* Validates username/email/displayName of an input object; completes ri and
 * returns false on the first problem. `required` for createUser. */
static bool check_profile(gql_rinfo *ri, uop *op, const gql_value *in, bool required)
{
    size_t len = 0;
    const char *msg;
    if ((op->username = chat_str_in(in, "username", &op->ulen))) {
        if ((msg = chat_user_check_username(op->username, op->ulen))) goto bad;
    } else if (required) {
        msg = "username must not be empty";
        goto bad;
    }
    if ((op->email = chat_str_in(in, "email", &len))) {
        if ((msg = chat_user_check_email(op->email, len))) goto bad;
    } else if (required) {
        msg = "email must not be empty";
        goto bad;
    }
    if ((op->display_name = chat_str_in(in, "displayName", &len))) {
        if ((msg = chat_user_check_display_name(op->display_name, len))) goto bad;
    }
    return true;
bad:
    gql_ri_error(ri, CHAT_E_BAD_INPUT, "%s", msg);
    return false;
}

static void r_create_user(gql_rinfo *ri)
{
    const gql_value *in = gql_ri_arg(ri, "createUserInput");
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    if (!check_profile(ri, op, in, true)) return;
    bool has_pw = (op->password = chat_str_in(in, "password", &op->plen)) != NULL;
    if (!has_pw && !chat_authz_trust(ri)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "password is required");
        return;
    }
    if (has_pw && !auth_password_check_len(op->plen)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "password must be %d to %d bytes long", AUTH_PW_MIN_LEN,
                     AUTH_PW_MAX_LEN);
        return;
    }
    if (!chat_op_pool(&op->base)) return;
    if (has_pw && !pw_budget(ri, op->base.srv)) return;
    /* order: cheapest refusal first — the per-address sign-up limit
     * (Redis), the duplicate check (one indexed query), then the hash */
    const proto_caller *c = proto_caller_of(ri);
    uint32_t limit = op->base.srv->cfg ? op->base.srv->cfg->signup_limit : 0;
    op->rl = chat_rl_open_signup(op->base.srv->loop, &op->base.srv->rd, c ? c->client_ip : "",
                                 limit, on_signup_checked, op);
    if (!op->rl) create_check(op); /* no Redis / unlimited: not throttled */
}

/* ---- updateUser / removeUser ---- */

static void on_updated(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status == CD_EEXIST) {
        fail_duplicate(op->base.ri, r);
        return;
    }
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "updateUser");
        return;
    }
    if (pg_result_rows(r) == 0) {
        not_found_id(op->base.ri, op->id, strlen(op->id));
        return;
    }
    return_user_row(op, r, true);
}

/* The target id of update/remove: must be the caller's own (token mode). */
static bool target_id(gql_rinfo *ri, uop *op, const char *id, size_t len, const char *what)
{
    if (!id || !cd_uuid_valid(id, len)) {
        /* token mode: not yours either way; refuse before revealing anything */
        if (!chat_authz_acting_as(ri, id ? id : "", what)) return false;
        not_found_id(ri, id ? id : "", len);
        return false;
    }
    if (!chat_authz_acting_as(ri, id, what)) return false;
    op->id = id;
    return true;
}

static void r_update_user(gql_rinfo *ri)
{
    const gql_value *in = gql_ri_arg(ri, "updateUserInput");
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    size_t len = 0;
    const char *id = chat_str_in(in, "id", &len);
    if (!target_id(ri, op, id, len, "update another user")) return;
    if (!check_profile(ri, op, in, false)) return;
    const char *params[] = {op->id, op->username, op->email, op->display_name};
    chat_op_run(&op->base, "user_update", 4, params, on_updated);
}

static void on_removed(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "removeUser");
        return;
    }
    if (pg_result_rows(r) == 0) {
        not_found_id(op->base.ri, op->id, strlen(op->id));
        return;
    }
    cd_info("users", "user %s removed: tokens revoked, closing their sockets", op->id);
    chat_control_tokens_revoked(op->base.srv, op->id, row_int(r, 0, USER_NCOLS), true);
    return_user_row(op, r, true);
}

static void r_remove_user(gql_rinfo *ri)
{
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    size_t len = 0;
    const char *id = chat_str_arg(ri, "id", &len);
    if (!target_id(ri, op, id, len, "remove another user")) return;
    const char *params[] = {op->id};
    chat_op_run(&op->base, "user_remove", 1, params, on_removed);
}

/* ---- tokens ---- */

static const char *jwt_secret(gql_rinfo *ri, proto_server *srv)
{
    const char *s = srv && srv->cfg ? srv->cfg->jwt_secret : NULL;
    if (!s || !*s)
        gql_ri_error(ri, CHAT_E_UNAVAILABLE,
                     "Sign-in is not configured on this server (CHATD_JWT_SECRET)");
    return s;
}

/* Completes ri with {token, refreshToken, user}; op->user and op->rt set. */
static void return_auth_payload(uop *op)
{
    const char *secret = jwt_secret(op->base.ri, op->base.srv);
    if (!secret) return;
    const gql_value *id = gql_obj_get(&op->user, "id");
    const gql_value *name = gql_obj_get(&op->user, "username");
    char *tok = NULL;
    int rc = auth_issue_ver(secret, id->u.s, name->u.s, USER_ACCESS_TTL_S, 0, op->token_ver, &tok);
    if (rc != 0) {
        cd_error("users", "auth_issue: %s", cd_strerror(rc));
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Could not issue a token");
        return;
    }
    cd_arena *a = gql_ri_arena(op->base.ri);
    gql_value *o = gql_obj_new(a, 3);
    if (!o) {
        cd_free(tok);
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    gql_obj_set(o, 0, "token", gql_str_dup(a, tok, strlen(tok)));
    gql_obj_set(o, 1, "refreshToken", gql_str_dup(a, op->rt, strlen(op->rt)));
    gql_obj_set(o, 2, "user", op->user);
    cd_free(tok);
    gql_ri_return(op->base.ri, *o);
}

static void on_rt_inserted(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "refresh token insert");
        return;
    }
    return_auth_payload(op);
}

static void rt_ttl(char out[24])
{
    snprintf(out, 24, "%ld", (long)USER_REFRESH_TTL_S);
}

/* ---- login ---- */

static void throttle_finish(uop *op, chat_rl_outcome outcome)
{
    if (op->rl) {
        chat_rl_finish(op->rl, outcome);
        op->rl = NULL;
    }
}

static void on_login_verified(int status, void *ud)
{
    uop *op = ud;
    if (status != 0) {
        throttle_finish(op, status == CD_EAUTH ? CHAT_RL_FAILED : CHAT_RL_NONE);
        if (status == CD_EAUTH) {
            cd_info("users", "failed login for \"%.*s\" from %s", (int)op->ulen, op->username,
                    proto_caller_of(op->base.ri) ? proto_caller_of(op->base.ri)->client_ip : "?");
            gql_ri_error(op->base.ri, CHAT_E_UNAUTHENTICATED, "Invalid username or password");
        } else {
            fail_pw_start(op->base.ri, status, "verify the password");
        }
        return;
    }
    throttle_finish(op, CHAT_RL_OK);
    chat_rt_new(op->rt);
    chat_rt_hash(op->rt, strlen(op->rt), op->rt_hash);
    const gql_value *id = gql_obj_get(&op->user, "id");
    char ttl[24];
    rt_ttl(ttl);
    const char *params[] = {id->u.s, op->rt_hash, ttl};
    chat_op_run(&op->base, "user_rt_insert", 3, params, on_rt_inserted);
}

static void throttled(uop *op, void (*step)(uop *op));

/* unknown user or no password: the same work, then a mismatch */
static void login_verify(uop *op)
{
    int rc = auth_password_verify_async(op->base.srv->loop, op->have_hash ? op->hash : NULL,
                                        op->password, op->plen, on_login_verified, op);
    if (rc != 0) on_login_verified(rc == CD_EBAD ? CD_EAUTH : rc, op);
}

/* The account is looked up first so that the throttle counts per canonical
 * username (case variants SQL's lower() folds are one account, one counter). */
static void on_login_row(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "login");
        return;
    }
    if (pg_result_rows(r) == 1) {
        if (!user_from_row(gql_ri_arena(op->base.ri), r, 0, true, &op->user)) {
            gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
            return;
        }
        const char *h = pg_result_get(r, 0, USER_NCOLS);
        op->token_ver = row_int(r, 0, USER_NCOLS + 1);
        op->have_hash = h && strlen(h) < sizeof op->hash;
        if (op->have_hash) snprintf(op->hash, sizeof op->hash, "%s", h);
        const gql_value *name = gql_obj_get(&op->user, "username");
        op->username = name->u.s;
        op->ulen = name->len;
    }
    throttled(op, login_verify);
}

static void login_query(uop *op)
{
    const char *params[] = {op->username};
    chat_op_run(&op->base, "user_login", 1, params, on_login_row);
}

static void on_delay_closed(uv_handle_t *h)
{
    cd_free(h);
}

static void on_throttle_delay(uv_timer_t *t)
{
    uop *op = t->data;
    uv_close((uv_handle_t *)t, on_delay_closed);
    op->after_check(op);
}

/* Counters read (throttle.c): refuse when locked, else run op->after_check
 * now or after the slow-down delay. */
static void on_throttle_checked(void *ud, int status, bool refused, long uf, long af,
                                long retry_after)
{
    uop *op = ud;
    if (status == 0 && refused) {
        throttle_finish(op, CHAT_RL_NONE);
        cd_warn("users",
                "sign-in check for \"%.*s\" refused: %ld failures for the name, %ld from %s",
                (int)op->ulen, op->username, uf, af,
                proto_caller_of(op->base.ri) ? proto_caller_of(op->base.ri)->client_ip : "?");
        char msg[96];
        snprintf(msg, sizeof msg, "Too many failed login attempts; try again in %ld seconds",
                 retry_after);
        fail_rate_limited(op->base.ri, retry_after, msg);
        return;
    }
    uint32_t delay = status == 0 ? chat_throttle_delay_ms(uf, af) : 0;
    if (delay == 0) {
        op->after_check(op);
        return;
    }
    uv_timer_t *t = cd_malloc(sizeof *t);
    if (!t) {
        op->after_check(op);
        return;
    }
    uv_timer_init(op->base.srv->loop, t);
    t->data = op;
    uv_timer_start(t, on_throttle_delay, delay, 0);
}

/* Runs step throttled on op->username (op->ulen) and the caller's address. */
static void throttled(uop *op, void (*step)(uop *op))
{
    const proto_caller *c = proto_caller_of(op->base.ri);
    op->after_check = step;
    op->rl = chat_rl_open(op->base.srv->loop, &op->base.srv->rd, op->username, op->ulen,
                          c ? c->client_ip : "", on_throttle_checked, op);
    if (!op->rl) step(op); /* not throttled (no Redis): logged by throttle.c */
}

static void r_login(gql_rinfo *ri)
{
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    op->username = chat_str_arg(ri, "username", &op->ulen);
    op->password = chat_str_arg(ri, "password", &op->plen);
    if (!op->username || op->ulen == 0 || op->ulen > USER_USERNAME_MAX) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "username must be 1 to %u bytes long",
                     USER_USERNAME_MAX);
        return;
    }
    if (memchr(op->username, 0, op->ulen)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "username contains invalid characters");
        return;
    }
    if (!op->password) op->password = "";
    if (op->plen > AUTH_PW_MAX_LEN) op->plen = AUTH_PW_MAX_LEN + 1; /* fails verification */
    if (!jwt_secret(ri, op->base.srv) || !chat_op_pool(&op->base)) return;
    if (!pw_budget(ri, op->base.srv)) return;
    login_query(op);
}

/* ---- refreshToken / logout ---- */

static void on_rt_reuse(const pg_result *r, void *ud)
{
    uop *op = ud;
    long n = r->status == 0 ? pg_result_affected(r) : 0;
    if (n > 0)
        cd_warn("users", "refresh token reuse detected: revoked %ld token(s) of its family", n);
    gql_ri_error(op->base.ri, CHAT_E_UNAUTHENTICATED, "Invalid or expired refresh token");
}

static void on_rt_rotated(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "refresh");
        return;
    }
    if (pg_result_rows(r) != 1) {
        /* unknown, expired, revoked or already rotated: a rotated one being
         * presented again means a copy exists → revoke its family */
        const char *params[] = {op->old_rt_hash};
        chat_op_run(&op->base, "user_rt_reuse", 1, params, on_rt_reuse);
        return;
    }
    if (!user_from_row(gql_ri_arena(op->base.ri), r, 0, true, &op->user)) {
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    op->token_ver = row_int(r, 0, USER_NCOLS);
    return_auth_payload(op);
}

static void r_refresh_token(gql_rinfo *ri)
{
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    size_t len = 0;
    const char *tok = chat_str_arg(ri, "refreshToken", &len);
    if (!tok || len > USER_RT_MAX_LEN || !chat_rt_shape_ok(tok, len)) {
        gql_ri_error(ri, CHAT_E_UNAUTHENTICATED, "Invalid or expired refresh token");
        return;
    }
    if (!jwt_secret(ri, op->base.srv)) return;
    chat_rt_hash(tok, len, op->old_rt_hash);
    chat_rt_new(op->rt);
    chat_rt_hash(op->rt, strlen(op->rt), op->rt_hash);
    char ttl[24];
    rt_ttl(ttl);
    const char *params[] = {op->old_rt_hash, op->rt_hash, ttl};
    chat_op_run(&op->base, "user_rt_rotate", 3, params, on_rt_rotated);
}

static void on_logged_out(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "logout");
        return;
    }
    /* one token: whether it was live; all tokens: always true */
    if (op->id && pg_result_rows(r) == 1) {
        cd_info("users", "user %s logged out everywhere: tokens revoked", op->id);
        chat_control_tokens_revoked(op->base.srv, op->id, row_int(r, 0, 0), false);
    }
    gql_ri_return(op->base.ri, gql_bool(op->id ? true : pg_result_affected(r) > 0));
}

static void r_logout(gql_rinfo *ri)
{
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    size_t len = 0;
    const char *tok = chat_str_arg(ri, "refreshToken", &len);
    if (tok) {
        if (len > USER_RT_MAX_LEN || !chat_rt_shape_ok(tok, len)) {
            gql_ri_return(ri, gql_bool(false));
            return;
        }
        chat_rt_hash(tok, len, op->old_rt_hash);
        const char *params[] = {op->old_rt_hash};
        chat_op_run(&op->base, "user_rt_revoke", 1, params, on_logged_out);
        return;
    }
    const char *uid = chat_authz_user(ri);
    if (!uid) return;
    if (!cd_uuid_valid(uid, strlen(uid))) {
        gql_ri_return(ri, gql_bool(true));
        return;
    }
    op->id = uid;
    const char *params[] = {uid};
    chat_op_run(&op->base, "user_rt_revoke_all", 1, params, on_logged_out);
}

/* ---- changePassword ---- */

static void on_pw_set(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "changePassword");
        return;
    }
    if (pg_result_rows(r) != 1) {
        gql_ri_error(op->base.ri, CHAT_E_UNAUTHENTICATED, "Account not found or disabled");
        return;
    }
    cd_info("users", "user %s changed password: tokens revoked, closing their sockets", op->id);
    chat_control_tokens_revoked(op->base.srv, op->id, row_int(r, 0, 0), false);
    gql_ri_return(op->base.ri, gql_bool(true));
}

static void on_pw_hashed(int status, const char *hash, void *ud)
{
    uop *op = ud;
    if (status != 0) {
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Could not hash the password");
        return;
    }
    snprintf(op->hash, sizeof op->hash, "%s", hash);
    const char *params[] = {op->id, op->hash};
    chat_op_run(&op->base, "user_pw_set", 2, params, on_pw_set);
}

static void on_pw_verified(int status, void *ud)
{
    uop *op = ud;
    if (status != 0) {
        throttle_finish(op, status == CD_EAUTH ? CHAT_RL_FAILED : CHAT_RL_NONE);
        if (status == CD_EAUTH)
            gql_ri_error(op->base.ri, CHAT_E_BAD_INPUT, "Current password is incorrect");
        else
            fail_pw_start(op->base.ri, status, "verify the password");
        return;
    }
    throttle_finish(op, CHAT_RL_OK);
    int rc =
        auth_password_hash_async(op->base.srv->loop, op->new_password, op->nplen, on_pw_hashed, op);
    if (rc != 0) fail_pw_start(op->base.ri, rc, "hash the password");
}

/* Old-password guesses count like failed logins of the account's name, so
 * a stolen access token cannot be used to guess the password faster. */
static void pw_verify_old(uop *op)
{
    int rc = auth_password_verify_async(op->base.srv->loop, op->have_hash ? op->hash : NULL,
                                        op->password, op->plen, on_pw_verified, op);
    if (rc != 0) on_pw_verified(rc == CD_EBAD ? CD_EAUTH : rc, op);
}

static void on_pw_row(const pg_result *r, void *ud)
{
    uop *op = ud;
    if (r->status != 0) {
        chat_fail_pg(op->base.ri, r->status, r->message, "changePassword");
        return;
    }
    if (pg_result_rows(r) != 1) {
        gql_ri_error(op->base.ri, CHAT_E_UNAUTHENTICATED, "Account not found or disabled");
        return;
    }
    /* keep hash and name past the result: verification is throttled */
    const char *h = pg_result_get(r, 0, 0);
    const char *name = pg_result_get(r, 0, 1);
    op->have_hash = h && strlen(h) < sizeof op->hash;
    if (op->have_hash) snprintf(op->hash, sizeof op->hash, "%s", h);
    op->username = cd_arena_strdup(gql_ri_arena(op->base.ri), name ? name : "");
    if (!op->username) {
        gql_ri_error(op->base.ri, CHAT_E_INTERNAL, "Out of memory");
        return;
    }
    op->ulen = strlen(op->username);
    throttled(op, pw_verify_old);
}

static void r_change_password(gql_rinfo *ri)
{
    const char *uid = chat_authz_user(ri);
    if (!uid) return;
    if (!cd_uuid_valid(uid, strlen(uid))) {
        gql_ri_error(ri, CHAT_E_UNAUTHENTICATED, "Account not found or disabled");
        return;
    }
    uop *op = CHAT_OP_NEW(ri, uop);
    if (!op) return;
    op->id = uid;
    op->password = chat_str_arg(ri, "oldPassword", &op->plen);
    op->new_password = chat_str_arg(ri, "newPassword", &op->nplen);
    if (!op->password) op->password = "";
    if (op->plen > AUTH_PW_MAX_LEN) op->plen = AUTH_PW_MAX_LEN + 1;
    if (!op->new_password || !auth_password_check_len(op->nplen)) {
        gql_ri_error(ri, CHAT_E_BAD_INPUT, "newPassword must be %d to %d bytes long",
                     AUTH_PW_MIN_LEN, AUTH_PW_MAX_LEN);
        return;
    }
    if (!pw_budget(ri, op->base.srv)) return;
    const char *params[] = {uid};
    chat_op_run(&op->base, "user_pw_get", 1, params, on_pw_row);
}

/* ---- binding ---- */

int chat_bind_user_role(proto_server *srv)
{
    static const struct {
        const char *coord;
        gql_resolve_fn fn;
    } binds[] = {
        {"Query.users", r_users},
        {"Query.user", r_user},
        {"Query.userByUsername", r_user_by_username},
        {"Query.me", r_me},
        {"Mutation.createUser", r_create_user},
        {"Mutation.updateUser", r_update_user},
        {"Mutation.removeUser", r_remove_user},
        {"Mutation.login", r_login},
        {"Mutation.refreshToken", r_refresh_token},
        {"Mutation.logout", r_logout},
        {"Mutation.changePassword", r_change_password},
        {"User.email", r_user_email},
    };
    for (unsigned i = 0; i < CD_ARRAY_LEN(binds); i++) {
        int rc = gql_schema_bind(srv->schema, binds[i].coord, binds[i].fn, srv);
        if (rc != 0) {
            cd_error("users", "bind %s: %s", binds[i].coord, cd_strerror(rc));
            return rc;
        }
    }
    if (srv->cfg && !srv->cfg->redis_url && !srv->cfg->redis_cluster_nodes)
        cd_warn("users", "no REDIS_URL: failed logins and sign-ups are not throttled");
    if (srv->cfg) {
        auth_password_set_queue_max(srv->cfg->pw_queue_max);
        auth_password_set_run_max(srv->cfg->pw_threads);
    }
    int rc = chat_stmts_add(user_stmts, CD_ARRAY_LEN(user_stmts));
    if (rc != 0) return rc;
    return chat_control_bind(srv);
}
