/*
 * store.c — the content-addressed file store: <dir>/<sha[0:2]>/<sha> (and
 * <sha>.thumb for an image's thumbnail), uploads written to <dir>/tmp and
 * moved into place when complete, removals via <dir>/trash.
 *
 * Two uploads of the same bytes end at the same path (stored once). A
 * removal moves the bytes to trash, then asks the database whether a files
 * row still names them: an upload inserts its row before moving its copy
 * in, so either the removal sees that row (and moves the bytes back, or
 * drops its trash copy when the upload already put a fresh one in place)
 * or the upload's move comes after and recreates the path.
 *
 * Every file-system call after start-up is libuv's (thread pool): nothing
 * here blocks the loop. The files_store_* calls dispatch to the backend
 * chosen at start-up: this directory, or an S3-compatible bucket (s3.c:
 * the same algorithm with copies where this one renames); see
 * docs/operations.md "Files".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "core/arena.h"
#include "core/log.h"
#include "files/files_internal.h"
#include "store/pg.h"

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    if (strlen(path) >= sizeof tmp) return -1;
    memcpy(tmp, path, strlen(path) + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

int files_store_init(files_ctx *fc, char *err, size_t errlen)
{
    char abs[PATH_MAX], sub[PATH_MAX + 16];
    if (mkdir_p(fc->cfg->files_dir) != 0 || !realpath(fc->cfg->files_dir, abs)) {
        snprintf(err, errlen, "files directory %s: %s", fc->cfg->files_dir, strerror(errno));
        return CD_EIO;
    }
    bool bucket = fc->cfg->files_s3_endpoint != NULL;
    const char *subs[] = {"tmp", "trash"};
    for (unsigned i = 0; i < (bucket ? 1u : CD_ARRAY_LEN(subs)); i++) {
        files_fmt(sub, sizeof sub, "%s/%s", abs, subs[i]);
        if (mkdir_p(sub) != 0) {
            snprintf(err, errlen, "files directory %s: %s", sub, strerror(errno));
            return CD_EIO;
        }
    }
    size_t n = strlen(abs);
    fc->dir = cd_malloc(n + 1);
    if (!fc->dir) return CD_ENOMEM;
    memcpy(fc->dir, abs, n + 1);
    fc->store = bucket ? &files_store_s3 : &files_store_dir;
    return bucket ? files_s3_init(fc, err, errlen) : 0;
}

void files_store_path(const files_ctx *fc, const char *sha, bool thumb, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%.2s/%s%s", fc->dir, sha, sha, thumb ? ".thumb" : "");
}

void files_store_temp(const files_ctx *fc, char *out, size_t cap)
{
    char r[25];
    files_random_name(r, sizeof r);
    snprintf(out, cap, "%s/tmp/%s.part", fc->dir, r);
}

/* ---- commit: fsync, mkdir <aa>, rename (file, then thumbnail) ---- */

typedef struct commit_op {
    uv_fs_t fs;
    files_ctx *fc;
    files_store_cb cb;
    void *ud;
    int step;
    uv_file fd;
    char tmp[PATH_MAX], thumb_tmp[PATH_MAX], dst[PATH_MAX], subdir[PATH_MAX];
    char sha[FILES_SHA_HEX + 1];
    bool has_thumb;
} commit_op;

static void commit_step(uv_fs_t *fs);

static void commit_done(commit_op *op, int status)
{
    if (status != 0) {
        cd_error("files", "storing %s failed (step %d): %s", op->sha, op->step,
                 uv_strerror(status));
        files_unlink_async(op->fc->srv->loop, op->tmp);
        if (op->has_thumb) files_unlink_async(op->fc->srv->loop, op->thumb_tmp);
    }
    op->cb(status ? CD_EIO : 0, op->ud);
    cd_free(op);
}

enum { C_OPEN, C_FSYNC, C_CLOSE, C_MKDIR, C_RENAME, C_RENAME_THUMB, C_DONE };

static void commit_next(commit_op *op)
{
    uv_loop_t *loop = op->fc->srv->loop;
    int rc = 0;
    switch (op->step) {
    case C_OPEN:
        rc = uv_fs_open(loop, &op->fs, op->tmp, O_RDONLY, 0, commit_step);
        break;
    case C_FSYNC:
        rc = uv_fs_fsync(loop, &op->fs, op->fd, commit_step);
        break;
    case C_CLOSE:
        rc = uv_fs_close(loop, &op->fs, op->fd, commit_step);
        break;
    case C_MKDIR:
        rc = uv_fs_mkdir(loop, &op->fs, op->subdir, 0750, commit_step);
        break;
    case C_RENAME:
        rc = uv_fs_rename(loop, &op->fs, op->tmp, op->dst, commit_step);
        break;
    case C_RENAME_THUMB: {
        char tdst[PATH_MAX];
        files_store_path(op->fc, op->sha, true, tdst, sizeof tdst);
        memcpy(op->dst, tdst, sizeof tdst);
        rc = uv_fs_rename(loop, &op->fs, op->thumb_tmp, op->dst, commit_step);
        break;
    }
    default:
        commit_done(op, 0);
        return;
    }
    if (rc != 0) commit_done(op, rc);
}

static void commit_step(uv_fs_t *fs)
{
    commit_op *op = fs->data;
    ssize_t r = fs->result;
    uv_fs_req_cleanup(fs);
    if (op->step == C_OPEN && r >= 0) op->fd = (uv_file)r;
    bool ok = r >= 0 || (op->step == C_MKDIR && r == UV_EEXIST);
    if (!ok) {
        commit_done(op, (int)r);
        return;
    }
    op->step++;
    if (op->step == C_RENAME_THUMB && !op->has_thumb) op->step++;
    commit_next(op);
}

static int dir_commit(files_ctx *fc, const char *tmp, const char *thumb_tmp, const char *sha,
                      files_store_cb cb, void *ud)
{
    commit_op *op = cd_calloc(1, sizeof *op);
    if (!op) return CD_ENOMEM;
    op->fc = fc;
    op->cb = cb;
    op->ud = ud;
    op->fs.data = op;
    files_fmt(op->tmp, sizeof op->tmp, "%s", tmp);
    if (thumb_tmp) {
        files_fmt(op->thumb_tmp, sizeof op->thumb_tmp, "%s", thumb_tmp);
        op->has_thumb = true;
    }
    files_fmt(op->sha, sizeof op->sha, "%s", sha);
    files_fmt(op->subdir, sizeof op->subdir, "%s/%.2s", fc->dir, sha);
    files_store_path(fc, sha, false, op->dst, sizeof op->dst);
    op->step = C_OPEN;
    commit_next(op);
    return 0;
}

/* ---- remove: move aside, ask, drop or move back ---- */

typedef struct remove_op {
    uv_fs_t fs;
    files_ctx *fc;
    int step;
    bool moved[2];
    bool restore;
    char sha[FILES_SHA_HEX + 1];
    char path[2][PATH_MAX], trash[2][PATH_MAX];
} remove_op;

/* steps: move file, move thumb, ask, (link back file, link back thumb),
 * unlink file trash, unlink thumb trash */
enum { R_MOVE0, R_MOVE1, R_ASK, R_LINK0, R_LINK1, R_UNLINK0, R_UNLINK1, R_DONE };
static void remove_next(remove_op *op);

static void remove_fs_cb(uv_fs_t *fs)
{
    remove_op *op = fs->data;
    ssize_t r = fs->result;
    uv_fs_req_cleanup(fs);
    if (op->step == R_MOVE0 || op->step == R_MOVE1) op->moved[op->step - R_MOVE0] = r == 0;
    op->step++;
    remove_next(op);
}

static void remove_ask_cb(int named, void *ud)
{
    remove_op *op = ud;
    op->restore = named != 0; /* unknown (database down): keep the bytes */
    op->step = R_LINK0;
    remove_next(op);
}

static void remove_next(remove_op *op)
{
    uv_loop_t *loop = op->fc->srv->loop;
    for (; op->step < R_DONE; op->step++) {
        int rc;
        switch (op->step) {
        case R_MOVE0:
        case R_MOVE1: {
            int i = op->step - R_MOVE0;
            rc = uv_fs_rename(loop, &op->fs, op->path[i], op->trash[i], remove_fs_cb);
            break;
        }
        case R_ASK: {
            if (!op->moved[0] && !op->moved[1]) {
                op->step = R_DONE;
                continue;
            }
            files_store_ask_named(op->fc, op->sha, remove_ask_cb, op);
            return;
        }
        case R_LINK0:
        case R_LINK1: {
            int i = op->step - R_LINK0;
            if (!op->restore || !op->moved[i]) continue;
            /* EEXIST: an upload already put a fresh copy there */
            rc = uv_fs_link(loop, &op->fs, op->trash[i], op->path[i], remove_fs_cb);
            break;
        }
        default: {
            int i = op->step - R_UNLINK0;
            if (!op->moved[i]) continue;
            rc = uv_fs_unlink(loop, &op->fs, op->trash[i], remove_fs_cb);
            break;
        }
        }
        if (rc == 0) return; /* continues in remove_fs_cb */
    }
    op->fc->removing--;
    cd_free(op);
}

static void dir_remove(files_ctx *fc, const char *sha)
{
    remove_op *op = cd_calloc(1, sizeof *op);
    if (!op) return;
    fc->removing++;
    op->fc = fc;
    op->fs.data = op;
    files_fmt(op->sha, sizeof op->sha, "%s", sha);
    char r[25];
    files_random_name(r, sizeof r);
    for (int k = 0; k < 2; k++) {
        files_store_path(fc, sha, k == 1, op->path[k], sizeof op->path[k]);
        files_fmt(op->trash[k], sizeof op->trash[k], "%s/trash/%s.%s%s", fc->dir, sha, r,
                  k ? ".thumb" : "");
    }
    op->step = R_MOVE0;
    remove_next(op);
}

/* ---- reading (downloads) ---- */

static void dir_read_cb(uv_fs_t *fs)
{
    files_reader *r = fs->data;
    ssize_t n = fs->result;
    uv_fs_req_cleanup(fs);
    r->nread = n;
    r->cb(n > 0 ? 0 : CD_EIO, r->ud);
}

static int dir_read(files_reader *r, char *buf, size_t len, uint64_t off, files_store_cb cb,
                    void *ud)
{
    r->cb = cb;
    r->ud = ud;
    r->fs.data = r;
    uv_buf_t b = uv_buf_init(buf, (unsigned)len);
    int rc = uv_fs_read(r->fc->srv->loop, &r->fs, r->fd, &b, 1, (int64_t)off, dir_read_cb);
    return rc == 0 ? 0 : CD_EIO;
}

static void dir_stat_cb(uv_fs_t *fs)
{
    files_reader *r = fs->data;
    ssize_t rc = fs->result;
    if (rc == 0) r->size = fs->statbuf.st_size;
    uv_fs_req_cleanup(fs);
    r->cb(rc == 0 ? 0 : CD_EIO, r->ud);
}

static void dir_open_cb(uv_fs_t *fs)
{
    files_reader *r = fs->data;
    ssize_t rc = fs->result;
    uv_fs_req_cleanup(fs);
    if (rc < 0) {
        r->cb(rc == UV_ENOENT ? CD_ENOENT : CD_EIO, r->ud);
        return;
    }
    r->fd = (uv_file)rc;
    r->fd_open = true;
    if (uv_fs_fstat(r->fc->srv->loop, &r->fs, r->fd, dir_stat_cb) != 0) r->cb(CD_EIO, r->ud);
}

static int dir_open(files_reader *r, files_store_cb cb, void *ud)
{
    char path[PATH_MAX];
    files_store_path(r->fc, r->sha, r->thumb, path, sizeof path);
    r->cb = cb;
    r->ud = ud;
    r->fs.data = r;
    return uv_fs_open(r->fc->srv->loop, &r->fs, path, O_RDONLY, 0, dir_open_cb) == 0 ? 0 : CD_EIO;
}

static void close_cb(uv_fs_t *fs)
{
    uv_fs_req_cleanup(fs);
    cd_free(fs);
}

static void dir_close(files_reader *r)
{
    if (!r->fd_open) return;
    r->fd_open = false;
    uv_fs_t *c = cd_malloc(sizeof *c); /* closed in the background */
    if (c && uv_fs_close(r->fc->srv->loop, c, r->fd, close_cb) != 0) cd_free(c);
}

const files_store_ops files_store_dir = {
    .name = "directory",
    .read_chunk = FILES_READ_CHUNK,
    .commit = dir_commit,
    .remove = dir_remove,
    .open = dir_open,
    .read = dir_read,
    .close = dir_close,
};

/* ---- the interface ---- */

int files_store_commit(files_ctx *fc, const char *tmp, const char *thumb_tmp, const char *sha,
                       files_store_cb cb, void *ud)
{
    return fc->store->commit(fc, tmp, thumb_tmp, sha, cb, ud);
}

void files_store_remove(files_ctx *fc, const char *sha)
{
    fc->store->remove(fc, sha);
}

int files_store_open(files_ctx *fc, files_reader *r, const char *sha, bool thumb, files_store_cb cb,
                     void *ud)
{
    r->fc = fc;
    files_fmt(r->sha, sizeof r->sha, "%s", sha);
    r->thumb = thumb;
    return fc->store->open(r, cb, ud);
}

int files_store_read(files_reader *r, char *buf, size_t len, uint64_t off, files_store_cb cb,
                     void *ud)
{
    return r->fc->store->read(r, buf, len, off, cb, ud);
}

void files_store_close(files_reader *r)
{
    if (r->fc) r->fc->store->close(r);
}

/* ---- fire-and-forget unlink (temp files) ---- */

static void unlink_cb(uv_fs_t *fs)
{
    uv_fs_req_cleanup(fs);
    cd_free(fs);
}

void files_unlink_async(uv_loop_t *loop, const char *path)
{
    uv_fs_t *fs = cd_malloc(sizeof *fs);
    if (!fs) return;
    if (uv_fs_unlink(loop, fs, path, unlink_cb) != 0) cd_free(fs);
}
