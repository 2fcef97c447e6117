/* SPDX-License-Identifier: MIT */
/* Command line and environment: every flag has a PROFD_* variable, flags win. Pure parsing
 * and validation (no /proc, no sockets), so that every bad value is refused before anything
 * starts, with one line naming the flag and the accepted form. */
#ifndef PROFD_OPTIONS_H
#define PROFD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit statuses, documented in --help, README.md and profd.8. */
enum profd_exit {
	EXIT_OK = 0,          /* clean shutdown (SIGINT/SIGTERM) or one-shot command done */
	EXIT_RUNTIME = 1,     /* a failure after start-up checks: cannot listen, BPF unusable, I/O */
	EXIT_USAGE = 2,       /* bad flag or value */
	EXIT_TARGET_GONE = 3, /* the target process exited (or never existed) */
	EXIT_PRIVILEGE = 4,   /* missing root / capabilities */
};

enum profd_command {
	CMD_SERVE = 0,  /* the daemon */
	CMD_STACKS,     /* profd stacks: print every thread's stack and exit */
	CMD_CPU,        /* profd cpu: write one CPU profile to a file and exit */
	CMD_HEAP,       /* profd heap: write one heap profile to a file and exit */
};

/* Which processes: the values of enum procset_kind (proc/procset.h). */
enum profd_selector { SELECT_PID = 0, SELECT_CHILDREN, SELECT_CGROUP, SELECT_UNIT };

struct profd_config {
	enum profd_command command;
	pid_t pid;
	bool children;            /* --children: with --pid, its descendants too */
	enum profd_selector selector;
	char selector_name[4096]; /* --cgroup PATH or --unit NAME */
	int max_processes;        /* --max-processes (0: the default) */
	char host[256];
	unsigned port;
	bool allow_public;
	char ready_file[4096];
	int log_level;
	unsigned max_connections;
	unsigned request_timeout; /* seconds to send a whole request */
	int max_seconds;
	size_t stack_bytes;     /* thread dumps */
	int thread_dump;        /* enum threads_method: auto (task iterator where possible) or ptrace */
	int cpu_hz;
	unsigned cpu_stack_bytes;
	int heap_mode;          /* enum heap_mode */
	uint64_t heap_rate;
	int64_t heap_idle_ns;   /* --heap-idle */
	double heap_budget;     /* --heap-budget, percent */
	char snapshot_dir[4096];
	uint64_t snapshot_rss_step;  /* --snapshot-on rss-step=SIZE, bytes; 0: off */
	bool snapshot_oom;           /* --snapshot-on oom */
	bool snapshot_pressure;      /* --snapshot-on pressure */
	int snapshot_keep;           /* --snapshot-keep */
	int64_t history_interval_ns; /* --history-interval */
	uint32_t history_length;     /* --history-length; 0: no history */
	uint64_t block_rate;    /* --block-rate, ns */
	int64_t block_idle_ns;  /* --block-idle */
	uint32_t mutex_rate;    /* --mutex-rate: one contended unlock in N */
	int64_t mutex_idle_ns;  /* --mutex-idle */
	int growth_mode;        /* enum growth_mode */
	uint64_t growth_rate;   /* --growth-rate, bytes */
	int64_t growth_idle_ns; /* --growth-idle */
	int fd_mode;            /* enum fd_mode: --fd */
	int64_t fd_idle_ns;     /* --fd-idle */
	int seconds;            /* one-shot cpu/heap */
	char output[4096];      /* one-shot cpu/heap: -o FILE, "-" = stdout */
};

enum options_result {
	OPTIONS_RUN = 0,
	OPTIONS_HELP,    /* --help: print usage to stdout, exit 0 */
	OPTIONS_VERSION, /* --version */
};

/* Parses HOST:PORT ("127.0.0.1:6060", "[::1]:0", "localhost:6060", ":6060" = all interfaces).
 * Returns 0 or -EINVAL with a reason in err. */
int addr_parse(const char *s, char *host, size_t hostlen, unsigned *port, char *err, size_t errlen);
/* 127.0.0.0/8, ::1, ::ffff:127.x.y.z and "localhost". */
bool addr_is_loopback(const char *host);

/* Fills cfg from argv (argv[0] is the program) and the environment, read through getenv_fn.
 * Returns an options_result, or -EINVAL with a one-line message in err. Checks forms and ranges
 * only; whether the PID exists is checked by the caller. */
int options_parse(int argc, char **argv, const char *(*getenv_fn)(const char *), struct profd_config *cfg,
		  char *err, size_t errlen);
/* The --help text. */
const char *options_usage(void);

#endif
