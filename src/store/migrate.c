/*
 * migrate.c — schema migrations (see migrate.h). Stub: implementation follows.
 */
#include "migrate.h"

int pg_migrate(const char *conninfo, const char *dir, int *applied, char **err)
{
    CD_UNUSED(conninfo); CD_UNUSED(dir);
    if (applied) *applied = 0;
    if (err) *err = NULL;
    return CD_ESTATE;
}
