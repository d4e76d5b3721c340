/*
 * fuzz_chat_users.c — libFuzzer driver for the user role's input checks and
 * the control-channel reader: every byte string goes through the username,
 * email and displayName validators, the UUID check and the refresh-token
 * hash, and is handled as a control message by a process with no sockets.
 * Invariants checked: a string accepted as a username or email is within its
 * byte limit and holds no control character; an accepted UUID is 36 bytes.
 * Crashes, leaks and sanitizer reports are the other findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/text.h"

static void check_clean(const uint8_t *d, size_t n, size_t max)
{
    if (n > max) abort();
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0x20 || d[i] == 0x7f) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    if (!chat_user_check_username(s, size)) check_clean(data, size, USER_USERNAME_MAX);
    if (!chat_user_check_email(s, size)) {
        check_clean(data, size, USER_EMAIL_MAX);
        if (!memchr(data, '@', size)) abort();
    }
    if (!chat_user_check_display_name(s, size)) check_clean(data, size, USER_DISPLAY_NAME_MAX);
    if (cd_uuid_valid(s, size) && size != 36) abort();
    char h[USER_RT_HASH_LEN + 1];
    chat_rt_hash(s, size, h);
    if (strlen(h) != USER_RT_HASH_LEN) abort();
    static proto_server srv; /* no sockets: close-by-user finds nothing */
    (void)chat_control_handle(&srv, s, size);
    return 0;
}
