/* SPDX-License-Identifier: MIT */
/* Types and limits shared by bpf/fd.bpf.c and daemon/sources/fd.c: ring-buffer records of the
 * descriptors the target's threads create (with the creator's user registers and the top of its
 * user stack), of those they close, and of their execs. x86_64 syscall numbers. */
#ifndef PROFD_BPF_FD_H
#define PROFD_BPF_FD_H

#include "uprobes.h"

#define PROFD_FD_NREGS 17
/* Processes followed at once (the tgids map), as --max-processes bounds them. */
#define PROFD_FD_MAX_PROCS 65536
/* User stack bytes copied per creation, at most: the record's buffer (a power of two no larger
 * than PROFD_STACKCOPY_MAX, bpf/stackcopy.h; the ring holds FD_RING_BYTES / this records). */
#define PROFD_FD_STACK_BYTES 16384

/* profd_fd_head.kind */
#define PROFD_FD_CREATE 1 /* fd (and fd2 for a pair) created; a profd_fd_event */
#define PROFD_FD_CLOSE 2  /* fds fd..fd2 closed (close, close_range); a profd_fd_head */
#define PROFD_FD_EXEC 3   /* the process exec'ed: its close-on-exec descriptors are gone */

/* profd_fd_head.flags (PROFD_STACKCOPY_* of bpf/stackcopy.h, shifted) */
#define PROFD_FD_F_VMA_BUSY 0x1
#define PROFD_FD_F_STACK_SHORT 0x2
#define PROFD_FD_F_NO_STACK 0x4

/* Syscalls followed (x86_64). */
#define PROFD_SYS_OPEN 2
#define PROFD_SYS_CLOSE 3
#define PROFD_SYS_PIPE 22
#define PROFD_SYS_DUP 32
#define PROFD_SYS_DUP2 33
#define PROFD_SYS_SOCKET 41
#define PROFD_SYS_ACCEPT 43
#define PROFD_SYS_SOCKETPAIR 53
#define PROFD_SYS_FCNTL 72
#define PROFD_SYS_CREAT 85
#define PROFD_SYS_EPOLL_CREATE 213
#define PROFD_SYS_INOTIFY_INIT 253
#define PROFD_SYS_OPENAT 257
#define PROFD_SYS_SIGNALFD 282
#define PROFD_SYS_TIMERFD_CREATE 283
#define PROFD_SYS_EVENTFD 284
#define PROFD_SYS_ACCEPT4 288
#define PROFD_SYS_SIGNALFD4 289
#define PROFD_SYS_EVENTFD2 290
#define PROFD_SYS_EPOLL_CREATE1 291
#define PROFD_SYS_DUP3 292
#define PROFD_SYS_PIPE2 293
#define PROFD_SYS_INOTIFY_INIT1 294
#define PROFD_SYS_PERF_EVENT_OPEN 298
#define PROFD_SYS_FANOTIFY_INIT 300
#define PROFD_SYS_OPEN_BY_HANDLE_AT 304
#define PROFD_SYS_MEMFD_CREATE 319
#define PROFD_SYS_BPF 321
#define PROFD_SYS_USERFAULTFD 323
#define PROFD_SYS_IO_URING_SETUP 425
#define PROFD_SYS_PIDFD_OPEN 434
#define PROFD_SYS_CLOSE_RANGE 436
#define PROFD_SYS_OPENAT2 437
#define PROFD_SYS_PIDFD_GETFD 438
#define PROFD_SYS_MEMFD_SECRET 447

#define PROFD_F_DUPFD 0
#define PROFD_F_DUPFD_CLOEXEC 1030
#define PROFD_CLOSE_RANGE_CLOEXEC 4

/* bpf(2) commands that return a new descriptor */
static inline int profd_fd_bpf_cmd_creates(unsigned long cmd)
{
	switch (cmd) {
	case 0:  /* BPF_MAP_CREATE */
	case 5:  /* BPF_PROG_LOAD */
	case 7:  /* BPF_OBJ_GET */
	case 13: /* BPF_PROG_GET_FD_BY_ID */
	case 14: /* BPF_MAP_GET_FD_BY_ID */
	case 17: /* BPF_RAW_TRACEPOINT_OPEN */
	case 18: /* BPF_BTF_LOAD */
	case 19: /* BPF_BTF_GET_FD_BY_ID */
	case 28: /* BPF_LINK_CREATE */
	case 30: /* BPF_LINK_GET_FD_BY_ID */
	case 32: /* BPF_ENABLE_STATS */
	case 33: /* BPF_ITER_CREATE */
		return 1;
	}
	return 0;
}

/* Whether syscall nr (x86_64), with its arguments a1 (first) and a2 (second), returns a new
 * descriptor on success (pipe, pipe2 and socketpair write two to user memory instead). */
static inline int profd_fd_syscall_creates(long nr, unsigned long a1, unsigned long a2)
{
	switch (nr) {
	case PROFD_SYS_OPEN: case PROFD_SYS_DUP: case PROFD_SYS_DUP2: case PROFD_SYS_SOCKET:
	case PROFD_SYS_ACCEPT: case PROFD_SYS_CREAT: case PROFD_SYS_EPOLL_CREATE:
	case PROFD_SYS_INOTIFY_INIT: case PROFD_SYS_OPENAT: case PROFD_SYS_SIGNALFD:
	case PROFD_SYS_TIMERFD_CREATE: case PROFD_SYS_EVENTFD: case PROFD_SYS_ACCEPT4:
	case PROFD_SYS_SIGNALFD4: case PROFD_SYS_EVENTFD2: case PROFD_SYS_EPOLL_CREATE1:
	case PROFD_SYS_DUP3: case PROFD_SYS_INOTIFY_INIT1: case PROFD_SYS_PERF_EVENT_OPEN:
	case PROFD_SYS_FANOTIFY_INIT: case PROFD_SYS_OPEN_BY_HANDLE_AT: case PROFD_SYS_MEMFD_CREATE:
	case PROFD_SYS_USERFAULTFD: case PROFD_SYS_IO_URING_SETUP: case PROFD_SYS_PIDFD_OPEN:
	case PROFD_SYS_OPENAT2: case PROFD_SYS_PIDFD_GETFD: case PROFD_SYS_MEMFD_SECRET:
	case PROFD_SYS_PIPE: case PROFD_SYS_PIPE2: case PROFD_SYS_SOCKETPAIR:
		return 1;
	case PROFD_SYS_FCNTL:
		return a2 == PROFD_F_DUPFD || a2 == PROFD_F_DUPFD_CLOEXEC;
	case PROFD_SYS_BPF:
		return profd_fd_bpf_cmd_creates(a1);
	}
	return 0;
}

/* The part every record has; CLOSE and EXEC records are only this. */
struct profd_fd_head {
	__u32 kind;      /* PROFD_FD_CREATE, _CLOSE, _EXEC */
	__u32 tgid;      /* the process, as profd sees PIDs */
	__u32 tid;
	__s32 fd;        /* CREATE: the descriptor; CLOSE: the first one closed */
	__s32 fd2;       /* CREATE: the pair's second (pipe, socketpair), else -1; CLOSE: the last */
	__s32 syscall;   /* the syscall (x86_64 number) */
	__u32 flags;     /* PROFD_FD_F_* */
	__u32 stack_len; /* CREATE: bytes in stack[], copied from regs[7] (rsp) upwards */
};

/* A creation. Only offsetof(stack) + stack_len bytes carry data. */
struct profd_fd_event {
	struct profd_fd_head h;
	__u64 regs[PROFD_FD_NREGS]; /* the creator's user registers (DWARF order) at the syscall */
	struct profd_uprobe_state up;
	__u8 stack[PROFD_FD_STACK_BYTES];
};

#endif
