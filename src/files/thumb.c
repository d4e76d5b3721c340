/*
 * thumb.c — image checks and thumbnails with libvips, on libuv's worker
 * threads (uv_queue_work), at most FILES_THUMB_WORKERS at once; further
 * jobs wait in a FIFO of at most cfg->files_thumb_queue (then CD_ELIMIT →
 * 503 SERVICE_BUSY).
 *
 * Decompression bombs: the header is read first (vips opens images
 * lazily) and an image of more than cfg->files_max_pixels is refused
 * before any pixel is decoded. The thumbnail (vips_thumbnail: shrink on
 * load) fits FILES_THUMB_BOX; images with alpha keep it as PNG, the rest
 * become JPEG. vips' operation cache is off and untrusted loaders are
 * blocked (vips_block_untrusted_set).
 */
#include <string.h>

#include <vips/vips.h>

#include "core/log.h"
#include "files/files_internal.h"

typedef struct thumb_job {
    uv_work_t work;
    files_ctx *fc;
    char path[PATH_MAX], thumb_path[PATH_MAX];
    uint64_t max_pixels;
    files_thumb_result res;
    files_thumb_cb cb;
    void *ud;
    struct thumb_job *next;
} thumb_job;

static thumb_job *q_head, *q_tail;
static bool vips_ready;

static bool vips_setup(void)
{
    if (vips_ready) return true;
    if (VIPS_INIT("chatd") != 0) {
        cd_error("files", "libvips failed to start: %s", vips_error_buffer());
        return false;
    }
    vips_cache_set_max(0);
    vips_concurrency_set(1);
    vips_block_untrusted_set(TRUE);
    vips_ready = true;
    return true;
}

static void work_cb(uv_work_t *w)
{
    thumb_job *j = w->data;
    files_thumb_result *r = &j->res;
    r->status = FILES_THUMB_NOT_IMAGE;
    VipsImage *im = vips_image_new_from_file(j->path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!im) {
        vips_error_clear();
        return;
    }
    r->width = vips_image_get_width(im);
    r->height = vips_image_get_height(im);
    g_object_unref(im);
    if (r->width <= 0 || r->height <= 0) return;
    if ((uint64_t)r->width * (uint64_t)r->height > j->max_pixels) {
        r->status = FILES_THUMB_TOO_LARGE;
        return;
    }
    VipsImage *t = NULL;
    if (vips_thumbnail(j->path, &t, FILES_THUMB_BOX, "height", FILES_THUMB_BOX, "size",
                       VIPS_SIZE_DOWN, NULL) != 0) {
        vips_error_clear();
        r->status = FILES_THUMB_NOT_IMAGE; /* header fine, pixels broken */
        return;
    }
    r->thumb_png = vips_image_hasalpha(t);
    int rc = r->thumb_png ? vips_pngsave(t, j->thumb_path, "strip", TRUE, NULL)
                          : vips_jpegsave(t, j->thumb_path, "Q", 80, "strip", TRUE, NULL);
    g_object_unref(t);
    if (rc != 0) {
        vips_error_clear();
        r->status = FILES_THUMB_FAILED;
        return;
    }
    r->has_thumb = true;
    r->status = FILES_THUMB_OK;
}

static void start_next(files_ctx *fc);

static void after_cb(uv_work_t *w, int status)
{
    thumb_job *j = w->data;
    files_ctx *fc = j->fc;
    fc->thumb_running--;
    if (status != 0) j->res.status = FILES_THUMB_FAILED;
    j->cb(&j->res, j->ud);
    cd_free(j);
    start_next(fc);
}

static void start_next(files_ctx *fc)
{
    while (fc->thumb_running < FILES_THUMB_WORKERS && q_head) {
        thumb_job *j = q_head;
        q_head = j->next;
        if (!q_head) q_tail = NULL;
        fc->thumb_waiting--;
        fc->thumb_running++;
        j->work.data = j;
        if (uv_queue_work(fc->srv->loop, &j->work, work_cb, after_cb) != 0) {
            fc->thumb_running--;
            j->res.status = FILES_THUMB_FAILED;
            j->cb(&j->res, j->ud);
            cd_free(j);
        }
    }
}

int files_thumb_make(files_ctx *fc, const char *path, const char *thumb_path, files_thumb_cb cb,
                     void *ud)
{
    if (!vips_setup()) return CD_EUNAVAIL;
    if (fc->thumb_waiting >= fc->cfg->files_thumb_queue) return CD_ELIMIT;
    thumb_job *j = cd_calloc(1, sizeof *j);
    if (!j) return CD_ENOMEM;
    j->fc = fc;
    files_fmt(j->path, sizeof j->path, "%s", path);
    files_fmt(j->thumb_path, sizeof j->thumb_path, "%s", thumb_path);
    j->max_pixels = fc->cfg->files_max_pixels;
    j->cb = cb;
    j->ud = ud;
    if (q_tail)
        q_tail->next = j;
    else
        q_head = j;
    q_tail = j;
    fc->thumb_waiting++;
    start_next(fc);
    return 0;
}
