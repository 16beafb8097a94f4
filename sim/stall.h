/* stall.h: no-progress detection in the main loop (issue 13, item 6).
 *
 * Simulated time is what bounds a run (stop.max_ms); work that takes no time
 * (a bsp grain of 0, an npb interval of 0, io with no think or service time)
 * makes events at one instant for ever, or for billions of events, and the run
 * never reaches the bound. A valid instant holds a few events per vCPU; past
 * STALL_EVENTS (+ per vCPU) events at one instant the run is stopped with a
 * message naming the VM whose events fill the instant and the keys that give
 * its work a duration (exit 1). */
#ifndef VCPUSIM_STALL_H
#define VCPUSIM_STALL_H
#include <stdint.h>
#include "sim/simtime.h"

#define STALL_EVENTS 2000000
#define STALL_PER_VCPU 1000
#define STALL_WINDOW 100000   /* events sampled to name the VM */

struct sim;
struct event;

/* The bound before the per-vCPU part: STALL_EVENTS; the fuzz target lowers it so
 * that its units stay fast (tests/fuzz/fuzz_scenario.c). */
extern uint64_t stall_base_events;

/* A work budget for harnesses, not for users: when nonzero, the run stops (1,
 * without a message) at the first advance of time past this many events. The
 * fuzz target sets it so that a valid but busy scenario (a 47-vCPU lock convoy
 * with no work: a million events in 5 ms) costs a bounded time under
 * libFuzzer's instrumentation, as SQLite's fuzzers bound work with
 * SQLITE_LIMIT_VDBE_OP and a progress handler (test/ossfuzz.c). 0 = none. */
extern uint64_t stall_event_budget;

struct stall {
	simtime_t at;        /* the current instant */
	uint64_t n, limit;   /* events at it; the bound */
	uint64_t done, budget;   /* events at earlier instants; stall_event_budget or no bound */
	uint64_t *per_vm;    /* while sampling: events per VM */
};

void stall_init(struct stall *st, const struct sim *s);
void stall_free(struct stall *st);
/* Past the bound: samples, then prints the diagnosis; 1 = stop the run. */
int stall_slow(struct stall *st, struct sim *s, const struct event *e);

/* Called for every event, after s->now is set: 1 = stop the run. */
static inline int stall_note(struct stall *st, struct sim *s, simtime_t now, const struct event *e)
{
	/* Whether time advanced at this event is as random as the model's events
	 * (a branch on it is mispredicted often): both cases are computed without
	 * one. Advancing: the events of the instant left join done, and n restarts
	 * (it cannot pass the limit then); at the same instant done stays (it was
	 * within the budget, or the run would have stopped). */
	uint64_t adv = now != st->at;
	st->done += adv ? st->n + 1 : 0;
	st->n = adv ? 0 : st->n + 1;
	st->at = now;
	if (__builtin_expect(st->done > st->budget || st->n > st->limit, 0))
		return st->done > st->budget ? 1 : stall_slow(st, s, e);
	return 0;
}

#endif
