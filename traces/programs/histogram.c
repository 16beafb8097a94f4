/* histogram.c: a lock-heavy OpenMP program (sample for traces/samples/): each item
 * costs a little hashing, then its bin is updated under one of a few omp locks, and
 * every 64 items a shared total under `omp critical`. Short critical sections, taken
 * often: the pattern that lock-holder preemption hurts.
 * usage: histogram [ITEMS] [WORK]   (defaults 20000 items, 400 rounds of work) */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BINS 64
#define LOCKS 4

int main(int argc, char **argv)
{
	long items = argc > 1 ? atol(argv[1]) : 20000;
	long work = argc > 2 ? atol(argv[2]) : 400;
	if (items < 1 || work < 0) {
		fprintf(stderr, "usage: histogram [ITEMS>=1] [WORK>=0]\n");
		return 2;
	}
	long hist[BINS] = { 0 }, total = 0;
	omp_lock_t locks[LOCKS];
	for (int l = 0; l < LOCKS; l++)
		omp_init_lock(&locks[l]);
#pragma omp parallel for schedule(static)
	for (long i = 0; i < items; i++) {
		uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15u;
		for (long k = 0; k < work; k++)
			h = (h ^ (h >> 29)) * 0xBF58476D1CE4E5B9u + (uint64_t)k;
		int bin = (int)(h % BINS);
		omp_set_lock(&locks[bin % LOCKS]);
		hist[bin]++;
		omp_unset_lock(&locks[bin % LOCKS]);
		if (i % 64 == 0) {
#pragma omp critical
			total += 64;
		}
	}
	long sum = 0;
	for (int b = 0; b < BINS; b++)
		sum += hist[b];
	for (int l = 0; l < LOCKS; l++)
		omp_destroy_lock(&locks[l]);
	printf("histogram: %ld items, sum %ld, total %ld\n", items, sum, total);
	return 0;
}
