/* buf.h: a growable byte buffer with a hard size cap (after curl's dynbuf). */
#ifndef SCHOOLNET_BUF_H
#define SCHOOLNET_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;  /* bytes in use */
	size_t size; /* bytes allocated */
	size_t cap;  /* never grows beyond this */
};

void buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Append n bytes; returns 0, or -1 (and changes nothing) past the cap. */
int buf_add(struct buf *b, const void *p, size_t n)
    __attribute__((warn_unused_result));
/* Drop the first n bytes, moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/* Make room for at least n more bytes and return where they go, or NULL
 * past the cap; then call buf_commit with what was written. */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

#endif
