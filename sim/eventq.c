/* eventq.c: a timing wheel of unsorted buckets in front of a small indexed 4-ary
 * heap, keyed by (time, insertion sequence). See eventq.h for why. */
#include "sim/eventq.h"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define ARITY 4

/* ---- indexed 4-ary heap (used for the current bucket and for far events) */

static inline int slot_before(const struct evq_slot *a, const struct evq_slot *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static inline void place(struct evq_heap *h, size_t i, struct evq_slot s)
{
	h->a[i] = s;
	s.ev->slot = (int32_t)i;
}

static void sift_up(struct evq_heap *h, size_t i)
{
	struct evq_slot s = h->a[i];
	while (i > 0) {
		size_t parent = (i - 1) / ARITY;
		if (!slot_before(&s, &h->a[parent]))
			break;
		place(h, i, h->a[parent]);
		i = parent;
	}
	place(h, i, s);
}

static void sift_down(struct evq_heap *h, size_t i)
{
	struct evq_slot s = h->a[i];
	for (;;) {
		size_t first = i * ARITY + 1;
		if (first >= h->n)
			break;
		size_t last = first + ARITY < h->n ? first + ARITY : h->n;
		size_t best = first;
		for (size_t c = first + 1; c < last; c++)
			if (slot_before(&h->a[c], &h->a[best]))
				best = c;
		if (!slot_before(&h->a[best], &s))
			break;
		place(h, i, h->a[best]);
		i = best;
	}
	place(h, i, s);
}

static void heap_push(struct evq_heap *h, struct event *e)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		struct evq_slot *a = realloc(h->a, h->cap * sizeof *a);
		if (!a) {
			perror("vcpusim: event queue");
			exit(1);
		}
		h->a = a;
	}
	struct evq_slot s = { e->when, e->seq, e };
	place(h, h->n, s);
	h->n++;
	sift_up(h, h->n - 1);
}

static void heap_remove(struct evq_heap *h, size_t i)
{
	h->n--;
	if (i == h->n)
		return;
	struct evq_slot moved = h->a[h->n];
	place(h, i, moved);
	if (i > 0 && slot_before(&moved, &h->a[(i - 1) / ARITY]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

/* ---- buckets */

#define SHIFT_MIN 8                  /* 256 ns */
#define SHIFT_MAX 24                 /* 16.8 ms */
#define SHIFT_START 16               /* 65.5 us */

static inline int64_t bucket_of(const struct eventq *q, simtime_t t) { return t >> q->shift; }

static void bucket_add(struct eventq *q, struct event *e, int64_t b)
{
	size_t k = (size_t)(b % EVQ_BUCKETS);
	e->bprev = NULL;
	e->bnext = q->bucket[k];
	if (e->bnext)
		e->bnext->bprev = e;
	q->bucket[k] = e;
	q->nonempty[k / 64] |= (uint64_t)1 << (k % 64);
	q->in_buckets++;
}

static void bucket_unlink(struct eventq *q, struct event *e)
{
	size_t k = (size_t)(bucket_of(q, e->when) % EVQ_BUCKETS);
	if (e->bprev)
		e->bprev->bnext = e->bnext;
	else
		q->bucket[k] = e->bnext;
	if (e->bnext)
		e->bnext->bprev = e->bprev;
	if (!q->bucket[k])
		q->nonempty[k / 64] &= ~((uint64_t)1 << (k % 64));
	q->in_buckets--;
}

/* The absolute index of the first non-empty bucket after cur, or -1: a circular
 * scan of the bitmap of non-empty buckets, from the slot after cur's. */
static int64_t next_bucket(const struct eventq *q)
{
	if (!q->in_buckets)
		return -1;
	const size_t nw = EVQ_BUCKETS / 64;
	size_t start = (size_t)((q->cur + 1) % EVQ_BUCKETS), w0 = start / 64;
	for (size_t i = 0; i <= nw; i++) {
		size_t w = (w0 + i) % nw;
		uint64_t bits = q->nonempty[w];
		if (i == 0)
			bits &= ~(uint64_t)0 << (start % 64);
		else if (i == nw)
			bits &= ((uint64_t)1 << (start % 64)) - 1;
		if (bits) {
			size_t found = w * 64 + (size_t)__builtin_ctzll(bits);
			size_t dist = (found + EVQ_BUCKETS - start) % EVQ_BUCKETS;
			return q->cur + 1 + (int64_t)dist;
		}
	}
	return -1;
}

/* ---- placement */

static void insert(struct eventq *q, struct event *e)
{
	int64_t b = bucket_of(q, e->when);
	if (b <= q->cur) {
		e->where = EVQ_NEAR;
		heap_push(&q->near, e);
		q->added++;
		/* a crowded current bucket: use narrower buckets once the heap empties */
		if (q->near.n - (q->held != NULL) > 128 && q->want_shift >= q->shift && q->shift > SHIFT_MIN)
			q->want_shift = q->shift - 1;
	} else if (b < q->cur + EVQ_BUCKETS) {
		e->where = EVQ_BUCKET;
		bucket_add(q, e, b);
	} else {
		e->where = EVQ_FAR;
		heap_push(&q->far, e);
	}
}

static void unlink_event(struct eventq *q, struct event *e)
{
	switch (e->where) {
	case EVQ_NEAR:
		heap_remove(&q->near, (size_t)e->slot);
		break;
	case EVQ_FAR:
		heap_remove(&q->far, (size_t)e->slot);
		break;
	case EVQ_BUCKET:
		bucket_unlink(q, e);
		break;
	default:
		return;
	}
	e->where = EVQ_NONE;
	q->live--;
}

/* Makes the near heap hold the earliest events: while it is empty, advance to the
 * next bucket that has events (in the wheel or in the far heap) and heapify it. */
/* With the near heap empty, re-buckets everything at width 2^shift. */
static void rebuild(struct eventq *q, int shift)
{
	struct event *all = NULL;
	for (size_t k = 0; k < EVQ_BUCKETS; k++) {
		for (struct event *e = q->bucket[k], *n; e; e = n) {
			n = e->bnext;
			e->bnext = all;
			all = e;
		}
		q->bucket[k] = NULL;
	}
	memset(q->nonempty, 0, sizeof q->nonempty);
	q->in_buckets = 0;
	struct evq_heap far = q->far;
	q->far = (struct evq_heap){ 0 };
	q->shift = shift;
	q->cur = bucket_of(q, q->last);
	for (struct event *e = all, *n; e; e = n) {
		n = e->bnext;
		insert(q, e);
	}
	for (size_t i = 0; i < far.n; i++)
		insert(q, far.a[i].ev);
	free(far.a);
}

/* Every 64 buckets drained, a width whose buckets bring more than 64 events on
 * average is to be halved, one whose buckets bring fewer than 2 doubled; the
 * change is made by refill when the near heap is empty. */
static void adapt(struct eventq *q, size_t drained)
{
	q->ewma16 = q->ewma16 - q->ewma16 / 8 + (uint32_t)(drained > 4096 ? 4096 : drained) * 2;
	if (++q->refills % 64)
		return;
	if (q->ewma16 > 64 * 16 && q->want_shift > SHIFT_MIN)
		q->want_shift = q->shift - 1;
	else if (q->ewma16 < 2 * 16 && q->want_shift < SHIFT_MAX)
		q->want_shift = q->shift + 1;
}

static void refill(struct eventq *q)
{
	while (q->near.n == 0) {
		if (q->want_shift != q->shift) {
			/* every queued event is later than the last popped one: re-bucket */
			q->ewma16 = q->want_shift < q->shift ? q->ewma16 / 2 : q->ewma16 * 2;
			rebuild(q, q->want_shift);
		}
		int64_t nb = next_bucket(q);
		int64_t fb = q->far.n ? bucket_of(q, q->far.a[0].when) : -1;
		if (nb < 0 && fb < 0)
			return;
		int64_t b = nb < 0 ? fb : (fb < 0 || nb < fb ? nb : fb);
		q->cur = b;
		size_t k = (size_t)(b % EVQ_BUCKETS);
		struct event *e = q->bucket[k];
		q->bucket[k] = NULL;
		q->nonempty[k / 64] &= ~((uint64_t)1 << (k % 64));
		size_t drained = 0;
		for (struct event *n; e; e = n) {
			n = e->bnext;
			q->in_buckets--;
			e->where = EVQ_NEAR;
			heap_push(&q->near, e);
			drained++;
		}
		while (q->far.n && bucket_of(q, q->far.a[0].when) <= q->cur) {
			struct event *f = q->far.a[0].ev;
			heap_remove(&q->far, 0);
			f->where = EVQ_NEAR;
			heap_push(&q->near, f);
			drained++;
		}
		/* the bucket's density: what it brought, and what the previous bucket
		 * received while it was current (re-arms at or near the current
		 * instant, which on large hosts are many more than the bucket brought) */
		adapt(q, drained + q->added);
		q->added = 0;
	}
}

/* ---- the popped event held at the root
 *
 * 97-99% of fired events are re-armed while they fire (issue 15 item 5), most of
 * them first thing. So evq_pop leaves the popped event in the near heap's root
 * slot (marked not pending) until the next pop or peek: if it is re-armed within
 * the current bucket before that, its new key replaces the root's and one
 * sift-down places it, instead of a removal (a sift-down of the last slot) and an
 * insertion (a sift-up). Meanwhile it stays at the root whatever else is
 * scheduled or cancelled: its key is the heap's least (every other key is at or
 * after its time and has a later sequence), so no sift passes it. The next pop
 * or peek completes its removal. The order of events is unchanged. */
static inline void settle(struct eventq *q)
{
	if (q->held) {
		q->held = NULL;
		heap_remove(&q->near, 0);
	}
}

/* ---- the API */

void evq_init(struct eventq *q)
{
	memset(q, 0, sizeof *q);
	q->shift = q->want_shift = SHIFT_START;
	q->ewma16 = 8 * 16;
}

void evq_free(struct eventq *q)
{
	settle(q);
	for (size_t i = 0; i < q->near.n; i++)
		q->near.a[i].ev->where = EVQ_NONE;
	for (size_t i = 0; i < q->far.n; i++)
		q->far.a[i].ev->where = EVQ_NONE;
	for (size_t k = 0; k < EVQ_BUCKETS; k++)
		for (struct event *e = q->bucket[k]; e; e = e->bnext)
			e->where = EVQ_NONE;
	free(q->near.a);
	free(q->far.a);
	memset(q, 0, sizeof *q);
}

void event_init(struct event *e, event_fn fire, void *owner, uint16_t kind)
{
	memset(e, 0, sizeof *e);
	e->slot = -1;
	e->where = EVQ_NONE;
	e->kind = kind;
	e->fire = fire;
	e->owner = owner;
}

void evq_schedule(struct eventq *q, struct event *e, simtime_t when)
{
	if (e == q->held) {
		if (bucket_of(q, when) <= q->cur) {
			/* the popped event re-armed in the current bucket: one sift-down */
			q->held = NULL;
			e->when = when;
			e->seq = q->next_seq++;
			e->where = EVQ_NEAR;
			q->live++;
			q->near.a[0] = (struct evq_slot){ when, e->seq, e };
			sift_down(&q->near, 0);
			q->added++;
			if (q->near.n > 128 && q->want_shift >= q->shift && q->shift > SHIFT_MIN)
				q->want_shift = q->shift - 1;   /* as insert() would */
			return;
		}
		settle(q);
	}
	if (e->where == EVQ_NEAR && bucket_of(q, when) <= q->cur) {
		/* re-arm within the current bucket: move in place */
		struct evq_slot s = { when, q->next_seq++, e };
		size_t i = (size_t)e->slot;
		int earlier = slot_before(&s, &q->near.a[i]);
		e->when = when;
		e->seq = s.seq;
		q->near.a[i] = s;
		if (earlier)
			sift_up(&q->near, i);
		else
			sift_down(&q->near, i);
		return;
	}
	unlink_event(q, e);
	e->when = when;
	e->seq = q->next_seq++;
	q->live++;
	insert(q, e);
}

void evq_cancel(struct eventq *q, struct event *e)
{
	unlink_event(q, e);
}

simtime_t evq_next_time(struct eventq *q)
{
	settle(q);
	refill(q);
	return q->near.n ? q->near.a[0].when : SIMTIME_NEVER;
}

/* Pops the near heap's root, leaving it held there (above). */
static inline struct event *take_root(struct eventq *q)
{
	struct event *e = q->near.a[0].ev;
	q->held = e;
	e->where = EVQ_NONE;
	q->live--;
	q->last = e->when;
	return e;
}

struct event *evq_pop_until(struct eventq *q, simtime_t until)
{
	settle(q);
	refill(q);
	if (!q->near.n || q->near.a[0].when > until)
		return NULL;
	return take_root(q);
}

struct event *evq_pop(struct eventq *q)
{
	settle(q);
	refill(q);
	if (!q->near.n)
		return NULL;
	return take_root(q);
}
