/* log.h: one-line, greppable logging to stderr for both daemons. */
#ifndef SCHOOLNET_LOG_H
#define SCHOOLNET_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

#define SN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SN_NORETURN __attribute__((noreturn))

/*
 * Every line reads "2026-11-22T12:40:01Z PROG[PID]: LEVEL: message", so an
 * operator can grep by level and by the peer/switch named in the message.
 */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* log_warn appends ": strerror(errno)"; the *x variants do not. */
void log_warn(const char *fmt, ...) SN_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) SN_PRINTF(1, 2);
void log_info(const char *fmt, ...) SN_PRINTF(1, 2);
void log_debug(const char *fmt, ...) SN_PRINTF(1, 2);
void log_error(const char *fmt, ...) SN_PRINTF(1, 2);
void fatal(const char *fmt, ...) SN_PRINTF(1, 2) SN_NORETURN;
void fatalx(const char *fmt, ...) SN_PRINTF(1, 2) SN_NORETURN;

#endif
