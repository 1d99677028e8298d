/*
 * web.c: the dashboard's static files. They are built into the binary
 * (web_files, from collector/web/); with `web_dir` set (or
 * SCHOOLNET_WEB_DIR in the environment) they are read from that folder on
 * every request instead, so the dashboard can be changed without a rebuild.
 * Only plain names in one flat folder are served: no slashes, no dot files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A whole file of at most max bytes into a new buffer (NUL after it):
 * 0, or an errno (EFBIG when over max). */
int
file_read(const char *path, size_t max, char **data, size_t *size)
{
	FILE *f;
	long n;
	int e;

	*data = NULL;
	*size = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return errno;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		e = errno ? errno : EIO;
		fclose(f);
		return e;
	}
	if ((unsigned long)n > max) {
		fclose(f);
		return EFBIG;
	}
	*data = xmalloc((size_t)n + 1);
	if (fread(*data, 1, (size_t)n, f) != (size_t)n || ferror(f)) {
		e = errno ? errno : EIO;
		fclose(f);
		free(*data);
		*data = NULL;
		return e;
	}
	fclose(f);
	(*data)[n] = '\0';
	*size = (size_t)n;
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
	return file_read(path, WEB_FILE_MAX, data, size);
}
