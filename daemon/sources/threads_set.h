/* SPDX-License-Identifier: MIT */
/* Thread dumps of every process of a set (set/procs.h): a threads_source per live process, made
 * when it joins and dropped when it ends, and the dumps of each in turn. The text forms group by
 * process: debug=2 prints, for each process, a line "process PID (NAME): N threads" and a blank
 * line, then its threads' blocks in Go's shape; debug=1 groups identical stacks across the
 * processes that share a layout (forked workers), debug=0 labels every sample with pid and
 * process. A process whose threads cannot be stopped (traced by a debugger) is said in its own
 * line and does not fail the dump of the others. Thread-safe. */
#ifndef PROFD_THREADS_SET_H
#define PROFD_THREADS_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "pprof/provider.h"
#include "sources/threads.h"
#include "stacks/samples.h"

struct procs;
struct threads_set;

/* Listens to ps for its processes; ps must outlive the set. With THREADS_METHOD_AUTO one BPF task
 * iterator is loaded here for every process of the set (threads.h); if the kernel refuses it,
 * every thread is stopped, and threads_set__iterator() says why. Returns NULL and sets errno. */
struct threads_set *threads_set__new(struct procs *ps, size_t stack_bytes, enum threads_method method);
void threads_set__free(struct threads_set *ts); /* NULL-safe */

/* debug >= 2: the panic-style dump, grouped by process; debug == 1: Go's count text. pid 0 dumps
 * every live process, another only that one (-ESRCH when it is not a live member). Returns 0 or
 * -errno (-EPERM: no process could be dumped; threads_set__error() says why). */
int threads_set__dump_text(struct threads_set *ts, pid_t pid, int debug, struct buf *out);
/* Samples of every live process (or of pid), labelled pid and process. */
int threads_set__snapshot(struct threads_set *ts, pid_t pid, struct profd_sample_set **ret);
/* Why the last dump failed, "" if it did not (borrowed until the next dump). */
const char *threads_set__error(struct threads_set *ts);
/* One line per process on how its last dump went (see threads_source__summary), and how dumps
 * are taken when no process has been dumped yet or the iterator is unavailable. */
int threads_set__summary(struct threads_set *ts, struct buf *out);
/* As threads_source__iterator(), for the whole set. */
bool threads_set__iterator(const struct threads_set *ts, const char **ret_why);

/* As threads_source__set_creators(), for every process of the set, those that join later too.
 * Call before serving: a dump running meanwhile may see the old setting. */
void threads_set__set_creators(struct threads_set *ts, threads_creator_fn fn, void *ctx);

/* The "goroutine" profile over the set, for endpoints__add_profile(). */
void threads_set__profile(struct threads_set *ts, struct profd_profile *ret);

#endif
