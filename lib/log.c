/* log.c: timestamped stderr logging that preserves errno. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schoolnet/log.h"

static const char *log_prog = "schoolnet";
static enum log_level log_level = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level = level;
	setvbuf(stderr, NULL, _IOLBF, 0);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

static void vlog(enum log_level level, int errnum, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048], stamp[32];
	struct timespec ts;
	struct tm tm;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (errnum)
		fprintf(stderr, "%s %s[%d]: %s: %s: %s\n", stamp, log_prog,
		    (int)getpid(), level_names[level], msg, strerror(errnum));
	else
		fprintf(stderr, "%s %s[%d]: %s: %s\n", stamp, log_prog,
		    (int)getpid(), level_names[level], msg);
}

#define LOG_BODY(level, errnum)                                               \
	do {                                                                  \
		int saved_errno = errno;                                      \
		va_list ap;                                                   \
		va_start(ap, fmt);                                            \
		vlog(level, errnum, fmt, ap);                                 \
		va_end(ap);                                                   \
		errno = saved_errno;                                          \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, errno);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, 0);
}

void
log_error(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, errno);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, 0);
	exit(1);
}
