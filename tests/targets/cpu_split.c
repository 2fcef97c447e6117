// SPDX-License-Identifier: MIT
/* CPU profile target with two static functions and a known split: spin_three does three times
 * the work of spin_one per round (75% / 25% of the CPU time), both called from main's loop.
 * Built as is (symbols: the test reads their addresses with nm), stripped with strip --strip-all
 * (only .eh_frame then delimits them) and with MiniDebugInfo (.gnu_debugdata): tests/targets/
 * stripped.mk. Usage: cpu_split SECONDS (prints "ready", spins until SECONDS have passed). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned rounds = 200000;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Different constants in each, so that identical code folding keeps two functions. */
__attribute__((noinline, noclone)) static unsigned spin_three(unsigned x)
{
	for (unsigned i = 0; i < 3 * rounds; i++) {
		x = x * 2654435761u + 1;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

__attribute__((noinline, noclone)) static unsigned spin_one(unsigned x)
{
	for (unsigned i = 0; i < rounds; i++) {
		x = x * 2246822519u + 3;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 10);
	unsigned x = 1;

	printf("ready\n");
	fflush(stdout);
	while (now() < end)
		x = spin_one(spin_three(x));
	return (int)(x & 0);
}
