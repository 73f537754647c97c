/* Logging to stderr. Thread-safe (one write(2) per line). */
#ifndef VN_CORE_LOG_H
#define VN_CORE_LOG_H

#include <stdint.h>

typedef enum { VN_LOG_DEBUG, VN_LOG_INFO, VN_LOG_WARN, VN_LOG_ERROR } vn_log_level_t;

void vn_log_set_level(vn_log_level_t lvl);
int vn_log_level_parse(const char *s, vn_log_level_t *out);
int vn_log_enabled(vn_log_level_t lvl);
void vn_log(vn_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rate-limited logging, for lines that a client can cause at will (accept
 * failures, refused connections): at most one line per interval, and the
 * next line that passes says how many were suppressed meanwhile. One
 * vn_log_limit_t per call site (usually a static), used from one thread.
 * Lines below the log level are neither written nor counted. */
typedef struct vn_log_limit {
    uint64_t next_ms;    /* monotonic time the next line may pass */
    unsigned suppressed; /* lines dropped since the last one written */
} vn_log_limit_t;

/* The decision alone (tested in tests/unit/test_log.c): returns 1 and sets
 * *suppressed (then resets the count) when a line may pass at now_ms, else
 * counts one more suppressed line and returns 0. */
int vn_log_limit_pass(vn_log_limit_t *rl, uint64_t now_ms, unsigned interval_ms,
                      unsigned *suppressed);
void vn_log_limited(vn_log_limit_t *rl, unsigned interval_ms, vn_log_level_t lvl, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

#define vn_debug(...) do { if (vn_log_enabled(VN_LOG_DEBUG)) vn_log(VN_LOG_DEBUG, __VA_ARGS__); } while (0)
#define vn_info(...) vn_log(VN_LOG_INFO, __VA_ARGS__)
#define vn_warn(...) vn_log(VN_LOG_WARN, __VA_ARGS__)
#define vn_error(...) vn_log(VN_LOG_ERROR, __VA_ARGS__)

#endif
