/* SPDX-License-Identifier: MIT */
/* Logging to stderr, one line per message, safe from any thread.
 * Library-like modules (procmaps, symbolize, unwind, pprof) never log above debug: they return
 * -errno and the caller, who knows what the user asked for, logs once. */
#ifndef PROFD_LOG_H
#define PROFD_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parse "error", "warn", "info" or "debug". Returns the level or -EINVAL. */
int log_level_parse(const char *s);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
