/* SPDX-License-Identifier: MIT */
/* The two clocks profd reads: wall time for what users see (profile timestamps, "since when"),
 * and the monotonic clock for durations, deadlines and windows. Thread-safe. */
#ifndef PROFD_CLOCK_H
#define PROFD_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds since the epoch (CLOCK_REALTIME). */
int64_t profd_now_nanos(void);
/* Nanoseconds of CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns()). */
int64_t profd_mono_ns(void);

/* A CLOCK_REALTIME time for people, in UTC: "2026-12-02T06:09:44Z". */
void profd_format_utc(int64_t realtime_ns, char *out, size_t len);
/* A duration in whole seconds, with the largest unit that divides it: "1h", "10m", "90s" (the
 * form of the --*-idle flags). */
void profd_format_duration(int64_t ns, char *out, size_t len);

#endif
