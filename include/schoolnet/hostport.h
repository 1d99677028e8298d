/* hostport.h: "host:port" / "[v6addr]:port" parsing for config values. */
#ifndef SCHOOLNET_HOSTPORT_H
#define SCHOOLNET_HOSTPORT_H

#include <stdint.h>

#define HOSTPORT_HOST_MAX 255

struct hostport {
	char host[HOSTPORT_HOST_MAX + 1];
	uint16_t port;
};

/*
 * Parse s into hp. defport is used when s has no port (0 = port required).
 * Returns 0, or -1 with a reason in *why.
 */
int hostport_parse(const char *s, uint16_t defport, struct hostport *hp,
    const char **why) __attribute__((warn_unused_result));
/* Format back as host:port, bracketing IPv6 literals. */
void hostport_format(const struct hostport *hp, char *buf, int size);

#endif
