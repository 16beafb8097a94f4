/* pcounts.c: a pthreads program with known synchronisation counts, for the capture
 * tests: THREADS threads each pass BARRIERS pthread barriers and take a mutex MUTEXES
 * times and a spinlock SPINS times. The main thread only creates and joins.
 * usage: pcounts THREADS BARRIERS MUTEXES SPINS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int barriers, mutexes, spins;
static pthread_barrier_t bar;
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_spinlock_t spin;
static long counter;

static void *worker(void *arg)
{
	(void)arg;
	for (int b = 0; b < barriers; b++)
		pthread_barrier_wait(&bar);
	for (int m = 0; m < mutexes; m++) {
		pthread_mutex_lock(&mtx);
		counter++;
		pthread_mutex_unlock(&mtx);
	}
	for (int s = 0; s < spins; s++) {
		pthread_spin_lock(&spin);
		counter++;
		pthread_spin_unlock(&spin);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: pcounts THREADS BARRIERS MUTEXES SPINS\n");
		return 2;
	}
	int n = atoi(argv[1]);
	barriers = atoi(argv[2]);
	mutexes = atoi(argv[3]);
	spins = atoi(argv[4]);
	if (n < 1 || n > 256)
		return 2;
	pthread_t th[256];
	pthread_barrier_init(&bar, NULL, (unsigned)n);
	pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("pcounts: counter %ld\n", counter);
	return 0;
}
