/* fuzz_util.h: what the libFuzzer targets share: the entry point's
 * prototype, input files, and a loud failure for a broken invariant. */
#ifndef SCHOOLNET_FUZZ_UTIL_H
#define SCHOOLNET_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A file of this process (under $TMPDIR or /tmp, removed at exit) whose
 * content is now data[0..size). slot picks one of a few files, so a target
 * can hold the input and a derived file at once. Returns the path.
 */
const char *fuzz_file(int slot, const void *data, size_t size);

/* Report a broken invariant and abort, so libFuzzer keeps the input. */
void fuzz_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#define FUZZ_CHECK(cond, ...)                   \
	do {                                    \
		if (!(cond))                    \
			fuzz_fail(__VA_ARGS__); \
	} while (0)

#endif
