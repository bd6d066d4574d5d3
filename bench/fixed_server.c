/*
 * fixed_server: an HTTP/1.1 server in C that answers every request with "{}", for the
 * platform's own latency floor.
 *
 * Why it exists: with bench/openloop.c it measures what this machine (kernel, loopback,
 * hypervisor) allows when neither side runs Python or does any work, so a tail that
 * quorumdb shows can be set against the tail that nothing avoids here. One thread,
 * epoll, keep-alive; a request is complete when its headers and Content-Length bytes of
 * body have arrived (bounded by BUFFER; a longer one closes the connection). The answer
 * is PutItem's: 200, {}.
 *
 *   fixed_server PORT        (127.0.0.1; stops on SIGTERM)
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_head.h"

#define BUFFER 65536
#define MAX_FD 65536

static const char ANSWER[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                             "x-amzn-RequestId: 0\r\nContent-Length: 2\r\n\r\n{}";

typedef struct {
    size_t have;
    char data[BUFFER];
} inbox_t;

static inbox_t *inbox[MAX_FD];

/* Bytes of the first complete request in buf, 0 if none yet, -1 if malformed. */
static long request_length(const char *buf, size_t have) {
    size_t head = head_length(buf, have);
    if (head == 0) return have >= BUFFER ? -1 : 0;
    long length = content_length(buf, head, 0);
    if (length < 0 || head + (size_t)length > BUFFER) return -1;
    return have >= head + (size_t)length ? (long)(head + (size_t)length) : 0;
}

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(inbox[fd]);
    inbox[fd] = NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fixed_server PORT\n");
        return 2;
    }
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1024)) {
        perror("fixed_server: bind");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    printf("listening\n");
    fflush(stdout);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int s = accept(listener, NULL, NULL);
                if (s < 0) continue;
                if (s >= MAX_FD) {
                    close(s);
                    continue;
                }
                setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                inbox[s] = calloc(1, sizeof(inbox_t));
                ev.data.fd = s;
                epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
                continue;
            }
            inbox_t *box = inbox[fd];
            ssize_t got = read(fd, box->data + box->have, BUFFER - box->have);
            if (got <= 0) {
                drop(ep, fd);
                continue;
            }
            box->have += (size_t)got;
            long length;
            while ((length = request_length(box->data, box->have)) > 0) {
                if (write(fd, ANSWER, sizeof ANSWER - 1) != (ssize_t)(sizeof ANSWER - 1)) break;
                memmove(box->data, box->data + length, box->have - (size_t)length);
                box->have -= (size_t)length;
            }
            if (length < 0) drop(ep, fd);
        }
    }
}
