/* fuzz_inventory.c: the inventory CSV checker on hostile files. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "collector.h"
#include "fuzz_util.h"
#include "schoolnet/utf8.h"

/*
 * The input is an inventory CSV. Whatever inventory_check_file accepts is
 * what `import` writes to the database, so every accepted row must hold
 * what the checker promises (DESIGN.md, "Inventory").
 */

static int
valid_code(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > WIRE_NAME_MAX)
		return 0;
	return strspn(s,
	           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	           "0123456789._-") == n;
}

static void
check_text(const char *s, int required, const char *what, int line)
{
	FUZZ_CHECK(s != NULL, "line %d: %s is NULL", line, what);
	FUZZ_CHECK(!required || *s != '\0', "line %d: %s is empty", line, what);
	FUZZ_CHECK(utf8_valid_label(s, strlen(s)) && strchr(s, '\t') == NULL,
	    "line %d: %s is not a clean label", line, what);
}

static void
check_inventory(const struct inventory *inv)
{
	size_t schools = 0;

	FUZZ_CHECK(inv->n_rows > 0 && inv->rows != NULL,
	    "an inventory without rows was accepted");
	FUZZ_CHECK(inv->n_schools > 0 && inv->n_schools <= inv->n_rows,
	    "%zu schools in %zu rows", inv->n_schools, inv->n_rows);
	for (size_t i = 0; i < inv->n_rows; i++) {
		const struct inventory_row *r = &inv->rows[i];
		int first = 1;

		FUZZ_CHECK(r->line >= 2 && (i == 0 || r->line > r[-1].line),
		    "row %zu: line %d out of order", i, r->line);
		check_text(r->town, 1, "town", r->line);
		check_text(r->school_code, 1, "school_code", r->line);
		check_text(r->school_name, 1, "school_name", r->line);
		check_text(r->school_type, 1, "school_type", r->line);
		check_text(r->room, 1, "room", r->line);
		check_text(r->switch_name, 1, "switch", r->line);
		check_text(r->port, 1, "port", r->line);
		check_text(r->probe, 0, "probe", r->line);
		FUZZ_CHECK(
		    valid_code(r->school_code) && valid_code(r->switch_name),
		    "line %d: bad school_code or switch name", r->line);
		FUZZ_CHECK(
		    strlen(r->port) <= 255, "line %d: port too long", r->line);
		FUZZ_CHECK(r->role != NULL &&
		        (strcmp(r->role, "uplink") == 0 ||
		            strcmp(r->role, "classroom") == 0 ||
		            strcmp(r->role, "recording") == 0),
		    "line %d: role '%s'", r->line, r->role ? r->role : "NULL");
		FUZZ_CHECK(
		    *r->probe == '\0' || strcmp(r->role, "recording") == 0,
		    "line %d: a probe on a %s row", r->line, r->role);
		for (size_t j = 0; j < i; j++) {
			const struct inventory_row *o = &inv->rows[j];

			if (strcmp(o->school_code, r->school_code) != 0)
				continue;
			first = 0;
			FUZZ_CHECK(
			    strcmp(o->school_name, r->school_name) == 0 &&
			        strcmp(o->town, r->town) == 0 &&
			        strcmp(o->school_type, r->school_type) == 0 &&
			        o->town_seat == r->town_seat,
			    "lines %d and %d: school %s differs", o->line,
			    r->line, r->school_code);
			FUZZ_CHECK(strcmp(o->switch_name, r->switch_name) ||
			        strcmp(o->port, r->port),
			    "lines %d and %d: the same port twice", o->line,
			    r->line);
			FUZZ_CHECK(strcmp(r->role, "uplink") == 0 ||
			        strcmp(o->role, "uplink") == 0 ||
			        strcmp(o->room, r->room) != 0,
			    "lines %d and %d: the same room twice", o->line,
			    r->line);
		}
		schools += first;
		/* Quadratic: keep the corpus' inventories small. */
		if (i > 2000)
			break;
	}
	if (inv->n_rows <= 2001)
		FUZZ_CHECK(schools == inv->n_schools,
		    "n_schools %zu, counted %zu", inv->n_schools, schools);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cfg_err e;
	struct inventory *inv = NULL;
	const char *path = fuzz_file(0, data, size);

	if (inventory_check_file(path, &inv, &e) == 0) {
		FUZZ_CHECK(inv != NULL && e.count == 0,
		    "accepted without an inventory");
		check_inventory(inv);
		inventory_free(inv);
	} else {
		FUZZ_CHECK(inv == NULL && e.count > 0 && e.text[0] != '\0',
		    "refused without a reason");
		FUZZ_CHECK(strlen(e.text) < sizeof(e.text),
		    "error text not terminated");
	}
	return 0;
}
