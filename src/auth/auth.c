/*
 * auth.c — HS256 access tokens (see auth.h). Stub: implementation follows.
 */
#include "auth.h"

int auth_verify(const char *secret, const char *token, size_t len, int64_t now,
                auth_identity *id, const char **reason)
{
    CD_UNUSED(secret); CD_UNUSED(token); CD_UNUSED(len); CD_UNUSED(now); CD_UNUSED(id);
    if (reason) *reason = "not implemented";
    return CD_ESTATE;
}
int auth_issue(const char *secret, const char *sub, const char *username, int64_t ttl_s,
               int64_t now, char **token)
{
    CD_UNUSED(secret); CD_UNUSED(sub); CD_UNUSED(username); CD_UNUSED(ttl_s); CD_UNUSED(now);
    *token = NULL;
    return CD_ESTATE;
}
int auth_bearer(const char *header, size_t len, const char **tok, size_t *toklen)
{
    CD_UNUSED(header); CD_UNUSED(len); *tok = NULL; *toklen = 0;
    return CD_EAUTH;
}
