/* simtime.h: simulated time is a signed 64-bit count of nanoseconds.
 *
 * Integer time (as in OMNeT++ and ns-3) makes a run reproducible bit for bit and
 * makes "the same instant" exact, which the FIFO tie-breaking of the event queue
 * relies on. 2^63 ns is about 292 years of simulated time. */
#ifndef VCPUSIM_SIMTIME_H
#define VCPUSIM_SIMTIME_H
#include <stdint.h>

typedef int64_t simtime_t;

#define NS_PER_US  ((simtime_t)1000)
#define NS_PER_MS  ((simtime_t)1000000)
#define NS_PER_SEC ((simtime_t)1000000000)
#define SIMTIME_NEVER INT64_MAX

static inline double simtime_ms(simtime_t t) { return (double)t / (double)NS_PER_MS; }
static inline double simtime_us(simtime_t t) { return (double)t / (double)NS_PER_US; }

#endif
