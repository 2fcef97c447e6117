// SPDX-License-Identifier: MIT
/* profd's entry point: parse and validate everything, check privileges and the target, bind the
 * listener synchronously, wire the profile sources into the endpoints, then wait for a signal
 * or the target's exit. Only main() exits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/bpfcheck.h"
#include "base/log.h"
#include "http/endpoints.h"
#include "http/http.h"
#include "sources/cpu.h"
#include "sources/heap.h"
#include "options.h"
#include "proc/target.h"
#include "sources/threads.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"

#define SHUTDOWN_GRACE_MS 4000
#define HEADER_TIMEOUT_S 10
#define MAX_REQUEST_BODY (4u << 20)

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

/* Opens the target for the whole run; the one place that words "no such process" etc. */
static int open_target(const struct profd_config *cfg, struct target *t)
{
	int err;

	if (cfg->pid == getpid()) {
		log_error("--pid %d is profd itself; give the PID of the process to profile", (int)cfg->pid);
		return EXIT_USAGE;
	}
	err = target_open(cfg->pid, t);
	if (err == -ESRCH) {
		log_error("--pid %d: no such process (or it has already exited); check the PID with ps or pgrep",
			  (int)cfg->pid);
		return EXIT_TARGET_GONE;
	}
	if (err) {
		log_error("cannot read /proc/%d: %s", (int)cfg->pid, strerror(-err));
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
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

static int wait_for_end(const struct target *t, struct heap_source *heap)
{
	sigset_t mask;
	int sfd, pidfd, status = EXIT_OK;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR2);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	/* a pidfd refers to this very process: a reused PID can never wake us by mistake */
	pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	for (;;) {
		struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
		int n = poll(pfd, 2, pidfd >= 0 ? -1 : 500);

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
		if ((n > 0 && (pfd[1].revents & POLLIN)) || !target_alive(t)) {
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
static int attach(const struct profd_config *cfg, struct target *t)
{
	int status = check_privileges();

	return status ? status : open_target(cfg, t);
}

/* The target-wide machinery every source shares: the symbolizer and the unwinder. */
struct engine {
	struct symbolizer *sym;
	struct unwinder *uw;
	struct threads_source *threads;
	struct cpu_sampler *cpu;
	struct heap_source *heap; /* NULL with --heap off or when the allocator cannot be probed */
};

static void engine_free(struct engine *e)
{
	heap_source__free(e->heap);
	cpu_sampler__free(e->cpu);
	threads_source__free(e->threads);
	unwinder__free(e->uw);
	symbolizer__free(e->sym);
	memset(e, 0, sizeof(*e));
}

static int engine_start(const struct profd_config *cfg, const struct target *t, struct engine *e)
{
	const char *why;

	memset(e, 0, sizeof(*e));
	e->sym = symbolizer__new(t->pid);
	if (!e->sym)
		goto fail;
	e->uw = unwinder__new(t->pid);
	if (!e->uw)
		goto fail;
	e->threads = threads_source__new_method(t, e->uw, e->sym, cfg->stack_bytes,
						(enum threads_method)cfg->thread_dump);
	if (!e->threads)
		goto fail;
	if (!threads_source__iterator(e->threads, &why)) {
		/* said once, here, where it is decided; the index repeats it */
		if (cfg->thread_dump == THREADS_METHOD_PTRACE)
			log_info("thread dumps stop every thread, one at a time (--thread-dump ptrace)");
		else
			log_warn("thread dumps will stop every thread, one at a time: %s", why);
	}
	return EXIT_OK;
fail:
	if (errno == ESRCH) {
		log_error("target process %d (%s) exited while profd was attaching", (int)t->pid, t->comm);
		engine_free(e);
		return EXIT_TARGET_GONE;
	}
	log_error("cannot read the executables of process %d (%s): %s", (int)t->pid, t->comm, strerror(errno));
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
	hc->snapshot_dir = cfg->snapshot_dir[0] ? cfg->snapshot_dir : NULL;
}

/* The daemon's sources beyond thread dumps. The CPU sampler is idle until a request comes; the
 * heap probes attach now. Neither failing stops profd: the other profiles stay useful. */
static void engine_start_profilers(const struct profd_config *cfg, const struct target *t, struct engine *e,
				   bool bpf_ok)
{
	struct cpu_config cc;
	struct heap_config hc;
	char err[512];
	int r;

	cpu_config_from(cfg, &cc);
	if (bpf_ok) {
		e->cpu = cpu_sampler__new(t, e->uw, e->sym, &cc);
		if (!e->cpu)
			log_warn("CPU profiles are unavailable: %s", strerror(errno));
	}
	if (cfg->heap_mode == HEAP_MODE_OFF)
		return;
	if (!bpf_ok) {
		log_warn("heap profiles are unavailable: eBPF is not usable here");
		return;
	}
	heap_config_from(cfg, &hc);
	r = heap_source__new(t, e->uw, e->sym, &hc, &e->heap, err, sizeof(err));
	if (r) {
		e->heap = NULL;
		log_warn("heap profiles are unavailable: %s", err);
		return;
	}
	log_info("heap (%s, one sample per %llu bytes on average): %s", heap_mode_name(hc.mode),
		 (unsigned long long)hc.rate, heap_source__describe(e->heap));
}

/* profd cpu / profd heap: one profile to a file, no server. */
static volatile sig_atomic_t oneshot_stop;

static void on_stop_signal(int sig)
{
	oneshot_stop = 1;
}

static int oneshot(const struct profd_config *cfg)
{
	struct target target;
	char err[768];
	sigset_t mask;
	int status, r;

	status = attach(cfg, &target);
	if (status)
		return status;
	if (cfg->command == CMD_CPU) {
		struct cpu_config cc;

		/* the cpu command ends early on Ctrl-C and still writes what it has */
		signal(SIGINT, on_stop_signal);
		signal(SIGTERM, on_stop_signal);
		sigemptyset(&mask);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGTERM);
		pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
		cpu_config_from(cfg, &cc);
		r = cpu_oneshot(target.pid, &cc, cfg->seconds, cfg->output, &oneshot_stop, err, sizeof(err));
	} else {
		struct heap_config hc;

		heap_config_from(cfg, &hc);
		r = heap_oneshot(target.pid, cfg->seconds, &hc, cfg->output, err, sizeof(err));
	}
	if (r == -ESRCH && !target_alive(&target)) {
		log_error("target process %d (%s) exited: %s", (int)target.pid, target.comm, err);
		return EXIT_TARGET_GONE;
	}
	if (r) {
		log_error("%s", err);
		return EXIT_RUNTIME;
	}
	if (strcmp(cfg->output, "-") != 0)
		log_info("wrote the %s profile of process %d to %s", cfg->command == CMD_CPU ? "CPU" : "heap",
			 (int)target.pid, cfg->output);
	return EXIT_OK;
}

/* profd stacks: one thread dump to stdout, no server. */
static int stacks(const struct profd_config *cfg)
{
	struct engine e;
	struct target target;
	struct buf out = { 0 };
	int status, err;

	status = attach(cfg, &target);
	if (status)
		return status;
	status = engine_start(cfg, &target, &e);
	if (status)
		return status;
	err = threads_source__dump_text(e.threads, 2, &out);
	if (err == -ESRCH) {
		log_error("target process %d (%s) exited during the dump", (int)target.pid, target.comm);
		status = EXIT_TARGET_GONE;
	} else if (err == -EPERM) {
		log_error("cannot stop the threads of process %d: %s", (int)target.pid, threads_source__error(e.threads));
		status = EXIT_RUNTIME;
	} else if (err) {
		log_error("thread dump of process %d failed: %s", (int)target.pid, strerror(-err));
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
		.header_timeout_s = HEADER_TIMEOUT_S,
		.max_body = MAX_REQUEST_BODY,
	};
	struct http_server *srv = NULL;
	struct endpoints *ep = NULL;
	struct target target;
	char msg[512], addr[300];
	int fd = -1, status, err, bpf_err;

	status = attach(cfg, &target);
	if (status)
		return status;
	bpf_err = bpf_check(msg, sizeof(msg));
	if (bpf_err)
		log_warn("eBPF is not usable here, so CPU and heap profiles are unavailable: %s", msg);
	if (!addr_is_loopback(cfg->host))
		log_warn("listening on non-loopback address %s (--allow-public): anyone who can connect can read "
			 "profiles of process %d", cfg->host, (int)cfg->pid);
	fd = http_listen(cfg->host, cfg->port, msg, sizeof(msg));
	if (fd < 0) {
		log_error("%s", msg);
		return EXIT_RUNTIME;
	}
	http_bound_address(fd, addr, sizeof(addr));

	status = engine_start(cfg, &target, &engine);
	if (status)
		goto cleanup;
	engine_start_profilers(cfg, &target, &engine, bpf_err == 0);
	ep = endpoints__new(&target, engine.sym);
	if (!ep) {
		log_error("out of memory");
		status = EXIT_RUNTIME;
		goto cleanup;
	}
	endpoints__set_max_seconds(ep, cfg->max_seconds);
	threads_source__profile(engine.threads, &prof);
	endpoints__add_profile(ep, &prof);
	if (engine.cpu) {
		cpu_sampler__provider(engine.cpu, &prof);
		endpoints__add_profile(ep, &prof);
	}
	if (engine.heap) {
		struct profd_profile heap, allocs;

		heap_source__profiles(engine.heap, &heap, &allocs);
		endpoints__add_profile(ep, &heap);
		endpoints__add_profile(ep, &allocs);
	}

	srv = http_server__start(fd, &limits, endpoints__handle, ep);
	if (!srv) {
		log_error("cannot start the HTTP server on %s", addr);
		status = EXIT_RUNTIME;
		goto cleanup;
	}
	fd = -1; /* owned by the server now */
	printf("profd listening on %s\n", addr);
	fflush(stdout);
	log_info("serving http://%s/debug/pprof/ for process %d (%s)", addr, (int)target.pid, target.comm);
	if (cfg->ready_file[0]) {
		err = write_ready_file(cfg->ready_file, addr);
		if (err) {
			log_error("--ready-file %s: cannot write it: %s", cfg->ready_file, strerror(-err));
			status = EXIT_RUNTIME;
			goto cleanup;
		}
	}
	status = wait_for_end(&target, engine.heap);
cleanup:
	http_server__stop(srv, SHUTDOWN_GRACE_MS);
	endpoints__free(ep);
	engine_free(&engine);
	if (fd >= 0)
		close(fd);
	if (cfg->ready_file[0] && srv)
		unlink(cfg->ready_file);
	return status;
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
