// SPDX-License-Identifier: MIT
/* Unwinder tests against live targets (tests/targets/unwind_chain.c, built -O2 without frame
 * pointers): park a thread in a known chain through libc, capture its registers and stack with
 * ptrace, unwind the copy, and check every frame by name (named here with plain libdwfl and
 * libc6-dbg's symbols, independently of profd's symbolizer). Needs ptrace rights (root). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "proc/procmaps.h"
#include "sources/ptrace_capture.h"
#include "stacks/samples.h"
#include "stacks/unwind.h"
#include "targets.h"

#define STACK_BYTES (64 * 1024)
#define MAX_FRAMES 64

struct target {
	pid_t pid;
	pid_t tid;               /* the parked thread */
	unsigned long extra;     /* second number of the "ready" line */
	unsigned long zlib_addr; /* dlopen mode */
	int in_fd, out_fd;       /* its stdin (we write), its stdout (we read) */
	char line[256];
	char deleted_copy[256];  /* when set: the binary ran from this path, now unlinked */
};

struct capture {
	struct thread_capture tc;
	struct unwind_regs regs;
	struct unwind_stack st;
};

static char target_exe[4096];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads one line from the target's stdout, waiting at most 10 s. */
static int target_read_line(struct target *t)
{
	size_t n = 0;
	int64_t deadline = now_ms() + 10000;

	while (n + 1 < sizeof(t->line)) {
		struct pollfd p = { .fd = t->out_fd, .events = POLLIN };
		int64_t left = deadline - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -ETIMEDOUT;
		if (read(t->out_fd, &t->line[n], 1) != 1)
			return -EIO;
		if (t->line[n] == '\n')
			break;
		n++;
	}
	t->line[n] = '\0';
	return 0;
}

/* Waits (10 s at most) until thread tid sits in read(2), so the capture sees the whole chain. */
static int wait_in_read(pid_t pid, pid_t tid)
{
	char path[128], buf[128];
	int64_t deadline = now_ms() + 10000;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	while (now_ms() < deadline) {
		int fd = open(path, O_RDONLY);
		ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (len > 2 && buf[0] == '0' && buf[1] == ' ')
			return 0;
		usleep(2000);
	}
	return -ETIMEDOUT;
}

static void target_stop(struct target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
	if (t->in_fd >= 0)
		close(t->in_fd);
	if (t->out_fd >= 0)
		close(t->out_fd);
	t->in_fd = t->out_fd = -1;
	if (t->deleted_copy[0])
		unlink(t->deleted_copy);
}

/* Starts exe with args; waits for "ready TID EXTRA" unless wait_ready is false. */
static int target_start(struct target *t, const char *exe, const char *mode, const char *arg, bool wait_ready)
{
	int in[2], out[2];

	t->in_fd = t->out_fd = -1;
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (t->pid == 0) {
		/* never outlive the test, whatever happens to it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(exe, exe, mode, arg, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	t->in_fd = in[1];
	t->out_fd = out[0];
	if (!wait_ready)
		return 0;
	if (target_read_line(t) || sscanf(t->line, "ready %d %lx", &t->tid, &t->extra) != 2)
		return -EPROTO;
	return wait_in_read(t->pid, t->tid);
}

/* Captures thread tid of pid with profd's own ptrace capture. */
static int capture_thread(pid_t pid, pid_t tid, size_t bytes, struct capture *c)
{
	int err;

	memset(c, 0, sizeof(*c));
	err = ptrace_capture_thread(pid, tid, bytes, &c->tc, NULL);
	if (err)
		return err;
	c->regs = c->tc.regs;
	c->st = (struct unwind_stack){ .start = c->tc.stack_start, .data = c->tc.stack, .len = c->tc.stack_len };
	return 0;
}

static void capture_release(struct capture *c)
{
	thread_capture_release(&c->tc);
}

/* Names the frames with plain libdwfl on the live process (lookup = pc - 1, samples.h). When
 * the main binary was deleted, its identical original stands in for it. */
static const char *substitute_exe;

static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base, char **file_name,
		    Elf **elfp)
{
	static const char deleted[] = " (deleted)";
	size_t len = strlen(name);

	if (substitute_exe && len > sizeof(deleted) && !strcmp(name + len - (sizeof(deleted) - 1), deleted)) {
		*file_name = strdup(substitute_exe);
		*elfp = NULL;
		return open(substitute_exe, O_RDONLY | O_CLOEXEC);
	}
	return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

static const Dwfl_Callbacks name_callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

static void name_frames(pid_t pid, const uint64_t *pcs, int n, char names[][128])
{
	Dwfl *dwfl = dwfl_begin(&name_callbacks);

	assert_non_null(dwfl);
	assert_int_equal(dwfl_linux_proc_report(dwfl, pid), 0);
	assert_int_equal(dwfl_report_end(dwfl, NULL, NULL), 0);
	for (int i = 0; i < n; i++) {
		Dwfl_Module *mod = dwfl_addrmodule(dwfl, pcs[i] - 1);
		const char *s = mod ? dwfl_module_addrname(mod, pcs[i] - 1) : NULL;

		snprintf(names[i], 128, "%s", s ? s : "??");
	}
	dwfl_end(dwfl);
}

/* true when name is want, or want followed by a compiler or version suffix (".part.0", "@@GLIBC") */
static bool name_is(const char *name, const char *want)
{
	size_t len = strlen(want);

	return !strncmp(name, want, len) && (name[len] == '\0' || name[len] == '.' || name[len] == '@');
}

/* Checks names against want[] in order ("a|b" accepts either; "msort_with_tmp+" one or more). */
static void check_chain(char names[][128], int n, const char *const *want, size_t nwant)
{
	int i = 0;

	for (size_t w = 0; w < nwant; w++) {
		char alt[256], *save = NULL;
		bool repeat = want[w][strlen(want[w]) - 1] == '+';
		bool ok = false;

		snprintf(alt, sizeof(alt), "%s", want[w]);
		if (repeat)
			alt[strlen(alt) - 1] = '\0';
		if (i >= n)
			fail_msg("chain too short: %d frames, wanted %s next", n, want[w]);
		for (char *a = strtok_r(alt, "|", &save); a; a = strtok_r(NULL, "|", &save))
			ok = ok || name_is(names[i], a);
		if (!ok)
			fail_msg("frame #%d is %s, wanted %s", i, names[i], want[w]);
		i++;
		while (repeat && i < n && name_is(names[i], alt))
			i++;
	}
	if (i != n)
		fail_msg("%d frames past the expected chain, next %s", n - i, names[i]);
}

static void print_chain(char names[][128], const uint64_t *pcs, int n, enum unwind_stop why)
{
	for (int i = 0; i < n; i++)
		print_message("  #%-2d %#llx %s\n", i, (unsigned long long)pcs[i], names[i]);
	print_message("  stop: %s\n", unwind_stop_name(why));
}

/* Unwinds with the cached-rule walker and with libdwfl's own walk (PROFD_UNWIND_SLOW=1):
 * both must give the same frames and the same reason. Returns the frame count. */
static int unwind_both(pid_t pid, const struct unwind_regs *regs, const struct unwind_stack *st, uint64_t *pcs,
		       int max, enum unwind_stop *why)
{
	uint64_t slow_pcs[MAX_FRAMES];
	enum unwind_stop slow_why;
	struct unwinder *fast, *slow;
	int n, slow_n;

	assert_true(max <= MAX_FRAMES);
	fast = unwinder__new(pid);
	assert_non_null(fast);
	setenv("PROFD_UNWIND_SLOW", "1", 1);
	slow = unwinder__new(pid);
	unsetenv("PROFD_UNWIND_SLOW");
	assert_non_null(slow);
	n = unwinder__unwind(fast, regs, st, pcs, max, why);
	slow_n = unwinder__unwind(slow, regs, st, slow_pcs, max, &slow_why);
	/* twice: the second walk runs on cached rules */
	assert_int_equal(unwinder__unwind(fast, regs, st, pcs, max, why), n);
	unwinder__free(fast);
	unwinder__free(slow);
	assert_int_equal(n, slow_n);
	assert_int_equal(*why, slow_why);
	assert_memory_equal(pcs, slow_pcs, (size_t)n * sizeof(pcs[0]));
	return n;
}

/* Captures the parked thread and unwinds it: the common part of the chain tests. */
static int unwind_target(struct target *t, struct capture *c, uint64_t *pcs, enum unwind_stop *why)
{
	int n;

	assert_int_equal(capture_thread(t->pid, t->tid, STACK_BYTES, c), 0);
	n = unwind_both(t->pid, &c->regs, &c->st, pcs, MAX_FRAMES, why);
	assert_true(n >= 1);
	/* the leaf is the exact rip, stored + 1 */
	assert_int_equal(pcs[0], sample_pc_exact(c->regs.r[UNWIND_REG_RIP]));
	return n;
}

static int setup(void **state)
{
	struct target *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	t->in_fd = t->out_fd = -1;
	*state = t;
	return 0;
}

/* Runs even when a test fails: no target outlives its test. */
static int teardown(void **state)
{
	struct target *t = *state;

	target_stop(t);
	free(t);
	substitute_exe = NULL;
	return 0;
}

static const char *const qsort_chain[] = {
	"read|__libc_read|__GI___libc_read", "announce_and_block", "compare_blocking", "msort_with_tmp+",
	"qsort_r|__qsort_r", "run_sort", "main", "__libc_start_call_main", "__libc_start_main", "_start",
};

static void test_qsort_chain(void **state)
{
	struct target *t = *state;
	uint64_t pcs[MAX_FRAMES];
	char names[MAX_FRAMES][128];
	enum unwind_stop why;
	struct capture c;
	int n;

	assert_int_equal(target_start(t, target_exe, "qsort", NULL, true), 0);
	n = unwind_target(t, &c, pcs, &why);
	name_frames(t->pid, pcs, n, names);
	print_chain(names, pcs, n, why);
	assert_int_equal(why, UNWIND_STOP_ROOT);
	check_chain(names, n, qsort_chain, sizeof(qsort_chain) / sizeof(qsort_chain[0]));
	capture_release(&c);
}

static void test_thread_chain(void **state)
{
	static const char *const want[] = {
		"read|__libc_read|__GI___libc_read", "announce_and_block", "compare_blocking", "msort_with_tmp+",
		"qsort_r|__qsort_r", "run_sort", "thread_main", "start_thread", "__clone3|clone3",
	};
	struct target *t = *state;
	uint64_t pcs[MAX_FRAMES];
	char names[MAX_FRAMES][128];
	enum unwind_stop why;
	struct capture c;
	int n;

	assert_int_equal(target_start(t, target_exe, "thread", NULL, true), 0);
	assert_int_not_equal(t->tid, t->pid);
	n = unwind_target(t, &c, pcs, &why);
	name_frames(t->pid, pcs, n, names);
	print_chain(names, pcs, n, why);
	assert_int_equal(why, UNWIND_STOP_ROOT);
	check_chain(names, n, want, sizeof(want) / sizeof(want[0]));
	capture_release(&c);
}

static void test_signal_chain(void **state)
{
	static const char *const want[] = {
		"read|__libc_read|__GI___libc_read", "announce_and_block", "on_alarm", "__restore_rt", "spin", "main",
		"__libc_start_call_main", "__libc_start_main", "_start",
	};
	struct target *t = *state;
	uint64_t pcs[MAX_FRAMES];
	char names[MAX_FRAMES][128];
	enum unwind_stop why;
	struct capture c;
	int n;

	assert_int_equal(target_start(t, target_exe, "signal", NULL, true), 0);
	n = unwind_target(t, &c, pcs, &why);
	name_frames(t->pid, pcs, n, names);
	print_chain(names, pcs, n, why);
	assert_int_equal(why, UNWIND_STOP_ROOT);
	check_chain(names, n, want, sizeof(want) / sizeof(want[0]));
	/* the frame after the trampoline is the interrupted instruction itself (the handler got it
	 * from its ucontext), stored exact + 1 */
	assert_int_equal(pcs[4], sample_pc_exact(t->extra));
	capture_release(&c);
}

/* A binary deleted after its process started unwinds through map_files. */
static void test_deleted_binary(void **state)
{
	struct target *t = *state;
	uint64_t pcs[MAX_FRAMES];
	char names[MAX_FRAMES][128];
	char cmd[8300];
	enum unwind_stop why;
	struct capture c;
	int fd, n;

	snprintf(t->deleted_copy, sizeof(t->deleted_copy), "/tmp/profd-unwind-deleted.XXXXXX");
	fd = mkstemp(t->deleted_copy);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 755 '%s'", target_exe, t->deleted_copy, t->deleted_copy);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(target_start(t, t->deleted_copy, "qsort", NULL, true), 0);
	assert_int_equal(unlink(t->deleted_copy), 0);
	t->deleted_copy[0] = '\0';
	n = unwind_target(t, &c, pcs, &why);
	substitute_exe = target_exe;
	name_frames(t->pid, pcs, n, names);
	print_chain(names, pcs, n, why);
	assert_int_equal(why, UNWIND_STOP_ROOT);
	check_chain(names, n, qsort_chain, sizeof(qsort_chain) / sizeof(qsort_chain[0]));
	capture_release(&c);
}

/* A stack copy that ends too early says so, and keeps the frames it could unwind. */
static void test_small_window(void **state)
{
	struct target *t = *state;
	struct unwind_stack small;
	uint64_t pcs[MAX_FRAMES], full[MAX_FRAMES];
	enum unwind_stop why;
	struct unwinder *uw;
	struct capture c;
	int n, nfull;

	assert_int_equal(target_start(t, target_exe, "qsort", NULL, true), 0);
	nfull = unwind_target(t, &c, full, &why);
	assert_int_equal(why, UNWIND_STOP_ROOT);
	uw = unwinder__new(t->pid);
	assert_non_null(uw);
	for (size_t len = 0; len <= 512; len += 8) {
		small = c.st;
		small.len = len;
		n = unwinder__unwind(uw, &c.regs, &small, pcs, MAX_FRAMES, &why);
		assert_true(n >= 1 && n < nfull);
		if (len % 64 == 0)
			assert_int_equal(unwind_both(t->pid, &c.regs, &small, pcs, MAX_FRAMES, &why), n);
		assert_int_equal(why, UNWIND_STOP_WINDOW);
		/* what it did unwind agrees with the full walk */
		assert_memory_equal(pcs, full, (size_t)n * sizeof(pcs[0]));
	}
	unwinder__free(uw);
	capture_release(&c);
}

static void test_depth_bound(void **state)
{
	struct target *t = *state;
	uint64_t pcs[MAX_FRAMES], full[MAX_FRAMES];
	enum unwind_stop why;
	struct unwinder *uw;
	struct capture c;
	int n, nfull;

	assert_int_equal(target_start(t, target_exe, "deep", "20", true), 0);
	nfull = unwind_target(t, &c, full, &why);
	assert_int_equal(why, UNWIND_STOP_ROOT);
	assert_true(nfull > 28);
	uw = unwinder__new(t->pid);
	assert_non_null(uw);
	n = unwind_both(t->pid, &c.regs, &c.st, pcs, 5, &why);
	assert_int_equal(n, 5);
	assert_int_equal(why, UNWIND_STOP_DEPTH);
	assert_memory_equal(pcs, full, 5 * sizeof(pcs[0]));
	/* exactly enough room is not "cut short" */
	n = unwinder__unwind(uw, &c.regs, &c.st, pcs, nfull, &why);
	assert_int_equal(n, nfull);
	assert_int_equal(why, UNWIND_STOP_ROOT);
	unwinder__free(uw);
	capture_release(&c);
}

/* Synthetic leaves: a pc outside every mapping, and a pc inside an ELF but without CFI. */
static void test_bad_pc(void **state)
{
	struct target *t = *state;
	struct unwind_regs regs = { 0 };
	struct unwind_stack st = { 0 };
	struct procmaps maps = { 0 };
	const struct procmaps_entry *exe = NULL;
	uint64_t pcs[4];
	enum unwind_stop why;
	struct unwinder *uw;
	int n;

	assert_int_equal(target_start(t, target_exe, "qsort", NULL, true), 0);
	uw = unwinder__new(t->pid);
	assert_non_null(uw);
	regs.r[UNWIND_REG_RIP] = 0x1000;
	n = unwinder__unwind(uw, &regs, &st, pcs, 4, &why);
	assert_int_equal(n, 1);
	assert_int_equal(pcs[0], 0x1001);
	assert_int_equal(why, UNWIND_STOP_BAD_ADDR);
	/* the ELF header of the main binary: inside its module, covered by no FDE */
	assert_int_equal(procmaps_read(t->pid, &maps), 0);
	for (size_t i = 0; i < maps.n && !exe; i++)
		if (maps.entries[i].offset == 0 && strstr(maps.entries[i].path, "unwind_chain"))
			exe = &maps.entries[i];
	assert_non_null(exe);
	regs.r[UNWIND_REG_RIP] = exe->start + 16;
	n = unwinder__unwind(uw, &regs, &st, pcs, 4, &why);
	assert_int_equal(n, 1);
	assert_int_equal(why, UNWIND_STOP_NO_CFI);
	/* no pc at all */
	regs.r[UNWIND_REG_RIP] = 0;
	assert_int_equal(unwinder__unwind(uw, &regs, &st, pcs, 4, &why), 0);
	assert_int_equal(why, UNWIND_STOP_BAD_ADDR);
	/* bad arguments */
	assert_int_equal(unwinder__unwind(uw, &regs, &st, pcs, 0, &why), -EINVAL);
	assert_int_equal(unwinder__unwind(uw, NULL, &st, pcs, 4, &why), -EINVAL);
	assert_int_equal(unwinder__unwind(NULL, &regs, &st, pcs, 4, &why), -EINVAL);
	procmaps_free(&maps);
	unwinder__free(uw);
}

/* unwinder__refresh sees a library dlopened after the unwinder was made. */
static void test_refresh_dlopen(void **state)
{
	struct target *t = *state;
	struct unwind_regs regs = { 0 };
	struct unwind_stack st = { 0 };
	uint64_t pcs[4];
	enum unwind_stop why;
	struct unwinder *uw;
	int n;

	assert_int_equal(target_start(t, target_exe, "dlopen", NULL, false), 0);
	/* parked in main's read of stdin, before the dlopen */
	assert_int_equal(wait_in_read(t->pid, t->pid), 0);
	uw = unwinder__new(t->pid);
	assert_non_null(uw);
	assert_int_equal(unwinder__refresh(uw), 0); /* nothing changed */
	assert_int_equal(write(t->in_fd, "go\n", 3), 3);
	assert_int_equal(target_read_line(t), 0);
	assert_int_equal(sscanf(t->line, "zlib %lx", &t->zlib_addr), 1);
	assert_int_equal(target_read_line(t), 0);
	assert_true(t->zlib_addr != 0);
	regs.r[UNWIND_REG_RIP] = t->zlib_addr;
	regs.r[UNWIND_REG_RSP] = 0x10000;
	n = unwinder__unwind(uw, &regs, &st, pcs, 4, &why);
	assert_int_equal(n, 1);
	assert_int_equal(why, UNWIND_STOP_BAD_ADDR);
	assert_int_equal(unwinder__refresh(uw), 0);
	/* now libz is known and zlibVersion has CFI; its return address lies outside the empty copy */
	n = unwinder__unwind(uw, &regs, &st, pcs, 4, &why);
	assert_int_equal(n, 1);
	assert_int_equal(why, UNWIND_STOP_WINDOW);
	unwinder__free(uw);
}

/* A leaf in a PLT stub: its CFA is a DWARF expression on rip (16-byte entries, the CFA moves
 * after the push at +11). Built from a real capture: rip = the qsort@plt stub that run_sort
 * called, rsp = the slot holding run_sort's return address. Both walkers must agree, and the
 * caller must be that return address at both points of the stub. */
static void test_plt_leaf(void **state)
{
	struct target *t = *state;
	uint64_t pcs[MAX_FRAMES], full[MAX_FRAMES], plt, slot = 0;
	char names[MAX_FRAMES][128], path[64];
	struct unwind_regs regs;
	struct unwind_stack st;
	enum unwind_stop why;
	struct capture c;
	uint8_t code[5];
	int32_t rel;
	int k, n, nfull, mem;

	assert_int_equal(target_start(t, target_exe, "qsort", NULL, true), 0);
	nfull = unwind_target(t, &c, full, &why);
	name_frames(t->pid, full, nfull, names);
	for (k = 1; k < nfull && !name_is(names[k], "run_sort"); k++)
		;
	assert_true(k < nfull);
	/* run_sort's return address follows "call rel32" to the stub */
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)t->pid);
	mem = open(path, O_RDONLY);
	assert_true(mem >= 0);
	assert_int_equal(pread(mem, code, sizeof(code), (off_t)(full[k] - 5)), 5);
	close(mem);
	assert_int_equal(code[0], 0xe8);
	memcpy(&rel, code + 1, sizeof(rel));
	plt = full[k] + (uint64_t)(int64_t)rel;
	for (size_t off = 0; off + 8 <= c.st.len && !slot; off += 8) {
		uint64_t v;

		memcpy(&v, c.st.data + off, sizeof(v));
		if (v == full[k])
			slot = c.st.start + off;
	}
	assert_true(slot != 0);
	for (int at = 0; at <= 11; at += 11) {
		regs = c.regs;
		regs.r[UNWIND_REG_RIP] = plt + (uint64_t)at;
		/* after the push at +11 the stack holds one more word */
		regs.r[UNWIND_REG_RSP] = slot - (at == 11 ? 8 : 0);
		st = c.st;
		st.start = regs.r[UNWIND_REG_RSP];
		st.data = c.st.data + (st.start - c.st.start);
		st.len = c.st.len - (st.start - c.st.start);
		n = unwind_both(t->pid, &regs, &st, pcs, MAX_FRAMES, &why);
		assert_true(n >= 2);
		assert_int_equal(pcs[0], sample_pc_exact(plt + (uint64_t)at));
		assert_int_equal(pcs[1], full[k]);
	}
	capture_release(&c);
}

/* Corrupted stacks (random words overwritten, as a racing or hostile target could leave them)
 * never crash, stay within the bound, and give the same answer through both walkers. */
static void test_garbage_stack(void **state)
{
	struct target *t = *state;
	uint64_t pcs[MAX_FRAMES], slow_pcs[MAX_FRAMES], full[MAX_FRAMES];
	enum unwind_stop why, slow_why;
	struct unwinder *fast, *slow;
	struct unwind_stack st;
	struct capture c;
	uint8_t *copy;
	uint64_t seed = 0x2545f4914f6cdd1dull;
	int nfull, seen[UNWIND_STOP__COUNT] = { 0 }, changed = 0;
	uint64_t slots[MAX_FRAMES];
	size_t nslots = 0;

	assert_int_equal(target_start(t, target_exe, "signal", NULL, true), 0);
	nfull = unwind_target(t, &c, full, &why);
	assert_true(nfull > 5);
	fast = unwinder__new(t->pid);
	setenv("PROFD_UNWIND_SLOW", "1", 1);
	slow = unwinder__new(t->pid);
	unsetenv("PROFD_UNWIND_SLOW");
	assert_non_null(fast);
	assert_non_null(slow);
	copy = malloc(c.st.len);
	assert_non_null(copy);
	for (size_t off = 0; off + 8 <= c.st.len && off < 2048 && nslots < MAX_FRAMES; off += 8) {
		uint64_t v;

		memcpy(&v, c.st.data + off, sizeof(v));
		for (int k = 1; k < nfull; k++)
			if (v == full[k] || v == full[k] - 1)
				slots[nslots++] = off / 8;
	}
	for (int iter = 0; iter < 3000; iter++) {
		/* only the part of the stack the walk reads matters: the first 2 KiB */
		size_t span = c.st.len < 2048 ? c.st.len : 2048;
		int n, slow_n;

		memcpy(copy, c.st.data, c.st.len);
		for (int k = 0; k < 1 + iter % 4; k++) {
			uint64_t v, pos;

			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			/* half the time a plausible value: a nearby stack address or a real pc */
			v = seed % 3 == 0 ? c.st.start + (seed >> 8) % span : seed % 3 == 1 ? full[(seed >> 8) % nfull] : seed;
			/* and half the time next to a slot the walk reads (a return address) */
			pos = (seed >> 20) % (span / 8);
			if (nslots && (seed >> 40) % 2)
				pos = slots[(seed >> 41) % nslots] + (seed >> 50) % 5 - 2;
			if (pos < span / 8)
				memcpy(copy + pos * 8, &v, sizeof(v));
		}
		st = (struct unwind_stack){ .start = c.st.start, .data = copy, .len = c.st.len };
		n = unwinder__unwind(fast, &c.regs, &st, pcs, MAX_FRAMES, &why);
		slow_n = unwinder__unwind(slow, &c.regs, &st, slow_pcs, MAX_FRAMES, &slow_why);
		assert_true(n >= 1 && n <= MAX_FRAMES);
		assert_true(why < UNWIND_STOP__COUNT);
		assert_int_equal(n, slow_n);
		assert_int_equal(why, slow_why);
		assert_memory_equal(pcs, slow_pcs, (size_t)n * sizeof(pcs[0]));
		seen[why]++;
		changed += n != nfull || memcmp(pcs, full, (size_t)n * sizeof(pcs[0]));
	}
	for (int i = 0; i < UNWIND_STOP__COUNT; i++)
		print_message("  %-12s %d\n", unwind_stop_name(i), seen[i]);
	print_message("  walks that differ from the clean one: %d\n", changed);
	/* the corruption did reach the walk: not every stack came out as the clean one */
	assert_true(changed > 1000);
	free(copy);
	unwinder__free(fast);
	unwinder__free(slow);
	capture_release(&c);
}

/* A return address replaced in the copy (as a uretprobe's trampoline replaces it) stops the
 * walk; the same copy with a word overlay saying what the slot held walks as the clean stack,
 * through both walkers. An overlay word straddling the read (unaligned) is merged bytewise. */
static void test_word_overlay(void **state)
{
	struct target *t = *state;
	uint64_t pcs[MAX_FRAMES], slow_pcs[MAX_FRAMES], full[MAX_FRAMES], orig = 0, bogus = 0x7fffffffe000ull;
	enum unwind_stop why, slow_why;
	struct unwinder *fast, *slow;
	struct unwind_word words[2];
	struct unwind_stack st;
	struct capture c;
	uint8_t *copy;
	size_t slot = 0;
	int nfull, n, k = 0;

	assert_int_equal(target_start(t, target_exe, "qsort", NULL, true), 0);
	nfull = unwind_target(t, &c, full, &why);
	assert_true(nfull > 4);
	/* the slot of a return address in the middle of the stack */
	for (size_t off = 0; off + 8 <= c.st.len && !slot; off += 8) {
		uint64_t v;

		memcpy(&v, c.st.data + off, sizeof(v));
		for (k = 2; k < nfull - 1 && !slot; k++)
			if (v == full[k]) {
				slot = off;
				orig = v;
			}
	}
	assert_true(slot != 0);
	fast = unwinder__new(t->pid);
	setenv("PROFD_UNWIND_SLOW", "1", 1);
	slow = unwinder__new(t->pid);
	unsetenv("PROFD_UNWIND_SLOW");
	assert_non_null(fast);
	assert_non_null(slow);
	copy = malloc(c.st.len);
	assert_non_null(copy);
	memcpy(copy, c.st.data, c.st.len);
	memcpy(copy + slot, &bogus, sizeof(bogus));
	st = (struct unwind_stack){ .start = c.st.start, .data = copy, .len = c.st.len };
	n = unwinder__unwind(fast, &c.regs, &st, pcs, MAX_FRAMES, &why);
	assert_true(n < nfull);
	assert_int_equal(why, UNWIND_STOP_BAD_ADDR);

	words[0] = (struct unwind_word){ .addr = c.st.start + slot, .value = orig };
	st.words = words;
	st.nwords = 1;
	n = unwinder__unwind(fast, &c.regs, &st, pcs, MAX_FRAMES, &why);
	assert_int_equal(n, nfull);
	assert_int_equal(why, UNWIND_STOP_ROOT);
	assert_memory_equal(pcs, full, (size_t)n * sizeof(pcs[0]));
	n = unwinder__unwind(slow, &c.regs, &st, slow_pcs, MAX_FRAMES, &slow_why);
	assert_int_equal(n, nfull);
	assert_memory_equal(slow_pcs, full, (size_t)n * sizeof(pcs[0]));

	/* the same value given as two words offset by 4 bytes: each supplies its half */
	memset(copy + slot, 0xee, 8);
	words[0] = (struct unwind_word){ .addr = c.st.start + slot - 4, .value = (orig << 32) | 0xeeeeeeee };
	words[1] = (struct unwind_word){ .addr = c.st.start + slot + 4, .value = (orig >> 32) | 0xeeeeeeee00000000ull };
	st.nwords = 2;
	n = unwinder__unwind(fast, &c.regs, &st, pcs, MAX_FRAMES, &why);
	assert_int_equal(n, nfull);
	assert_memory_equal(pcs, full, (size_t)n * sizeof(pcs[0]));
	free(copy);
	unwinder__free(fast);
	unwinder__free(slow);
	capture_release(&c);
}

/* The offset of a function in the vDSO, found in our own copy (same kernel, same image). */
static uint64_t vdso_function_offset(const char *name)
{
	struct procmaps maps = { 0 };
	const struct procmaps_entry *v = NULL;
	uint64_t off = 0;
	Elf_Scn *scn = NULL;
	Elf *elf;

	assert_int_equal(procmaps_read(getpid(), &maps), 0);
	for (size_t i = 0; i < maps.n && !v; i++)
		if (!strcmp(maps.entries[i].path, "[vdso]"))
			v = &maps.entries[i];
	assert_non_null(v);
	elf_version(EV_CURRENT);
	elf = elf_memory((char *)(uintptr_t)v->start, v->end - v->start);
	assert_non_null(elf);
	while ((scn = elf_nextscn(elf, scn)) && !off) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *sname;

			if (gelf_getsym(data, (int)i, &sym) && (sname = elf_strptr(elf, sh.sh_link, sym.st_name)) &&
			    !strcmp(sname, name))
				off = sym.st_value;
		}
	}
	elf_end(elf);
	procmaps_free(&maps);
	assert_true(off != 0);
	return off;
}

/* A pc in the target's vDSO (clock_gettime) is inside a module with CFI. */
static void test_vdso(void **state)
{
	struct target *t = *state;
	struct unwind_regs regs = { 0 };
	struct unwind_stack st = { 0 };
	struct procmaps maps = { 0 };
	uint64_t pcs[4], vdso = 0;
	enum unwind_stop why;
	struct unwinder *uw;
	int n;

	assert_int_equal(target_start(t, target_exe, "qsort", NULL, true), 0);
	assert_int_equal(procmaps_read(t->pid, &maps), 0);
	for (size_t i = 0; i < maps.n; i++)
		if (!strcmp(maps.entries[i].path, "[vdso]"))
			vdso = maps.entries[i].start;
	procmaps_free(&maps);
	assert_true(vdso != 0);
	uw = unwinder__new(t->pid);
	assert_non_null(uw);
	regs.r[UNWIND_REG_RIP] = vdso + vdso_function_offset("__vdso_clock_gettime");
	regs.r[UNWIND_REG_RSP] = 0x10000;
	n = unwinder__unwind(uw, &regs, &st, pcs, 4, &why);
	assert_int_equal(n, 1);
	/* CFI found; the return address lies outside the (empty) copy */
	assert_int_equal(why, UNWIND_STOP_WINDOW);
	unwinder__free(uw);
}

static void test_errors(void **state)
{
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	errno = 0;
	assert_null(unwinder__new(child));
	assert_int_equal(errno, ESRCH);
	assert_null(unwinder__new(0));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(unwinder__refresh(NULL), -EINVAL);
	unwinder__free(NULL);
	for (int i = 0; i < UNWIND_STOP__COUNT; i++)
		assert_string_not_equal(unwind_stop_name(i), "unknown");
	assert_string_equal(unwind_stop_name(UNWIND_STOP__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test_setup_teardown(test_qsort_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_pc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_dlopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vdso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plt_leaf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_stack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_word_overlay, setup, teardown),
	};

	test_target_path(target_exe, sizeof(target_exe), "unwind_chain");
	if (access(target_exe, X_OK)) {
		fprintf(stderr, "cannot find the test target %s\n", target_exe);
		return 1;
	}
	if (geteuid() != 0) {
		printf("needs root (ptrace of the test targets)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
