// SPDX-License-Identifier: MIT
/* The soak target (tests/bench/soak): what a long-running service churns, so that a soak can
 * watch profd's own memory, descriptors and threads while it profiles it for an hour. Threads
 * are created and exit (each allocates and opens a descriptor), an allocator pool keeps a
 * bounded live set while it mallocs, callocs, reallocs and frees, descriptors of every kind
 * (files, pipes, socket pairs, eventfds) are opened and closed, a library is loaded and unloaded
 * and anonymous mappings come and go (so the target's maps change), and one thread computes.
 * Its own footprint stays bounded: what grows over a soak is profd's.
 * Usage: soak_target [--seconds N]  (runs until killed without it); prints "ready" once running. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define POOL_SLOTS 4096

static volatile uint64_t sink;

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A short-lived thread: allocates, reads a file, frees, exits. */
__attribute__((noinline)) static void *short_task(void *arg)
{
	char name[16], buf[256];
	char *p = malloc(512 + (size_t)((uintptr_t)arg % 8) * 64);
	int fd;

	snprintf(name, sizeof(name), "short-%u", (unsigned)((uintptr_t)arg % 1000));
	pthread_setname_np(pthread_self(), name);
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		sink += (uint64_t)read(fd, buf, sizeof(buf));
		close(fd);
	}
	if (p) {
		memset(p, 1, 512);
		sink += (uint64_t)p[7];
	}
	free(p);
	sleep_ms(5);
	return NULL;
}

/* About 50 threads a second, each joined: thread ids come and go all the time. */
static void *spawner(void *arg)
{
	pthread_setname_np(pthread_self(), "spawner");
	for (uintptr_t n = 0;; n++) {
		pthread_t t;

		if (pthread_create(&t, NULL, short_task, (void *)n) == 0)
			pthread_join(t, NULL);
		sleep_ms(15);
	}
	return NULL;
}

/* malloc/calloc/realloc/free on a pool of POOL_SLOTS slots: at most 96 MiB live, about
 * 30,000 calls a second without probes. Sizes come from 22 classes (16 B to 24 KiB): a heap
 * profile has a record per (stack, size), as Go's has, so sizes drawn from a wide range would
 * make the record table itself grow for hours, up to its cap of 65,536 records, and hide
 * any other growth. */
__attribute__((noinline)) static void churn_pool(void **pool, uint32_t *seed)
{
	for (int i = 0; i < 100; i++) {
		uint32_t r = xorshift(seed);
		void **slot = &pool[r % POOL_SLOTS];
		size_t size = ((size_t)16 << ((r >> 12) % 11)) * ((r >> 20) % 2 ? 3 : 2) / 2;

		switch (r >> 28) {
		case 0:
			free(*slot);
			*slot = calloc(1, size);
			break;
		case 1: {
			void *q = realloc(*slot, size);

			if (q)
				*slot = q;
			break;
		}
		default:
			free(*slot);
			*slot = malloc(size);
			if (*slot)
				memset(*slot, 0, 16);
		}
	}
}

static void *allocator(void *arg)
{
	static void *pool[POOL_SLOTS];
	uint32_t seed = 2463534242u;

	pthread_setname_np(pthread_self(), "allocator");
	for (;;) {
		churn_pool(pool, &seed);
		sleep_ms(3);
	}
	return NULL;
}

/* Descriptors of every kind opened and closed, about 400 a second. */
__attribute__((noinline)) static void churn_fds(void)
{
	int fds[2], fd;

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	if (pipe2(fds, O_CLOEXEC) == 0) {
		close(fds[0]);
		close(fds[1]);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
		close(fds[0]);
		close(fds[1]);
	}
	fd = eventfd(0, EFD_CLOEXEC);
	if (fd >= 0)
		close(fd);
}

static void *fd_churner(void *arg)
{
	pthread_setname_np(pthread_self(), "fd-churner");
	for (;;) {
		churn_fds();
		sleep_ms(10);
	}
	return NULL;
}

/* The maps change: a library loaded and unloaded, anonymous mappings made and dropped. */
__attribute__((noinline)) static void churn_maps(int n)
{
	void *lib = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
	void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m != MAP_FAILED) {
		memset(m, n, 4096);
		munmap(m, 1 << 20);
	}
	if (lib)
		dlclose(lib);
}

static void *map_churner(void *arg)
{
	pthread_setname_np(pthread_self(), "map-churner");
	for (int n = 0;; n++) {
		churn_maps(n);
		sleep_ms(200);
	}
	return NULL;
}

/* Something for CPU profiles: about a third of a core. */
__attribute__((noinline)) static uint64_t crunch(uint64_t x)
{
	for (int i = 0; i < 200000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

static void *cruncher(void *arg)
{
	pthread_setname_np(pthread_self(), "cruncher");
	for (uint64_t x = 1;; x++) {
		sink += crunch(x);
		sleep_ms(1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	void *(*const roles[])(void *) = { spawner, allocator, fd_churner, map_churner, cruncher };
	int seconds = 0;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--seconds") == 0)
			seconds = atoi(argv[i + 1]);
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, roles[i], NULL) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (int s = 0; !seconds || s < seconds; s++)
		sleep(1);
	return 0;
}
