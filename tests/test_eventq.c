/* test_eventq.c: the event queue against a reference: random schedules, re-arms
 * and cancels, at delays from nanoseconds to beyond the wheel's horizon, must pop
 * in (time, insertion) order, same-time events FIFO. Half the popped events are
 * re-armed at once, as the model re-arms most events while they fire (the queue
 * keeps a popped event at its heap's root for that: sim/eventq.c). */
#include <gsl/gsl_rng.h>
#include "testlib.h"
#include "sim/eventq.h"
#include "sim/rng.h"

#define N 500

int main(void)
{
	struct eventq q;
	struct event ev[N];
	uint64_t order[N];   /* reference key: insertion order of the current arming */
	simtime_t when[N];
	int armed[N] = { 0 };
	uint64_t seq = 0;
	gsl_rng *r = rng_stream(42, RNG_WORKLOAD, 0);
	evq_init(&q);
	for (int i = 0; i < N; i++)
		event_init(&ev[i], NULL, &ev[i], 0);
	simtime_t now = 0;
	long popped = 0, bad = 0;
	int min_shift = 99, max_shift = -1;
	for (int step = 0; step < 200000; step++) {
		int i = (int)gsl_rng_uniform_int(r, N);
		unsigned long op = gsl_rng_uniform_int(r, 10);
		if (op < 6) {
			/* few distinct times (ties), then times within a bucket, across the
			 * wheel and beyond its horizon (the far heap) */
			static const unsigned long span[] = { 8, 1UL << 16, 1UL << 20, 1UL << 30 };
			/* a sparse phase then a dense one make the wheel change its width */
			unsigned long k = step < 60000 ? gsl_rng_uniform_int(r, 4) : step < 130000 ? 3 : 2;
			when[i] = now + (simtime_t)gsl_rng_uniform_int(r, span[k]);
			order[i] = seq++;
			evq_schedule(&q, &ev[i], when[i]);
			armed[i] = 1;
		} else if (op < 7) {
			evq_cancel(&q, &ev[i]);
			armed[i] = 0;
		} else if (evq_size(&q)) {
			/* the reference minimum */
			int best = -1;
			for (int k = 0; k < N; k++)
				if (armed[k] && (best < 0 || when[k] < when[best] ||
						 (when[k] == when[best] && order[k] < order[best])))
					best = k;
			struct event *e = evq_pop(&q);
			popped++;
			if (e != &ev[best])
				bad++;
			int k = (int)(e - ev);
			armed[k] = 0;
			now = e->when;
			if (event_pending(e))
				bad++;
			if (gsl_rng_uniform_int(r, 2)) {
				static const unsigned long span[] = { 1, 8, 1UL << 12, 1UL << 20 };
				when[k] = now + (simtime_t)gsl_rng_uniform_int(r, span[gsl_rng_uniform_int(r, 4)]);
				order[k] = seq++;
				evq_schedule(&q, e, when[k]);
				armed[k] = 1;
			}
		}
		if (q.shift < min_shift)
			min_shift = q.shift;
		if (q.shift > max_shift)
			max_shift = q.shift;
		int n = 0;
		for (int k = 0; k < N; k++)
			n += armed[k];
		if ((size_t)n != evq_size(&q))
			bad++;
	}
	EXPECT(popped > 10000, "popped %ld events", popped);
	EXPECT(bad == 0, "%ld pops out of (time, insertion) order or size mismatches", bad);
	EXPECT(max_shift - min_shift >= 2, "the wheel adapted its bucket width (2^%d to 2^%d ns)",
	       min_shift, max_shift);
	printf("bucket width ranged over 2^%d to 2^%d ns\n", min_shift, max_shift);
	evq_free(&q);
	/* evq_pop_until (the main loop's call): pops only up to its bound, and
	 * leaves the queue as it was otherwise */
	evq_init(&q);
	event_init(&ev[0], NULL, &ev[0], 0);
	event_init(&ev[1], NULL, &ev[1], 0);
	evq_schedule(&q, &ev[0], 20);
	evq_schedule(&q, &ev[1], 10);
	EXPECT(evq_pop_until(&q, 15) == &ev[1], "the event at 10 up to 15");
	EXPECT(evq_pop_until(&q, 15) == NULL, "nothing more up to 15");
	EXPECT(evq_size(&q) == 1 && event_pending(&ev[0]), "the event at 20 still queued");
	EXPECT(evq_pop_until(&q, 20) == &ev[0], "the event at 20 up to 20");
	EXPECT(evq_pop_until(&q, SIMTIME_NEVER) == NULL && evq_size(&q) == 0, "empty");
	evq_free(&q);
	gsl_rng_free(r);
	return t_finish("test_eventq");
}
