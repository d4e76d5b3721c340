/*
 * migrate.h — schema migrations, applied at process start before serving.
 *
 * pg_migrate connects with blocking libpq (acceptable: it runs before the
 * event loop serves anything), takes a session advisory lock
 * (PG_MIGRATE_LOCK_KEY) so that concurrent starters serialise, creates
 * schema_migrations(version text primary key, applied_at timestamptz) if
 * missing, and applies every file `dir`/NNNN_name.sql whose version (the
 * file name without ".sql") is not yet recorded, in name order, each in its
 * own transaction together with its schema_migrations row. Any number of
 * processes starting at once apply each migration exactly once.
 * A failing migration rolls back alone; earlier ones stay applied.
 */
#ifndef CHATD_STORE_MIGRATE_H
#define CHATD_STORE_MIGRATE_H

#include "core/core.h"

#define PG_MIGRATE_LOCK_KEY 0x63686174646d6967LL /* "chatdmig" */
#define PG_MIGRATE_MAX_FILES 1000                /* migration files in dir */
#define PG_MIGRATE_MAX_FILE_BYTES (16 * 1024 * 1024)

/* Applies pending migrations from `dir` (e.g. "db/migrations") to the
 * database at `conninfo`. `applied` (may be NULL) receives how many this
 * call applied. Returns 0, or CD_EUNAVAIL (cannot connect), CD_EIO (a
 * migration or bookkeeping statement failed), CD_ENOENT (dir missing),
 * CD_EBAD (a file name not matching NNNN_*.sql), CD_ELIMIT; on error *err
 * (may be NULL) receives a cd_malloc'd message the caller frees with cd_free. */
int pg_migrate(const char *conninfo, const char *dir, int *applied, char **err);

#endif
