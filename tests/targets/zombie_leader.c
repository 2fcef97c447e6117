// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
/* A process whose main thread exits (pthread_exit) while its other threads run on, a common
 * pattern: the main thread becomes a zombie and the process lives. Prints "ready PID" with two
 * threads running: "spinner" burns CPU in spin_here, "allocator" keeps 4 KiB blocks from
 * alloc_here at about 100 a second (a leak of 400 KiB a second, up to 64 MiB). The main thread
 * exits when it reads a line on stdin (at once with --exit-now), printing "main exiting". */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

__attribute__((noinline)) static void spin_here(void)
{
	for (int i = 0; i < 1000000; i++)
		sink += (uint64_t)i * 2654435761u;
}

static void *spinner(void *arg)
{
	pthread_setname_np(pthread_self(), "spinner");
	for (;;)
		spin_here();
	return NULL;
}

__attribute__((noinline)) static void *alloc_here(void)
{
	void *p = malloc(4096);

	if (p)
		memset(p, 7, 4096);
	return p;
}

static void *allocator(void *arg)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	pthread_setname_np(pthread_self(), "allocator");
	for (int n = 0; n < 16384; n++) {
		sink += (uintptr_t)alloc_here();
		nanosleep(&ts, NULL);
	}
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	char line[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_create(&t, NULL, spinner, NULL);
	pthread_create(&t, NULL, allocator, NULL);
	printf("ready %d\n", (int)getpid());
	if (!(argc > 1 && strcmp(argv[1], "--exit-now") == 0) && !fgets(line, sizeof(line), stdin))
		return 1;
	printf("main exiting\n");
	pthread_exit(NULL);
}
