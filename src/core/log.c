#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static vn_log_level_t g_level = VN_LOG_INFO;

void vn_log_set_level(vn_log_level_t lvl)
{
    g_level = lvl;
}

int vn_log_enabled(vn_log_level_t lvl)
{
    return lvl >= g_level;
}

int vn_log_level_parse(const char *s, vn_log_level_t *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (vn_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = VN_LOG_WARN;
        return 0;
    }
    return -1;
}

static void vlog(vn_log_level_t lvl, unsigned suppressed, const char *fmt, va_list ap)
{
    static const char *tags[] = {"debug", "info", "warn", "error"};
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, tags[lvl]);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    if (suppressed) {
        m = snprintf(line + len, sizeof(line) - len - 1, " (%u similar lines suppressed)",
                     suppressed);
        len += m < 0 ? 0 : (size_t)m;
        if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void vn_log(vn_log_level_t lvl, const char *fmt, ...)
{
    if (lvl < g_level) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, 0, fmt, ap);
    va_end(ap);
}

int vn_log_limit_pass(vn_log_limit_t *rl, uint64_t now_ms, unsigned interval_ms,
                      unsigned *suppressed)
{
    if (rl->next_ms != 0 && now_ms < rl->next_ms) {
        rl->suppressed++;
        return 0;
    }
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    rl->next_ms = now_ms + interval_ms;
    return 1;
}

void vn_log_limited(vn_log_limit_t *rl, unsigned interval_ms, vn_log_level_t lvl, const char *fmt,
                    ...)
{
    if (lvl < g_level) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    unsigned suppressed;
    if (!vn_log_limit_pass(rl, now, interval_ms, &suppressed)) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, suppressed, fmt, ap);
    va_end(ap);
}
