/*
 * cpu_stalls: how often this machine takes a CPU away from a running program.
 *
 * Why it exists: a latency tail can come from the program, the kernel or the hypervisor.
 * This reads the clock (vDSO, no system call) in a tight loop for SECONDS and counts the
 * gaps between two readings: on an idle bare-metal core they stay under a few
 * microseconds; a gap of 0.25-7 ms is time the CPU was given to something else (an
 * interrupt, another task, or the host descheduling this virtual CPU). Run it pinned
 * (taskset -c N) on each CPU; bench/cpu_stalls.py does.
 *
 *   cpu_stalls SECONDS     prints one JSON object
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
    double seconds = argc == 2 ? atof(argv[1]) : 0;
    if (seconds <= 0 || seconds > 3600) {
        fprintf(stderr, "usage: cpu_stalls SECONDS (at most 3600)\n");
        return 2;
    }
    static const uint64_t bounds[] = {50000, 100000, 250000, 500000, 1000000, 2000000};
    enum { NB = sizeof bounds / sizeof bounds[0] };
    uint64_t over[NB] = {0}, lost = 0, max = 0;
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9), prev = start;
    for (;;) {
        uint64_t t = now_ns(), gap = t - prev;
        prev = t;
        if (gap > bounds[0]) {
            lost += gap;
            if (gap > max) max = gap;
            for (int i = 0; i < NB; i++) over[i] += gap > bounds[i];
        }
        if (t >= end) break;
    }
    printf("{\"seconds\": %.3f, \"over_50us\": %lu, \"over_100us\": %lu, \"over_250us\": %lu, "
           "\"over_500us\": %lu, \"over_1ms\": %lu, \"over_2ms\": %lu, \"max_ms\": %.3f, "
           "\"lost_percent\": %.3f}\n",
           (double)(prev - start) / 1e9, (unsigned long)over[0], (unsigned long)over[1],
           (unsigned long)over[2], (unsigned long)over[3], (unsigned long)over[4],
           (unsigned long)over[5], (double)max / 1e6, 100.0 * (double)lost / (double)(prev - start));
    return 0;
}
