/*
 * fuzz_files_multipart.c — libFuzzer driver for the streaming
 * multipart/form-data parser (src/files/multipart.c).
 *
 * Input: byte 0 picks the slice size (1..256), byte 1 the boundary (one of
 * a few, one at the 70-byte limit); the rest is the body. The body is parsed
 * twice — whole, and in slices as reads from a socket deliver it — and both
 * runs must agree on every part, every data byte and the result, whatever
 * the split; data out never exceeds data in.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "files/files.h"

typedef struct run {
    uint64_t hash; /* FNV-1a over parts, data and ends */
    size_t data_bytes;
    unsigned parts;
} run;

static void mix(run *r, const void *p, size_t n)
{
    const unsigned char *d = p;
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ d[i]) * 1099511628211ull;
}

static int on_part(void *ud, const files_mp_part *part)
{
    run *r = ud;
    r->parts++;
    if (strlen(part->filename) > FILES_MAX_NAME_BYTES) abort();
    mix(r, "P", 1);
    mix(r, part->name, strlen(part->name));
    mix(r, part->filename, strlen(part->filename));
    mix(r, part->content_type, strlen(part->content_type));
    return 0;
}

static int on_data(void *ud, const char *d, size_t n)
{
    run *r = ud;
    if (n == 0) abort(); /* empty callbacks are never made */
    r->data_bytes += n;
    mix(r, d, n);
    return 0;
}

static int on_end(void *ud)
{
    mix(ud, "E", 1);
    return 0;
}

/* a boundary of 70 bytes, the longest allowed */
static const char ct70[] = "multipart/form-data; boundary="
                           "0123456789012345678901234567890123456789012345678901234567890123456789";
static const char *const boundaries[] = {
    "multipart/form-data; boundary=b0undary",
    "multipart/form-data; boundary=\"a b\"",
    "multipart/form-data; boundary=-",
    ct70,
};

static int parse(const char *ct, const uint8_t *d, size_t n, size_t slice, run *r)
{
    static const files_mp_callbacks cb = {on_part, on_data, on_end};
    files_mp p;
    memset(r, 0, sizeof *r);
    r->hash = 1469598103934665603ull;
    if (files_mp_init(&p, ct, &cb, r) != 0) abort(); /* every fixed type is valid */
    for (size_t o = 0; o < n; o += slice) {
        size_t k = n - o < slice ? n - o : slice;
        int rc = files_mp_feed(&p, (const char *)d + o, k);
        if (rc) return rc;
    }
    int rc = files_mp_finish(&p);
    if (rc && !p.err) abort(); /* every failure says why */
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t slice = (size_t)data[0] % 256 + 1;
    const char *ct = boundaries[data[1] % CD_ARRAY_LEN(boundaries)];
    data += 2;
    size -= 2;
    run whole, sliced;
    int a = parse(ct, data, size, size ? size : 1, &whole);
    int b = parse(ct, data, size, slice, &sliced);
    if (a != b) abort();
    if (a == 0 && (whole.hash != sliced.hash || whole.data_bytes != sliced.data_bytes)) abort();
    if (whole.data_bytes > size || sliced.data_bytes > size) abort();
    /* header-less garbage never crashes the boundary extraction either */
    files_mp p;
    static const files_mp_callbacks none = {0};
    char ct2[128];
    size_t m = size < sizeof ct2 - 1 ? size : sizeof ct2 - 1;
    memcpy(ct2, data, m);
    ct2[m] = 0;
    (void)files_mp_init(&p, ct2, &none, NULL);
    return 0;
}
