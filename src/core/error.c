/*
 * error.c — text for the project-wide error codes (core.h).
 */
#include "core/core.h"

const char *cd_strerror(int code)
{
    switch (code) {
    case CD_OK:
        return "ok";
    case CD_AGAIN:
        return "partial input";
    case CD_EBAD:
        return "malformed input";
    case CD_ENOMEM:
        return "out of memory";
    case CD_ELIMIT:
        return "limit exceeded";
    case CD_ENOENT:
        return "not found";
    case CD_EEXIST:
        return "already exists";
    case CD_EIO:
        return "i/o error";
    case CD_ECLOSED:
        return "closed";
    case CD_ESTATE:
        return "invalid state";
    case CD_EAUTH:
        return "authentication failed";
    case CD_EPERM:
        return "not allowed";
    case CD_EUNAVAIL:
        return "service unavailable";
    default:
        return "unknown error";
    }
}
