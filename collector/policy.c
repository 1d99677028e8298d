/* policy.c: the targets (千兆进校、百兆进班、录播室) applied to one port. */
#include <string.h>

#include "collector.h"

enum port_role
policy_role(const char *name)
{
	if (name == NULL)
		return ROLE_NONE;
	if (strcmp(name, "uplink") == 0)
		return ROLE_UPLINK;
	if (strcmp(name, "classroom") == 0)
		return ROLE_CLASSROOM;
	if (strcmp(name, "recording") == 0)
		return ROLE_RECORDING;
	return ROLE_NONE;
}

const char *
policy_role_name(enum port_role role)
{
	static const char *const names[] = {"", "uplink", "classroom",
	    "recording"};

	return names[role];
}

uint32_t
policy_target(const struct policy_conf *p, enum port_role role)
{
	switch (role) {
	case ROLE_UPLINK:
		return (uint32_t)p->uplink_mbps;
	case ROLE_CLASSROOM:
		return (uint32_t)p->classroom_mbps;
	case ROLE_RECORDING:
		return (uint32_t)p->recording_mbps;
	case ROLE_NONE:
		break;
	}
	return 0;
}

/*
 * A port meets its target only when it is up, at or above its speed, full
 * duplex (an unreported duplex is not held against it) and below the error
 * limit. A port that is down is only "down": its speed and duplex are
 * whatever the switch last negotiated and say nothing.
 */
void
policy_eval_port(const struct policy_conf *p, enum port_role role,
    const struct port_obs *obs, struct port_verdict *out)
{
	memset(out, 0, sizeof(*out));
	out->target_mbps = policy_target(p, role);
	if (!obs->fresh) {
		out->verdict = VERDICT_UNKNOWN;
		return;
	}
	if (obs->admin != 1 || obs->oper != 1) {
		out->reasons = REASON_DOWN;
	} else {
		if (obs->speed_mbps < out->target_mbps)
			out->reasons |= REASON_SPEED;
		if (obs->duplex == WIRE_DUPLEX_HALF)
			out->reasons |= REASON_HALF;
		if (obs->have_errors &&
		    obs->errors_per_min > p->max_errors_per_min)
			out->reasons |= REASON_ERRORS;
	}
	out->verdict = out->reasons ? VERDICT_BELOW : VERDICT_OK;
}

const char *
policy_cause(enum port_role role, unsigned reason)
{
	switch (reason) {
	case REASON_DOWN:
		return role == ROLE_UPLINK ? "uplink_down" : "port_down";
	case REASON_SPEED:
		return role == ROLE_UPLINK ? "uplink_speed_low" : "speed_low";
	case REASON_HALF:
		return "half_duplex";
	case REASON_ERRORS:
		return "errors";
	}
	return "unknown";
}

const char *
verdict_name(enum verdict v)
{
	static const char *const names[] = {"ok", "below", "unknown"};

	return names[v];
}

void
policy_reasons_text(const struct port_verdict *v, const struct port_obs *o,
    char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	if (v->verdict == VERDICT_UNKNOWN) {
		snprintf(buf, size, "no fresh data");
		return;
	}
	if (v->reasons & REASON_DOWN)
		n += (size_t)snprintf(buf + n, size - n, "port down");
	if ((v->reasons & REASON_SPEED) && n < size)
		n += (size_t)snprintf(buf + n, size - n, "%s%u Mbps (target %u)",
		    n ? ", " : "", o->speed_mbps, v->target_mbps);
	if ((v->reasons & REASON_HALF) && n < size)
		n += (size_t)snprintf(buf + n, size - n, "%shalf duplex",
		    n ? ", " : "");
	if ((v->reasons & REASON_ERRORS) && n < size)
		snprintf(buf + n, size - n, "%s%.0f errors/min", n ? ", " : "",
		    o->errors_per_min);
}

void
verdict_tally_add(struct verdict_tally *t, enum verdict v)
{
	t->total++;
	if (v == VERDICT_OK)
		t->ok++;
	else if (v == VERDICT_BELOW)
		t->below++;
	else
		t->unknown++;
}

/* --- link probes (issue 4) ------------------------------------------- */

/*
 * A port without fresh data (not polled lately, not mapped) says nothing
 * against its room: the room is then judged by its host alone, so a room
 * whose switch the agent cannot see is not reported unavailable for that.
 */
bool
policy_recording_available(bool host_ok, enum verdict port)
{
	return host_ok && port != VERDICT_BELOW;
}

bool
policy_recording_extends(const struct recording_span *last, bool host_ok,
    bool available, uint64_t t_ms, uint32_t interval_ms)
{
	if (last == NULL || last->host_ok != host_ok ||
	    last->available != available || t_ms < last->t_end)
		return false;
	return (double)(t_ms - last->t_end) <= FRESH_INTERVALS * interval_ms;
}

enum verdict
policy_throughput(double down_mbps, uint32_t uplink_mbps, uint32_t target_mbps,
    double min_percent, double *floor_mbps)
{
	uint32_t ref = target_mbps;

	if (uplink_mbps > 0 && (ref == 0 || uplink_mbps < ref))
		ref = uplink_mbps;
	*floor_mbps = ref * min_percent / 100.0;
	if (min_percent <= 0 || ref == 0)
		return VERDICT_UNKNOWN;
	return down_mbps < *floor_mbps ? VERDICT_BELOW : VERDICT_OK;
}
