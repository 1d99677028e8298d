/* snmp_poll.c: GETBULK walks of the interface columns, driven by libuv. */
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>
#include <net-snmp/library/snmpusm.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>

#include "agent.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/utf8.h"

/*
 * Each poll of a switch reads sysUpTime and these columns for every
 * interface. The columns are walked side by side with GETBULK (one varbind
 * per column per request, like snmptable), optionally split over up to
 * max_inflight concurrent walks. net-snmp's single-session API does the
 * encoding, retries and USM; libuv watches its socket and its timeouts.
 */
enum col_id {
	C_DESCR, C_TYPE, C_SPEED, C_ADMIN, C_OPER, C_IN32, C_INDISC, C_INERR,
	C_OUT32, C_OUTDISC, C_OUTERR, C_NAME, C_HCIN, C_HCOUT, C_HIGHSPEED,
	C_ALIAS, C_DUPLEX, N_COLS
};

struct column {
	const char *label;
	oid base[11];
	size_t len;
};

#define IFENTRY 1, 3, 6, 1, 2, 1, 2, 2, 1
#define IFXENTRY 1, 3, 6, 1, 2, 1, 31, 1, 1, 1
static const struct column columns[N_COLS] = {
    [C_DESCR] = {"ifDescr", {IFENTRY, 2}, 10},
    [C_TYPE] = {"ifType", {IFENTRY, 3}, 10},
    [C_SPEED] = {"ifSpeed", {IFENTRY, 5}, 10},
    [C_ADMIN] = {"ifAdminStatus", {IFENTRY, 7}, 10},
    [C_OPER] = {"ifOperStatus", {IFENTRY, 8}, 10},
    [C_IN32] = {"ifInOctets", {IFENTRY, 10}, 10},
    [C_INDISC] = {"ifInDiscards", {IFENTRY, 13}, 10},
    [C_INERR] = {"ifInErrors", {IFENTRY, 14}, 10},
    [C_OUT32] = {"ifOutOctets", {IFENTRY, 16}, 10},
    [C_OUTDISC] = {"ifOutDiscards", {IFENTRY, 19}, 10},
    [C_OUTERR] = {"ifOutErrors", {IFENTRY, 20}, 10},
    [C_NAME] = {"ifName", {IFXENTRY, 1}, 11},
    [C_HCIN] = {"ifHCInOctets", {IFXENTRY, 6}, 11},
    [C_HCOUT] = {"ifHCOutOctets", {IFXENTRY, 10}, 11},
    [C_HIGHSPEED] = {"ifHighSpeed", {IFXENTRY, 15}, 11},
    [C_ALIAS] = {"ifAlias", {IFXENTRY, 18}, 11},
    [C_DUPLEX] = {"dot3StatsDuplexStatus",
	{1, 3, 6, 1, 2, 1, 10, 7, 2, 1, 19}, 11},
};

/* GETBULK non-repeaters act as GETNEXT: ask sysUpTime, get sysUpTime.0. */
static const oid sys_uptime_oid[] = {1, 3, 6, 1, 2, 1, 1, 3};
static const oid sys_uptime0_oid[] = {1, 3, 6, 1, 2, 1, 1, 3, 0};

#define MAX_WALKERS 8
#define MAX_REQUESTS_PER_POLL 2000 /* a looping agent cannot keep us busy */

struct sw_state;

struct walker {
	struct sw_state *sw;
	int cols[N_COLS];	/* column ids this walk covers */
	int n_cols;
	oid cur[N_COLS][MAX_OID_LEN]; /* last OID seen, per position */
	size_t cur_len[N_COLS];
	bool col_done[N_COLS];
	int req_pos[N_COLS];	/* positions sent in the outstanding request */
	int n_req;
	bool want_uptime;	/* ask sysUpTime.0 as a non-repeater */
	long max_rep;
	bool active;		/* a request is outstanding */
	bool finished;
	bool queued;		/* waiting for a slot under the global cap */
	struct walker *next_wait;
};

enum sw_phase { SW_IDLE, SW_RESOLVING, SW_DISCOVERING, SW_WALKING };

struct sw_state {
	struct poller *p;
	const struct switch_conf *conf;
	void *sessp;
	int fd;
	char peer[300];		/* numeric "udp:ip:port" after resolving */
	uv_getaddrinfo_t gai;
	uv_poll_t io;
	uv_timer_t snmp_timer;	/* net-snmp's retransmission timeouts */
	uv_timer_t sched;	/* poll_interval */
	bool io_started;
	enum sw_phase phase;
	bool busy;
	bool engine_known;	/* SNMPv3: engine ID discovered, keys ready */
	bool discovery_outstanding;
	bool in_service;
	struct walker walkers[MAX_WALKERS];
	int n_walkers;
	struct poll_result res;
	size_t rows_cap;
	int handles_open;
};

/*
 * net-snmp keeps SNMPv3 users in one process-wide table keyed by (engine
 * ID, user name): two switches that share both must share the keys too, or
 * the second would silently use the first one's. We refuse that instead.
 */
struct v3_engine {
	u_char id[64];
	size_t id_len;
	const struct switch_conf *sw; /* first switch seen with this engine */
};

struct poller {
	uv_loop_t *loop;
	struct v3_engine *engines;
	size_t n_engines;
	const struct agent_conf *conf;
	poll_done_cb cb;
	void *arg;
	struct sw_state *sws;
	size_t n_sws;
	long inflight;
	struct walker *wait_head, *wait_tail;
	size_t handles_open;
	bool closing;
};

static void sw_service(struct sw_state *sw);
static void on_snmp_timer(uv_timer_t *t);
static void sw_release(struct sw_state *sw);
static void poll_finish(struct sw_state *sw);
static void poller_drain(struct poller *p);
static int on_snmp_response(int op, netsnmp_session *ss, int reqid,
    netsnmp_pdu *pdu, void *magic);

static void
snmp_library_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	/* No MIB files and no persistent state: we use numeric OIDs only. */
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS,
	    0);
	setenv("MIBS", "", 1);
	setenv("MIBDIRS", "/nonexistent", 1);
	if (getenv("SCHOOLNET_SNMP_DEBUG")) {
		/* e.g. SCHOOLNET_SNMP_DEBUG=snmp_api,usm,sess_process_packet */
		snmp_enable_stderrlog();
		snmp_set_do_debugging(1);
		debug_register_tokens(getenv("SCHOOLNET_SNMP_DEBUG"));
	} else {
		snmp_disable_log();
	}
	init_snmp("schoolnet-agent");
}

/* --- interface rows ------------------------------------------------ */

static struct if_row *
row_get(struct sw_state *sw, uint32_t if_index)
{
	struct poll_result *r = &sw->res;
	size_t lo = 0, hi = r->n_rows;
	struct if_row *row;

	/* Rows mostly arrive in order: check the end first. */
	if (hi && r->rows[hi - 1].if_index < if_index)
		lo = hi;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->rows[mid].if_index == if_index)
			return &r->rows[mid];
		if (r->rows[mid].if_index < if_index)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (r->n_rows >= WIRE_MAX_IFS)
		return NULL;
	if (r->n_rows == sw->rows_cap) {
		sw->rows_cap = sw->rows_cap ? sw->rows_cap * 2 : 64;
		r->rows = xreallocarray(r->rows, sw->rows_cap, sizeof(*r->rows));
	}
	memmove(&r->rows[lo + 1], &r->rows[lo],
	    (r->n_rows - lo) * sizeof(*r->rows));
	r->n_rows++;
	row = &r->rows[lo];
	memset(row, 0, sizeof(*row));
	row->if_index = if_index;
	return row;
}

static uint64_t
vb_unsigned(const netsnmp_variable_list *vb)
{
	switch (vb->type) {
	case ASN_COUNTER64:
		return (uint64_t)vb->val.counter64->high << 32 |
		    vb->val.counter64->low;
	case ASN_INTEGER:
	case ASN_COUNTER:
	case ASN_GAUGE:
	case ASN_TIMETICKS:
		return (uint64_t)(*vb->val.integer) & 0xffffffffULL;
	}
	return 0;
}

static bool
vb_is_number(const netsnmp_variable_list *vb)
{
	return vb->type == ASN_INTEGER || vb->type == ASN_COUNTER ||
	    vb->type == ASN_GAUGE || vb->type == ASN_TIMETICKS ||
	    vb->type == ASN_COUNTER64;
}

/* Store one column value; values of the wrong type are ignored. */
static void
row_set(struct if_row *row, int col, const netsnmp_variable_list *vb)
{
	char *dst = NULL;
	size_t dstsize = 0;
	uint64_t v;

	if (vb->type == ASN_OCTET_STR) {
		switch (col) {
		case C_DESCR:
			dst = row->descr, dstsize = sizeof(row->descr);
			break;
		case C_NAME:
			dst = row->name, dstsize = sizeof(row->name);
			break;
		case C_ALIAS:
			dst = row->alias, dstsize = sizeof(row->alias);
			break;
		default:
			return;
		}
		utf8_sanitize(dst, dstsize, (const char *)vb->val.string,
		    vb->val_len);
		return;
	}
	if (!vb_is_number(vb))
		return;
	v = vb_unsigned(vb);
	switch (col) {
	case C_TYPE:
		row->if_type = v <= UINT16_MAX ? (uint16_t)v : 0;
		break;
	case C_SPEED:
		row->speed_bps = (uint32_t)v;
		row->have |= IFROW_HAVE_SPEED;
		break;
	case C_ADMIN:
		row->admin = v >= 1 && v <= 3 ? (uint8_t)v : 0;
		break;
	case C_OPER:
		row->oper = v >= 1 && v <= 7 ? (uint8_t)v : 0;
		break;
	case C_IN32:
		row->in32 = (uint32_t)v;
		row->have |= IFROW_HAVE_32;
		break;
	case C_OUT32:
		row->out32 = (uint32_t)v;
		break;
	case C_INDISC:
		row->in_discards = (uint32_t)v;
		break;
	case C_INERR:
		row->in_errors = (uint32_t)v;
		break;
	case C_OUTDISC:
		row->out_discards = (uint32_t)v;
		break;
	case C_OUTERR:
		row->out_errors = (uint32_t)v;
		break;
	case C_HCIN:
		if (vb->type == ASN_COUNTER64) {
			row->hc_in = v;
			row->have |= IFROW_HAVE_HC;
		}
		break;
	case C_HCOUT:
		if (vb->type == ASN_COUNTER64)
			row->hc_out = v;
		break;
	case C_HIGHSPEED:
		row->high_speed = (uint32_t)v;
		row->have |= IFROW_HAVE_HIGHSPEED;
		break;
	case C_DUPLEX:
		row->duplex = v >= 1 && v <= 3 ? (uint8_t)v : 0;
		break;
	}
}

uint32_t
if_row_speed_mbps(const struct if_row *row)
{
	if ((row->have & IFROW_HAVE_HIGHSPEED) && row->high_speed)
		return row->high_speed;
	if (row->have & IFROW_HAVE_SPEED)
		return (uint32_t)((row->speed_bps + 500000ULL) / 1000000ULL);
	return 0;
}

/* --- walks --------------------------------------------------------- */

static void
poll_fail(struct sw_state *sw, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
poll_fail(struct sw_state *sw, int status, const char *fmt, ...)
{
	va_list ap;

	/* Keep the first reason; a timeout outranks a later error. */
	if (sw->res.status != WIRE_POLL_OK)
		return;
	sw->res.status = status;
	va_start(ap, fmt);
	vsnprintf(sw->res.error, sizeof(sw->res.error), fmt, ap);
	va_end(ap);
}

static void
walker_finish(struct walker *w)
{
	w->finished = true;
}

static void
walker_send(struct walker *w)
{
	struct sw_state *sw = w->sw;
	netsnmp_pdu *pdu;

	if (sw->res.pdus >= MAX_REQUESTS_PER_POLL) {
		poll_fail(sw, WIRE_POLL_ERROR,
		    "walk did not end after %d requests (agent loops?)",
		    MAX_REQUESTS_PER_POLL);
		walker_finish(w);
		return;
	}
	pdu = snmp_pdu_create(SNMP_MSG_GETBULK);
	pdu->non_repeaters = w->want_uptime ? 1 : 0;
	pdu->max_repetitions = w->max_rep;
	if (w->want_uptime)
		snmp_add_null_var(pdu, sys_uptime_oid,
		    sizeof(sys_uptime_oid) / sizeof(oid));
	w->n_req = 0;
	for (int i = 0; i < w->n_cols; i++) {
		if (w->col_done[i])
			continue;
		snmp_add_null_var(pdu, w->cur[i], w->cur_len[i]);
		w->req_pos[w->n_req++] = i;
	}
	if (w->n_req == 0 && !w->want_uptime) {
		snmp_free_pdu(pdu);
		walker_finish(w);
		return;
	}
	if (snmp_sess_async_send(sw->sessp, pdu, on_snmp_response, w) == 0) {
		poll_fail(sw, WIRE_POLL_ERROR, "send failed: %s",
		    snmp_api_errstring(snmp_sess_session(sw->sessp)->s_snmp_errno));
		snmp_free_pdu(pdu);
		walker_finish(w);
		return;
	}
	w->active = true;
	sw->p->inflight++;
	sw->res.pdus++;
}

/* Send now if the global cap allows, else wait in line. */
static void
walker_launch(struct walker *w)
{
	struct poller *p = w->sw->p;

	if (w->queued || w->active || w->finished)
		return;
	if (p->inflight >= p->conf->max_inflight) {
		w->queued = true;
		w->next_wait = NULL;
		if (p->wait_tail)
			p->wait_tail->next_wait = w;
		else
			p->wait_head = w;
		p->wait_tail = w;
		return;
	}
	walker_send(w);
}

static void
poller_drain(struct poller *p)
{
	while (p->wait_head && p->inflight < p->conf->max_inflight) {
		struct walker *w = p->wait_head;

		p->wait_head = w->next_wait;
		if (p->wait_head == NULL)
			p->wait_tail = NULL;
		w->queued = false;
		walker_send(w);
		sw_service(w->sw);
	}
}

/* Fold a GETBULK response into the rows; mark columns that ended. */
static void
walker_absorb(struct walker *w, netsnmp_pdu *pdu)
{
	struct sw_state *sw = w->sw;
	netsnmp_variable_list *vb = pdu->variables;
	bool ended[N_COLS] = {false};
	int i = 0;

	if (w->want_uptime && vb) {
		if (vb->type == ASN_TIMETICKS &&
		    snmp_oid_compare(vb->name, vb->name_length, sys_uptime0_oid,
			nitems(sys_uptime0_oid)) == 0) {
			sw->res.sys_uptime = (uint32_t)vb_unsigned(vb);
			sw->res.have_uptime = true;
		}
		w->want_uptime = false;
		vb = vb->next_variable;
	}
	for (; vb && w->n_req > 0; vb = vb->next_variable, i++) {
		int pos = w->req_pos[i % w->n_req];
		const struct column *c = &columns[w->cols[pos]];
		struct if_row *row;

		if (ended[pos])
			continue;
		if (vb->type == SNMP_ENDOFMIBVIEW ||
		    vb->type == SNMP_NOSUCHOBJECT ||
		    vb->type == SNMP_NOSUCHINSTANCE ||
		    vb->name_length != c->len + 1 ||
		    memcmp(vb->name, c->base, c->len * sizeof(oid)) != 0) {
			ended[pos] = w->col_done[pos] = true;
			continue;
		}
		if (snmp_oid_compare(vb->name, vb->name_length, w->cur[pos],
			w->cur_len[pos]) <= 0) {
			log_warnx("switch %s: %s did not advance (agent bug), "
				  "ending that column",
			    sw->conf->name, c->label);
			ended[pos] = w->col_done[pos] = true;
			continue;
		}
		memcpy(w->cur[pos], vb->name, vb->name_length * sizeof(oid));
		w->cur_len[pos] = vb->name_length;
		if (vb->name[c->len] == 0 || vb->name[c->len] > UINT32_MAX)
			continue;
		if ((row = row_get(sw, (uint32_t)vb->name[c->len])) == NULL) {
			poll_fail(sw, WIRE_POLL_ERROR,
			    "more than %d interfaces", WIRE_MAX_IFS);
			walker_finish(w);
			return;
		}
		row_set(row, w->cols[pos], vb);
	}
	for (i = 0; i < w->n_cols && w->col_done[i]; i++)
		;
	if (i == w->n_cols)
		walker_finish(w);
}

static const char *
report_reason(netsnmp_pdu *pdu)
{
	int type = snmpv3_get_report_type(pdu);

	return snmp_api_errstring(type);
}

static int
on_snmp_response(int op, netsnmp_session *ss, int reqid, netsnmp_pdu *pdu,
    void *magic)
{
	struct walker *w = magic;
	struct sw_state *sw = w->sw;

	(void)ss;
	(void)reqid;
	if (!w->active || op == NETSNMP_CALLBACK_OP_RESEND)
		return 1;
	w->active = false;
	sw->p->inflight--;
	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		if (pdu->command == SNMP_MSG_REPORT) {
			poll_fail(sw, WIRE_POLL_ERROR, "SNMPv3: %s",
			    report_reason(pdu));
			walker_finish(w);
		} else if (pdu->errstat == SNMP_ERR_TOOBIG && w->max_rep > 1) {
			w->max_rep /= 2; /* ask for fewer rows next time */
		} else if (pdu->errstat != SNMP_ERR_NOERROR) {
			poll_fail(sw, WIRE_POLL_ERROR, "agent error: %s",
			    snmp_errstring(pdu->errstat));
			walker_finish(w);
		} else {
			walker_absorb(w, pdu);
		}
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		poll_fail(sw, WIRE_POLL_TIMEOUT, "no answer from %s after %ld tries",
		    sw->peer, sw->p->conf->retries + 1);
		walker_finish(w);
		break;
	case NETSNMP_CALLBACK_OP_SEC_ERROR:
		if (pdu && pdu->command == SNMP_MSG_REPORT)
			poll_fail(sw, WIRE_POLL_ERROR, "SNMPv3: %s",
			    report_reason(pdu));
		else
			poll_fail(sw, WIRE_POLL_ERROR,
			    "SNMPv3 security error: check user, keys and "
			    "protocols");
		walker_finish(w);
		break;
	default:
		poll_fail(sw, WIRE_POLL_ERROR, "SNMP failure (callback op %d)",
		    op);
		walker_finish(w);
		break;
	}
	return 1;
}

static void
walkers_setup(struct sw_state *sw)
{
	int n = (int)sw->conf->max_inflight;

	if (n > MAX_WALKERS)
		n = MAX_WALKERS;
	sw->n_walkers = n;
	for (int k = 0; k < n; k++) {
		struct walker *w = &sw->walkers[k];

		memset(w, 0, sizeof(*w));
		w->sw = sw;
		w->max_rep = sw->conf->max_repetitions;
		w->want_uptime = k == 0;
	}
	for (int c = 0; c < N_COLS; c++) {
		struct walker *w = &sw->walkers[c % n];
		int pos = w->n_cols++;

		w->cols[pos] = c;
		memcpy(w->cur[pos], columns[c].base,
		    columns[c].len * sizeof(oid));
		w->cur_len[pos] = columns[c].len;
	}
	sw->phase = SW_WALKING;
	for (int k = 0; k < n; k++)
		walker_launch(&sw->walkers[k]);
}

/* --- SNMPv3 engine discovery without blocking ---------------------- */

/* Two switch configs may share an engine: different users, or same keys. */
static bool
v3_compatible(const struct switch_conf *a, const struct switch_conf *b)
{
	return strcmp(a->user, b->user) != 0 ||
	    (a->auth_protocol == b->auth_protocol &&
		a->priv_protocol == b->priv_protocol &&
		strcmp(a->auth_key, b->auth_key) == 0 &&
		strcmp(a->priv_key, b->priv_key) == 0);
}

/* Record the switch's engine; the name of a conflicting switch, or NULL. */
static const char *
engine_claim(struct poller *p, const struct switch_conf *sw, const u_char *id,
    size_t len)
{
	struct v3_engine *e;

	if (len > sizeof(e->id))
		len = sizeof(e->id);
	for (size_t i = 0; i < p->n_engines; i++) {
		e = &p->engines[i];
		if (e->id_len == len && memcmp(e->id, id, len) == 0 &&
		    e->sw != sw && !v3_compatible(e->sw, sw))
			return e->sw->name;
	}
	for (size_t i = 0; i < p->n_engines; i++) {
		e = &p->engines[i];
		if (e->sw == sw) { /* seen before (a new engine ID: rebooted) */
			memcpy(e->id, id, len);
			e->id_len = len;
			return NULL;
		}
	}
	p->engines = xreallocarray(p->engines, p->n_engines + 1,
	    sizeof(*p->engines));
	e = &p->engines[p->n_engines++];
	memcpy(e->id, id, len);
	e->id_len = len;
	e->sw = sw;
	return NULL;
}

static int
on_discovery(int op, netsnmp_session *ss, int reqid, netsnmp_pdu *pdu,
    void *magic)
{
	struct sw_state *sw = magic;

	(void)reqid;
	if (!sw->discovery_outstanding || op == NETSNMP_CALLBACK_OP_RESEND)
		return 1;
	sw->discovery_outstanding = false;
	sw->p->inflight--;
	/*
	 * The agent answers the empty probe with a Report (unknownEngineID)
	 * that names its engine: adopt it, then localize the user's keys.
	 */
	if (pdu && pdu->command == SNMP_MSG_REPORT &&
	    pdu->securityEngineIDLen > 0 && ss->securityEngineIDLen == 0) {
		ss->securityEngineID = netsnmp_memdup(pdu->securityEngineID,
		    pdu->securityEngineIDLen);
		ss->securityEngineIDLen = pdu->securityEngineIDLen;
		if (ss->contextEngineIDLen == 0) {
			ss->contextEngineID = netsnmp_memdup(
			    pdu->securityEngineID, pdu->securityEngineIDLen);
			ss->contextEngineIDLen = pdu->securityEngineIDLen;
		}
	}
	if ((op == NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE ||
		op == NETSNMP_CALLBACK_OP_SEC_ERROR) &&
	    ss->securityEngineIDLen > 0) {
		const char *other = engine_claim(sw->p, sw->conf,
		    ss->securityEngineID, ss->securityEngineIDLen);

		if (other) {
			/* Forget the engine so the next poll checks again. */
			SNMP_FREE(ss->securityEngineID);
			ss->securityEngineIDLen = 0;
			SNMP_FREE(ss->contextEngineID);
			ss->contextEngineIDLen = 0;
			poll_fail(sw, WIRE_POLL_ERROR,
			    "SNMPv3 engine ID is the same as switch %s's, with "
			    "the same user but other keys; engine IDs must be "
			    "unique per device",
			    other);
		} else if (usm_create_user_from_session(ss) != SNMPERR_SUCCESS)
			poll_fail(sw, WIRE_POLL_ERROR,
			    "SNMPv3: cannot set up user %s", sw->conf->user);
		else
			sw->engine_known = true;
	} else if (op == NETSNMP_CALLBACK_OP_TIMED_OUT) {
		poll_fail(sw, WIRE_POLL_TIMEOUT,
		    "no answer from %s to SNMPv3 engine discovery", sw->peer);
	} else {
		poll_fail(sw, WIRE_POLL_ERROR,
		    "SNMPv3 engine discovery failed (op %d, command %d, "
		    "engine id length %zu)",
		    op, pdu ? pdu->command : -1, ss->securityEngineIDLen);
	}
	return 1;
}

static void
discovery_send(struct sw_state *sw)
{
	netsnmp_pdu *pdu = snmp_pdu_create(SNMP_MSG_GET);

	pdu->version = SNMP_VERSION_3;
	pdu->securityName = xstrdup("");
	pdu->securityNameLen = 0;
	pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
	pdu->securityModel = SNMP_SEC_MODEL_USM;
	if (snmp_sess_async_send(sw->sessp, pdu, on_discovery, sw) == 0) {
		snmp_free_pdu(pdu);
		poll_fail(sw, WIRE_POLL_ERROR, "SNMPv3 discovery send failed");
		return;
	}
	sw->discovery_outstanding = true;
	sw->p->inflight++;
	sw->res.pdus++;
	sw->phase = SW_DISCOVERING;
}

/* --- session and libuv plumbing ------------------------------------ */

static void
sw_arm(struct sw_state *sw)
{
	netsnmp_large_fd_set fds;
	struct timeval tv = {0, 0};
	int numfds = 0, block = 1;
	uint64_t ms;

	if (sw->sessp == NULL)
		return;
	netsnmp_large_fd_set_init(&fds, FD_SETSIZE);
	snmp_sess_select_info2(sw->sessp, &numfds, &fds, &tv, &block);
	netsnmp_large_fd_set_cleanup(&fds);
	if (block) {
		uv_timer_stop(&sw->snmp_timer);
		return;
	}
	ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
	uv_timer_start(&sw->snmp_timer, on_snmp_timer, ms, 0);
}

static void
on_snmp_timer(uv_timer_t *t)
{
	struct sw_state *sw = container_of(t, struct sw_state, snmp_timer);

	if (sw->sessp == NULL)
		return;
	snmp_sess_timeout(sw->sessp);
	sw_service(sw);
	sw_arm(sw);
}

static void
on_readable(uv_poll_t *h, int status, int events)
{
	struct sw_state *sw = container_of(h, struct sw_state, io);
	netsnmp_large_fd_set fds;

	(void)events;
	if (status < 0 || sw->sessp == NULL)
		return;
	netsnmp_large_fd_set_init(&fds, FD_SETSIZE);
	NETSNMP_LARGE_FD_SET(sw->fd, &fds);
	snmp_sess_read2(sw->sessp, &fds);
	netsnmp_large_fd_set_cleanup(&fds);
	sw_service(sw);
	sw_arm(sw);
}

static const oid *
auth_oid(int idx, size_t *len)
{
	static oid *const tab[] = {usmHMACMD5AuthProtocol,
	    usmHMACSHA1AuthProtocol, usmHMAC128SHA224AuthProtocol,
	    usmHMAC192SHA256AuthProtocol, usmHMAC256SHA384AuthProtocol,
	    usmHMAC384SHA512AuthProtocol};

	*len = USM_AUTH_PROTO_SHA_LEN;
	return tab[idx];
}

static int
sw_open_session(struct sw_state *sw)
{
	const struct switch_conf *c = sw->conf;
	netsnmp_session s, *ss;
	netsnmp_transport *t;
	size_t alen;

	snmp_sess_init(&s);
	s.peername = sw->peer;
	s.timeout = (long)(sw->p->conf->timeout * 1000000);
	s.retries = (int)sw->p->conf->retries;
	if (c->version == SNMP_V2C) {
		s.version = SNMP_VERSION_2c;
		s.community = (u_char *)(uintptr_t)c->community;
		s.community_len = strlen(c->community);
	} else {
		s.version = SNMP_VERSION_3;
		s.flags |= SNMP_FLAGS_DONT_PROBE; /* we discover on the loop */
		s.securityName = (char *)(uintptr_t)c->user;
		s.securityNameLen = strlen(c->user);
		s.securityModel = SNMP_SEC_MODEL_USM;
		s.securityLevel = SNMP_SEC_LEVEL_NOAUTH;
		if (c->auth_key[0]) {
			const oid *a = auth_oid(c->auth_protocol, &alen);

			s.securityLevel = SNMP_SEC_LEVEL_AUTHNOPRIV;
			s.securityAuthProto = snmp_duplicate_objid(a, alen);
			s.securityAuthProtoLen = alen;
			s.securityAuthKeyLen = USM_AUTH_KU_LEN;
			if (generate_Ku(a, (u_int)alen,
				(const u_char *)c->auth_key, strlen(c->auth_key),
				s.securityAuthKey,
				&s.securityAuthKeyLen) != SNMPERR_SUCCESS) {
				log_warnx("switch %s: cannot derive auth key",
				    c->name);
				free(s.securityAuthProto);
				return -1;
			}
		}
		if (c->priv_key[0]) {
			const oid *a = auth_oid(c->auth_protocol, &alen);

			s.securityLevel = SNMP_SEC_LEVEL_AUTHPRIV;
			if (c->priv_protocol == 0) {
				s.securityPrivProto = snmp_duplicate_objid(
				    usmDESPrivProtocol, USM_PRIV_PROTO_DES_LEN);
				s.securityPrivProtoLen = USM_PRIV_PROTO_DES_LEN;
			} else {
				s.securityPrivProto = snmp_duplicate_objid(
				    usmAESPrivProtocol, USM_PRIV_PROTO_AES_LEN);
				s.securityPrivProtoLen = USM_PRIV_PROTO_AES_LEN;
			}
			s.securityPrivKeyLen = USM_PRIV_KU_LEN;
			if (generate_Ku(a, (u_int)alen,
				(const u_char *)c->priv_key, strlen(c->priv_key),
				s.securityPrivKey,
				&s.securityPrivKeyLen) != SNMPERR_SUCCESS) {
				log_warnx("switch %s: cannot derive priv key",
				    c->name);
				free(s.securityAuthProto);
				free(s.securityPrivProto);
				return -1;
			}
		}
	}
	s.callback = NULL; /* every request names its own callback */
	sw->sessp = snmp_sess_open(&s);
	free(s.securityAuthProto);
	free(s.securityPrivProto);
	if (sw->sessp == NULL) {
		log_warnx("switch %s: cannot open SNMP session to %s: %s",
		    c->name, sw->peer, snmp_api_errstring(s.s_snmp_errno));
		return -1;
	}
	ss = snmp_sess_session(sw->sessp);
	/* snmp_sess_open forgets the flag; without it net-snmp 5.9 probes
	 * the engine ID synchronously inside the first send. */
	if (c->version == SNMP_V3)
		ss->flags |= SNMP_FLAGS_DONT_PROBE;
	t = snmp_sess_transport(sw->sessp);
	sw->fd = t->sock;
	uv_poll_init(sw->p->loop, &sw->io, sw->fd);
	sw->handles_open++;
	sw->p->handles_open++;
	uv_poll_start(&sw->io, UV_READABLE, on_readable);
	sw->io_started = true;
	return 0;
}

/* Start (or continue) the current poll as far as it can go now. */
static void
sw_begin_walk(struct sw_state *sw)
{
	if (sw->conf->version == SNMP_V3 && !sw->engine_known) {
		discovery_send(sw);
		if (!sw->discovery_outstanding)
			poll_finish(sw);
		return;
	}
	walkers_setup(sw);
	sw_service(sw);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct sw_state *sw = container_of(req, struct sw_state, gai);
	char ip[INET6_ADDRSTRLEN] = "";

	if (sw->p->closing) {
		uv_freeaddrinfo(res);
		sw_release(sw);
		return;
	}
	sw_release(sw);
	if (status < 0 || res == NULL) {
		poll_fail(sw, WIRE_POLL_ERROR, "cannot resolve %s: %s",
		    sw->conf->address.host, uv_strerror(status));
		uv_freeaddrinfo(res);
		poll_finish(sw);
		return;
	}
	if (res->ai_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof(ip));
		snprintf(sw->peer, sizeof(sw->peer), "udp6:[%s]:%u", ip,
		    sw->conf->address.port);
	} else {
		uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof(ip));
		snprintf(sw->peer, sizeof(sw->peer), "udp:%s:%u", ip,
		    sw->conf->address.port);
	}
	uv_freeaddrinfo(res);
	if (sw_open_session(sw) != 0) {
		poll_fail(sw, WIRE_POLL_ERROR, "cannot open SNMP session to %s",
		    sw->peer);
		poll_finish(sw);
		return;
	}
	sw_begin_walk(sw);
	sw_arm(sw);
}

static void
poll_start(struct sw_state *sw)
{
	struct addrinfo hints;
	char port[8];

	if (sw->busy) {
		log_warnx("switch %s: previous poll still running, skipping "
			  "this one (poll_interval too short?)",
		    sw->conf->name);
		return;
	}
	sw->busy = true;
	sw->res.sw = sw->conf;
	sw->res.t_ms = time_now_ms();
	sw->res.mono_ms = time_mono_ms();
	sw->res.pdus = 0;
	sw->res.status = WIRE_POLL_OK;
	sw->res.error[0] = '\0';
	sw->res.have_uptime = false;
	sw->res.n_rows = 0;
	if (sw->sessp) {
		sw_begin_walk(sw);
		sw_arm(sw);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	snprintf(port, sizeof(port), "%u", sw->conf->address.port);
	sw->phase = SW_RESOLVING;
	if (uv_getaddrinfo(sw->p->loop, &sw->gai, on_resolved,
		sw->conf->address.host, port, &hints) != 0) {
		poll_fail(sw, WIRE_POLL_ERROR, "cannot resolve %s",
		    sw->conf->address.host);
		poll_finish(sw);
		return;
	}
	sw->handles_open++;
	sw->p->handles_open++;
}

/* After net-snmp ran callbacks: move every walk forward, or finish. */
static void
sw_service(struct sw_state *sw)
{
	bool all_done = true;

	if (sw->in_service || !sw->busy)
		return;
	sw->in_service = true;
	if (sw->phase == SW_DISCOVERING && !sw->discovery_outstanding) {
		if (sw->engine_known && sw->res.status == WIRE_POLL_OK)
			walkers_setup(sw);
		else
			sw->phase = SW_IDLE;
	}
	if (sw->phase == SW_WALKING) {
		for (int k = 0; k < sw->n_walkers; k++) {
			struct walker *w = &sw->walkers[k];

			if (!w->finished && !w->active && !w->queued)
				walker_launch(w);
			if (!w->finished)
				all_done = false;
		}
	} else if (sw->phase == SW_DISCOVERING) {
		all_done = false;
	}
	sw->in_service = false;
	if (all_done)
		poll_finish(sw);
	poller_drain(sw->p);
}

static void
poll_finish(struct sw_state *sw)
{
	struct poller *p = sw->p;

	if (!sw->busy || p->closing)
		return; /* a closed poller reports nothing more */
	/* Walks waiting for a slot belong to this poll: drop them. */
	for (struct walker **pw = &p->wait_head; *pw;) {
		if ((*pw)->sw == sw) {
			(*pw)->queued = false;
			*pw = (*pw)->next_wait;
		} else {
			pw = &(*pw)->next_wait;
		}
	}
	p->wait_tail = NULL;
	for (struct walker *w = p->wait_head; w; w = w->next_wait)
		p->wait_tail = w;
	sw->busy = false;
	sw->phase = SW_IDLE;
	sw->res.duration_ms = (uint32_t)(time_mono_ms() - sw->res.mono_ms);
	if (sw->res.status == WIRE_POLL_OK && !sw->res.have_uptime)
		poll_fail(sw, WIRE_POLL_ERROR, "no sysUpTime in the answer");
	p->cb(p, &sw->res, p->arg);
}

static void
on_sched(uv_timer_t *t)
{
	poll_start(container_of(t, struct sw_state, sched));
}

struct poller *
poller_new(uv_loop_t *loop, const struct agent_conf *conf, poll_done_cb cb,
    void *arg)
{
	struct poller *p = xcalloc(1, sizeof(*p));

	snmp_library_init();
	p->loop = loop;
	p->conf = conf;
	p->cb = cb;
	p->arg = arg;
	p->n_sws = conf->n_switches;
	p->sws = xcalloc(p->n_sws, sizeof(*p->sws));
	for (size_t i = 0; i < p->n_sws; i++) {
		struct sw_state *sw = &p->sws[i];

		sw->p = p;
		sw->conf = &conf->switches[i];
		uv_timer_init(loop, &sw->snmp_timer);
		uv_timer_init(loop, &sw->sched);
		sw->handles_open = 2;
		p->handles_open += 2;
	}
	return p;
}

void
poller_start(struct poller *p)
{
	uint64_t interval = (uint64_t)(p->conf->poll_interval * 1000);

	/* Spread the switches over the first quarter of the interval. */
	for (size_t i = 0; i < p->n_sws; i++)
		uv_timer_start(&p->sws[i].sched, on_sched,
		    interval / 4 * i / (p->n_sws ? p->n_sws : 1), interval);
}

int
poller_poll_once(struct poller *p, const char *only)
{
	int n = 0;

	for (size_t i = 0; i < p->n_sws; i++) {
		if (only && strcmp(p->sws[i].conf->name, only) != 0)
			continue;
		poll_start(&p->sws[i]);
		n++;
	}
	return n;
}

/* One of the switch's handles (or its DNS request) is gone. */
static void
sw_release(struct sw_state *sw)
{
	struct poller *p = sw->p;

	if (--sw->handles_open == 0 && sw->sessp) {
		snmp_sess_close(sw->sessp);
		sw->sessp = NULL;
	}
	if (--p->handles_open == 0) {
		for (size_t i = 0; i < p->n_sws; i++)
			free(p->sws[i].res.rows);
		free(p->engines);
		free(p->sws);
		free(p);
	}
}

static void
on_handle_closed(uv_handle_t *h)
{
	sw_release(h->data);
}

void
poller_close(struct poller *p)
{
	p->closing = true;
	for (size_t i = 0; i < p->n_sws; i++) {
		struct sw_state *sw = &p->sws[i];

		sw->busy = false;
		sw->snmp_timer.data = sw->sched.data = sw->io.data = sw;
		uv_close((uv_handle_t *)&sw->snmp_timer, on_handle_closed);
		uv_close((uv_handle_t *)&sw->sched, on_handle_closed);
		if (sw->io_started)
			uv_close((uv_handle_t *)&sw->io, on_handle_closed);
	}
}
