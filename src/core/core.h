/*
 * core.h — the project-wide conventions every module shares.
 *
 * Error convention: functions return 0 (CD_OK) on success or a negative CD_E*
 * code; CD_AGAIN (-1) means "partial input, call again with more bytes".
 * cd_strerror() turns any code into text. User-facing errors (GraphQL errors)
 * are built by the protocol layers from these codes plus a message.
 */
#ifndef CHATD_CORE_H
#define CHATD_CORE_H

#include <stddef.h>
#include <stdint.h>

enum {
    CD_OK = 0,
    CD_AGAIN = -1,    /* partial input: feed more bytes */
    CD_EBAD = -2,     /* malformed input */
    CD_ENOMEM = -3,   /* allocation failed */
    CD_ELIMIT = -4,   /* a named limit was exceeded */
    CD_ENOENT = -5,   /* no such thing */
    CD_EEXIST = -6,   /* already exists */
    CD_EIO = -7,      /* I/O or peer failure */
    CD_ECLOSED = -8,  /* connection or object closed */
    CD_ESTATE = -9,   /* call not valid in the current state */
    CD_EAUTH = -10,   /* authentication failed */
    CD_EPERM = -11,   /* not allowed */
    CD_EUNAVAIL = -12 /* dependency (database, broker) unavailable */
};

const char *cd_strerror(int code);

#define CD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CD_UNUSED(x) ((void)(x))

#endif
