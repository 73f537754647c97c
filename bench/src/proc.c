#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int pidset_parse(struct pidset *ps, const char *s)
{
    ps->n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || ps->n == MAX_PIDS) return -1;
        ps->pid[ps->n++] = (pid_t)v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return ps->n ? 0 : -1;
}

long proc_rss_kib(const struct pidset *ps)
{
    long total = 0;
    for (int i = 0; i < ps->n; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", (int)ps->pid[i]);
        FILE *f = fopen(path, "r");
        if (!f) return -1;
        long v = -1;
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmRSS:", 6)) {
                v = strtol(line + 6, NULL, 10);
                break;
            }
        fclose(f);
        if (v < 0) return -1;
        total += v;
    }
    return total;
}

double proc_cpu_s(const struct pidset *ps)
{
    double total = 0;
    long tck = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < ps->n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)ps->pid[i]);
        FILE *f = fopen(path, "r");
        if (!f) return -1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        /* skip "pid (comm) " - comm may contain spaces */
        char *p = strrchr(buf, ')');
        if (!p) return -1;
        p += 2;
        /* fields from 3 (state): utime is field 14, stime 15 */
        unsigned long ut = 0, st = 0;
        int field = 3;
        char *save = NULL;
        for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
            if (field == 14)
                ut = strtoul(tok, NULL, 10);
            else if (field == 15) {
                st = strtoul(tok, NULL, 10);
                break;
            }
        }
        total += (double)(ut + st) / (double)tck;
    }
    return total;
}

double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int proc_pinned_cpu(const struct pidset *ps)
{
    if (!ps->n) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)ps->pid[0]);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int cpu = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Cpus_allowed_list:", 18)) {
            char *end;
            long v = strtol(line + 18, &end, 10);
            while (*end == ' ' || *end == '\t')
                end++;
            if (end != line + 18 && (*end == '\n' || !*end) && v >= 0) cpu = (int)v;
            break;
        }
    fclose(f);
    return cpu;
}

double cpu_busy_s(int n)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    char line[512], want[16];
    int wl = snprintf(want, sizeof want, "cpu%d ", n);
    double busy = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, want, (size_t)wl)) {
            /* user nice system idle iowait irq softirq steal */
            unsigned long long v[8] = {0};
            if (sscanf(line + wl, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                       &v[3], &v[4], &v[5], &v[6], &v[7]) >= 7)
                busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
                       (double)sysconf(_SC_CLK_TCK);
            break;
        }
    fclose(f);
    return busy;
}
