/* utf8.c: strict UTF-8 checking (RFC 3629: no overlongs, no surrogates). */
#include <stdint.h>

#include "schoolnet/utf8.h"

/* Length of the well-formed character at s (at most n bytes), or 0. */
static size_t
utf8_char_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		if (n >= 2 && (s[1] & 0xc0) == 0x80)
			return 2;
		return 0;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;
		if (c == 0xf4 && s[1] >= 0x90)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0;
}

static bool
is_control(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

bool
utf8_valid_label(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if (is_control(p[i]))
			return false;
		if ((n = utf8_char_len(p + i, len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}

size_t
utf8_sanitize(char *dst, size_t dstsize, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t i = 0, o = 0, n;

	if (dstsize == 0)
		return 0;
	while (i < len) {
		n = utf8_char_len(p + i, len - i);
		if (n == 0 || (n == 1 && is_control(p[i]))) {
			if (p[i] == '\0' && i + 1 == len)
				break; /* trailing NUL some agents send */
			if (o + 1 >= dstsize)
				break;
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + n >= dstsize)
			break;
		for (size_t k = 0; k < n; k++)
			dst[o++] = (char)p[i + k];
		i += n;
	}
	dst[o] = '\0';
	return o;
}
