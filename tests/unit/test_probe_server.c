/* test_probe_server.c: the collector's probe server over real HTTP. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "collector.h"
#include "schoolnet/timeutil.h"

static struct probe_server *ps;

static void
setup(void)
{
	ps = probe_server_start("127.0.0.1", 0);
	cr_assert_not_null(ps);
	cr_assert_gt(probe_server_port(ps), 0);
}

static void
teardown(void)
{
	probe_server_stop(ps);
	ps = NULL;
}

struct got {
	uint64_t bytes;
	int bad;		/* a byte that is not a letter */
	char text[256];		/* the start of the body */
	size_t text_len;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct got *g = arg;

	for (size_t i = 0; i < n; i++)
		if (p[i] < 'a' || p[i] > 'z')
			g->bad++;
	if (g->text_len + n < sizeof(g->text)) {
		memcpy(g->text + g->text_len, p, n);
		g->text_len += n;
		g->text[g->text_len] = '\0';
	}
	g->bytes += n;
	return size * n;
}

/* One body to send: `left` bytes of 'x'. */
struct body {
	uint64_t left;
};

static size_t
on_send(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t k = size * n < b->left ? size * n : (size_t)b->left;

	memset(p, 'x', k);
	b->left -= k;
	return k;
}

/* GET /down?bytes=N (up = 0) or POST /up with N bytes; the HTTP status. */
static long
request(const char *token, int up, uint64_t n, struct got *g)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	struct body b = {n};
	char url[128], auth[128];
	long status = 0;

	cr_assert_not_null(e);
	memset(g, 0, sizeof(*g));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/%s%llu",
	    probe_server_port(ps), up ? "up?" : "down?bytes=",
	    up ? 0ULL : (unsigned long long)n);
	if (up)
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/up",
		    probe_server_port(ps));
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
	if (up) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_send);
		curl_easy_setopt(e, CURLOPT_READDATA, &b);
	}
	(void)curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return status;
}

#define LATER (time_now_ms() + 60000)

TestSuite(probe_server, .init = setup, .fini = teardown);

Test(probe_server, download_sends_exactly_the_bytes_asked)
{
	struct got g;

	probe_server_allow(ps, "tok-a", 7, "XA-017", 10000000, LATER);
	cr_assert_eq(request("tok-a", 0, 3000001, &g), 200);
	cr_assert_eq(g.bytes, 3000001);
	cr_assert_eq(g.bad, 0, "the body is letters");
	cr_assert_eq(request("tok-a", 0, 0, &g), 200);
	cr_assert_eq(g.bytes, 0);
	cr_assert_eq(probe_server_retire(ps, 7), 3000001);
	cr_assert_eq(probe_server_retire(ps, 7), 0, "retired once");
}

Test(probe_server, upload_is_counted_and_answered_with_the_count)
{
	struct got g;

	probe_server_allow(ps, "tok-u", 8, "XA-017", 10000000, LATER);
	cr_assert_eq(request("tok-u", 1, 2500000, &g), 200);
	cr_assert_str_eq(g.text, "2500000\n");
	cr_assert_eq(request("tok-u", 0, 1000, &g), 200);
	cr_assert_eq(probe_server_retire(ps, 8), 2501000);
}

Test(probe_server, unknown_token_or_none_gets_401)
{
	struct got g;

	probe_server_allow(ps, "tok-b", 9, "XA-017", 1000, LATER);
	cr_assert_eq(request("tok-x", 0, 10, &g), 401);
	cr_assert_eq(request("", 0, 10, &g), 401);
	cr_assert_eq(request("tok-x", 1, 10, &g), 401);
	cr_assert_eq(probe_server_retire(ps, 9), 0);
}

Test(probe_server, past_the_allowance_gets_403)
{
	struct got g;

	probe_server_allow(ps, "tok-c", 10, "XA-017", 1000000, LATER);
	cr_assert_eq(request("tok-c", 0, 1000001, &g), 403);
	cr_assert_eq(request("tok-c", 0, 600000, &g), 200);
	cr_assert_eq(request("tok-c", 1, 500000, &g), 403, "600k + 500k");
	cr_assert_eq(request("tok-c", 1, 400000, &g), 200);
	cr_assert_eq(request("tok-c", 0, 1, &g), 403, "all used");
	cr_assert_eq(probe_server_retire(ps, 10), 1000000);
}

Test(probe_server, an_expired_token_gets_401)
{
	struct got g;

	probe_server_allow(ps, "tok-e", 11, "XA-017", 1000000,
	    time_now_ms() + 300);
	cr_assert_eq(request("tok-e", 0, 100, &g), 200);
	usleep(400 * 1000);
	cr_assert_eq(request("tok-e", 0, 100, &g), 401);
	cr_assert_eq(probe_server_retire(ps, 11), 100);
}

Test(probe_server, a_second_allow_replaces_the_tests_token)
{
	struct got g;

	probe_server_allow(ps, "tok-old", 12, "XA-017", 1000, LATER);
	probe_server_allow(ps, "tok-new", 12, "XA-017", 1000, LATER);
	cr_assert_eq(request("tok-old", 0, 10, &g), 401);
	cr_assert_eq(request("tok-new", 0, 10, &g), 200);
}

struct stream {
	const char *token;
	int up;
	uint64_t n;
	long status;
	uint64_t got;
};

static void *
run_stream(void *arg)
{
	struct stream *s = arg;
	struct got g;

	s->status = request(s->token, s->up, s->n, &g);
	s->got = g.bytes;
	return NULL;
}

Test(probe_server, concurrent_streams_of_two_tests_count_apart)
{
	struct stream st[8];
	pthread_t th[8];
	uint64_t want[2] = {0, 0};

	probe_server_allow(ps, "tok-p", 20, "XA-017", 50000000, LATER);
	probe_server_allow(ps, "tok-q", 21, "XB-002", 50000000, LATER);
	for (int i = 0; i < 8; i++) {
		st[i].token = i % 2 ? "tok-q" : "tok-p";
		st[i].up = i >= 4;
		st[i].n = 4000000 + (uint64_t)i * 1000;
		want[i % 2] += st[i].n;
		cr_assert_eq(pthread_create(&th[i], NULL, run_stream, &st[i]),
		    0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(st[i].status, 200, "stream %d", i);
		if (!st[i].up)
			cr_assert_eq(st[i].got, st[i].n, "stream %d", i);
	}
	cr_assert_eq(probe_server_retire(ps, 20), want[0]);
	cr_assert_eq(probe_server_retire(ps, 21), want[1]);
}

Test(probe_server, other_paths_are_404_and_a_bad_count_400)
{
	CURL *e = curl_easy_init();
	char url[128];
	long status = 0;
	struct got g;

	probe_server_allow(ps, "tok-z", 30, "XA-017", 1000, LATER);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/etc/passwd",
	    probe_server_port(ps));
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &g);
	memset(&g, 0, sizeof(g));
	curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	cr_assert_eq(status, 404);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/down?bytes=-5",
	    probe_server_port(ps));
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	cr_assert_eq(status, 400);
	curl_easy_cleanup(e);
}
