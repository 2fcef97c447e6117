// SPDX-License-Identifier: MIT
/* C++ heap target: prints "ready <pid>", waits for SIGUSR1, then keeps 8192 objects of 1024
 * bytes made with new (8 MiB, in cxx_leaker) and news/deletes 80 MiB more (in cxx_churner);
 * prints "done" and sleeps until killed. */
#include <csignal>
#include <cstdio>
#include <unistd.h>
#include <vector>

struct Block {
	char bytes[1024];
};

static volatile sig_atomic_t go;
static std::vector<Block *> *kept;

extern "C" void on_usr1(int) { go = 1; }

__attribute__((noinline)) static void cxx_leaker()
{
	for (int i = 0; i < 8192; i++) {
		Block *b = new Block;
		b->bytes[0] = 1;
		(*kept)[i] = b;
	}
}

__attribute__((noinline)) static void cxx_churner()
{
	for (int i = 0; i < 10 * 8192; i++) {
		Block *b = new Block;
		b->bytes[0] = 1;
		__asm__ volatile("" ::"r"(b) : "memory");
		delete b;
	}
}

int main()
{
	kept = new std::vector<Block *>(8192);
	std::signal(SIGUSR1, on_usr1);
	std::printf("ready %d\n", (int)getpid());
	std::fflush(stdout);
	while (!go)
		pause();
	cxx_leaker();
	cxx_churner();
	std::printf("done\n");
	std::fflush(stdout);
	for (;;)
		pause();
}
