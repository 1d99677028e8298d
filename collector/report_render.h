/* report_render.h: the monthly compliance report model (report.c) written
 * out as one printable HTML page or as CSV for spreadsheets. */
#ifndef SCHOOLNET_REPORT_RENDER_H
#define SCHOOLNET_REPORT_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/*
 * Both read rep (the model, borrowed, never changed) and write to f in
 * Chinese, or English when en. A model without params.month ("YYYY-MM")
 * is refused with -1 before anything is written; any other field may be
 * missing or null and prints as "—" (HTML) or an empty field (CSV).
 * Returns 0, or -1 on a refused model, a write error (f is flushed, so a
 * full disk shows here) or out of memory.
 */

/* One self-contained A4 page: inline CSS and SVG, no external resource. */
int report_write_html(FILE *f, const json_t *rep, bool en)
    __attribute__((warn_unused_result));

/* UTF-8 with a BOM, RFC 4180 quoting, CRLF. level: "school" (NULL too),
 * "classroom" (every room, all roles) or "town" (towns, then the total);
 * any other level is refused with -1. */
int report_write_csv(FILE *f, const json_t *rep, const char *level, bool en)
    __attribute__((warn_unused_result));

/* The same, with the rows of level "classroom" from next_room (a new
 * reference each call, NULL after the last) instead of rep's "rooms": the
 * report makes them one at a time. NULL next_room: rep's "rooms". */
int report_write_csv_rows(FILE *f, const json_t *rep, const char *level,
    bool en, json_t *(*next_room)(void *arg), void *arg)
    __attribute__((warn_unused_result));

#endif
