/* mem.h: allocation wrappers; running out of memory is fatal, so callers
 * never check these for NULL. */
#ifndef SCHOOLNET_MEM_H
#define SCHOOLNET_MEM_H

#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);

#define container_of(ptr, type, member)                                       \
	((type *)((char *)(ptr)-offsetof(type, member)))

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#endif
