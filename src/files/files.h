/*
 * files.h — uploads, attachments and downloads (issue 20): the public
 * contract of src/files.
 *
 * Socket-free pieces (unit-tested and fuzzed): the streaming
 * multipart/form-data parser (multipart.c) and the content sniffer
 * (magic.c: magic bytes + incremental UTF-8 check). The storage interface
 * (store.c) keeps bytes content-addressed under a directory.
 */
#ifndef CHATD_FILES_FILES_H
#define CHATD_FILES_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits (each has a test at its edge) ---- */
/* Boundary length allowed by RFC 2046. */
#define FILES_MP_MAX_BOUNDARY 70
/* Header bytes of one part (all its header lines). Over → CD_ELIMIT. */
#define FILES_MP_MAX_PART_HEADER_BYTES (8 * 1024)
/* Parts in one body. Over → CD_ELIMIT. */
#define FILES_MP_MAX_PARTS 16
/* Bytes of a file name (multipart filename or ?name=). */
#define FILES_MAX_NAME_BYTES 255
/* Bytes the sniffer looks at (the largest magic number + offset). */
#define FILES_SNIFF_BYTES 16
/* Attachments per message. */
#define FILES_MAX_PER_MESSAGE 10

/* ---- multipart/form-data (RFC 7578), streaming ---- */

typedef struct files_mp_part {
    char name[FILES_MAX_NAME_BYTES + 1];     /* form field name, "" if none */
    char filename[FILES_MAX_NAME_BYTES + 1]; /* "" if none (a plain field) */
    char content_type[128];                  /* "" if none */
    bool has_filename;
} files_mp_part;

typedef struct files_mp_callbacks {
    /* A part's headers are complete. Non-zero stops the parser (that code
     * is returned by files_mp_feed). */
    int (*on_part)(void *ud, const files_mp_part *part);
    int (*on_data)(void *ud, const char *data, size_t len);
    int (*on_part_end)(void *ud);
} files_mp_callbacks;

typedef struct files_mp {
    files_mp_callbacks cb;
    void *ud;
    char delim[FILES_MP_MAX_BOUNDARY + 4]; /* "\r\n--" boundary */
    size_t delim_len;
    size_t match; /* bytes of delim matched so far */
    int state;
    size_t hdr_len; /* bytes of the current part's header block */
    char line[FILES_MP_MAX_PART_HEADER_BYTES + 1];
    size_t line_len;
    files_mp_part part;
    unsigned nparts;
    const char *err; /* static text of the first error */
} files_mp;

/* Extracts the boundary from a Content-Type header value
 * ("multipart/form-data; boundary=..."). 0, or CD_EBAD (p->err says why). */
int files_mp_init(files_mp *p, const char *content_type, const files_mp_callbacks *cb, void *ud);
/* Feeds body bytes. 0, CD_EBAD / CD_ELIMIT (p->err), or a callback's code. */
int files_mp_feed(files_mp *p, const char *data, size_t len);
/* The body ended: 0 when the closing boundary was seen, else CD_EBAD. */
int files_mp_finish(files_mp *p);
/* True for a Content-Type value naming multipart/form-data. */
bool files_is_multipart(const char *content_type);

/* ---- content sniffing ---- */

#define FILES_CT_PNG "image/png"
#define FILES_CT_JPEG "image/jpeg"
#define FILES_CT_GIF "image/gif"
#define FILES_CT_WEBP "image/webp"
#define FILES_CT_PDF "application/pdf"
#define FILES_CT_TEXT "text/plain; charset=utf-8"
#define FILES_CT_BINARY "application/octet-stream"

typedef struct files_sniff {
    unsigned char head[FILES_SNIFF_BYTES];
    size_t head_len;
    uint64_t size;
    uint32_t utf8_need; /* continuation bytes still expected */
    uint32_t utf8_cp;   /* code point being assembled */
    uint32_t utf8_min;  /* smallest code point for its length (overlongs) */
    bool text_ok;       /* valid UTF-8, no controls but \t \n \r so far */
} files_sniff;

void files_sniff_init(files_sniff *s);
void files_sniff_feed(files_sniff *s, const void *data, size_t len);
/* The type of all bytes fed (one of FILES_CT_*; an empty file is text). */
const char *files_sniff_type(const files_sniff *s);
/* True for the image types above. */
bool files_type_is_image(const char *type);
/* True when a declared Content-Type names an image (image/...). */
bool files_declared_image(const char *declared);

/* ---- mounting ---- */
typedef struct proto_server proto_server;
typedef struct cd_config cd_config;
/* Routes, resolvers and the sweeper of the files API for this process's
 * role (bind.c). 0 or CD_*. */
int files_bind(proto_server *srv);
/* Thread-pool jobs this module may run at once (thumbnails, and bucket
 * requests when CHATD_FILES_S3_ENDPOINT is set): main sizes the pool. */
unsigned files_pool_workers(const cd_config *cfg);

#endif
