/* SPDX-License-Identifier: MIT */
/* The OOM killer's victims, as they are chosen (--snapshot-on oom): bpf/oom.bpf.c on the
 * tracepoint oom:mark_victim queues each victim's PID, system-wide, before the victim dies; the
 * caller polls oom_watch__fd() and reads them, and keeps those it serves. Nothing runs until the
 * kernel kills a process for memory: the cost is one short BPF program per OOM kill. Not a
 * profile: a trigger. One thread (the caller's main loop) reads; free from that thread too. */
#ifndef PROFD_OOMWATCH_H
#define PROFD_OOMWATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* victims queued between two reads; more (a burst of OOM kills) are counted as lost */
#define OOM_WATCH_QUEUE 64

struct oom_victim {
	pid_t pid;            /* a thread ID: the group leader's unless the leader had exited */
	uint64_t anon_rss_kb; /* its anonymous RSS when chosen; 0 where the kernel does not say */
};

struct oom_watch;

/* Loads and attaches the program. Returns 0, or -errno with one sentence for the user in err
 * (-ENOENT: the kernel has no oom:mark_victim tracepoint). Free with oom_watch__free(). */
int oom_watch__new(struct oom_watch **ret, char *err, size_t errlen);
/* Detaches and frees. NULL-safe. */
void oom_watch__free(struct oom_watch *w);
/* A descriptor that polls readable (POLLIN) when a victim is queued. */
int oom_watch__fd(const struct oom_watch *w);
/* Moves the victims queued so far, oldest first, into ret (at most max); returns how many. */
int oom_watch__read(struct oom_watch *w, struct oom_victim *ret, int max);
/* OOM kills seen on the system since attach, and victims lost (queue or ring buffer full). */
void oom_watch__stats(struct oom_watch *w, uint64_t *ret_victims, uint64_t *ret_lost);

#endif
