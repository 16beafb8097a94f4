/* eventq.h: the pending-event set of the simulator.
 *
 * An event is a small struct embedded in the entity that owns it (a pCPU's
 * scheduling timer, a vCPU's guest-progress timer, ...), so scheduling, re-arming
 * and cancelling never allocate. Order is (time, insertion sequence): events at the
 * same instant fire in the order they were (re)scheduled, deterministically.
 *
 * Structure (chosen by measurement, docs/performance.md): a calendar of buckets
 * (Brown 1988; here a fixed-width timing wheel) in front of a small heap. Time is
 * cut into buckets of 2^shift ns; the events of the current bucket live
 * in an indexed 4-ary heap ordered by (time, sequence); events of the next
 * EVQ_BUCKETS buckets wait unsorted in per-bucket lists (O(1) insert and cancel),
 * and are heapified when their bucket becomes current; events further away wait in
 * a second heap. So the heap holds only the events of one short window, and its
 * cost no longer grows with the number of pCPUs. The bucket width adapts to the
 * event density (a bucket should bring a few to a few dozen events), by rebuilding
 * the wheel when the near heap is empty; the order of events never changes. */
#ifndef VCPUSIM_EVENTQ_H
#define VCPUSIM_EVENTQ_H
#include <stddef.h>
#include <stdint.h>
#include "sim/simtime.h"

#define EVQ_BUCKETS 4096             /* buckets in the wheel; beyond them, the far heap */

struct sim;
struct event;
typedef void (*event_fn)(struct sim *s, struct event *e);

enum evq_where { EVQ_NONE, EVQ_NEAR, EVQ_BUCKET, EVQ_FAR };

struct event {
	simtime_t when;      /* valid while queued */
	uint64_t seq;        /* insertion sequence of the current arming */
	int32_t slot;        /* index in the near or far heap */
	uint8_t where;       /* enum evq_where */
	uint16_t kind;       /* for statistics and traces (EV_* in sim/sim.h) */
	event_fn fire;
	void *owner;
	struct event *bprev, *bnext;   /* bucket list */
};

struct evq_slot {
	simtime_t when;
	uint64_t seq;
	struct event *ev;
};

struct evq_heap {
	struct evq_slot *a;
	size_t n, cap;
};

struct eventq {
	struct evq_heap near, far;
	struct event *bucket[EVQ_BUCKETS];
	uint64_t nonempty[EVQ_BUCKETS / 64];
	size_t in_buckets;
	int64_t cur;                 /* absolute index of the current bucket */
	int shift, want_shift;       /* bucket width = 2^shift ns; the width to move to */
	simtime_t last;              /* time of the last popped event */
	uint32_t ewma16;             /* 16 x moving average of events per bucket drained */
	uint32_t refills;
	uint32_t added;              /* events put into the current bucket after it was drained */
	size_t live;
	uint64_t next_seq;
	struct event *held;          /* the last popped event, still at the near heap's root */
};

void evq_init(struct eventq *q);
void evq_free(struct eventq *q);
void event_init(struct event *e, event_fn fire, void *owner, uint16_t kind);
/* Schedule e at time when (>= the time of the last popped event); if e is already
 * queued it is moved (re-armed) and counts as newly inserted for tie-breaking. */
void evq_schedule(struct eventq *q, struct event *e, simtime_t when);
void evq_cancel(struct eventq *q, struct event *e);
/* Removes and returns the earliest event, or NULL when empty. */
struct event *evq_pop(struct eventq *q);
/* The earliest event's time, SIMTIME_NEVER when empty. */
simtime_t evq_next_time(struct eventq *q);
/* evq_pop if the earliest event is at or before `until`, else NULL (the queue
 * unchanged): the main loop's peek and pop in one call. */
struct event *evq_pop_until(struct eventq *q, simtime_t until);

static inline int event_pending(const struct event *e) { return e->where != EVQ_NONE; }
static inline size_t evq_size(const struct eventq *q) { return q->live; }

#endif
