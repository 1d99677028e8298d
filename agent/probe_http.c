/* probe_http.c: libcurl multi on the loop (to be written; see probe.h). */
#include "probe.h"
