// SPDX-License-Identifier: MIT
/* Symbolization target (C): a noinline chain with always-inlined helpers two deep, so that
 * addresses in leaf() carry inline frames. Prints "ready" and waits to be killed. */
#include <stdio.h>
#include <unistd.h>

static inline __attribute__((always_inline)) int sym_inner(int x)
{
	return x * 3 + (x >> 2);
}

static inline __attribute__((always_inline)) int sym_middle(int x)
{
	int s = 0;

	for (int i = 0; i < x; i++)
		s += sym_inner(x + i) ^ i;
	return s;
}

__attribute__((noinline)) int sym_leaf(int x)
{
	return sym_middle(x) ^ 0x55;
}

__attribute__((noinline)) int sym_caller(int x)
{
	int r = 0;

	for (int i = 0; i < 3; i++)
		r += sym_leaf(x + i);
	return r;
}

int main(int argc, char **argv)
{
	volatile int r = sym_caller(argc);

	(void)argv;
	printf("ready %d\n", r & 1);
	fflush(stdout);
	for (;;)
		pause();
}
