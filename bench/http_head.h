/*
 * http_head.h: where an HTTP/1.1 message's head ends and what its Content-Length says,
 * for openloop.c (responses) and fixed_server.c (requests).
 */
#ifndef QUORUMDB_BENCH_HTTP_HEAD_H
#define QUORUMDB_BENCH_HTTP_HEAD_H

#include <stdlib.h> /* memmem needs _GNU_SOURCE, defined by the includer first */
#include <string.h>
#include <strings.h>

/* Bytes of the head (through the blank line) in buf[0..have), 0 while incomplete. */
static size_t head_length(const char *buf, size_t have) {
    const char *end = memmem(buf, have, "\r\n\r\n", 4);
    return end == NULL ? 0 : (size_t)(end - buf) + 4;
}

/* The Content-Length of a complete head of `head` bytes, `absent` when it has none. */
static long content_length(const char *buf, size_t head, long absent) {
    const char *end = buf + head - 4;
    for (const char *line = memchr(buf, '\n', head); line != NULL && line < end;
         line = memchr(line + 1, '\n', (size_t)(end - line))) {
        if (strncasecmp(line + 1, "content-length:", 15) == 0)
            return strtol(line + 16, NULL, 10);
    }
    return absent;
}

#endif
