/* sample.c: consecutive polls of a switch -> reports with counter deltas. */
#include <string.h>

#include "agent.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"

struct prev_if {
	uint32_t if_index;
	unsigned have;
	uint64_t hc_in, hc_out;
	uint32_t in32, out32;
	uint32_t in_errors, out_errors, in_discards, out_discards;
};

struct prev_sw {
	char name[WIRE_NAME_MAX + 1]; /* by name: survives a config reload */
	bool valid;
	uint64_t mono_ms;
	uint32_t uptime;
	struct prev_if *ifs;
	size_t n_ifs;
};

struct sampler {
	struct prev_sw *sws;
	size_t n_sws;
};

struct sampler *
sampler_new(void)
{
	return xcalloc(1, sizeof(struct sampler));
}

void
sampler_free(struct sampler *s)
{
	for (size_t i = 0; i < s->n_sws; i++)
		free(s->sws[i].ifs);
	free(s->sws);
	free(s);
}

static struct prev_sw *
prev_for(struct sampler *s, const struct switch_conf *sw)
{
	for (size_t i = 0; i < s->n_sws; i++)
		if (strcmp(s->sws[i].name, sw->name) == 0)
			return &s->sws[i];
	s->sws = xreallocarray(s->sws, s->n_sws + 1, sizeof(*s->sws));
	memset(&s->sws[s->n_sws], 0, sizeof(*s->sws));
	snprintf(s->sws[s->n_sws].name, sizeof(s->sws[s->n_sws].name), "%s",
	    sw->name);
	return &s->sws[s->n_sws++];
}

static const struct prev_if *
prev_if_find(const struct prev_sw *p, uint32_t if_index)
{
	size_t lo = 0, hi = p->n_ifs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->ifs[mid].if_index == if_index)
			return &p->ifs[mid];
		if (p->ifs[mid].if_index < if_index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Deltas of every counter of one interface; false if any is unusable. */
static bool
if_deltas(const struct prev_if *a, const struct if_row *b,
    uint64_t interval_ms, uint32_t speed_mbps, struct wire_if *f)
{
	bool hc = (a->have & IFROW_HAVE_HC) && (b->have & IFROW_HAVE_HC);

	if (hc) {
		if (rate_counter_delta(a->hc_in, b->hc_in, 64, &f->in_octets) ||
		    rate_counter_delta(a->hc_out, b->hc_out, 64,
			&f->out_octets))
			return false;
	} else if ((a->have & IFROW_HAVE_32) && (b->have & IFROW_HAVE_32)) {
		if (rate_counter_delta(a->in32, b->in32, 32, &f->in_octets) ||
		    rate_counter_delta(a->out32, b->out32, 32, &f->out_octets))
			return false;
		/* A 32-bit counter can wrap more than once between polls. */
		if (!rate_plausible(f->in_octets, interval_ms, speed_mbps) ||
		    !rate_plausible(f->out_octets, interval_ms, speed_mbps))
			return false;
	} else {
		return false;
	}
	if (rate_counter_delta(a->in_errors, b->in_errors, 32, &f->in_errors) ||
	    rate_counter_delta(a->out_errors, b->out_errors, 32,
		&f->out_errors) ||
	    rate_counter_delta(a->in_discards, b->in_discards, 32,
		&f->in_discards) ||
	    rate_counter_delta(a->out_discards, b->out_discards, 32,
		&f->out_discards))
		return false;
	f->flags |= WIRE_IF_RATES | (hc ? WIRE_IF_HC : 0);
	return true;
}

void
sampler_build(struct sampler *s, const struct poll_result *r,
    uint32_t poll_interval_s, struct wire_report *rep)
{
	struct prev_sw *p = prev_for(s, r->sw);
	uint64_t elapsed = 0;
	bool rates;

	memset(rep, 0, sizeof(*rep));
	rep->t_ms = r->t_ms;
	rep->duration_ms = r->duration_ms;
	rep->poll_interval_s = poll_interval_s;
	rep->sys_uptime = r->sys_uptime;
	rep->pdus = r->pdus;
	rep->status = (uint8_t)r->status;
	snprintf(rep->switch_name, sizeof(rep->switch_name), "%s", r->sw->name);
	hostport_format(&r->sw->address, rep->address, sizeof(rep->address));
	snprintf(rep->error, sizeof(rep->error), "%s", r->error);
	if (r->status != WIRE_POLL_OK)
		return; /* keep the previous sample for the next good poll */

	rates = p->valid;
	if (p->valid) {
		elapsed = r->mono_ms - p->mono_ms;
		if (rate_rebooted(p->uptime, r->sys_uptime, elapsed)) {
			rep->flags |= WIRE_REPORT_REBOOTED;
			rates = false;
			log_info("switch %s: sysUpTime went back (%u -> %u cs): "
				 "device restarted, no rates this poll",
			    r->sw->name, p->uptime, r->sys_uptime);
		}
		if (elapsed == 0 || elapsed > UINT32_MAX)
			rates = false;
	}
	rep->interval_ms = rates ? (uint32_t)elapsed : 0;
	rep->n_if = (uint32_t)r->n_rows;
	rep->ifs = r->n_rows ? xcalloc(r->n_rows, sizeof(*rep->ifs)) : NULL;
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct if_row *row = &r->rows[i];
		struct wire_if *f = &rep->ifs[i];
		const struct prev_if *a;

		f->if_index = row->if_index;
		f->if_type = row->if_type;
		f->admin = row->admin;
		f->oper = row->oper;
		f->duplex = row->duplex;
		f->speed_mbps = if_row_speed_mbps(row);
		memcpy(f->name, row->name, sizeof(f->name));
		memcpy(f->descr, row->descr, sizeof(f->descr));
		memcpy(f->alias, row->alias, sizeof(f->alias));
		if (rates && (a = prev_if_find(p, row->if_index)) != NULL &&
		    !if_deltas(a, row, elapsed, f->speed_mbps, f)) {
			f->in_octets = f->out_octets = 0;
			f->in_errors = f->out_errors = 0;
			f->in_discards = f->out_discards = 0;
		}
	}

	/* This poll becomes the reference for the next one. */
	p->valid = true;
	p->mono_ms = r->mono_ms;
	p->uptime = r->sys_uptime;
	p->ifs = xreallocarray(p->ifs, r->n_rows, sizeof(*p->ifs));
	p->n_ifs = r->n_rows;
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct if_row *row = &r->rows[i];
		struct prev_if *a = &p->ifs[i];

		a->if_index = row->if_index;
		a->have = row->have;
		a->hc_in = row->hc_in;
		a->hc_out = row->hc_out;
		a->in32 = row->in32;
		a->out32 = row->out32;
		a->in_errors = row->in_errors;
		a->out_errors = row->out_errors;
		a->in_discards = row->in_discards;
		a->out_discards = row->out_discards;
	}
}
