/* Logging to stderr. Thread-safe (one write(2) per line). */
#ifndef VN_CORE_LOG_H
#define VN_CORE_LOG_H

typedef enum { VN_LOG_DEBUG, VN_LOG_INFO, VN_LOG_WARN, VN_LOG_ERROR } vn_log_level_t;

void vn_log_set_level(vn_log_level_t lvl);
int vn_log_level_parse(const char *s, vn_log_level_t *out);
int vn_log_enabled(vn_log_level_t lvl);
void vn_log(vn_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define vn_debug(...) do { if (vn_log_enabled(VN_LOG_DEBUG)) vn_log(VN_LOG_DEBUG, __VA_ARGS__); } while (0)
#define vn_info(...) vn_log(VN_LOG_INFO, __VA_ARGS__)
#define vn_warn(...) vn_log(VN_LOG_WARN, __VA_ARGS__)
#define vn_error(...) vn_log(VN_LOG_ERROR, __VA_ARGS__)

#endif
