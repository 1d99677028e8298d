/* hostport.c: strict host[:port] parsing; hostnames per RFC 1123. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schoolnet/hostport.h"

static int
valid_hostname(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 253)
		return 0;
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' &&
		    *p != '_')
			return 0;
	return h[0] != '-' && h[0] != '.';
}

/* An IPv6 literal, optionally with a %zone (link-local addresses). */
static int
valid_v6(const char *h)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr a;
	size_t n = strcspn(h, "%");

	if (n == 0 || n >= sizeof(addr))
		return 0;
	memcpy(addr, h, n);
	addr[n] = '\0';
	if (h[n] == '%' && !valid_hostname(h + n + 1))
		return 0;
	return inet_pton(AF_INET6, addr, &a) == 1;
}

int
hostport_parse(const char *s, uint16_t defport, struct hostport *hp,
    const char **why)
{
	const char *port = NULL, *hend;
	char *end;
	long v;
	size_t hlen;
	int v6 = 0;

	if (s[0] == '[') {
		hend = strchr(s, ']');
		if (hend == NULL) {
			*why = "missing ']' after IPv6 address";
			return -1;
		}
		if (hend[1] == ':')
			port = hend + 2;
		else if (hend[1] != '\0') {
			*why = "expected ':PORT' after ']'";
			return -1;
		}
		s++;
		v6 = 1;
	} else {
		hend = strrchr(s, ':');
		if (hend && strchr(s, ':') != hend) {
			*why = "IPv6 addresses must be written as [ADDR]:PORT";
			return -1;
		}
		if (hend)
			port = hend + 1;
		else
			hend = s + strlen(s);
	}
	hlen = (size_t)(hend - s);
	if (hlen == 0 || hlen > HOSTPORT_HOST_MAX) {
		*why = hlen ? "host name too long" : "missing host";
		return -1;
	}
	memcpy(hp->host, s, hlen);
	hp->host[hlen] = '\0';
	if (v6 ? !valid_v6(hp->host) : !valid_hostname(hp->host)) {
		*why = "invalid host name or address";
		return -1;
	}
	if (port == NULL) {
		if (defport == 0) {
			*why = "missing ':PORT'";
			return -1;
		}
		hp->port = defport;
		return 0;
	}
	v = strtol(port, &end, 10);
	if (!isdigit((unsigned char)*port) || *end != '\0' || v < 1 ||
	    v > 65535) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	hp->port = (uint16_t)v;
	return 0;
}

void
hostport_format(const struct hostport *hp, char *buf, int size)
{
	if (strchr(hp->host, ':'))
		snprintf(buf, (size_t)size, "[%s]:%u", hp->host, hp->port);
	else
		snprintf(buf, (size_t)size, "%s:%u", hp->host, hp->port);
}
