/*
 * openloop: an open-loop HTTP/1.1 load generator in C, for latency tails.
 *
 * Why it exists: quorumdb bench is Python; at 11,000 requests/s its open-loop client
 * spends 25-60 us of CPU per request on its own core, so its own queueing and stalls
 * show in the percentiles it reports (against a server that does nothing, its
 * p99.9 / p50 was 5-13). This program sends requests that bench/openloop.py built and
 * signed beforehand, so its cost per request is a write, a read and a clock reading.
 *
 * Model: request i is due at t0 + i / rate (CLOCK_MONOTONIC, a timerfd armed at the next
 * due time, so no millisecond rounding). A due request goes out on an idle connection;
 * when all --connections are busy it waits in a queue, and its latency still counts
 * from its due time (no coordinated omission). One request per connection at a time
 * (keep-alive). Latencies of requests due after the warm-up are kept, sorted, and the
 * exact percentiles printed as one JSON object on stdout. RATE 0 is the closed loop
 * instead: each connection sends its next request as soon as its answer arrives (with
 * one connection, the latency at concurrency 1), for DURATION_S after the warm-up.
 *
 * Input file: records of [u32 little-endian length][complete HTTP request], used in
 * order and reused from the start when the run needs more. Responses must carry
 * Content-Length (quorumdb, moto and dynalite all do); a status other than 200 counts
 * as an error. Bounds: a response not complete within --timeout seconds ends the run
 * with exit code 3; headers are bounded by the read buffer.
 *
 *   openloop HOST PORT FILE RATE DURATION_S WARMUP_S CONNECTIONS TIMEOUT_S
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "http_head.h"

#define READ_BUFFER (1 << 20)
#define MAX_CONNECTIONS 4096

typedef struct {
    int fd;
    int busy;
    uint64_t due;   /* intended start of the request in flight (ns) */
    int kept;       /* its latency is recorded (due after the warm-up) */
    size_t have;    /* bytes of the current response read so far */
    char *buffer;
} conn_t;

typedef struct {
    uint64_t *v;
    size_t n, cap;
} samples_t;

static void keep(samples_t *s, uint64_t value) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1 << 16;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL) {
            perror("realloc");
            exit(2);
        }
    }
    s->v[s->n++] = value;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *sorted, size_t n, double q) {
    if (n == 0) return 0.0;
    size_t at = (size_t)(q * (double)n);
    if (at >= n) at = n - 1;
    return (double)sorted[at] / 1e6;
}

static int connect_to(const char *host, int port) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "openloop: HOST must be an IPv4 address: %s\n", host);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Length of a complete response in buf[0..have), 0 if incomplete; *status set. */
static size_t response_length(const char *buf, size_t have, int *status) {
    size_t head = head_length(buf, have);
    if (head == 0) {
        if (have >= READ_BUFFER) {
            fprintf(stderr, "openloop: response headers over %d bytes\n", READ_BUFFER);
            exit(2);
        }
        return 0;
    }
    if (have < 12 || memcmp(buf, "HTTP/1.", 7) != 0) {
        fprintf(stderr, "openloop: not an HTTP/1.x response\n");
        exit(2);
    }
    *status = atoi(buf + 9);
    long length = content_length(buf, head, -1);
    if (length < 0) {
        fprintf(stderr, "openloop: a response without Content-Length\n");
        exit(2);
    }
    if (head + (size_t)length > READ_BUFFER) {
        fprintf(stderr, "openloop: a response over %d bytes\n", READ_BUFFER);
        exit(2);
    }
    return have >= head + (size_t)length ? head + (size_t)length : 0;
}

static void send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("write");
        }
        data += n;
        len -= (size_t)n;
    }
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: openloop HOST PORT FILE RATE DURATION_S WARMUP_S "
                        "CONNECTIONS TIMEOUT_S\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    double rate = atof(argv[4]), duration = atof(argv[5]), warmup = atof(argv[6]);
    int nconn = atoi(argv[7]);
    double timeout = atof(argv[8]);
    int closed = rate == 0;
    if (rate < 0 || duration <= 0 || warmup < 0 || nconn < 1 || nconn > MAX_CONNECTIONS ||
        timeout <= 0) {
        fprintf(stderr, "openloop: bad arguments\n");
        return 2;
    }

    /* The requests. */
    FILE *in = fopen(argv[3], "rb");
    if (in == NULL) die("open requests");
    fseek(in, 0, SEEK_END);
    long file_size = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *data = malloc((size_t)file_size + 1);
    if (data == NULL || fread(data, 1, (size_t)file_size, in) != (size_t)file_size)
        die("read requests");
    fclose(in);
    size_t nreq = 0, cap = 1024;
    char **req = malloc(cap * sizeof *req);
    uint32_t *req_len = malloc(cap * sizeof *req_len);
    for (long at = 0; at + 4 <= file_size;) {
        uint32_t len;
        memcpy(&len, data + at, 4);
        if (at + 4 + (long)len > file_size) break;
        if (nreq == cap) {
            cap *= 2;
            req = realloc(req, cap * sizeof *req);
            req_len = realloc(req_len, cap * sizeof *req_len);
        }
        req[nreq] = data + at + 4;
        req_len[nreq++] = len;
        at += 4 + (long)len;
    }
    if (nreq == 0) {
        fprintf(stderr, "openloop: no requests in %s\n", argv[3]);
        return 2;
    }

    size_t total = closed ? 0 : (size_t)((warmup + duration) * rate); /* open loop */
    size_t first_kept = closed ? 0 : (size_t)(warmup * rate);
    samples_t lat = {0}, lag = {0};
    size_t *queue = malloc((total + 1) * sizeof *queue); /* due indices not yet sent */
    if (queue == NULL) die("malloc");
    size_t qhead = 0, qtail = 0, errors = 0, done = 0;

    int ep = epoll_create1(0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (ep < 0 || tfd < 0) die("epoll/timerfd");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)nconn};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    conn_t *conns = calloc((size_t)nconn, sizeof *conns);
    int *idle = malloc((size_t)nconn * sizeof *idle);
    int nidle = 0;
    for (int i = 0; i < nconn; i++) {
        conns[i].fd = connect_to(host, port);
        conns[i].buffer = malloc(READ_BUFFER);
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)i;
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
        idle[nidle++] = i;
    }

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double period = closed ? 0.0 : 1e9 / rate;
    uint64_t t0 = now_ns() + 20000000ull; /* 20 ms to settle */
    uint64_t keep_from = t0 + (uint64_t)(warmup * 1e9);
    uint64_t end = keep_from + (uint64_t)(duration * 1e9);
    uint64_t deadline_ns = (uint64_t)(timeout * 1e9);
    size_t next = 0; /* open loop: the next request to become due; closed: sent so far */
    uint64_t armed = 0;
    struct epoll_event events[256];

    while (closed ? (nidle < nconn || now_ns() < end) : done < total) {
        uint64_t now = now_ns();
        if (closed) {
            while (nidle > 0 && now >= t0 && now < end) {
                conn_t *c = &conns[idle[--nidle]];
                c->busy = 1;
                c->have = 0;
                c->due = now;
                c->kept = now >= keep_from;
                send_all(c->fd, req[next % nreq], req_len[next % nreq]);
                next++;
            }
        } else {
            while (next < total && t0 + (uint64_t)((double)next * period) <= now)
                queue[qtail++] = next++;
            while (qhead < qtail && nidle > 0) {
                size_t i = queue[qhead++];
                conn_t *c = &conns[idle[--nidle]];
                c->busy = 1;
                c->have = 0;
                c->due = t0 + (uint64_t)((double)i * period);
                c->kept = i >= first_kept;
                if (c->kept) keep(&lag, now - c->due);
                send_all(c->fd, req[i % nreq], req_len[i % nreq]);
            }
        }
        uint64_t wake = closed ? (now < t0 ? t0 : end)
                               : (next < total ? t0 + (uint64_t)((double)next * period) : 0);
        if (wake != 0 && wake != armed) {
            struct itimerspec its = {0};
            its.it_value.tv_sec = (time_t)(wake / 1000000000ull);
            its.it_value.tv_nsec = (long)(wake % 1000000000ull);
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
            armed = wake;
        }
        int n = epoll_wait(ep, events, 256, 1000);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        now = now_ns();
        for (int e = 0; e < n; e++) {
            uint64_t which = events[e].data.u64;
            if (which == (uint64_t)nconn) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                    die("timerfd read");
                continue;
            }
            conn_t *c = &conns[which];
            ssize_t got = read(c->fd, c->buffer + c->have, READ_BUFFER - c->have);
            if (got == 0) {
                fprintf(stderr, "openloop: the server closed a connection\n");
                return 2;
            }
            if (got < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                die("read");
            }
            c->have += (size_t)got;
            int status = 0;
            size_t length = response_length(c->buffer, c->have, &status);
            if (length == 0) continue;
            if (!c->busy || length != c->have) {
                fprintf(stderr, "openloop: an unexpected response\n");
                return 2;
            }
            if (status != 200) {
                if (errors == 0)
                    fprintf(stderr, "openloop: first error: %.*s\n",
                            (int)(c->have > 600 ? 600 : c->have), c->buffer);
                errors++;
            }
            if (c->kept) keep(&lat, now - c->due);
            c->busy = 0;
            done++;
            idle[nidle++] = (int)which;
        }
        for (int i = 0; i < nconn; i++) {
            if (conns[i].busy && now > conns[i].due + deadline_ns &&
                conns[i].due + deadline_ns > conns[i].due) {
                fprintf(stderr, "openloop: no response within %.1f s\n", timeout);
                return 3;
            }
        }
    }
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_u64);
    qsort(lag.v, lag.n, sizeof *lag.v, cmp_u64);
    printf("{\"ops\": %zu, \"ops_per_s\": %.1f, \"errors\": %zu, \"p50_ms\": %.4f, "
           "\"p90_ms\": %.4f, \"p99_ms\": %.4f, \"p999_ms\": %.4f, \"max_ms\": %.4f, "
           "\"min_ms\": %.4f, \"schedule_lag_p50_ms\": %.4f, \"schedule_lag_p99_ms\": %.4f, "
           "\"schedule_lag_max_ms\": %.4f, \"client_cpu_s\": %.3f, "
           "\"client_cpu_us_per_op\": %.2f}\n",
           lat.n, (double)lat.n / duration, errors, pct_ms(lat.v, lat.n, 0.50),
           pct_ms(lat.v, lat.n, 0.90), pct_ms(lat.v, lat.n, 0.99), pct_ms(lat.v, lat.n, 0.999),
           lat.n ? (double)lat.v[lat.n - 1] / 1e6 : 0.0, lat.n ? (double)lat.v[0] / 1e6 : 0.0,
           pct_ms(lag.v, lag.n, 0.50), pct_ms(lag.v, lag.n, 0.99),
           lag.n ? (double)lag.v[lag.n - 1] / 1e6 : 0.0, cpu,
           done ? cpu * 1e6 / (double)done : 0.0);
    return 0;
}
