/* SPDX-License-Identifier: MIT */
/* What one uprobe hit costs the target on this machine: two functions in profd's own text whose
 * first instruction the kernel either emulates (push) or single-steps (test), found by file
 * offset so a stripped profd works too, and a timer of calls to them. A source attaches its own
 * BPF programs to them, times probed against bare calls, and multiplies by the hits its probes
 * counted. x86-64 only, like the probes. No state; thread-safe. */
#ifndef PROFD_PROBECOST_H
#define PROFD_PROBECOST_H

#include <stddef.h>
#include <stdint.h>

enum probecost_site {
	PROBECOST_EMULATED = 0, /* first instruction `push %rbx`: emulated, as malloc's push */
	PROBECOST_STEPPED,      /* first instruction `test %rdi,%rdi`: single-stepped out of line */
	PROBECOST__COUNT,
};

/* Where a calibration function lives: the file to attach to and the offset of its entry. */
struct probecost_fn {
	char path[64];        /* "/proc/PID/exe" of profd itself */
	uint64_t file_offset;
};

/* Finds the calibration function of kind site in profd's executable mapping. Returns 0 or
 * -errno (-ENOENT: its address is in no file-backed mapping). */
int probecost_fn(enum probecost_site site, struct probecost_fn *ret);

/* Calls the calibration function of kind site `calls` times with argument 0, in batches, and
 * returns the median nanoseconds of the thread's CPU time per call over the batches. */
double probecost_time(enum probecost_site site, int calls);

#endif
