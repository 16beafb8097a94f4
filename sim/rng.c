/* rng.c: per-entity GSL streams seeded through splitmix64 (see rng.h). */
#include "sim/rng.h"
#include <stdio.h>
#include <stdlib.h>

/* splitmix64 finaliser (Steele, Lea, Flood 2014): decorrelates nearby seeds. */
uint64_t rng_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

gsl_rng *rng_stream(uint64_t seed, enum rng_kind kind, uint64_t id)
{
	gsl_rng *r = gsl_rng_alloc(gsl_rng_taus2);
	if (!r) {
		fprintf(stderr, "vcpusim: out of memory for a random stream\n");
		exit(1);
	}
	uint64_t s = rng_mix(rng_mix(seed) ^ rng_mix(((uint64_t)kind << 56) ^ id));
	/* taus2 takes an unsigned long seed; 0 is replaced by GSL's default, so avoid it */
	gsl_rng_set(r, (unsigned long)(s ? s : 1));
	return r;
}
