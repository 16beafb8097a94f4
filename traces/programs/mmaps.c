/* mmaps.c: a pthreads program with known memory-map calls, for the capture tests of
 * tlb_flush events (docs/traces.md): THREADS threads each do ROUNDS rounds of a
 * pthread barrier, then on 4 fresh pages: mprotect read-only, madvise(MADV_DONTNEED),
 * mremap shrinking to 2 pages, munmap: 4 recorded calls per round. Calls that must
 * not be recorded are made too: madvise(MADV_WILLNEED), a failing munmap, an mremap
 * that grows in place (or fails). The main thread only creates and joins.
 * usage: mmaps THREADS ROUNDS */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int rounds;
static pthread_barrier_t bar;

static void *worker(void *arg)
{
	(void)arg;
	const size_t pg = 4096;
	for (int r = 0; r < rounds; r++) {
		pthread_barrier_wait(&bar);
		char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			abort();
		memset(p, 1, 4 * pg);
		mprotect(p, 4 * pg, PROT_READ);          /* recorded */
		madvise(p, 4 * pg, MADV_WILLNEED);       /* not recorded: no flush */
		madvise(p, 4 * pg, MADV_DONTNEED);       /* recorded */
		char *q = mremap(p, 4 * pg, 2 * pg, 0);  /* shrinks in place: recorded */
		if (q == MAP_FAILED)
			abort();
		munmap(q + 1, pg);                       /* unaligned: fails, not recorded */
		munmap(q, 2 * pg);                       /* recorded */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mmaps THREADS ROUNDS\n");
		return 2;
	}
	int n = atoi(argv[1]);
	rounds = atoi(argv[2]);
	if (n < 1 || n > 64 || rounds < 0)
		return 2;
	pthread_barrier_init(&bar, NULL, (unsigned)n);
	pthread_t th[64];
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
