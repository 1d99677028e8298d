/* utf8.h: UTF-8 validation and repair for strings that cross the wire. */
#ifndef SCHOOLNET_UTF8_H
#define SCHOOLNET_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 with no control characters
 * other than tab (strings here are names and labels, never text blocks). */
bool utf8_valid_label(const char *s, size_t len);

/*
 * Copy src[0..len) into dst (size dstsize, always NUL-terminated) as a valid
 * label: ill-formed sequences and control characters become '?', and a
 * multi-byte character is never cut in half at the end. Returns bytes used.
 */
size_t utf8_sanitize(char *dst, size_t dstsize, const char *src, size_t len);

#endif
