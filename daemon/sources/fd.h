/* SPDX-License-Identifier: MIT */
/* The fd profile (/debug/pprof/fd): the open file descriptors of the processes profd serves, by
 * the user stack that opened them, like heap's in-use view (fds/count). From bpf/fd.bpf.c on the
 * syscall tracepoints (no uprobes): the syscalls that create descriptors report them with the
 * creator's stack, close and close_range report what they end, an exec makes profd read which
 * survived (close-on-exec). Profd keeps the table of live descriptors (bounded: FD_MAX_LIVE,
 * FD_MAX_STACKS; what does not fit is counted and said). Descriptors open when profd attached
 * (or when a process joined the set) are one sample each under "opened before profd attached",
 * by type (file, socket, pipe, anon_inode:[eventfd], ...); each snapshot checks the table
 * against /proc/PID/fd, so descriptors closed where profd does not look (io_uring) leave it,
 * and open ones it did not see created (SCM_RIGHTS, lost records) are shown under "opened where
 * profd did not see it". On demand by default (FD_MODE_DEMAND): while the programs are attached
 * every syscall on the machine takes the kernel's syscall-tracepoint path, so they are attached
 * from the first fd request until --fd-idle passes without one; FD_MODE_ALWAYS attaches them at
 * start-up. Every public function is thread-safe. */
#ifndef PROFD_FD_H
#define PROFD_FD_H

#include <stddef.h>
#include <stdint.h>

#include "pprof/provider.h"

struct procs;

#define FD_MAX_LIVE (1u << 20)   /* descriptors tracked at once, over every process */
#define FD_MAX_STACKS (1u << 16) /* distinct opening stacks with open descriptors */
#define FD_RING_BYTES (16u << 20)

#define FD_DEFAULT_IDLE_NS (600ll * 1000000000) /* --fd-idle 10m */

enum fd_mode {
	FD_MODE_DEMAND = 0, /* attached from the first fd request until --fd-idle without one */
	FD_MODE_ALWAYS,     /* attached at start-up */
	FD_MODE_OFF,
};

struct fd_config {
	enum fd_mode mode;
	int64_t idle_ns; /* demand: the lease a request gives */
};

/* "demand", "always" or "off". Returns 0, or -EINVAL with a sentence naming --fd in err. */
int fd_mode_parse(const char *s, enum fd_mode *ret, char *err, size_t errlen);

struct fd_source;

/* The source for the processes of ps (borrowed; must outlive the source). FD_MODE_ALWAYS loads
 * and attaches the programs and reads the descriptors now; demand does so at the first request.
 * Returns 0 or -errno with one sentence in err. */
int fd_source__new(struct procs *ps, const struct fd_config *cfg, struct fd_source **ret, char *err,
		   size_t errlen);
/* Detaches and frees. NULL-safe. */
void fd_source__free(struct fd_source *f);
/* The /debug/pprof/fd profile for endpoints__add_profile(). */
void fd_source__provider(struct fd_source *f, struct profd_profile *ret);

/* ---- pure parts, exposed for tests ---- */

/* The synthetic frame (symbols/frame.h SYM_SYNTHETIC_FD_*) for what readlink(/proc/PID/fd/N)
 * says: "socket:[1]", "pipe:[2]", "anon_inode:[eventfd]", "/dev/null", "/tmp/x"; is_dir tells
 * a directory from a file (the link does not). NULL or "": SYM_SYNTHETIC_FD_OTHER. */
int fd_kind_of(const char *link, int is_dir);
/* The name of a descriptor-creating syscall (x86_64 number): "openat", "socket", ...; "syscall
 * N" for another. Writes into buf (at least 24 bytes) and returns it. */
const char *fd_syscall_name(int nr, char *buf, size_t len);

#endif
