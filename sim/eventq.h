/* eventq.h: the pending-event set of the simulator.
 *
 * An event is a small struct embedded in the entity that owns it (a pCPU's
 * scheduling timer, a vCPU's guest-progress timer, ...), so scheduling, re-arming
 * and cancelling never allocate. Order is (time, insertion sequence): events at the
 * same instant fire in the order they were (re)scheduled, deterministically.
 *
 * The structure is an indexed 4-ary min-heap with the keys stored inline; each
 * event remembers its heap slot, which makes cancel and re-arm O(log n). Chosen by
 * measurement (docs/performance.md): a lazy-deletion heap (no slot write-back,
 * stale entries dropped at pop) ran the model 1.6-2.7x slower at 16 pCPUs and no
 * faster at 1024, because guests re-arm or cancel their step timer at almost every
 * context switch; keeping the slots in a compact side array gained nothing
 * measurable. */
#ifndef VCPUSIM_EVENTQ_H
#define VCPUSIM_EVENTQ_H
#include <stddef.h>
#include <stdint.h>
#include "sim/simtime.h"

struct sim;
struct event;
typedef void (*event_fn)(struct sim *s, struct event *e);

struct event {
	simtime_t when;      /* valid while queued */
	int32_t slot;        /* index in the heap, -1 when not queued */
	uint16_t kind;       /* for statistics and traces (EV_* in sim/sim.h) */
	event_fn fire;
	void *owner;
};

struct evq_slot {
	simtime_t when;
	uint64_t seq;
	struct event *ev;
};

struct eventq {
	struct evq_slot *heap;
	size_t n, cap;
	uint64_t next_seq;
};

void evq_init(struct eventq *q);
void evq_free(struct eventq *q);
void event_init(struct event *e, event_fn fire, void *owner, uint16_t kind);
/* Schedule e at time when; if e is already queued it is moved (re-armed) and
 * counts as newly inserted for tie-breaking. */
void evq_schedule(struct eventq *q, struct event *e, simtime_t when);
void evq_cancel(struct eventq *q, struct event *e);
/* Removes and returns the earliest event, or NULL when empty. */
struct event *evq_pop(struct eventq *q);

static inline int event_pending(const struct event *e) { return e->slot >= 0; }
static inline size_t evq_size(const struct eventq *q) { return q->n; }
static inline simtime_t evq_next_time(const struct eventq *q)
{
	return q->n ? q->heap[0].when : SIMTIME_NEVER;
}

#endif
