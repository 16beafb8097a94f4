/* lockbench.c: measures the cost of the synchronisation calls the capture library
 * wraps, from inside the program (scripts/capture-overhead.sh, docs/traces.md):
 * uncontended omp_set_lock/unset pairs, pthread mutex lock/unlock pairs and
 * barriers of a one-thread team, best of 7 repetitions (to see past other load).
 * Run once plainly and once under the capture library: the difference per call is
 * the recording cost. usage: lockbench [CALLS]   (default 200000) */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	if (n < 1)
		return 2;
	omp_lock_t l;
	omp_init_lock(&l);
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	double best[3] = { 1e30, 1e30, 1e30 };
	for (int rep = 0; rep < 7; rep++) {
		double t0 = now();
		for (long i = 0; i < n; i++) {
			omp_set_lock(&l);
			omp_unset_lock(&l);
		}
		double t1 = now();
		for (long i = 0; i < n; i++) {
			pthread_mutex_lock(&m);
			pthread_mutex_unlock(&m);
		}
		double t2 = now();
#pragma omp parallel num_threads(1)
		for (long i = 0; i < n; i++) {
#pragma omp barrier
		}
		double t3 = now();
		double d[3] = { t1 - t0, t2 - t1, t3 - t2 };
		for (int k = 0; k < 3; k++)
			if (d[k] < best[k])
				best[k] = d[k];
	}
	printf("omp_lock pair %.1f ns, mutex pair %.1f ns, barrier %.1f ns\n", best[0] / n,
	       best[1] / n, best[2] / n);
	omp_destroy_lock(&l);
	return 0;
}
