// SPDX-License-Identifier: MIT
/* CPU profile target that spends most of its CPU in the kernel: read_zero() reads 256 KiB from
 * /dev/zero in a loop (the kernel clears the user buffer). Chain: kernel frames <- read (libc)
 * <- read_zero <- main. Usage: cpu_kernel [SECONDS] (default 60; prints "ready"). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buf[256 << 10];

__attribute__((noinline)) long read_zero(int fd)
{
	long r = read(fd, buf, sizeof(buf));

	__asm__ volatile("" ::: "memory"); /* no tail call: keep read_zero on the stack */
	return r;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 60;
	struct timespec ts;
	double end;
	int fd = open("/dev/zero", O_RDONLY);

	if (fd < 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = ts.tv_sec + ts.tv_nsec / 1e9 + seconds;
	printf("ready\n");
	fflush(stdout);
	do {
		for (int i = 0; i < 64; i++)
			if (read_zero(fd) < 0)
				return 1;
		clock_gettime(CLOCK_MONOTONIC, &ts);
	} while (ts.tv_sec + ts.tv_nsec / 1e9 < end);
	return 0;
}
