/* buf.c: capped growable byte buffer. */
#include <string.h>

#include "schoolnet/buf.h"
#include "schoolnet/mem.h"

void
buf_init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->size = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

uint8_t *
buf_reserve(struct buf *b, size_t n)
{
	size_t want;

	if (n > b->cap || b->len > b->cap - n)
		return NULL;
	if (b->len + n > b->size) {
		want = b->size ? b->size : 256;
		while (want < b->len + n)
			want *= 2;
		if (want > b->cap)
			want = b->cap;
		b->data = xreallocarray(b->data, want, 1);
		b->size = want;
	}
	return b->data + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	uint8_t *dst = buf_reserve(b, n);

	if (dst == NULL)
		return -1;
	if (n)
		memcpy(dst, p, n);
	b->len += n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}
