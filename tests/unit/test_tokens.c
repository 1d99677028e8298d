/* test_tokens.c: HTTP API tokens (collector/tokens.c). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "tmpdir.h"

/* Quiet: every test's db_open logs each migration. */
static void
setup(void)
{
	log_set_level(LOG_LVL_WARN);
	tmp_setup();
}

TestSuite(tokens, .init = setup, .fini = tmp_teardown);

#define TOKEN_LEN 44 /* "snt_" + 40 hex */

/* What the last run() printed. */
static char out_text[8192], err_text[8192];

static sqlite3 *
db_new(void)
{
	sqlite3 *db = NULL;

	cr_assert_eq(db_open("t.db", false, &db), 0);
	return db;
}

static void
slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* cmd_tokens with argv (NULL-terminated), stdout and stderr captured in
 * out_text and err_text. */
static int
run(sqlite3 *db, const char *role, bool json, char **argv)
{
	int argc = 0, rc, fo, fe, saved_out, saved_err;

	while (argv[argc])
		argc++;
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	fo = open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open("err.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(saved_out >= 0 && saved_err >= 0 && fo >= 0 && fe >= 0);
	cr_assert(dup2(fo, 1) == 1 && dup2(fe, 2) == 2);
	rc = cmd_tokens(db, argc, argv, role, json);
	fflush(stdout);
	fflush(stderr);
	cr_assert(dup2(saved_out, 1) == 1 && dup2(saved_err, 2) == 2);
	close(fo);
	close(fe);
	close(saved_out);
	close(saved_err);
	slurp("out.txt", out_text, sizeof(out_text));
	slurp("err.txt", err_text, sizeof(err_text));
	return rc;
}

#define RUN(db, role, json, ...) \
	run(db, role, json, (char *[]){__VA_ARGS__, NULL})

/* tokens add name [--role role]: must succeed; the token into token. */
static void
add(sqlite3 *db, const char *name, const char *role, char *token)
{
	cr_assert_eq(RUN(db, role, false, "add", (char *)name), 0, "add %s: %s",
	    name, err_text);
	cr_assert_eq(strlen(out_text), TOKEN_LEN + 1, "stdout: '%s'", out_text);
	cr_assert_eq(out_text[TOKEN_LEN], '\n');
	memcpy(token, out_text, TOKEN_LEN);
	token[TOKEN_LEN] = '\0';
	cr_assert_eq(strncmp(token, "snt_", 4), 0);
	for (int i = 4; i < TOKEN_LEN; i++)
		cr_assert(isdigit((unsigned char)token[i]) ||
		        (token[i] >= 'a' && token[i] <= 'f'),
		    "not lowercase hex: %s", token);
}

static void
sha256_hex(const char *s, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	cr_assert(EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL));
	for (unsigned int i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

/* The first column of the first row: -1 without a row, -2 for NULL. */
static long long
int_query(sqlite3 *db, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	long long v = -1;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
	    "%s", sqlite3_errmsg(db));
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL
		    ? -2
		    : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
}

Test(tokens, add_and_lookup)
{
	sqlite3 *db = db_new();
	char rd[TOKEN_LEN + 1], ad[TOKEN_LEN + 1], name[65], hash[65];

	add(db, "grafana", NULL, rd);
	cr_assert_str_eq(err_text,
	    "token \"grafana\" (role read) created; it is shown only once: "
	    "give it to the dashboard user or put it in Prometheus' "
	    "authorization credentials\n");
	add(db, "ops.admin-1", "admin", ad);
	cr_assert(strstr(err_text, "(role admin)"));
	cr_assert_str_neq(rd, ad);

	cr_assert_eq(token_lookup(db, rd, name, sizeof(name)), TOKEN_READ);
	cr_assert_str_eq(name, "grafana");
	cr_assert_eq(token_lookup(db, ad, name, sizeof(name)), TOKEN_ADMIN);
	cr_assert_str_eq(name, "ops.admin-1");
	cr_assert_eq(token_lookup(db, ad, NULL, 0), TOKEN_ADMIN);
	/* A short name buffer gets a truncated, terminated name. */
	cr_assert_eq(token_lookup(db, ad, name, 4), TOKEN_ADMIN);
	cr_assert_str_eq(name, "ops");

	/* Only the SHA-256 of the whole token is stored. */
	sha256_hex(rd, hash);
	cr_assert_eq(
	    int_query(
	        db, "SELECT count(*) FROM api_tokens WHERE hash = ?", hash),
	    1);
	cr_assert_eq(int_query(db,
	                 "SELECT count(*) FROM api_tokens WHERE hash = ?1"
	                 " OR instr(hash, substr(?1, 5)) OR name = ?1",
	                 rd),
	    0);
	cr_assert(sqlite3_get_autocommit(db));
	sqlite3_close(db);
}

Test(tokens, malformed_and_unknown)
{
	sqlite3 *db = db_new();
	char tok[TOKEN_LEN + 1], bad[TOKEN_LEN + 8], name[65] = "x";

	add(db, "grafana", NULL, tok);

	/* Refused before the database: db NULL would crash otherwise. */
	cr_assert_eq(token_lookup(NULL, NULL, name, sizeof(name)), TOKEN_NONE);
	cr_assert_str_eq(name, "");
	cr_assert_eq(token_lookup(NULL, "", NULL, 0), TOKEN_NONE);
	cr_assert_eq(token_lookup(NULL, "snt_", NULL, 0), TOKEN_NONE);
	cr_assert_eq(token_lookup(NULL, "Bearer x", NULL, 0), TOKEN_NONE);
	snprintf(bad, sizeof(bad), "%.*s", TOKEN_LEN - 1, tok); /* short */
	cr_assert_eq(token_lookup(NULL, bad, NULL, 0), TOKEN_NONE);
	snprintf(bad, sizeof(bad), "%s0", tok); /* long */
	cr_assert_eq(token_lookup(NULL, bad, NULL, 0), TOKEN_NONE);
	snprintf(bad, sizeof(bad), "%s\n", tok); /* trailing newline */
	cr_assert_eq(token_lookup(NULL, bad, NULL, 0), TOKEN_NONE);
	snprintf(bad, sizeof(bad), " %.*s", TOKEN_LEN - 1, tok);
	cr_assert_eq(token_lookup(NULL, bad, NULL, 0), TOKEN_NONE);
	snprintf(bad, sizeof(bad), "%s", tok); /* uppercase hex */
	for (char *p = bad + 4; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	cr_assert_eq(token_lookup(NULL, bad, NULL, 0), TOKEN_NONE);
	snprintf(bad, sizeof(bad), "SNT_%s", tok + 4); /* uppercase prefix */
	cr_assert_eq(token_lookup(NULL, bad, NULL, 0), TOKEN_NONE);
	snprintf(bad, sizeof(bad), "snx_%s", tok + 4);
	cr_assert_eq(token_lookup(NULL, bad, NULL, 0), TOKEN_NONE);
	snprintf(bad, sizeof(bad), "%s", tok); /* not hex */
	bad[20] = 'g';
	cr_assert_eq(token_lookup(NULL, bad, NULL, 0), TOKEN_NONE);

	/* Well formed but unknown: asked, no error, nothing left open. */
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[TOKEN_LEN - 1] = bad[TOKEN_LEN - 1] == '0' ? '1' : '0';
	snprintf(name, sizeof(name), "x");
	cr_assert_eq(token_lookup(db, bad, name, sizeof(name)), TOKEN_NONE);
	cr_assert_str_eq(name, "");
	cr_assert_eq(sqlite3_errcode(db), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert(sqlite3_get_autocommit(db));
	cr_assert_eq(token_lookup(db, tok, NULL, 0), TOKEN_READ);
	sqlite3_close(db);
}

Test(tokens, revoke)
{
	sqlite3 *db = db_new();
	char tok[TOKEN_LEN + 1], other[TOKEN_LEN + 1], name[65] = "x";

	add(db, "grafana", NULL, tok);
	add(db, "prometheus", NULL, other);
	cr_assert_eq(
	    RUN(db, NULL, false, "revoke", "grafana"), 0, "%s", err_text);
	cr_assert(
	    strstr(out_text, "token \"grafana\" revoked"), "%s", out_text);
	cr_assert_eq(token_lookup(db, tok, name, sizeof(name)), TOKEN_NONE);
	cr_assert_str_eq(name, "");
	cr_assert_eq(token_lookup(db, other, NULL, 0), TOKEN_READ);

	cr_assert_eq(RUN(db, NULL, false, "revoke", "grafana"), 1);
	cr_assert(strstr(err_text, "already revoked"), "%s", err_text);
	cr_assert_eq(RUN(db, NULL, false, "revoke", "nobody"), 1);
	cr_assert(
	    strstr(err_text, "no token named \"nobody\""), "%s", err_text);

	/* The name stays taken. */
	cr_assert_eq(RUN(db, NULL, false, "add", "grafana"), 1);
	cr_assert(strstr(err_text, "already exists"), "%s", err_text);
	cr_assert(strstr(err_text, "revoked"), "%s", err_text);
	cr_assert_str_eq(out_text, "");
	cr_assert(sqlite3_get_autocommit(db));
	sqlite3_close(db);
}

Test(tokens, duplicate_name)
{
	sqlite3 *db = db_new();
	char tok[TOKEN_LEN + 1];

	add(db, "grafana", NULL, tok);
	cr_assert_eq(RUN(db, "admin", false, "add", "grafana"), 1);
	cr_assert_str_eq(err_text,
	    "schoolnet-collector: tokens add: a token named \"grafana\" "
	    "already exists (a revoked token keeps its name): use another "
	    "name\n");
	cr_assert_str_eq(out_text, "", "no token may be printed");
	cr_assert(sqlite3_get_autocommit(db), "transaction left open");
	cr_assert_eq(int_query(db, "SELECT count(*) FROM api_tokens", NULL), 1);
	cr_assert_eq(token_lookup(db, tok, NULL, 0), TOKEN_READ);
	sqlite3_close(db);
}

Test(tokens, bad_names)
{
	static const char *const bad[] = {"", "a b", "a/b", "grafana\n", "名字",
	    "a:b", "'x'",
	    "1234567890123456789012345678901234567890123456789012345678901234"
	    "5"};
	sqlite3 *db = db_new();
	char tok[TOKEN_LEN + 1];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(RUN(db, NULL, false, "add", (char *)bad[i]), 1,
		    "accepted '%s'", bad[i]);
		cr_assert(strstr(err_text,
		              "schoolnet-collector: tokens add: "
		              "NAME must be 1 to 64 characters"),
		    "%s", err_text);
		cr_assert_str_eq(out_text, "");
	}
	cr_assert_eq(int_query(db, "SELECT count(*) FROM api_tokens", NULL), 0);
	add(db,
	    "1234567890123456789012345678901234567890123456789012345678901234",
	    NULL, tok);
	add(db, "Lab_2.b-x", NULL, tok);
	sqlite3_close(db);
}

Test(tokens, bad_role)
{
	static const char *const bad[] = {
	    "", "root", "READ", "readonly", "admin "};
	sqlite3 *db = db_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(RUN(db, bad[i], false, "add", "grafana"), 1,
		    "accepted role '%s'", bad[i]);
		cr_assert(strstr(err_text, "--role must be read or admin"),
		    "%s", err_text);
		cr_assert_str_eq(out_text, "");
	}
	cr_assert_eq(int_query(db, "SELECT count(*) FROM api_tokens", NULL), 0);
	cr_assert_eq(RUN(db, "admin", false, "list"), 1);
	cr_assert(strstr(err_text, "--role"), "%s", err_text);
	sqlite3_close(db);
}

Test(tokens, usage)
{
	sqlite3 *db = db_new();

	cr_assert_eq(run(db, NULL, false, (char *[]){NULL}), 0, "%s", err_text);
	cr_assert_str_eq(out_text,
	    "name                     role   created "
	    "              last used             "
	    "revoked\n");
	cr_assert_eq(RUN(db, NULL, false, "frob"), 1);
	cr_assert(
	    strstr(err_text, "unknown subcommand 'frob'"), "%s", err_text);
	cr_assert_eq(RUN(db, NULL, false, "add"), 1);
	cr_assert(strstr(err_text, "tokens add: missing NAME"), "%s", err_text);
	cr_assert_eq(RUN(db, NULL, false, "revoke"), 1);
	cr_assert(
	    strstr(err_text, "tokens revoke: missing NAME"), "%s", err_text);
	cr_assert_eq(RUN(db, NULL, false, "add", "a", "b"), 1);
	cr_assert(
	    strstr(err_text, "tokens add: unexpected 'b'"), "%s", err_text);
	cr_assert_eq(RUN(db, NULL, false, "list", "all"), 1);
	cr_assert(
	    strstr(err_text, "tokens list: unexpected 'all'"), "%s", err_text);
	cr_assert_eq(int_query(db, "SELECT count(*) FROM api_tokens", NULL), 0);
	sqlite3_close(db);
}

Test(tokens, list_json)
{
	sqlite3 *db = db_new();
	char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1], hash[65];
	json_t *top, *rows, *o;
	json_error_t err;

	add(db, "zabbix", "admin", b);
	add(db, "grafana", NULL, a);
	cr_assert_eq(token_lookup(db, a, NULL, 0), TOKEN_READ);
	cr_assert_eq(RUN(db, NULL, false, "revoke", "zabbix"), 0);

	cr_assert_eq(RUN(db, NULL, true, "list"), 0, "%s", err_text);
	sha256_hex(a, hash);
	cr_assert_null(strstr(out_text, hash), "hash in the listing");
	sha256_hex(b, hash);
	cr_assert_null(strstr(out_text, hash), "hash in the listing");
	cr_assert_null(strstr(out_text, a + 4), "token in the listing");
	cr_assert_null(strstr(out_text, "hash"));
	top = json_loads(out_text, 0, &err);
	cr_assert_not_null(top, "%s: %s", err.text, out_text);
	cr_assert(json_is_string(json_object_get(top, "generated_at")));
	rows = json_object_get(top, "tokens");
	cr_assert(json_is_array(rows));
	cr_assert_eq(json_array_size(rows), 2);

	o = json_array_get(rows, 0); /* by name */
	cr_assert_eq(json_object_size(o), 5, "%s", out_text);
	cr_assert_str_eq(
	    json_string_value(json_object_get(o, "name")), "grafana");
	cr_assert_str_eq(json_string_value(json_object_get(o, "role")), "read");
	cr_assert(json_is_string(json_object_get(o, "created_at")));
	cr_assert_eq(
	    strlen(json_string_value(json_object_get(o, "created_at"))), 20);
	cr_assert(json_is_string(json_object_get(o, "last_used")));
	cr_assert(json_is_null(json_object_get(o, "revoked_at")));

	o = json_array_get(rows, 1);
	cr_assert_eq(json_object_size(o), 5, "%s", out_text);
	cr_assert_str_eq(
	    json_string_value(json_object_get(o, "name")), "zabbix");
	cr_assert_str_eq(
	    json_string_value(json_object_get(o, "role")), "admin");
	cr_assert(json_is_null(json_object_get(o, "last_used")));
	cr_assert(json_is_string(json_object_get(o, "revoked_at")));
	json_decref(top);

	/* Text: "-" for what has not happened. */
	cr_assert_eq(RUN(db, NULL, false, "list"), 0, "%s", err_text);
	cr_assert(strstr(out_text, "\ngrafana "), "%s", out_text);
	cr_assert(strstr(out_text, "Z  -\n"), "%s", out_text);
	cr_assert(strstr(out_text, "\nzabbix                   admin  "), "%s",
	    out_text);
	cr_assert(
	    strstr(out_text, "Z  -                     20"), "%s", out_text);
	cr_assert_null(strstr(out_text, hash));
	sqlite3_close(db);
}

/* last_used is written on first use, then at most once a minute. */
Test(tokens, last_used)
{
	sqlite3 *db = db_new();
	char tok[TOKEN_LEN + 1];
	const char *q = "SELECT last_used FROM api_tokens WHERE name = ?";
	long long t;

	add(db, "grafana", NULL, tok);
	cr_assert_eq(int_query(db, q, "grafana"), -2);
	cr_assert_eq(token_lookup(db, tok, NULL, 0), TOKEN_READ);
	t = int_query(db, q, "grafana");
	cr_assert_gt(t, 0);

	exec_ok(db, "UPDATE api_tokens SET last_used = last_used - 30000");
	cr_assert_eq(token_lookup(db, tok, NULL, 0), TOKEN_READ);
	cr_assert_eq(int_query(db, q, "grafana"), t - 30000);

	exec_ok(db, "UPDATE api_tokens SET last_used = last_used - 31000");
	cr_assert_eq(token_lookup(db, tok, NULL, 0), TOKEN_READ);
	cr_assert_geq(int_query(db, q, "grafana"), t);

	/* A time in the future (the clock went back) is rewritten. */
	exec_ok(db, "UPDATE api_tokens SET last_used = last_used + 3600000");
	cr_assert_eq(token_lookup(db, tok, NULL, 0), TOKEN_READ);
	cr_assert_lt(int_query(db, q, "grafana"), t + 3600000);
	sqlite3_close(db);
}

/* The update of last_used is best effort: read-only, busy. */
Test(tokens, read_only_and_busy)
{
	sqlite3 *db = db_new(), *ro = NULL, *other = NULL;
	char tok[TOKEN_LEN + 1], name[65];
	const char *q = "SELECT last_used FROM api_tokens WHERE name = ?";

	add(db, "grafana", "admin", tok);

	cr_assert_eq(db_open("t.db", true, &ro), 0);
	cr_assert_eq(token_lookup(ro, tok, name, sizeof(name)), TOKEN_ADMIN);
	cr_assert_str_eq(name, "grafana");
	cr_assert(sqlite3_get_autocommit(ro));
	cr_assert_eq(int_query(db, q, "grafana"), -2);
	sqlite3_close(ro);

	/* Another connection holds the write lock. */
	cr_assert_eq(db_open("t.db", false, &other), 0);
	exec_ok(other, "BEGIN IMMEDIATE");
	sqlite3_busy_timeout(db, 0);
	cr_assert_eq(token_lookup(db, tok, NULL, 0), TOKEN_ADMIN);
	cr_assert(sqlite3_get_autocommit(db), "transaction left open");
	exec_ok(other, "COMMIT");
	cr_assert_eq(int_query(db, q, "grafana"), -2);
	cr_assert_eq(token_lookup(db, tok, NULL, 0), TOKEN_ADMIN);
	cr_assert_gt(int_query(db, q, "grafana"), 0);
	sqlite3_close(other);
	sqlite3_close(db);
}

/* The token is shown once: if it cannot be written, it is not stored. */
Test(tokens, unwritable_stdout)
{
	sqlite3 *db = db_new();
	int full = open("/dev/full", O_WRONLY), saved = dup(1), rc;

	if (full < 0)
		cr_skip_test("no /dev/full");
	fflush(stdout);
	cr_assert(saved >= 0 && dup2(full, 1) == 1);
	rc = cmd_tokens(db, 2, (char *[]){"add", "grafana", NULL}, NULL, false);
	clearerr(stdout);
	cr_assert(dup2(saved, 1) == 1);
	close(saved);
	close(full);
	cr_assert_eq(rc, 1);
	cr_assert(sqlite3_get_autocommit(db), "transaction left open");
	cr_assert_eq(int_query(db, "SELECT count(*) FROM api_tokens", NULL), 0);
	sqlite3_close(db);
}
