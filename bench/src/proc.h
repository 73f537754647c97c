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
/* The one CPU the first process of ps may run on (taskset -c N), -1 if it
 * may run on several or cannot be read. */
int proc_pinned_cpu(const struct pidset *ps);
/* Busy seconds of CPU n since boot, all processes (from /proc/stat); -1 on
 * error. Minus the server's own CPU time over a window, this is what other
 * processes took from the server's core. */
double cpu_busy_s(int n);

#endif
