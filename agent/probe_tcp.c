/* probe_tcp.c: TCP-connect latency probes (to be written; see probe.h). */
#include "probe.h"
