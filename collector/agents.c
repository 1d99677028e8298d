/* agents.c: a hash table of agent states keyed by agent name. */
#include <string.h>

#include "collector.h"
#include "schoolnet/mem.h"

struct agent_table {
	struct agent_state **buckets;
	size_t n_buckets; /* a power of two */
	size_t count;
};

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct agent_table *
agents_new(void)
{
	struct agent_table *t = xcalloc(1, sizeof(*t));

	t->n_buckets = 256;
	t->buckets = xcalloc(t->n_buckets, sizeof(*t->buckets));
	return t;
}

void
agents_free(struct agent_table *t)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct agent_state *a = t->buckets[i], *next;

		for (; a; a = next) {
			next = a->hnext;
			free(a);
		}
	}
	free(t->buckets);
	free(t);
}

static void
grow(struct agent_table *t)
{
	size_t n = t->n_buckets * 2;
	struct agent_state **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < t->n_buckets; i++) {
		struct agent_state *a = t->buckets[i], *next;

		for (; a; a = next) {
			next = a->hnext;
			a->hnext = b[fnv1a(a->name) & (n - 1)];
			b[fnv1a(a->name) & (n - 1)] = a;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
}

struct agent_state *
agents_get(struct agent_table *t, const char *name, bool create)
{
	size_t i = fnv1a(name) & (t->n_buckets - 1);
	struct agent_state *a;

	for (a = t->buckets[i]; a; a = a->hnext)
		if (strcmp(a->name, name) == 0)
			return a;
	if (!create)
		return NULL;
	if (t->count >= t->n_buckets) {
		grow(t);
		i = fnv1a(name) & (t->n_buckets - 1);
	}
	a = xcalloc(1, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->hnext = t->buckets[i];
	t->buckets[i] = a;
	t->count++;
	return a;
}

size_t
agents_count(const struct agent_table *t)
{
	return t->count;
}
