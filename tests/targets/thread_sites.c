// SPDX-License-Identifier: MIT
/* Threadcreate target: waits until the file GO exists (a profiler has attached), then creates
 * NA threads from create_site_a and NB from create_site_b (each called from main), prints
 * "done", and waits. The threads sleep. Usage: thread_sites GO NA NB */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

__attribute__((noinline)) void create_site_a(void)
{
	pthread_t th;

	if (pthread_create(&th, NULL, sleeper, NULL))
		abort();
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void create_site_b(void)
{
	pthread_t th;

	if (pthread_create(&th, NULL, sleeper, NULL))
		abort();
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 10000000 };
	int na = argc > 2 ? atoi(argv[2]) : 3, nb = argc > 3 ? atoi(argv[3]) : 5;

	if (argc < 2)
		return 2;
	printf("ready\n");
	fflush(stdout);
	while (access(argv[1], F_OK) != 0)
		nanosleep(&ts, NULL);
	for (int i = 0; i < na; i++)
		create_site_a();
	for (int i = 0; i < nb; i++)
		create_site_b();
	printf("done\n");
	fflush(stdout);
	for (;;)
		pause();
}
