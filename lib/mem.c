/* mem.c: allocation wrappers that abort the process on exhaustion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schoolnet/log.h"
#include "schoolnet/mem.h"

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		fatal("malloc %zu", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("calloc %zu x %zu", n, size);
	return p;
}

void *
xreallocarray(void *ptr, size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		fatalx("reallocarray: %zu x %zu overflows", n, size);
	p = realloc(ptr, (n * size) != 0 ? n * size : 1);
	if (p == NULL)
		fatal("realloc %zu x %zu", n, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}
