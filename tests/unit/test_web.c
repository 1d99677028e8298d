/* test_web.c: the dashboard's files (collector/web.c and the table that
 * embed_web.cmake builds from collector/web/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "collector.h"
#include "web.h"
#include "tmpdir.h"

TestSuite(web, .init = tmp_setup, .fini = tmp_teardown);

Test(web, names_served_and_refused)
{
	static const char *const good[] = {"index.html", "app.js", "style.css",
	    "favicon.svg", "a-b_c.1.js"};
	static const char *const bad[] = {"", ".", "..", ".hidden", "../x",
	    "a/b", "x y", "a\\b", "%2e%2e", "index.html\n",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect(web_name_ok(good[i]), "%s should be served", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!web_name_ok(bad[i]), "'%s' should be refused", bad[i]);
}

Test(web, types)
{
	cr_expect_str_eq(web_type("index.html"), "text/html; charset=utf-8");
	cr_expect_str_eq(web_type("app.js"), "text/javascript; charset=utf-8");
	cr_expect_str_eq(web_type("style.css"), "text/css; charset=utf-8");
	cr_expect_str_eq(web_type("favicon.svg"), "image/svg+xml");
	cr_expect_str_eq(web_type("x.bin"), "application/octet-stream");
	cr_expect_str_eq(web_type("html"), "application/octet-stream");
}

/* The built-in copy is byte for byte the file in collector/web/. */
Test(web, built_in_matches_the_source)
{
	char path[4200], *data, *want;
	size_t size, n = 0;
	FILE *f;

	for (const struct web_file *w = web_files; w->name; w++, n++) {
		snprintf(path, sizeof(path), "%s/collector/web/%s",
		    SCHOOLNET_SOURCE_DIR, w->name);
		cr_assert_not_null(f = fopen(path, "rb"), "%s", path);
		want = malloc(w->size + 1);
		cr_assert_eq(fread(want, 1, w->size + 1, f), w->size, "%s size",
		    w->name);
		fclose(f);
		cr_assert_eq(web_read(NULL, w->name, &data, &size), 0);
		cr_expect_eq(size, w->size);
		cr_expect_eq(memcmp(data, want, size), 0, "%s differs", w->name);
		free(data);
		free(want);
	}
	cr_expect_geq(n, 3, "index.html, app.js and style.css are built in");
	cr_expect_eq(web_read(NULL, "index.html", &data, &size), 0);
	free(data);
	cr_expect_eq(web_read(NULL, "nothing.js", &data, &size), ENOENT);
	cr_expect_null(data);
}

Test(web, from_a_folder)
{
	char *data;
	size_t size;
	FILE *f;

	cr_assert_eq(mkdir("w", 0700), 0);
	cr_assert_not_null(f = fopen("w/app.js", "w"));
	fputs("console.log(1);\n", f);
	fclose(f);
	cr_assert_not_null(f = fopen("secret.txt", "w"));
	fputs("no\n", f);
	fclose(f);
	cr_assert_eq(web_read("w", "app.js", &data, &size), 0);
	cr_expect_eq(size, 16);
	cr_expect_eq(memcmp(data, "console.log(1);\n", 16), 0);
	free(data);
	cr_expect_eq(web_read("w", "index.html", &data, &size), ENOENT,
	    "a file missing from the folder is not taken from the built-in copy");
	cr_expect_eq(web_read("w", "../secret.txt", &data, &size), ENOENT);
	cr_expect_eq(mkdir("w/sub", 0700), 0);
	cr_expect_eq(web_read("w", "sub", &data, &size), ENOENT,
	    "a folder is not a file");
	cr_expect_null(data);
}

/* A FIFO would block the event loop on open or read: refused at once. */
Test(web, fifo_refused_without_blocking, .timeout = 5)
{
	char *data;
	size_t size;

	cr_assert_eq(mkdir("w", 0700), 0);
	cr_assert_eq(mkfifo("w/pipe.txt", 0600), 0);
	cr_expect_eq(web_read("w", "pipe.txt", &data, &size), ENOENT);
	cr_expect_null(data);
}

Test(web, symlinks_not_followed)
{
	char *data;
	size_t size;
	FILE *f;

	cr_assert_eq(mkdir("w", 0700), 0);
	cr_assert_not_null(f = fopen("secret.txt", "w"));
	fputs("no\n", f);
	fclose(f);
	cr_assert_eq(symlink("../secret.txt", "w/link.txt"), 0);
	cr_expect_eq(web_read("w", "link.txt", &data, &size), ENOENT);
	cr_expect_null(data);
	/* A certificate may be a link (e.g. certbot's live/): followed. */
	cr_expect_eq(file_read("w/link.txt", 100, true, &data, &size), 0);
	cr_expect_eq(size, 3);
	free(data);
	cr_expect_eq(file_read("secret.txt", 2, true, &data, &size), EFBIG);
}
