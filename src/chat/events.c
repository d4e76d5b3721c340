/*
 * events.c — channel names, the typing payload and the envelope parser
 * (the events.c section of chat_internal.h). Pure functions; the sender's
 * sequenced payloads themselves are built in SQL (0003_chats.sql) so the
 * log, the publish and the mutation result are one JSON text.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "chat/chat_internal.h"
#include "core/core.h"

/* Redis Cluster: ids in hash tags, so a chat's channels share one slot */
static bool g_hash_tags;

void chat_use_hash_tags(bool on)
{
    g_hash_tags = on;
}

static int channel(char *out, size_t outlen, const char *prefix, const char *id, const char *suffix)
{
    int n =
        snprintf(out, outlen, g_hash_tags ? "%s{%s}%s" : "%s%s%s", prefix, id ? id : "", suffix);
    if (!id || !*id || n < 0 || (size_t)n >= outlen) {
        if (outlen) out[0] = 0;
        return CD_EBAD;
    }
    return 0;
}

int chat_ev_chat_channel(char *out, size_t outlen, const char *chat_id)
{
    return channel(out, outlen, CHAT_EV_CHAT_PREFIX, chat_id, "");
}

int chat_ev_eph_channel(char *out, size_t outlen, const char *chat_id)
{
    return channel(out, outlen, CHAT_EV_CHAT_PREFIX, chat_id, CHAT_EV_EPH_SUFFIX);
}

int chat_ev_user_channel(char *out, size_t outlen, const char *user_id)
{
    return channel(out, outlen, CHAT_EV_USER_PREFIX, user_id, "");
}

int chat_ev_broker_channel(char *out, size_t outlen, const char *name)
{
    size_t cl = sizeof CHAT_EV_CHAT_PREFIX - 1, ul = sizeof CHAT_EV_USER_PREFIX - 1;
    const char *prefix = NULL, *id = NULL;
    if (strncmp(name, CHAT_EV_CHAT_PREFIX, cl) == 0) {
        prefix = CHAT_EV_CHAT_PREFIX;
        id = name + cl;
    } else if (strncmp(name, CHAT_EV_USER_PREFIX, ul) == 0) {
        prefix = CHAT_EV_USER_PREFIX;
        id = name + ul;
    }
    if (!g_hash_tags || !prefix || *id == '{') {
        int n = snprintf(out, outlen, "%s", name);
        return n >= 0 && (size_t)n < outlen ? 0 : CD_EBAD;
    }
    /* "chat:<id>[:eph]" / "user:<id>": the id is everything up to a ':' */
    const char *colon = strchr(id, ':');
    size_t idlen = colon ? (size_t)(colon - id) : strlen(id);
    char idbuf[CHAT_EV_CHANNEL_MAX];
    if (idlen == 0 || idlen >= sizeof idbuf) {
        if (outlen) out[0] = 0;
        return CD_EBAD;
    }
    memcpy(idbuf, id, idlen);
    idbuf[idlen] = 0;
    return channel(out, outlen, prefix, idbuf, colon ? colon : "");
}

void chat_ev_now_iso(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000L) % 1000);
}

void chat_ev_typing_json(cd_buf *b, const char *chat_id, const char *user_id, bool is_typing,
                         const char *at)
{
    /* ids are validated UUIDs and `at` our own timestamp: nothing to escape */
    cd_buf_printf(b,
                  "{\"kind\":\"%s\",\"chatId\":\"%s\",\"userId\":\"%s\",\"isTyping\":%s,"
                  "\"at\":\"%s\"}",
                  CHAT_EPH_TYPING, chat_id, user_id, is_typing ? "true" : "false", at);
}

static const char *str_of(const gql_value *o, const char *name)
{
    const gql_value *v = gql_obj_get(o, name);
    return v && v->kind == GQL_V_STRING ? v->u.s : NULL;
}

int chat_ev_parse(cd_arena *a, const char *json, size_t len, chat_ev *out)
{
    memset(out, 0, sizeof *out);
    gql_value v;
    char err[128];
    int rc = gql_json_parse(a, json, len, &v, err, sizeof err);
    if (rc != 0) return rc == CD_ENOMEM ? CD_ENOMEM : CD_EBAD;
    if (v.kind != GQL_V_OBJECT) return CD_EBAD;
    const gql_value *seq = gql_obj_get(&v, "seq");
    const gql_value *data = gql_obj_get(&v, "data");
    out->chat_id = str_of(&v, "chatId");
    out->user_id = str_of(&v, "userId");
    out->kind = str_of(&v, "kind");
    out->at = str_of(&v, "at");
    if (!out->chat_id || !out->kind || !seq || seq->kind != GQL_V_INT || seq->u.i < 0 || !data ||
        data->kind != GQL_V_OBJECT)
        return CD_EBAD;
    out->seq = seq->u.i;
    out->data = data;
    return 0;
}
