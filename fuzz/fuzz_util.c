/* fuzz_util.c: input files and failure reports for the fuzz targets. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"

#define FUZZ_SLOTS 2

static char fuzz_paths[FUZZ_SLOTS][256];
static int fuzz_fds[FUZZ_SLOTS] = {-1, -1};
static int fuzz_registered;

static void
fuzz_cleanup(void)
{
	for (int i = 0; i < FUZZ_SLOTS; i++)
		if (fuzz_fds[i] >= 0) {
			close(fuzz_fds[i]);
			unlink(fuzz_paths[i]);
		}
}

/* Created once per process: the targets run millions of inputs. */
const char *
fuzz_file(int slot, const void *data, size_t size)
{
	const char *dir = getenv("TMPDIR");
	const uint8_t *p = data;
	ssize_t n;
	size_t off = 0;

	if (slot < 0 || slot >= FUZZ_SLOTS)
		fuzz_fail("fuzz_file: bad slot %d", slot);
	if (fuzz_fds[slot] < 0) {
		if (dir == NULL || *dir == '\0')
			dir = "/tmp";
		snprintf(fuzz_paths[slot], sizeof(fuzz_paths[slot]),
		    "%s/schoolnet-fuzz-%ld-%d.XXXXXX", dir, (long)getpid(),
		    slot);
		if ((fuzz_fds[slot] = mkstemp(fuzz_paths[slot])) < 0) {
			perror(fuzz_paths[slot]);
			abort();
		}
		if (!fuzz_registered++)
			atexit(fuzz_cleanup);
	}
	if (ftruncate(fuzz_fds[slot], 0) != 0) {
		perror("ftruncate");
		abort();
	}
	while (off < size) {
		n = pwrite(fuzz_fds[slot], p + off, size - off, (off_t)off);
		if (n <= 0) {
			perror("pwrite");
			abort();
		}
		off += (size_t)n;
	}
	return fuzz_paths[slot];
}

void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n=== schoolnet fuzz invariant broken: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}
