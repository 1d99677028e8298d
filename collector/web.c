/*
 * web.c: the dashboard's static files. They are built into the binary
 * (web_files, from collector/web/); with `web_dir` set (or
 * SCHOOLNET_WEB_DIR in the environment) they are read from that folder on
 * every request instead, so the dashboard can be changed without a rebuild.
 * Only plain names in one flat folder are served: no slashes, no dot files,
 * only regular files, and no symbolic links.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "schoolnet/mem.h"
#include "web.h"

#define WEB_FILE_MAX (8u << 20)

static const struct {
	const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".json", "application/json; charset=utf-8"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *
web_type(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < nitems(types); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* A name we serve: letters, digits, '.', '-', '_'; not starting with '.'. */
bool
web_name_ok(const char *name)
{
	if (name[0] == '\0' || name[0] == '.' || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
			*p == '_'))
			return false;
	return true;
}

/*
 * A whole regular file of at most max bytes into a new buffer (NUL after
 * it): 0, or an errno: EFBIG over max, ENOENT for what is not a regular
 * file (a folder, a FIFO that would block the loop) and, with !follow,
 * for a symbolic link. Opened non-blocking, then checked with fstat.
 */
int
file_read(const char *path, size_t max, bool follow, char **data,
    size_t *size)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
		(follow ? 0 : O_NOFOLLOW));
	struct stat sb;
	size_t got = 0;
	ssize_t n;
	int e = 0;

	*data = NULL;
	*size = 0;
	if (fd < 0)
		return errno == ELOOP ? ENOENT : errno;
	if (fstat(fd, &sb) != 0)
		e = errno;
	else if (!S_ISREG(sb.st_mode))
		e = ENOENT;
	else if ((uintmax_t)sb.st_size > max)
		e = EFBIG;
	if (e != 0) {
		close(fd);
		return e;
	}
	*data = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size &&
	    (n = read(fd, *data + got, (size_t)sb.st_size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (e != 0) {
		free(*data);
		*data = NULL;
		return e;
	}
	(*data)[got] = '\0'; /* a file that shrank meanwhile: what is there */
	*size = got;
	return 0;
}

/*
 * The file NAME into a new buffer: from DIR when given, else the built-in
 * copy. 0, or ENOENT (no such file) or another errno.
 */
int
web_read(const char *dir, const char *name, char **data, size_t *size)
{
	char path[4200];

	*data = NULL;
	*size = 0;
	if (!web_name_ok(name))
		return ENOENT;
	if (dir == NULL || dir[0] == '\0') {
		for (const struct web_file *w = web_files; w->name; w++)
			if (strcmp(w->name, name) == 0) {
				*data = xmalloc(w->size + 1);
				memcpy(*data, w->data, w->size);
				*size = w->size;
				return 0;
			}
		return ENOENT;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return file_read(path, WEB_FILE_MAX, false, data, size);
}
