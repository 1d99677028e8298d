/* tokens.c: bearer tokens for the HTTP API: add, list, revoke, and the lookup. */
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/tls.h"

#define TOKEN_PREFIX "snt_"
#define TOKEN_PREFIX_LEN (sizeof(TOKEN_PREFIX) - 1)
#define TOKEN_BYTES 20
#define TOKEN_LEN (TOKEN_PREFIX_LEN + 2 * TOKEN_BYTES)
#define TOKEN_HASH_LEN 64	/* hex SHA-256 */
#define TOKEN_NAME_MAX 64
/* last_used is a hint for the admin, not an audit log: writing it on every
 * request would take the write lock a few times a second. */
#define TOKEN_TOUCH_MS 60000

/* "snt_" and 40 lowercase hex digits, nothing else; reads at most one
 * byte past that length. */
static bool
token_well_formed(const char *token)
{
	if (token == NULL || strnlen(token, TOKEN_LEN + 1) != TOKEN_LEN ||
	    memcmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return false;
	for (size_t i = TOKEN_PREFIX_LEN; i < TOKEN_LEN; i++)
		if (!(token[i] >= '0' && token[i] <= '9') &&
		    !(token[i] >= 'a' && token[i] <= 'f'))
			return false;
	return true;
}

/* Lowercase hex SHA-256 of the whole token string into hash
 * (TOKEN_HASH_LEN + 1 bytes); 0 or -1. */
static int
token_hash(const char *token, char *hash)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL) ||
	    len * 2 != TOKEN_HASH_LEN)
		return -1;
	tls_hex_encode(md, len, hash);
	return 0;
}

static int
token_random(uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static enum token_role
role_parse(const char *s)
{
	if (s && strcmp(s, "read") == 0)
		return TOKEN_READ;
	if (s && strcmp(s, "admin") == 0)
		return TOKEN_ADMIN;
	return TOKEN_NONE;
}

/*
 * The stored hash is that of a 160-bit random secret, so finding it
 * through SQLite's (not constant-time) index comparison tells an attacker
 * nothing about any token.
 */
enum token_role
token_check(sqlite3 *db, const char *token, char *name, size_t size,
    char touch[TOKEN_HASH_SIZE])
{
	enum token_role role = TOKEN_NONE;
	char hash[TOKEN_HASH_LEN + 1];
	sqlite3_stmt *st = NULL;
	int64_t now = (int64_t)time_now_ms();
	int rc;

	if (name && size > 0)
		*name = '\0';
	if (touch)
		*touch = '\0';
	if (!token_well_formed(token) || token_hash(token, hash) != 0)
		return TOKEN_NONE;
	if (sqlite3_prepare_v2(db,
		"SELECT name, role, revoked_at, last_used FROM api_tokens"
		" WHERE hash = ?",
		-1, &st, NULL) != SQLITE_OK) {
		log_warnx("tokens: %s", sqlite3_errmsg(db));
		return TOKEN_NONE;
	}
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 2) == SQLITE_NULL) {
		int64_t age = now - sqlite3_column_int64(st, 3);

		role = role_parse((const char *)sqlite3_column_text(st, 1));
		if (role != TOKEN_NONE && name && size > 0)
			snprintf(name, size, "%s",
			    (const char *)sqlite3_column_text(st, 0));
		/* age < 0: the clock went back; rewrite it. */
		if (touch && role != TOKEN_NONE &&
		    (sqlite3_column_type(st, 3) == SQLITE_NULL ||
			age > TOKEN_TOUCH_MS || age < 0))
			memcpy(touch, hash, sizeof(hash));
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warnx("tokens: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return role;
}

void
token_touch(sqlite3 *db, const char *hash)
{
	bool autocommit = sqlite3_get_autocommit(db);
	sqlite3_stmt *st;

	/* Best effort: a read-only or busy database keeps the old time. */
	if (sqlite3_prepare_v2(db,
		"UPDATE api_tokens SET last_used = ? WHERE hash = ?", -1, &st,
		NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)time_now_ms());
		sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_debug("tokens: last_used not updated: %s",
			    sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	/* An autocommit statement ends its own transaction; make sure. */
	if (autocommit && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

enum token_role
token_lookup(sqlite3 *db, const char *token, char *name, size_t size)
{
	char touch[TOKEN_HASH_SIZE];
	enum token_role role = token_check(db, token, name, size, touch);

	if (touch[0])
		token_touch(db, touch);
	return role;
}

static bool
name_ok(const char *name)
{
	size_t len = strnlen(name, TOKEN_NAME_MAX + 1);

	if (len == 0 || len > TOKEN_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr("._-", *p))
			return false;
	return true;
}

static int
fail(sqlite3 *db, const char *what)
{
	fprintf(stderr, "schoolnet-collector: %s: %s\n", what,
	    sqlite3_errmsg(db));
	return 1;
}

static int
tokens_add(sqlite3 *db, const char *name, const char *role)
{
	uint8_t rnd[TOKEN_BYTES];
	char token[TOKEN_LEN + 1], hash[TOKEN_HASH_LEN + 1];
	sqlite3_stmt *st = NULL;
	int rc, ret = 1;

	if (role == NULL)
		role = "read";
	if (!name_ok(name)) {
		fprintf(stderr, "schoolnet-collector: tokens add: NAME must be "
				"1 to %d characters of A-Z a-z 0-9 . _ -\n",
		    TOKEN_NAME_MAX);
		return 1;
	}
	if (role_parse(role) == TOKEN_NONE) {
		fprintf(stderr, "schoolnet-collector: tokens add: --role must "
				"be read or admin\n");
		return 1;
	}
	if (token_random(rnd, sizeof(rnd)) != 0) {
		fprintf(stderr, "schoolnet-collector: tokens add: getrandom: "
				"%s\n",
		    strerror(errno));
		return 1;
	}
	memcpy(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	tls_hex_encode(rnd, sizeof(rnd), token + TOKEN_PREFIX_LEN);
	if (token_hash(token, hash) != 0) {
		fprintf(stderr, "schoolnet-collector: tokens add: SHA-256 "
				"failed\n");
		goto out;
	}

	/*
	 * The token is shown only once: commit after it is written, so a
	 * failed write (a full disk behind >) leaves the name free rather
	 * than taken by a token nobody has.
	 */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		fail(db, "tokens add");
		goto out;
	}
	if (sqlite3_prepare_v2(db,
		"INSERT INTO api_tokens(name, role, hash, created_at)"
		" VALUES(?, ?, ?, ?)",
		-1, &st, NULL) != SQLITE_OK) {
		fail(db, "tokens add");
		goto rollback;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time_now_ms());
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY)
			fprintf(stderr, "schoolnet-collector: tokens add: a "
					"token named \"%s\" already exists (a "
					"revoked token keeps its name): use "
					"another name\n",
			    name);
		else
			fail(db, "tokens add");
		goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	printf("%s\n", token);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "schoolnet-collector: tokens add: cannot write "
				"the token: %s; nothing was stored\n",
		    strerror(errno));
		goto rollback;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "schoolnet-collector: tokens add: %s: the "
				"token above was not stored\n",
		    sqlite3_errmsg(db));
		goto rollback;
	}
	fprintf(stderr, "token \"%s\" (role %s) created; it is shown only "
			"once: give it to the dashboard user or put it in "
			"Prometheus' authorization credentials\n",
	    name, role);
	ret = 0;
	goto out;
rollback:
	sqlite3_finalize(st);
	st = NULL;
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	OPENSSL_cleanse(token, sizeof(token));
	return ret;
}

static void
time_or_dash(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		snprintf(buf, size, "-");
	else
		time_iso8601((uint64_t)sqlite3_column_int64(st, col), buf, size);
}

static int
tokens_list(sqlite3 *db, bool json)
{
	json_t *rows = json_array();
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"SELECT name, role, created_at, last_used, revoked_at"
		" FROM api_tokens ORDER BY name",
		-1, &st, NULL) != SQLITE_OK) {
		json_decref(rows);
		return fail(db, "tokens list");
	}
	if (!json)
		printf("%-24s %-5s  %-20s  %-20s  %s\n", "name", "role",
		    "created", "last used", "revoked");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *role = (const char *)sqlite3_column_text(st, 1);
		char c[32], u[32], r[32];

		if (json) {
			json_array_append_new(rows,
			    json_pack("{s:s, s:s, s:o, s:o, s:o}", "name", name,
				"role", role, "created_at", db_col_time(st, 2),
				"last_used", db_col_time(st, 3), "revoked_at",
				db_col_time(st, 4)));
			continue;
		}
		time_or_dash(st, 2, c, sizeof(c));
		time_or_dash(st, 3, u, sizeof(u));
		time_or_dash(st, 4, r, sizeof(r));
		printf("%-24s %-5s  %-20s  %-20s  %s\n", name, role, c, u, r);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(rows);
		return fail(db, "tokens list");
	}
	if (json)
		print_listing(stdout, "tokens", rows);
	else
		json_decref(rows);
	return 0;
}

static int
tokens_revoke(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"UPDATE api_tokens SET revoked_at = ? WHERE name = ?"
		" AND revoked_at IS NULL",
		-1, &st, NULL) != SQLITE_OK)
		return fail(db, "tokens revoke");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time_now_ms());
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(db, "tokens revoke");
	if (sqlite3_changes(db) == 1) {
		printf("token \"%s\" revoked; requests with it are refused "
		       "from now on\n",
		    name);
		return 0;
	}

	/* Say which: unknown, or revoked before. */
	if (sqlite3_prepare_v2(db,
		"SELECT revoked_at FROM api_tokens WHERE name = ?", -1, &st,
		NULL) != SQLITE_OK)
		return fail(db, "tokens revoke");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		char when[32];

		time_iso8601((uint64_t)sqlite3_column_int64(st, 0), when,
		    sizeof(when));
		fprintf(stderr, "schoolnet-collector: tokens revoke: token "
				"\"%s\" was already revoked at %s\n",
		    name, when);
	} else if (rc == SQLITE_DONE) {
		fprintf(stderr, "schoolnet-collector: tokens revoke: there is "
				"no token named \"%s\"\n",
		    name);
	} else {
		fail(db, "tokens revoke");
	}
	sqlite3_finalize(st);
	return 1;
}

int
cmd_tokens(sqlite3 *db, int argc, char **argv, const char *role, bool json)
{
	static const char usage[] = "tokens add NAME [--role read|admin] | "
				    "tokens list | tokens revoke NAME";
	const char *sub = argc > 0 ? argv[0] : "list";
	bool add = strcmp(sub, "add") == 0;
	bool revoke = strcmp(sub, "revoke") == 0;

	if (!add && !revoke && strcmp(sub, "list") != 0) {
		fprintf(stderr, "schoolnet-collector: tokens: unknown "
				"subcommand '%s' (%s)\n",
		    sub, usage);
		return 1;
	}
	if ((add || revoke) && argc < 2) {
		fprintf(stderr, "schoolnet-collector: tokens %s: missing NAME "
				"(%s)\n",
		    sub, usage);
		return 1;
	}
	if (argc > ((add || revoke) ? 2 : 1)) {
		fprintf(stderr, "schoolnet-collector: tokens %s: unexpected "
				"'%s' (%s)\n",
		    sub, argv[(add || revoke) ? 2 : 1], usage);
		return 1;
	}
	if (role && !add) {
		fprintf(stderr, "schoolnet-collector: tokens %s: --role is "
				"only for tokens add\n",
		    sub);
		return 1;
	}
	if (add)
		return tokens_add(db, argv[1], role);
	if (revoke)
		return tokens_revoke(db, argv[1]);
	return tokens_list(db, json);
}
