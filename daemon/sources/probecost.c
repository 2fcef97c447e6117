// SPDX-License-Identifier: MIT
/* Calibration functions for the cost of a uprobe hit (probecost.h). They are written in assembly
 * so that their first instruction is known: the kernel emulates `push` (cheap: one trap) and
 * single-steps `test` out of line (a trap, a step, a second trap). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "proc/procmaps.h"
#include "sources/probecost.h"

uint64_t profd_probecost_emulated(uint64_t x);
uint64_t profd_probecost_stepped(uint64_t x);

__asm__(".text\n"
	".p2align 4\n"
	".globl profd_probecost_emulated\n"
	".type profd_probecost_emulated, @function\n"
	"profd_probecost_emulated:\n"
	"\tpush %rbx\n"
	"\tmov %rdi, %rax\n"
	"\tpop %rbx\n"
	"\tret\n"
	".size profd_probecost_emulated, .-profd_probecost_emulated\n"
	".p2align 4\n"
	".globl profd_probecost_stepped\n"
	".type profd_probecost_stepped, @function\n"
	"profd_probecost_stepped:\n"
	"\ttest %rdi, %rdi\n"
	"\tmov %rdi, %rax\n"
	"\tret\n"
	".size profd_probecost_stepped, .-profd_probecost_stepped\n");

static uint64_t (*const fns[PROBECOST__COUNT])(uint64_t) = {
	[PROBECOST_EMULATED] = profd_probecost_emulated,
	[PROBECOST_STEPPED] = profd_probecost_stepped,
};

int probecost_fn(enum probecost_site site, struct probecost_fn *ret)
{
	uint64_t addr = (uint64_t)(uintptr_t)fns[site];
	const struct procmaps_entry *e;
	struct procmaps maps;
	int err;

	err = procmaps_read(getpid(), &maps);
	if (err)
		return err;
	e = procmaps_find(&maps, addr);
	if (e && procmaps_entry_is_file(e)) {
		/* profd's own text: its executable, through the link that survives an upgrade */
		snprintf(ret->path, sizeof(ret->path), "/proc/%d/exe", (int)getpid());
		ret->file_offset = addr - e->start + e->offset;
	} else {
		err = -ENOENT;
	}
	procmaps_free(&maps);
	return err;
}

/* The calling thread's CPU time: a trap is charged to it (as system time), and a machine busy
 * with other work, which only delays the thread, does not inflate it. */
static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define BATCHES 7

double probecost_time(enum probecost_site site, int calls)
{
	uint64_t (*volatile fn)(uint64_t) = fns[site];
	double per[BATCHES];
	int each = calls / BATCHES > 0 ? calls / BATCHES : 1;
	volatile uint64_t sink = 0;

	for (int b = 0; b < BATCHES; b++) {
		int64_t t0 = now_ns();

		/* argument 0: a probe program reading it as an allocation size takes the path of
		 * an unsampled call, and profd's own calls never become samples */
		for (int i = 0; i < each; i++)
			sink += fn(0);
		per[b] = (double)(now_ns() - t0) / each;
	}
	(void)sink;
	qsort(per, BATCHES, sizeof(per[0]), cmp_double);
	return per[BATCHES / 2];
}
