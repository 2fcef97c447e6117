/* SPDX-License-Identifier: MIT */
/* The two clocks profd reads: wall time for what users see (profile timestamps, "since when"),
 * and the monotonic clock for durations, deadlines and windows. Thread-safe. */
#ifndef PROFD_CLOCK_H
#define PROFD_CLOCK_H

#include <stdint.h>

/* Nanoseconds since the epoch (CLOCK_REALTIME). */
int64_t profd_now_nanos(void);
/* Nanoseconds of CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns()). */
int64_t profd_mono_ns(void);

#endif
