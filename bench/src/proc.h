/* Reading another process's resident memory and CPU time from /proc. */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

#include <stdint.h>
#include <sys/types.h>

#define MAX_PIDS 8

struct pidset {
    int n;
    pid_t pid[MAX_PIDS];
};

/* Parse "123,456" into set; returns 0 or -1. */
int pidset_parse(struct pidset *ps, const char *s);
/* Sum of VmRSS over the set, KiB; -1 if any process is gone. */
long proc_rss_kib(const struct pidset *ps);
/* Sum of user+system CPU seconds over the set (all threads); -1 if gone. */
double proc_cpu_s(const struct pidset *ps);
/* CPU seconds of this process plus its live children listed in ps. */
double self_cpu_s(void);

#endif
