// SPDX-License-Identifier: MIT
/* Thread dumps of threads that keep waking up (tests/targets/threads_torn: sleeps of a few
 * microseconds at a random recursion depth): every stack reported must be one the thread really
 * had, from the leaf: libc's nanosleep frames or the PLT stub to it, and torn_rest (or neither,
 * while awake), 1 to 12 torn_descend frames (none while awake in torn_worker), torn_worker,
 * start_thread, clone3.
 * A copy torn between two depths unwinds into pads of non-addresses and fails that shape.
 * First with the task iterator's check that a thread did not run during its copy turned off
 * (PROFD_TASKITER_SIMULATE=torn): torn stacks must show up, or this test could not see one.
 * Then as built: not one, over hundreds of dumps. Needs root; skips otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proc/target.h"
#include "sources/threads.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"
#include "threads_target.h"

#define TORN_THREADS "24"
#define TORN_MAX_SLEEP_US "60"
#define TORN_MAX_DEPTH 12
#define MAX_FRAMES 64

struct fixture {
	struct tt_target tt;
	struct target t;
	struct unwinder *uw;
	struct symbolizer *sym;
	struct threads_source *src;
};

static void fixture_start(struct fixture *f)
{
	static const char *const args[] = { TORN_THREADS, TORN_MAX_SLEEP_US, NULL };
	const char *why;

	memset(f, 0, sizeof(*f));
	assert_int_equal(tt_start_prog(&f->tt, "threads_torn", args), 0);
	assert_int_equal(target_open(f->tt.pid, &f->t), 0);
	f->uw = unwinder__new(f->tt.pid);
	f->sym = symbolizer__new(f->tt.pid);
	assert_non_null(f->uw);
	assert_non_null(f->sym);
	f->src = threads_source__new(&f->t, f->uw, f->sym, 0);
	assert_non_null(f->src);
	if (!threads_source__iterator(f->src, &why))
		fail_msg("the task iterator is not in use: %s", why);
}

static void fixture_stop(struct fixture *f)
{
	assert_int_equal(tt_count_traced(f->tt.pid), 0);
	threads_source__free(f->src);
	symbolizer__free(f->sym);
	unwinder__free(f->uw);
	tt_stop(&f->tt);
}

/* libc's nanosleep, and what it calls around the syscall (it is a cancellation point:
 * __pthread_enable_asynccancel, __pthread_disable_asynccancel and what they inline) */
static bool is_libc_sleep(const char *fn)
{
	return strstr(fn, "nanosleep") || strstr(fn, "cancel");
}

/* The executable's PLT stub that torn_rest calls nanosleep through: no symbol covers .plt, so
 * its pcs are named after the symbol before it, _init (the end of .init) */
static bool is_plt(const char *fn)
{
	return !strcmp(fn, "_init") || strstr(fn, "@plt");
}

/* NULL if names[0..n) (user frames, leaf first) is a stack a torn thread can have, else why not. */
static const char *check_stack(char (*names)[128], int n)
{
	int i = 0, plt = 0, libc = 0, rest = 0, descend = 0;

	if (n > 0 && is_plt(names[0])) {
		i++;
		plt++;
	}
	while (i < n && is_libc_sleep(names[i])) {
		i++;
		libc++;
	}
	if (i < n && !strcmp(names[i], "torn_rest")) {
		i++;
		rest++;
	}
	while (i < n && !strcmp(names[i], "torn_descend")) {
		i++;
		descend++;
	}
	if (plt && libc)
		return "libc's nanosleep under the PLT stub (it jumps, it does not call)";
	if ((libc || plt) && !rest)
		return "nanosleep not called from torn_rest";
	if (rest && !descend)
		return "torn_rest not called from torn_descend";
	if (descend > TORN_MAX_DEPTH)
		return "deeper than the target ever goes";
	if (n - i != 3)
		return n - i < 3 ? "cut short" : "unknown frames";
	if (strcmp(names[i], "torn_worker") || strcmp(names[i + 1], "start_thread") ||
	    (strcmp(names[i + 2], "clone3") && strcmp(names[i + 2], "__clone3")))
		return "not torn_worker <- start_thread <- clone3 at the root";
	return NULL;
}

struct tally {
	long stacks, bad, not_captured;
};

/* Checks every torn-N thread of one debug=2 dump; prints the first few bad stacks. */
static void check_dump(const char *text, struct tally *t)
{
	static char names[MAX_FRAMES][128];
	const char *p = text;

	while (p && *p) {
		const char *hdr = p, *line = strchr(p, '\n');
		bool torn = false;
		int n = 0;

		if (!line)
			break;
		torn = strncmp(hdr, "goroutine ", 10) == 0 && memmem(hdr, (size_t)(line - hdr), "\"torn-", 6);
		if (torn && memmem(hdr, (size_t)(line - hdr), "not captured", 12))
			t->not_captured++;
		p = line + 1;
		/* frames: "function(...)" then "\t<file>..." */
		while (*p && *p != '\n') {
			const char *fn_end = strchr(p, '\n'), *file = fn_end ? fn_end + 1 : NULL;
			const char *file_end = file ? strchr(file, '\n') : NULL;

			if (!file_end)
				return;
			if (strncmp(file, "\t[kernel]", 9) && n < MAX_FRAMES && fn_end - p > 5) {
				snprintf(names[n], sizeof(names[0]), "%.*s", (int)(fn_end - p - 5), p);
				n++;
			}
			p = file_end + 1;
		}
		if (torn && !memmem(hdr, (size_t)(line - hdr), "not captured", 12)) {
			const char *why = check_stack(names, n);

			t->stacks++;
			if (why) {
				if (t->bad++ < 3) {
					print_message("%s: %.*s\n", why, (int)(line - hdr), hdr);
					for (int k = 0; k < n; k++)
						print_message("    %s\n", names[k]);
				}
			}
		}
		if (*p == '\n')
			p++;
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Dumps until `rounds` dumps or `seconds` passed, or (stop_at_bad) a bad stack was seen. */
static void dump_rounds(struct fixture *f, int rounds, double seconds, bool stop_at_bad, struct tally *t)
{
	struct buf out = { 0 };
	double end = now_s() + seconds;

	for (int i = 0; i < rounds && now_s() < end && !(stop_at_bad && t->bad); i++) {
		buf_reset(&out);
		assert_int_equal(threads_source__dump_text(f->src, 2, &out), 0);
		check_dump(out.data, t);
	}
	buf_free(&out);
}

/* With the check off, a copy that the thread's waking tore is reported: the oracle sees it. */
static void test_oracle_sees_torn_copies(void **state)
{
	struct tally t = { 0 };
	struct fixture f;

	(void)state;
	setenv("PROFD_TASKITER_SIMULATE", "torn", 1);
	fixture_start(&f);
	unsetenv("PROFD_TASKITER_SIMULATE");
	dump_rounds(&f, 2000, 20.0, true, &t);
	print_message("check off: %ld bad of %ld stacks\n", t.bad, t.stacks);
	assert_true(t.stacks > 0);
	assert_true(t.bad > 0);
	fixture_stop(&f);
}

/* As built: threads that woke during their copy are read again (or stopped), never reported torn. */
static void test_no_torn_stacks(void **state)
{
	struct profd_sample_set *set = NULL;
	struct tally t = { 0 };
	struct buf s = { 0 };
	struct fixture f;

	(void)state;
	fixture_start(&f);
	dump_rounds(&f, 2000, 10.0, false, &t);
	print_message("check on: %ld bad of %ld stacks, %ld not captured\n", t.bad, t.stacks, t.not_captured);
	assert_true(t.stacks >= 24 * 20); /* hundreds of dumps here; at least 20 on a slow machine */
	assert_int_equal(t.bad, 0);
	assert_int_equal(t.not_captured, 0);
	/* and most were read without a stop */
	assert_int_equal(threads_source__snapshot(f.src, &set), 0);
	assert_int_equal(threads_source__summary(f.src, &s), 0);
	print_message("%s\n", s.data);
	for (int i = 0; i < set->ncomments; i++)
		print_message("# %s\n", set->comments[i]);
	assert_non_null(strstr(s.data, "captured ("));
	assert_true(strtol(strstr(s.data, "captured (") + strlen("captured ("), NULL, 10) >= 12);
	sample_set__free(set);
	buf_free(&s);
	fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oracle_sees_torn_copies),
		cmocka_unit_test(test_no_torn_stacks),
	};

	if (geteuid() != 0) {
		printf("needs root (CAP_BPF, CAP_SYS_PTRACE)\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
