/* web.h: the dashboard's files, built into the collector (embed_web.cmake). */
#ifndef SCHOOLNET_WEB_H
#define SCHOOLNET_WEB_H

#include <stddef.h>

struct web_file {
	const char *name;	/* "app.js"; NULL ends the table */
	const unsigned char *data;
	size_t size;
};

extern const struct web_file web_files[];

#endif
