/* SPDX-License-Identifier: MIT */
/* Test helper shared by the thread-dump tests: starts tests/targets/threads_mix (or another
 * target that says "ready" the same way) with its stdin/stdout on pipes, talks its stats
 * protocol, and checks from /proc that no thread of it is left stopped or traced. Static
 * functions only: each test binary includes it once. */
#ifndef PROFD_TESTS_THREADS_TARGET_H
#define PROFD_TESTS_THREADS_TARGET_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "targets.h"

struct tt_target {
	pid_t pid;
	FILE *in;  /* commands to the target */
	FILE *out; /* its answers */
};

/* Every process a test starts, so that a failed assertion (which longjmps past the test's own
 * cleanup) leaves nothing running: tt_kill_all() runs at exit. */
static pid_t tt_children[256];
static pid_t tt_owner; /* forked children inherit the atexit handler: only the owner kills */

static inline void tt_kill_all(void)
{
	if (getpid() != tt_owner)
		return;
	/* all first, then wait: a target still traced by a tracer child turns into a zombie that
	 * only the tracer's death lets its parent reap */
	for (int i = 0; i < 256; i++)
		if (tt_children[i] > 0)
			kill(tt_children[i], SIGKILL);
	for (int i = 0; i < 256; i++) {
		if (tt_children[i] > 0) {
			waitpid(tt_children[i], NULL, 0);
			tt_children[i] = 0;
		}
	}
}

static inline void tt_track(pid_t pid)
{
	static bool registered;

	if (!registered) {
		tt_owner = getpid();
		atexit(tt_kill_all);
		registered = true;
	}
	for (int i = 0; i < 256; i++) {
		if (tt_children[i] <= 0) {
			tt_children[i] = pid;
			return;
		}
	}
}

static inline void tt_untrack(pid_t pid)
{
	for (int i = 0; i < 256; i++)
		if (tt_children[i] == pid)
			tt_children[i] = 0;
}

/* Starts tests/targets/PROG (argv without the program); returns 0 once it printed "ready",
 * else -1. */
static inline int tt_start_prog(struct tt_target *t, const char *prog, const char *const *args)
{
	char path[4096], line[256];
	const char *argv[32];
	int to_child[2], from_child[2], n = 0;

	test_target_path(path, sizeof(path), prog);
	argv[n++] = path;
	while (args && *args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0)
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	tt_track(t->pid);
	close(to_child[0]);
	close(from_child[1]);
	t->in = fdopen(to_child[1], "w");
	t->out = fdopen(from_child[0], "r");
	if (!t->in || !t->out || !fgets(line, sizeof(line), t->out) || strncmp(line, "ready", 5))
		return -1;
	return 0;
}

/* tt_start_prog() of threads_mix. */
static inline int tt_start(struct tt_target *t, const char *const *args)
{
	return tt_start_prog(t, "threads_mix", args);
}

/* Sends a command, returns the answer line in buf (0) or -1. */
static inline int tt_command(struct tt_target *t, const char *cmd, char *buf, size_t len)
{
	fprintf(t->in, "%s\n", cmd);
	fflush(t->in);
	return fgets(buf, (int)len, t->out) ? 0 : -1;
}

/* One field of the stats line ("eintr", "sigs", ...), or -1. */
static inline long tt_stat(struct tt_target *t, const char *key)
{
	char buf[512], pat[64];
	const char *p;

	if (tt_command(t, "stats", buf, sizeof(buf)))
		return -1;
	snprintf(pat, sizeof(pat), "%s=", key);
	p = strstr(buf, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static inline void tt_stop(struct tt_target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
		tt_untrack(t->pid);
		t->pid = 0;
	}
	if (t->in)
		fclose(t->in);
	if (t->out)
		fclose(t->out);
	t->in = t->out = NULL;
}

/* Fills tids (up to max) with the target's threads; returns the count. */
static inline int tt_tids(pid_t pid, pid_t *tids, int max)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max)
		if (de->d_name[0] != '.')
			tids[n++] = atoi(de->d_name);
	closedir(d);
	return n;
}

/* The state letter of one thread from /proc/PID/task/TID/stat, or 0 if gone. */
static inline char tt_state(pid_t pid, pid_t tid)
{
	char path[96], text[1024];
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	p = strrchr(text, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* TracerPid of one thread, or -1 if gone. */
static inline int tt_tracer(pid_t pid, pid_t tid)
{
	char path[96], line[256];
	FILE *f;
	int tracer = -1;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "TracerPid:", 10))
			tracer = atoi(line + 10);
	fclose(f);
	return tracer;
}

/* Number of threads in tracing stop ('t') or with a tracer. */
static inline int tt_count_traced(pid_t pid)
{
	pid_t tids[8192];
	int n = tt_tids(pid, tids, 8192), bad = 0;

	for (int i = 0; i < n; i++)
		if (tt_state(pid, tids[i]) == 't' || tt_tracer(pid, tids[i]) > 0)
			bad++;
	return bad;
}

static inline void tt_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000l };

	nanosleep(&ts, NULL);
}

/* Waits until every thread of pid sleeps ('S'), at most timeout_ms. Returns true if they all do.
 * A thread that was just released by a ptrace stop is runnable for a moment, restarting the
 * syscall it was stopped in; a fresh one may not have reached its wait yet. */
static inline bool tt_wait_all_sleeping(pid_t pid, int timeout_ms)
{
	pid_t tids[8192];

	for (int waited = 0;; waited += 5) {
		int n = tt_tids(pid, tids, 8192), sleeping = 0;

		for (int i = 0; i < n; i++)
			sleeping += tt_state(pid, tids[i]) == 'S';
		if (n > 0 && sleeping == n)
			return true;
		if (waited >= timeout_ms)
			return false;
		tt_sleep_ms(5);
	}
}

/* The tid of the first thread whose comm is name, or 0. */
static inline pid_t tt_find_thread(pid_t pid, const char *name)
{
	pid_t tids[8192];
	int n = tt_tids(pid, tids, 8192);

	for (int i = 0; i < n; i++) {
		char path[96], comm[64] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tids[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		if (!strcmp(comm, name))
			return tids[i];
	}
	return 0;
}

#endif
