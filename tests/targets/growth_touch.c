// SPDX-License-Identifier: MIT
/* A memory-growth target driven line by line on stdin, for the growth profile's tests and
 * benchmark: fresh memory touched at known sites at known moments, with no allocator in the
 * way (mmap). Prints "ready PID", then one line starting with "ok" after each command:
 *   touch MIB          map MIB MiB of fresh memory and write one byte per page in touch_site
 *                      (kept mapped)
 *   thp MIB            the same in thp_site, 2 MiB aligned and madvise(MADV_HUGEPAGE); answers
 *                      "ok huge KIB": how much of it the kernel backed with huge pages
 *   reuse MIB ROUNDS   map MIB MiB once (reuse_setup), then write every page ROUNDS times in
 *                      reuse_site: memory that is only reused
 *   churn MIB ROUNDS   ROUNDS times: map MIB MiB, write every page in churn_site, unmap; answers
 *                      "ok churn NS_PER_PAGE": this thread's CPU time (user + kernel, the faults
 *                      included) per 4 KiB page touched
 *   churnthp MIB ROUNDS  the same with 2 MiB aligned MADV_HUGEPAGE memory (one fault per 2 MiB
 *                      where the kernel has huge pages to give)
 *   free               unmap everything kept
 *   quit
 * Built -O2 without frame pointers like the other targets; the sites are not inlined. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define HUGE (2ul << 20)
#define MAX_KEEP 1024

static struct {
	void *p;
	size_t len;
} kept[MAX_KEEP];
static int nkept;

static void keep(void *p, size_t len)
{
	if (nkept < MAX_KEEP) {
		kept[nkept].p = p;
		kept[nkept++].len = len;
	}
}

static char *map_fresh(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* each writes its own value: identical bodies would be folded into one function (-fipa-icf) */
#define SITE(name)                                                                                 \
	__attribute__((noinline, noipa)) static void name(char *p, size_t len)                     \
	{                                                                                          \
		for (size_t off = 0; off < len; off += PAGE)                                       \
			p[off] = (char)(off + __LINE__);                                           \
		__asm__ volatile("" ::: "memory");                                                 \
	}
SITE(touch_site)
SITE(thp_site)
SITE(reuse_setup)
SITE(reuse_site)
SITE(churn_site)

/* AnonHugePages of the mapping that starts at p, in KiB, from /proc/self/smaps. */
static long huge_kib(const void *p)
{
	unsigned long start, end;
	char line[512];
	long kib = -1;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in = start == (unsigned long)p;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kib;
}

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(void)
{
	char line[256], cmd[32];
	long a, b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		int n = sscanf(line, "%31s %ld %ld", cmd, &a, &b);
		size_t len = n >= 2 && a > 0 ? (size_t)a << 20 : 0;

		if (n == 2 && len && strcmp(cmd, "touch") == 0) {
			char *p = map_fresh(len);

			if (p) {
				touch_site(p, len);
				keep(p, len);
			}
			printf("ok\n");
		} else if (n == 2 && len && strcmp(cmd, "thp") == 0) {
			char *raw = map_fresh(len + HUGE), *p;

			if (!raw) {
				printf("ok huge 0\n");
				continue;
			}
			/* the aligned part only, so that every 2 MiB of it may be one huge page */
			p = (char *)(((unsigned long)raw + HUGE - 1) & ~(HUGE - 1));
			if (p > raw)
				munmap(raw, (size_t)(p - raw));
			munmap(p + len, (size_t)(raw + len + HUGE - (p + len)));
			madvise(p, len, MADV_HUGEPAGE);
			thp_site(p, len);
			keep(p, len);
			printf("ok huge %ld\n", huge_kib(p));
		} else if (n == 3 && len && b > 0 && strcmp(cmd, "reuse") == 0) {
			char *p = map_fresh(len);

			if (p) {
				reuse_setup(p, len);
				for (long r = 0; r < b; r++)
					reuse_site(p, len);
				keep(p, len);
			}
			printf("ok\n");
		} else if (n == 3 && len && b > 0 && (strcmp(cmd, "churn") == 0 || strcmp(cmd, "churnthp") == 0)) {
			bool thp = strcmp(cmd, "churnthp") == 0;
			double t0 = thread_cpu_ns();

			for (long r = 0; r < b; r++) {
				char *raw = map_fresh(len + (thp ? HUGE : 0)), *p = raw;

				if (!raw)
					break;
				if (thp) {
					p = (char *)(((unsigned long)raw + HUGE - 1) & ~(HUGE - 1));
					madvise(p, len, MADV_HUGEPAGE);
				}
				churn_site(p, len);
				munmap(raw, len + (thp ? HUGE : 0));
			}
			printf("ok churn %.1f\n", (thread_cpu_ns() - t0) / ((double)b * (double)(len / PAGE)));
		} else if (n >= 1 && strcmp(cmd, "free") == 0) {
			for (int i = 0; i < nkept; i++)
				munmap(kept[i].p, kept[i].len);
			nkept = 0;
			printf("ok\n");
		} else if (n >= 1 && strcmp(cmd, "quit") == 0) {
			break;
		} else {
			printf("? %s", line);
		}
	}
	return 0;
}
