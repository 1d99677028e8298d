/* keys.c: per-agent TLS keys: enroll, list, revoke, and the lookup. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/tls.h"

#define KEY_BYTES 32

/*
 * The daemon looks keys up through its own read-only connection, on the
 * loop thread: one indexed row per handshake, so a key enrolled or revoked
 * with the command line counts from the next connection on.
 */
struct keystore {
	sqlite3 *db;
	sqlite3_stmt *st;
};

struct keystore *
keystore_open(const char *path)
{
	struct keystore *ks = xcalloc(1, sizeof(*ks));

	if (db_open(path, true, &ks->db) != 0 ||
	    sqlite3_prepare_v2(ks->db,
		"SELECT school, key, expires_at, revoked_at FROM agent_keys"
		" WHERE identity = ?",
		-1, &ks->st, NULL) != SQLITE_OK) {
		log_warnx("keys: cannot read %s: %s", path,
		    ks->db ? sqlite3_errmsg(ks->db) : "cannot open");
		keystore_close(ks);
		return NULL;
	}
	return ks;
}

void
keystore_close(struct keystore *ks)
{
	if (ks == NULL)
		return;
	sqlite3_finalize(ks->st);
	sqlite3_close(ks->db);
	free(ks);
}

size_t
keystore_lookup(struct keystore *ks, const char *identity, uint8_t *key,
    char *school, size_t school_size, const char **why)
{
	sqlite3_stmt *st = ks->st;
	uint64_t now = time_now_ms();
	int n = 0;

	*why = "unknown identity";
	sqlite3_bind_text(st, 1, identity, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			*why = "key revoked";
		} else if (sqlite3_column_type(st, 2) != SQLITE_NULL &&
		    (uint64_t)sqlite3_column_int64(st, 2) <= now) {
			*why = "key expired";
		} else if ((n = tls_hex_decode(
				(const char *)sqlite3_column_text(st, 1), key,
				TLS_PSK_MAX)) <= 0) {
			*why = "key unreadable in the database";
			n = 0;
		} else {
			snprintf(school, school_size, "%s",
			    (const char *)sqlite3_column_text(st, 0));
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n > 0 ? (size_t)n : 0;
}

int
cmd_enroll(sqlite3 *db, const char *school, const char *duration)
{
	uint8_t key[KEY_BYTES], rnd[3];
	char hex[2 * KEY_BYTES + 1], id[64], tag[7];
	sqlite3_stmt *st;
	uint64_t now = time_now_ms(), expires = 0;
	double secs;
	int rc;

	if (school == NULL || *school == '\0') {
		fprintf(stderr, "schoolnet-collector: enroll needs --school "
				"CODE\n");
		return 1;
	}
	for (const char *p = school; *p; p++) {
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr("._-", *p)) {
			fprintf(stderr, "schoolnet-collector: bad school code "
					"'%s'\n",
			    school);
			return 1;
		}
	}
	if (strlen(school) > 48) {
		fprintf(stderr, "schoolnet-collector: school code too long\n");
		return 1;
	}
	if (duration) {
		if (cfg_parse_seconds(duration, &secs) != 0 || secs <= 0 ||
		    secs > 100 * 366 * 86400.0) {
			fprintf(stderr, "schoolnet-collector: --for: expected "
					"a duration such as 365d (at most 100 "
					"years)\n");
			return 1;
		}
		expires = now + (uint64_t)(secs * 1000);
	}
	if (tls_random(key, sizeof(key)) != 0 ||
	    tls_random(rnd, sizeof(rnd)) != 0) {
		fprintf(stderr, "schoolnet-collector: no random bytes\n");
		return 1;
	}
	tls_hex_encode(rnd, sizeof(rnd), tag);
	snprintf(id, sizeof(id), "%s-%s", school, tag);
	tls_hex_encode(key, sizeof(key), hex);
	if (sqlite3_prepare_v2(db,
		"INSERT INTO agent_keys(identity, school, key, created_at,"
		" expires_at) VALUES(?,?,?,?,?)",
		-1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "schoolnet-collector: enroll: %s\n",
		    sqlite3_errmsg(db));
		return 1;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, school, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
	if (expires)
		sqlite3_bind_int64(st, 5, (sqlite3_int64)expires);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "schoolnet-collector: enroll: %s\n",
		    sqlite3_errmsg(db));
		return 1;
	}
	printf("# schoolnet agent key for school %s: put these lines in the\n"
	       "# [agent] section of that school's agent.conf (keep it secret)\n"
	       "tls = psk\n"
	       "psk_identity = %s\n"
	       "psk_key = %s\n",
	    school, id, hex);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(hex, sizeof(hex));
	return 0;
}

int
cmd_keys(sqlite3 *db, int argc, char **argv, const char *school, bool json)
{
	const char *sub = argc > 0 ? argv[0] : "list";
	sqlite3_stmt *st;
	int rc;

	if (strcmp(sub, "revoke") == 0 && argc == 2) {
		if (sqlite3_prepare_v2(db,
			"UPDATE agent_keys SET revoked_at = ? WHERE identity = ?"
			" AND revoked_at IS NULL",
			-1, &st, NULL) != SQLITE_OK)
			return 1;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)time_now_ms());
		sqlite3_bind_text(st, 2, argv[1], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE || sqlite3_changes(db) != 1) {
			fprintf(stderr, "schoolnet-collector: no active key "
					"'%s'\n",
			    argv[1]);
			return 1;
		}
		printf("key %s revoked; its agent is refused from its next "
		       "connection\n",
		    argv[1]);
		return 0;
	}
	if (strcmp(sub, "list") != 0 || argc > 1) {
		fprintf(stderr, "schoolnet-collector: usage: keys list | keys "
				"revoke IDENTITY\n");
		return 1;
	}
	if (sqlite3_prepare_v2(db,
		"SELECT identity, school, created_at, expires_at, revoked_at"
		" FROM agent_keys WHERE ?1 IS NULL OR school = ?1"
		" ORDER BY school, created_at",
		-1, &st, NULL) != SQLITE_OK)
		return 1;
	if (school)
		sqlite3_bind_text(st, 1, school, -1, SQLITE_STATIC);
	json_t *rows = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char c[32] = "", e[32] = "-", r[32] = "-";

		time_iso8601((uint64_t)sqlite3_column_int64(st, 2), c,
		    sizeof(c));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			time_iso8601((uint64_t)sqlite3_column_int64(st, 3), e,
			    sizeof(e));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			time_iso8601((uint64_t)sqlite3_column_int64(st, 4), r,
			    sizeof(r));
		if (json)
			json_array_append_new(rows,
			    json_pack("{s:s, s:s, s:s, s:s, s:s}", "identity",
				sqlite3_column_text(st, 0), "school",
				sqlite3_column_text(st, 1), "created_at", c,
				"expires_at", e, "revoked_at", r));
		else
			printf("%-24s %-8s created %s  expires %s  revoked %s\n",
			    sqlite3_column_text(st, 0),
			    sqlite3_column_text(st, 1), c, e, r);
	}
	sqlite3_finalize(st);
	if (json)
		print_listing(stdout, "keys", rows);
	else
		json_decref(rows);
	return rc == SQLITE_DONE ? 0 : 1;
}
