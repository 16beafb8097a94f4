/* eventq.c: indexed 4-ary min-heap keyed by (time, insertion sequence).
 * See eventq.h for why this structure. */
#include "sim/eventq.h"
#include <stdlib.h>
#include <stdio.h>

#define ARITY 4

static inline int slot_before(const struct evq_slot *a, const struct evq_slot *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static inline void place(struct eventq *q, size_t i, struct evq_slot s)
{
	q->heap[i] = s;
	s.ev->slot = (int32_t)i;
}

static void sift_up(struct eventq *q, size_t i)
{
	struct evq_slot s = q->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / ARITY;
		if (!slot_before(&s, &q->heap[parent]))
			break;
		place(q, i, q->heap[parent]);
		i = parent;
	}
	place(q, i, s);
}

static void sift_down(struct eventq *q, size_t i)
{
	struct evq_slot s = q->heap[i];
	for (;;) {
		size_t first = i * ARITY + 1;
		if (first >= q->n)
			break;
		size_t last = first + ARITY < q->n ? first + ARITY : q->n;
		size_t best = first;
		for (size_t c = first + 1; c < last; c++)
			if (slot_before(&q->heap[c], &q->heap[best]))
				best = c;
		if (!slot_before(&q->heap[best], &s))
			break;
		place(q, i, q->heap[best]);
		i = best;
	}
	place(q, i, s);
}

void evq_init(struct eventq *q)
{
	q->cap = 64;
	q->n = 0;
	q->next_seq = 0;
	q->heap = malloc(q->cap * sizeof *q->heap);
	if (!q->heap) {
		perror("vcpusim: event queue");
		exit(1);
	}
}

void evq_free(struct eventq *q)
{
	for (size_t i = 0; i < q->n; i++)
		q->heap[i].ev->slot = -1;
	free(q->heap);
	q->heap = NULL;
	q->n = q->cap = 0;
}

void event_init(struct event *e, event_fn fire, void *owner, uint16_t kind)
{
	e->when = 0;
	e->slot = -1;
	e->kind = kind;
	e->fire = fire;
	e->owner = owner;
}

static void remove_at(struct eventq *q, size_t i)
{
	struct event *gone = q->heap[i].ev;
	gone->slot = -1;
	q->n--;
	if (i == q->n)
		return;
	struct evq_slot moved = q->heap[q->n];
	place(q, i, moved);
	if (i > 0 && slot_before(&moved, &q->heap[(i - 1) / ARITY]))
		sift_up(q, i);
	else
		sift_down(q, i);
}

void evq_schedule(struct eventq *q, struct event *e, simtime_t when)
{
	struct evq_slot s = { when, q->next_seq++, e };
	e->when = when;
	if (e->slot >= 0) {
		size_t i = (size_t)e->slot;
		int earlier = slot_before(&s, &q->heap[i]);
		q->heap[i] = s;
		if (earlier)
			sift_up(q, i);
		else
			sift_down(q, i);
		return;
	}
	if (q->n == q->cap) {
		q->cap *= 2;
		struct evq_slot *h = realloc(q->heap, q->cap * sizeof *h);
		if (!h) {
			perror("vcpusim: event queue");
			exit(1);
		}
		q->heap = h;
	}
	q->heap[q->n] = s;
	e->slot = (int32_t)q->n;
	q->n++;
	sift_up(q, q->n - 1);
}

void evq_cancel(struct eventq *q, struct event *e)
{
	if (e->slot >= 0)
		remove_at(q, (size_t)e->slot);
}

struct event *evq_pop(struct eventq *q)
{
	if (q->n == 0)
		return NULL;
	struct event *e = q->heap[0].ev;
	remove_at(q, 0);
	return e;
}
