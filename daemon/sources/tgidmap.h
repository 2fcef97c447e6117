/* SPDX-License-Identifier: MIT */
/* The user side of bpf/tgids.bpf.h: keeps a BPF map of PIDs equal to the live processes of a set
 * while a program that filters by it is loaded (the CPU sampler, the growth profile). It listens
 * to the set; between tgidmap__attach() and tgidmap__detach() it writes every change to the
 * map. Thread-safe: the set's scan may run on any thread (a source's reader rescans the set when
 * a sample names a process it does not know yet). */
#ifndef PROFD_TGIDMAP_H
#define PROFD_TGIDMAP_H

#include <pthread.h>
#include <stdbool.h>

/* Processes followed at once (the map's size), as --max-processes bounds a set. */
#define TGIDMAP_MAX_PROCS 65536

struct procs;
struct bpf_link;
struct bpf_map;
struct bpf_program;

struct tgidmap {
	struct procs *ps;
	pthread_mutex_t lock;
	int fd; /* the map while attached, else -1 */
	bool listening;
	struct bpf_link *fork_link; /* over a set: on_fork attached */
};

/* Starts listening to ps (borrowed: it must outlive m). Returns 0 or -errno (-ENOSPC: too many
 * listeners). */
int tgidmap__init(struct tgidmap *m, struct procs *ps);
/* Stops listening and detaches; when it returns, no change of the set reaches m. Safe on a
 * zeroed m; tgidmap__detach() may still be called after it (it does nothing then). */
void tgidmap__fini(struct tgidmap *m);
/* Between the program's open and load: sizes its tgids map, and over a set has its on_fork
 * program follow forks (*follow_forks, its rodata's) unless profd is in another PID namespace
 * than the initial one (pidns: the tracepoint's PIDs are the host's), where the set's scan alone
 * finds new processes; for one process on_fork is not loaded. Returns 0 or -errno. */
int tgidmap__prepare(struct tgidmap *m, struct bpf_map *tgids, struct bpf_program *on_fork, bool *follow_forks,
		     bool pidns);
/* After the load: from now on the map holds the set's live processes (filled at once, then
 * every change), and over a set on_fork is attached (what for names the source in the log if it
 * cannot be). Returns 0 or -errno. */
int tgidmap__attach(struct tgidmap *m, struct bpf_map *tgids, struct bpf_program *on_fork, const char *what);
/* Detaches on_fork and stops writing to the map (before it is closed). Idempotent. */
void tgidmap__detach(struct tgidmap *m);

#endif
