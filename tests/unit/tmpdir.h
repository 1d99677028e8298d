/* tmpdir.h: each unit test in a fresh temporary directory (criterion runs
 * every test in its own process), so files are named relative to it and
 * error texts read "c.conf:LINE: reason" whatever the temporary path is. */
#ifndef SCHOOLNET_TEST_TMPDIR_H
#define SCHOOLNET_TEST_TMPDIR_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

static char tmpdir[64];
static char oldcwd[4096];

static inline void
tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/schoolnet-unit-XXXXXX");
	cr_assert_not_null(getcwd(oldcwd, sizeof(oldcwd)));
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
	cr_assert_eq(chdir(tmpdir), 0);
}

static inline void
tmp_teardown(void)
{
	DIR *d = opendir(".");
	struct dirent *de;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlink(de->d_name);
		closedir(d);
	}
	if (chdir(oldcwd) != 0 && chdir("/") != 0)
		return;
	rmdir(tmpdir);
}

static inline void
write_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "wb");

	cr_assert_not_null(f, "%s: %s", name, strerror(errno));
	cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	cr_assert_eq(fclose(f), 0);
}

#endif
