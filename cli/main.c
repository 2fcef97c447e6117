// SPDX-License-Identifier: MIT
/* profd's entry point: parse and validate everything, check privileges and the target, bind the
 * listener synchronously, wire the profile sources into the endpoints, then wait for a signal
 * or the target's exit. Only main() exits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/bpfcheck.h"
#include "base/log.h"
#include "http/endpoints.h"
#include "http/history.h"
#include "http/http.h"
#include "sources/cpu.h"
#include "sources/block.h"
#include "sources/mutex.h"
#include "sources/fd.h"
#include "sources/growth.h"
#include "sources/heap.h"
#include "sources/threadcreate.h"
#include "options.h"
#include "snapshots.h"
#include "proc/target.h"
#include "sources/threads.h"
#include "sources/threads_set.h"
#include "set/procs.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

#define SHUTDOWN_GRACE_MS 4000
#define MAX_REQUEST_BODY (4u << 20)
/* request bodies held at once, all requests together: 8 of the largest */
#define MAX_REQUEST_BODIES (32u << 20)

static const char *env_get(const char *name)
{
	return getenv(name);
}

static int write_ready_file(const char *path, const char *addr)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", addr);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

/* A file profd will write later (the ready file, a one-shot's output): refused at start when it
 * cannot be written, rather than after a profile was taken. Returns EXIT_OK or EXIT_USAGE. */
static int check_writable(const char *flag, const char *path)
{
	char dir[4096];
	struct stat sb;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		log_error("%s %s: the directory %s does not exist; create it or choose another path", flag, path, dir);
		return EXIT_USAGE;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		log_error("%s %s: cannot write in %s: %s", flag, path, dir, strerror(errno));
		return EXIT_USAGE;
	}
	if (stat(path, &sb) == 0 && (S_ISDIR(sb.st_mode) || access(path, W_OK) != 0)) {
		log_error("%s %s: %s", flag, path, S_ISDIR(sb.st_mode) ? "is a directory" : strerror(errno));
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Opens the processes to profile for the whole run; the one place that words "no such process",
 * a missing cgroup etc. (procset.c says what, naming the flag). */
static int open_procs(const struct profd_config *cfg, struct procs **ret)
{
	struct procset_config pc = {
		.kind = (enum procset_kind)cfg->selector,
		.pid = cfg->pid,
		.max_processes = cfg->max_processes,
	};
	char err[1024];
	int r;

	if (cfg->pid == getpid()) {
		log_error("--pid %d is profd itself; give the PID of the process to profile", (int)cfg->pid);
		return EXIT_USAGE;
	}
	snprintf(pc.name, sizeof(pc.name), "%s", cfg->selector_name);
	r = procs__new(&pc, ret, err, sizeof(err));
	if (r == 0)
		return EXIT_OK;
	log_error("%s", err);
	if (r == -ESRCH)
		return EXIT_TARGET_GONE;
	return r == -ENOMEM || r == -EIO ? EXIT_RUNTIME : EXIT_USAGE;
}

static int check_privileges(void)
{
	char missing[128];
	int n = target_check_privileges(missing, sizeof(missing));

	if (n < 0) {
		log_error("cannot read profd's own capabilities: %s", strerror(-n));
		return EXIT_RUNTIME;
	}
	if (n > 0) {
		log_error("missing privileges: %s (profd needs CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE: run it as "
			  "root, e.g. with sudo, or grant those capabilities)", missing);
		return EXIT_PRIVILEGE;
	}
	return EXIT_OK;
}

/* Waits for SIGINT/SIGTERM or the target's exit. Returns the exit status to use. */
static void snapshot_heap(struct heap_source *heap)
{
	char path[4200];
	int r;

	if (!heap) {
		log_warn("SIGUSR2: no heap profile to write (heap profiling is off or unavailable)");
		return;
	}
	r = heap_source__request_snapshot(heap, path, sizeof(path));
	if (r == 0)
		log_info("SIGUSR2: writing the heap profile to %s", path);
	else if (r == -EBUSY)
		log_warn("SIGUSR2: a heap snapshot is still being written; this one is ignored");
	else if (r == -ENOTDIR)
		log_warn("SIGUSR2: no --snapshot-dir was given, so there is nowhere to write the heap profile");
	else
		log_error("SIGUSR2: cannot write the heap profile: %s", strerror(-r));
}

/* --snapshot-on rss-step: the target's RSS, read once a second; a heap snapshot each time it has
 * grown by the step since the last one (single-flight: while one is written, the next waits). */
struct rss_watch {
	uint64_t step;     /* bytes; 0: off */
	int keep;
	long base_kb;      /* RSS at the last snapshot (or at start); -1: not read yet */
	int64_t next_ns;   /* CLOCK_MONOTONIC: the next read */
};

static void rss_watch_check(struct rss_watch *w, const struct target *t, struct heap_source *heap)
{
	char path[4400];
	int threads, r;
	long rss_kb;

	if (!w->step || !t || profd_mono_ns() < w->next_ns)
		return;
	w->next_ns = profd_mono_ns() + 1000000000ll;
	if (target_status(t, &threads, &rss_kb) != 0 || rss_kb < 0)
		return;
	if (w->base_kb < 0 || rss_kb < w->base_kb) { /* a shrink moves the base down: growth counts from there */
		w->base_kb = rss_kb;
		return;
	}
	if ((uint64_t)(rss_kb - w->base_kb) * 1024 < w->step)
		return;
	r = heap ? heap_source__request_kept_snapshot(heap, w->keep, path, sizeof(path)) : -ENOENT;
	if (r == -EBUSY)
		return; /* the previous one is still being written: the next second tries again */
	if (r == 0)
		log_info("--snapshot-on rss-step: the RSS of process %d grew from %ld to %ld MiB: writing the heap "
			 "profile to %s", (int)t->pid, w->base_kb / 1024, rss_kb / 1024, path);
	else
		log_error("--snapshot-on rss-step: the RSS of process %d grew to %ld MiB, but the heap profile cannot "
			  "be written: %s", (int)t->pid, rss_kb / 1024,
			  r == -ENOENT ? "heap profiling is unavailable" : strerror(-r));
	w->base_kb = rss_kb;
}

/* t: the one target of --pid, whose exit ends profd; NULL for a set, which does not end. trig:
 * the oom and pressure triggers, NULL when none was asked for. */
static int wait_for_end(const struct target *t, struct heap_source *heap, struct rss_watch *watch,
			struct snapshot_triggers *trig)
{
	sigset_t mask;
	int sfd, pidfd, status = EXIT_OK;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR2);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	/* a pidfd refers to this very process: a reused PID can never wake us by mistake */
	pidfd = t ? (int)syscall(SYS_pidfd_open, t->pid, 0) : -1;
	for (;;) {
		struct pollfd pfd[2 + SNAPSHOT_MAX_FDS] = { { .fd = sfd, .events = POLLIN },
							    { .fd = pidfd, .events = POLLIN } };
		int ntrig = trig ? snapshot_triggers__pollfds(trig, pfd + 2) : 0;
		int n = poll(pfd, 2 + (nfds_t)ntrig, watch->step && t ? 250 : pidfd >= 0 || !t ? -1 : 500);

		rss_watch_check(watch, t, heap);
		for (int i = 0; n > 0 && i < ntrig; i++) {
			if (pfd[2 + i].revents) {
				snapshot_triggers__check(trig);
				break;
			}
		}

		if (n < 0 && errno != EINTR) {
			log_error("poll failed: %s", strerror(errno));
			status = EXIT_RUNTIME;
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGUSR2) {
					snapshot_heap(heap);
					continue;
				}
				log_info("received %s, shutting down", strsignal((int)si.ssi_signo));
				break;
			}
		}
		if (t && ((n > 0 && (pfd[1].revents & POLLIN)) || !target_alive(t))) {
			/* an OOM victim's record is queued before it dies: its pre-mortem comes first */
			if (trig)
				snapshot_triggers__finish(trig);
			log_error("target process %d (%s) exited; profd is shutting down", (int)t->pid, t->comm);
			status = EXIT_TARGET_GONE;
			break;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	if (sfd >= 0)
		close(sfd);
	return status;
}

/* Every command starts here: privileges first (they decide whether /proc can be read), then the
 * target. Returns an exit status, EXIT_OK to go on. */
static int attach(const struct profd_config *cfg, struct procs **ps)
{
	int status = check_privileges();

	return status ? status : open_procs(cfg, ps);
}

/* The processes served and the sources over them. --pid: one process, whose symbolizer and
 * unwinder every source shares; a set: thread dumps over it (threads_set). */
struct engine {
	struct procs *ps;
	struct proc *single;              /* --pid: the target (referenced); NULL for a set */
	struct threads_source *threads;   /* --pid */
	struct threads_set *threads_set;  /* a set */
	struct cpu_sampler *cpu;
	struct heap_source *heap; /* NULL with --heap off or when the allocator cannot be probed */
	struct block_source *block; /* NULL when eBPF is unusable */
	struct mutex_source *mutex; /* likewise */
	struct threadcreate_source *threadcreate; /* likewise */
	struct growth_source *growth; /* NULL with --growth off or without the page-fault tracepoint */
	struct fd_source *fd;         /* NULL with --fd off or when eBPF is unusable */
	int noff;
	struct {                          /* the profiles left out, and why: served as such */
		const char *name;
		char reason[512];
	} off[12];
};

/* Leaves profile name out, and says why: to whoever asks for it, and (warn: a failure, not the
 * operator's choice) once in the log now. */
static void __attribute__((format(printf, 4, 5))) engine_left_out(struct engine *e, bool warn, const char *name,
								  const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (warn)
		log_warn("%s profiles are unavailable: %s", name, reason);
	if (e->noff < (int)(sizeof(e->off) / sizeof(e->off[0]))) {
		e->off[e->noff].name = name;
		snprintf(e->off[e->noff].reason, sizeof(e->off[0].reason), "%s", reason);
		e->noff++;
	}
}

static void engine_free(struct engine *e)
{
	threadcreate_source__free(e->threadcreate);
	fd_source__free(e->fd);
	block_source__free(e->block);
	mutex_source__free(e->mutex);
	growth_source__free(e->growth);
	heap_source__free(e->heap);
	cpu_sampler__free(e->cpu);
	threads_source__free(e->threads);
	threads_set__free(e->threads_set);
	proc__put(e->single);
	procs__free(e->ps); /* after the sources: they listen to it */
	memset(e, 0, sizeof(*e));
}

/* Said once, at start, where the method is decided; the index repeats it. */
static void say_thread_method(const struct profd_config *cfg, bool iterator, const char *why)
{
	if (iterator)
		return;
	if (cfg->thread_dump == THREADS_METHOD_PTRACE)
		log_info("thread dumps stop every thread, one at a time (--thread-dump ptrace)");
	else
		log_warn("thread dumps will stop every thread, one at a time: %s", why);
}

static int engine_start(const struct profd_config *cfg, struct procs *ps, struct engine *e)
{
	struct proc **list = NULL;
	const char *why;
	bool iterator;
	int n;

	memset(e, 0, sizeof(*e));
	e->ps = ps;
	if (procs__multi(ps)) {
		e->threads_set = threads_set__new(ps, cfg->stack_bytes, (enum threads_method)cfg->thread_dump);
		if (!e->threads_set || procs__start(ps) < 0) {
			log_error("cannot start following %s: %s", procset__describe(procs__set(ps)), strerror(errno));
			engine_free(e);
			return EXIT_RUNTIME;
		}
		iterator = threads_set__iterator(e->threads_set, &why);
		say_thread_method(cfg, iterator, why);
		return EXIT_OK;
	}
	n = procs__list(ps, &list);
	if (n > 0)
		e->single = proc__ref(list[0]);
	procs__list_free(list, n > 0 ? n : 0);
	if (!e->single || !e->single->sym || !e->single->uw) {
		errno = e->single ? ESRCH : ENOMEM;
		goto fail;
	}
	e->threads = threads_source__new_method(&e->single->target, e->single->uw, e->single->sym,
						cfg->stack_bytes, (enum threads_method)cfg->thread_dump);
	if (!e->threads)
		goto fail;
	iterator = threads_source__iterator(e->threads, &why);
	say_thread_method(cfg, iterator, why);
	return EXIT_OK;
fail:
	/* decided by the target itself: a thread or mapping that vanished mid-read also says ESRCH */
	if (e->single && !target_alive(&e->single->target)) {
		log_error("target process %d (%s) exited while profd was attaching", (int)e->single->target.pid,
			  e->single->target.comm);
		engine_free(e);
		return EXIT_TARGET_GONE;
	}
	log_error("cannot read the executables of process %d: %s", (int)cfg->pid, strerror(errno));
	engine_free(e);
	return EXIT_RUNTIME;
}

static void cpu_config_from(const struct profd_config *cfg, struct cpu_config *cc)
{
	cpu_config_default(cc);
	cc->hz = cfg->cpu_hz;
	cc->stack_bytes = cfg->cpu_stack_bytes;
}

static void heap_config_from(const struct profd_config *cfg, struct heap_config *hc)
{
	heap_config_default(hc);
	hc->mode = (enum heap_mode)cfg->heap_mode;
	hc->rate = cfg->heap_rate;
	hc->idle_ns = cfg->heap_idle_ns;
	hc->budget_pct = cfg->heap_budget;
	hc->snapshot_dir = cfg->snapshot_dir[0] ? cfg->snapshot_dir : NULL;
}

/* The growth profile of the processes served: nothing attached until a growth request (--growth
 * demand). */
static void engine_start_growth(const struct profd_config *cfg, struct engine *e, bool bpf_ok)
{
	struct growth_config gc;
	char err[512];

	if (cfg->growth_mode == GROWTH_MODE_OFF) {
		engine_left_out(e, false, "growth",
				"growth profiling is off (--growth off); start profd with --growth demand to have it");
		return;
	}
	if (!bpf_ok) {
		engine_left_out(e, false, "growth", "eBPF is not usable here (see profd's log at start-up)");
		return;
	}
	growth_config_default(&gc);
	gc.mode = (enum growth_mode)cfg->growth_mode;
	gc.rate = cfg->growth_rate;
	gc.idle_ns = cfg->growth_idle_ns;
	if (growth_source__new(e->ps, &gc, &e->growth, err, sizeof(err)) != 0) {
		e->growth = NULL;
		engine_left_out(e, true, "growth", "%s", err);
		return;
	}
	log_info("growth (%s): %s%s", growth_mode_name(gc.mode), growth_source__describe(e->growth),
		 gc.mode == GROWTH_MODE_DEMAND ? "; nothing attached until a growth request" : "");
}

/* The daemon's sources beyond thread dumps. The CPU sampler is idle until a request comes; the
 * heap probes attach now. None failing stops profd: the other profiles stay useful. */
static void engine_start_profilers(const struct profd_config *cfg, struct engine *e, bool bpf_ok)
{
	struct cpu_config cc;
	struct heap_config hc;
	struct block_config bc;
	struct mutex_config mc;
	char err[512];
	int r;

	cpu_config_from(cfg, &cc);
	if (bpf_ok) {
		e->cpu = cpu_sampler__new(e->ps, &cc);
		if (!e->cpu)
			engine_left_out(e, true, "profile", "the CPU sampler cannot start: %s", strerror(errno));
		block_config_default(&bc);
		bc.rate_ns = cfg->block_rate;
		bc.idle_ns = cfg->block_idle_ns;
		r = block_source__new(e->ps, &bc, &e->block, err, sizeof(err));
		if (r) {
			e->block = NULL;
			engine_left_out(e, true, "block", "%s", err);
		}
		mutex_config_default(&mc);
		mc.rate = cfg->mutex_rate;
		mc.idle_ns = cfg->mutex_idle_ns;
		r = mutex_source__new(e->ps, &mc, &e->mutex, err, sizeof(err));
		if (r) {
			e->mutex = NULL;
			engine_left_out(e, true, "mutex", "%s", err);
		}
		r = threadcreate_source__new(e->ps, &e->threadcreate, err, sizeof(err));
		if (r) {
			e->threadcreate = NULL;
			engine_left_out(e, true, "threadcreate", "%s", err);
		}
		struct fd_config fc = { .mode = (enum fd_mode)cfg->fd_mode, .idle_ns = cfg->fd_idle_ns };

		if (fc.mode == FD_MODE_OFF) {
			engine_left_out(e, false, "fd", "the fd profile is off (--fd off); start profd with --fd demand "
					"to have it");
		} else if ((r = fd_source__new(e->ps, &fc, &e->fd, err, sizeof(err))) != 0) {
			e->fd = NULL;
			engine_left_out(e, true, "fd", "%s", err);
		}
	} else {
		static const char *const need_bpf[] = { "profile", "block", "mutex", "threadcreate", "fd" };

		for (size_t i = 0; i < sizeof(need_bpf) / sizeof(need_bpf[0]); i++)
			engine_left_out(e, false, need_bpf[i], "eBPF is not usable here (see profd's log at start-up)");
	}
	engine_start_growth(cfg, e, bpf_ok);
	if (cfg->heap_mode == HEAP_MODE_OFF) {
		engine_left_out(e, false, "heap",
				"heap profiling is off (--heap off); start profd with --heap demand to have it");
		return;
	}
	if (!bpf_ok) {
		engine_left_out(e, false, "heap", "eBPF is not usable here (see profd's log at start-up)");
		return;
	}
	heap_config_from(cfg, &hc);
	/* a pre-mortem holds only what was tracked before the kill: the probes must already be on */
	if ((cfg->snapshot_oom || cfg->snapshot_pressure) && hc.mode == HEAP_MODE_DEMAND) {
		hc.mode = HEAP_MODE_INUSE;
		log_info("--snapshot-on %s: the heap probes stay attached from start-up (as --heap inuse), within "
			 "--heap-budget %g%%: a snapshot holds what they tracked before its trigger",
			 cfg->snapshot_oom ? "oom" : "pressure", hc.budget_pct);
	}
	r = heap_source__new(e->ps, &hc, &e->heap, err, sizeof(err));
	if (r) {
		e->heap = NULL;
		engine_left_out(e, true, "heap", "%s", err);
		return;
	}
	log_info("heap (%s, one sample per %llu bytes on average, budget %g%% of the target's CPU): %s%s",
		 heap_mode_name(hc.mode), (unsigned long long)hc.rate, hc.budget_pct, heap_source__describe(e->heap),
		 hc.mode == HEAP_MODE_DEMAND ? "; no probe attached until a heap or allocs request" : "");
}

/* profd cpu / profd heap: one profile to a file, no server. */
static volatile sig_atomic_t oneshot_stop;

static void on_stop_signal(int sig)
{
	oneshot_stop = 1;
}

static int oneshot(const struct profd_config *cfg)
{
	const char *who;
	struct procs *ps = NULL;
	struct target target = { 0 };
	char err[768];
	sigset_t mask;
	int status, r;

	if (strcmp(cfg->output, "-") != 0 && (status = check_writable("-o", cfg->output)) != EXIT_OK)
		return status;
	status = attach(cfg, &ps);
	if (status)
		return status;
	who = procset__describe(procs__set(ps));
	/* both commands end early on Ctrl-C and still write what they have */
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
	if (cfg->command == CMD_CPU) {
		struct cpu_config cc;

		cpu_config_from(cfg, &cc);
		r = cpu_oneshot(ps, &cc, cfg->seconds, cfg->output, &oneshot_stop, err, sizeof(err));
		if (r == 0 && strcmp(cfg->output, "-") != 0)
			log_info("wrote the CPU profile of %s to %s", who, cfg->output);
		status = r == 0 ? EXIT_OK : EXIT_RUNTIME;
		if (r)
			log_error("%s", err);
		procs__free(ps);
		return status;
	}
	if (!procs__multi(ps)) {
		struct proc **list = NULL;
		int n = procs__list(ps, &list);

		if (n > 0)
			target = list[0]->target;
		procs__list_free(list, n > 0 ? n : 0);
	}
	{
		struct heap_config hc;

		heap_config_from(cfg, &hc);
		r = heap_oneshot(ps, cfg->seconds, &hc, cfg->output, &oneshot_stop, err, sizeof(err));
	}
	if (r == -ESRCH && target.pid && !target_alive(&target)) {
		log_error("target process %d (%s) exited: %s", (int)target.pid, target.comm, err);
		status = EXIT_TARGET_GONE;
	} else if (r) {
		log_error("%s", err);
		status = EXIT_RUNTIME;
	} else {
		if (strcmp(cfg->output, "-") != 0)
			log_info("wrote the heap profile of %s to %s", who, cfg->output);
		status = EXIT_OK;
	}
	procs__free(ps);
	return status;
}

/* profd stacks: one thread dump to stdout, no server. */
static int stacks(const struct profd_config *cfg)
{
	struct engine e;
	struct procs *ps = NULL;
	struct buf out = { 0 };
	int status, err;

	status = attach(cfg, &ps);
	if (status)
		return status;
	status = engine_start(cfg, ps, &e);
	if (status)
		return status;
	if (e.threads_set) {
		err = threads_set__dump_text(e.threads_set, 0, 2, &out);
		if (err == -ESRCH) {
			log_error("no process of %s is running", procset__describe(procs__set(ps)));
			status = EXIT_TARGET_GONE;
		} else if (err) {
			log_error("thread dump of %s failed: %s", procset__describe(procs__set(ps)),
				  err == -EPERM ? threads_set__error(e.threads_set) : strerror(-err));
			status = EXIT_RUNTIME;
		} else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
			log_error("cannot write the dump to standard output: %s", strerror(errno));
			status = EXIT_RUNTIME;
		} else {
			/* as for one process: how each was read and how long its threads were held */
			buf_reset(&out);
			if (threads_set__summary(e.threads_set, &out) == 0 && out.len)
				log_info("%s", out.data);
		}
		buf_free(&out);
		engine_free(&e);
		return status;
	}
	err = threads_source__dump_text(e.threads, 2, &out);
	if (err == -ESRCH) {
		log_error("target process %d (%s) exited during the dump", (int)e.single->target.pid,
			  e.single->target.comm);
		status = EXIT_TARGET_GONE;
	} else if (err == -EPERM) {
		log_error("cannot stop the threads of process %d: %s", (int)e.single->target.pid,
			  threads_source__error(e.threads));
		status = EXIT_RUNTIME;
	} else if (err) {
		log_error("thread dump of process %d failed: %s", (int)e.single->target.pid, strerror(-err));
		status = EXIT_RUNTIME;
	} else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		log_error("cannot write the dump to standard output: %s", strerror(errno));
		status = EXIT_RUNTIME;
	} else {
		/* how long each thread was held, for the user who worries about the target */
		buf_reset(&out);
		if (threads_source__summary(e.threads, &out) == 0)
			log_info("%s", out.data);
	}
	buf_free(&out);
	engine_free(&e);
	return status;
}

static int serve(const struct profd_config *cfg)
{
	struct engine engine = { 0 };
	struct profd_profile prof;
	struct http_limits limits = {
		.max_connections = cfg->max_connections,
		.request_timeout_s = cfg->request_timeout,
		.max_body = MAX_REQUEST_BODY,
		.max_bodies_total = MAX_REQUEST_BODIES,
	};
	struct http_server *srv = NULL;
	struct endpoints *ep = NULL;
	struct history *hist = NULL;
	struct rss_watch watch = { .base_kb = -1 };
	struct snapshot_triggers *trig = NULL;
	struct procs *ps = NULL;
	char msg[512], addr[300];
	int fd = -1, status, err, bpf_err;

	if (cfg->ready_file[0] && (status = check_writable("--ready-file", cfg->ready_file)) != EXIT_OK)
		return status;
	status = attach(cfg, &ps);
	if (status)
		return status;
	bpf_err = bpf_check(msg, sizeof(msg));
	if (bpf_err)
		log_warn("eBPF is not usable here, so CPU, heap, growth, block, mutex and threadcreate profiles are "
			 "unavailable: %s", msg);
	if (!addr_is_loopback(cfg->host))
		log_warn("listening on non-loopback address %s (--allow-public): anyone who can connect can read "
			 "profiles of %s", cfg->host, procset__describe(procs__set(ps)));
	fd = http_listen(cfg->host, cfg->port, msg, sizeof(msg));
	if (fd < 0) {
		log_error("%s", msg);
		procs__free(ps);
		return EXIT_RUNTIME;
	}
	http_bound_address(fd, addr, sizeof(addr));

	status = engine_start(cfg, ps, &engine); /* takes ps, even when it fails */
	if (status)
		goto cleanup;
	engine_start_profilers(cfg, &engine, bpf_err == 0);
	ep = endpoints__new(ps);
	if (!ep) {
		log_error("out of memory");
		status = EXIT_RUNTIME;
		goto cleanup;
	}
	endpoints__set_max_seconds(ep, cfg->max_seconds);
	if (engine.threads)
		threads_source__profile(engine.threads, &prof);
	else
		threads_set__profile(engine.threads_set, &prof);
	endpoints__add_profile(ep, &prof);
	if (engine.cpu) {
		cpu_sampler__provider(engine.cpu, &prof);
		endpoints__add_profile(ep, &prof);
	}
	if (engine.block) {
		block_source__provider(engine.block, &prof);
		endpoints__add_profile(ep, &prof);
	}
	if (engine.mutex) {
		mutex_source__provider(engine.mutex, &prof);
		endpoints__add_profile(ep, &prof);
	}
	if (engine.threadcreate) {
		threadcreate_source__provider(engine.threadcreate, &prof);
		endpoints__add_profile(ep, &prof);
		/* thread dumps end each thread created since with Go's "created by" */
		if (engine.threads)
			threads_source__set_creators(engine.threads, threadcreate_source__creator, engine.threadcreate);
		else
			threads_set__set_creators(engine.threads_set, threadcreate_source__creator,
						  engine.threadcreate);
	}
	if (engine.growth) {
		growth_source__profile(engine.growth, &prof);
		endpoints__add_profile(ep, &prof);
	}
	if (engine.fd) {
		fd_source__provider(engine.fd, &prof);
		endpoints__add_profile(ep, &prof);
	}
	if (engine.heap) {
		struct profd_profile heap, allocs;

		heap_source__profiles(engine.heap, &heap, &allocs);
		endpoints__add_profile(ep, &heap);
		endpoints__add_profile(ep, &allocs);
	}
	for (int i = 0; i < engine.noff; i++) {
		endpoints__add_unavailable(ep, engine.off[i].name, engine.off[i].reason);
		/* allocs comes from the same probes as heap */
		if (strcmp(engine.off[i].name, "heap") == 0)
			endpoints__add_unavailable(ep, "allocs", engine.off[i].reason);
	}
	if (cfg->history_length) {
		struct history_config hc = {
			.interval_ns = cfg->history_interval_ns,
			.length = cfg->history_length,
			.nprocs = procs__multi(ps) ? HISTORY_MAX_PROCS : 0,
		};

		err = history__new(&hc, &hist);
		if (!err)
			err = history__start(hist, ps, endpoints__gather, ep);
		if (err) {
			log_error("cannot start the resource history (--history-length %u): %s", cfg->history_length,
				  strerror(-err));
			status = EXIT_RUNTIME;
			goto cleanup;
		}
		endpoints__set_history(ep, hist);
	}

	if (cfg->snapshot_oom || cfg->snapshot_pressure) {
		struct snapshot_config sc = {
			.dir = cfg->snapshot_dir,
			.keep = cfg->snapshot_keep,
			.oom = cfg->snapshot_oom,
			.pressure = cfg->snapshot_pressure,
			.pid = cfg->pid,
		};

		if (snapshot_triggers__new(&sc, ps, ep, &trig) != 0) {
			log_error("out of memory");
			status = EXIT_RUNTIME;
			goto cleanup;
		}
	}

	/* the RSS growth counts from now, before anyone can be told profd is ready */
	watch.step = cfg->snapshot_rss_step;
	watch.keep = cfg->snapshot_keep;
	rss_watch_check(&watch, engine.single ? &engine.single->target : NULL, engine.heap);
	srv = http_server__start(fd, &limits, endpoints__handle, ep);
	if (!srv) {
		log_error("cannot start the HTTP server on %s", addr);
		status = EXIT_RUNTIME;
		goto cleanup;
	}
	fd = -1; /* owned by the server now */
	/* the ready file first: a supervisor reading "listening" must be able to trust it */
	if (cfg->ready_file[0]) {
		err = write_ready_file(cfg->ready_file, addr);
		if (err) {
			log_error("--ready-file %s: cannot write it: %s", cfg->ready_file, strerror(-err));
			status = EXIT_RUNTIME;
			goto cleanup;
		}
	}
	printf("profd listening on %s\n", addr);
	fflush(stdout);
	log_info("serving http://%s/debug/pprof/ for %s", addr, procset__describe(procs__set(ps)));
	if (cfg->snapshot_rss_step && !engine.heap)
		log_warn("--snapshot-on rss-step: heap profiling is unavailable, so no snapshot can be written");
	else if (cfg->snapshot_rss_step && cfg->heap_mode == HEAP_MODE_DEMAND && !cfg->snapshot_oom &&
		 !cfg->snapshot_pressure)
		log_warn("--snapshot-on rss-step with --heap demand: a snapshot holds only what requests had the "
			 "heap probes track; --heap inuse tracks from start-up");
	status = wait_for_end(engine.single ? &engine.single->target : NULL, engine.heap, &watch, trig);
cleanup:
	http_server__stop(srv, SHUTDOWN_GRACE_MS);
	snapshot_triggers__free(trig); /* waits for a snapshot being written; reads the sources */
	history__free(hist); /* its sampler reads the sources through ep */
	endpoints__free(ep);
	engine_free(&engine);
	if (fd >= 0)
		close(fd);
	if (cfg->ready_file[0] && srv)
		unlink(cfg->ready_file);
	return status;
}

/* Each process of a set with an address layout of its own (one that exec'd, or was started on
 * its own) keeps its executable and libraries open for unwinding: 3 or 4 descriptors each. The
 * soft limit services get by default (1024 under systemd) ran out at about 250 such processes,
 * and profd could then open neither its listening socket nor its BPF objects. The hard limit is
 * there to be raised to (systemd's default: 524288); MAX_FDS in http/intake.c bounds it anyway. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_debug("cannot raise the open files limit to %llu: %s", (unsigned long long)want,
				  strerror(errno));
	}
}

int main(int argc, char **argv)
{
	struct profd_config cfg;
	char err[768];
	sigset_t mask;
	int r;

	r = options_parse(argc, argv, env_get, &cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "profd: %s\n", err);
		return EXIT_USAGE;
	}
	if (r == OPTIONS_HELP) {
		fputs(options_usage(), stdout);
		return EXIT_OK;
	}
	if (r == OPTIONS_VERSION) {
		printf("profd %s\n", PROFD_VERSION);
		return EXIT_OK;
	}
	log_set_level((enum log_level)cfg.log_level);
	bpf_log_route();
	raise_fd_limit();
	/* signals are read from a signalfd by the main thread; every other thread inherits the block */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	switch (cfg.command) {
	case CMD_SERVE:
		return serve(&cfg);
	case CMD_STACKS:
		return stacks(&cfg);
	case CMD_CPU:
	case CMD_HEAP:
		return oneshot(&cfg);
	}
	return EXIT_USAGE;
}
