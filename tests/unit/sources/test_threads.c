// SPDX-License-Identifier: MIT
/* The thread-dump source against tests/targets/threads_mix: every thread's frames, state and
 * name in the debug=2 shape; debug=1 groupings and counts; the debug=0 sample set (and go tool
 * pprof accepting it); frames equal to eu-stack's; 200+ threads; churn; concurrent dumps; an
 * already traced target; nothing left stopped, no EINTR. Needs root; skips otherwise.
 * Built twice: as is, the source reads blocked threads with the BPF task iterator (and the
 * tests check that it does); test_threads_ptrace.c includes this file with THREADS_TEST_METHOD
 * set to THREADS_METHOD_PTRACE, the path of kernels without the iterator. */
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ptrace.h>

#include <cmocka.h>

#include "pprof/pprof.h"
#include "proc/target.h"
#include "sources/threads.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"
#include "threads_target.h"

#ifndef THREADS_TEST_METHOD
#define THREADS_TEST_METHOD THREADS_METHOD_AUTO
#endif
#define ITER (THREADS_TEST_METHOD == THREADS_METHOD_AUTO)

static struct threads_source *new_source_method(struct target *t, struct unwinder *uw,
						struct symbolizer *sym, size_t stack_bytes,
						enum threads_method method)
{
	struct threads_source *src = threads_source__new_method(t, uw, sym, stack_bytes, method);
	const char *why = NULL;
	bool iter = method == THREADS_METHOD_AUTO;

	assert_non_null(src);
	/* this kernel (5.18+, BTF) has the task iterator: a source that does not use it is a bug */
	if (threads_source__iterator(src, &why) != iter)
		print_message("task iterator: %s\n", why);
	assert_int_equal(threads_source__iterator(src, &why), iter);
	return src;
}

static struct threads_source *new_source(struct target *t, struct unwinder *uw, struct symbolizer *sym,
					 size_t stack_bytes)
{
	return new_source_method(t, uw, sym, stack_bytes, THREADS_TEST_METHOD);
}

struct fixture {
	struct tt_target tt;
	struct target t;
	struct unwinder *uw;
	struct symbolizer *sym;
	struct threads_source *src;
};

static void fixture_start(struct fixture *f, const char *const *args, size_t stack_bytes)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(tt_start(&f->tt, args), 0);
	assert_int_equal(target_open(f->tt.pid, &f->t), 0);
	f->uw = unwinder__new(f->tt.pid);
	assert_non_null(f->uw);
	f->sym = symbolizer__new(f->tt.pid);
	assert_non_null(f->sym);
	f->src = new_source(&f->t, f->uw, f->sym, stack_bytes);
}

static void fixture_stop(struct fixture *f)
{
	assert_int_equal(tt_count_traced(f->tt.pid), 0);
	assert_int_equal(tt_stat(&f->tt, "eintr"), 0);
	threads_source__free(f->src);
	symbolizer__free(f->sym);
	unwinder__free(f->uw);
	tt_stop(&f->tt);
}

/* One block of a debug=2 dump. */
struct block {
	pid_t tid;
	char header[512];
	int nframes;
	char funcs[128][160];  /* function lines without "(...)" */
	char files[128][256];  /* file lines without the tab */
};

/* Splits and checks the shape: header regex, two lines per frame, one blank line between
 * blocks, none after the last. Returns the number of blocks. */
static int parse_debug2(const char *text, struct block *blocks, int max)
{
	regex_t hdr;
	const char *p = text;
	int n = 0;

	assert_int_equal(regcomp(&hdr, "^goroutine [0-9]+ \\[[^]]+\\]:$", REG_EXTENDED | REG_NOSUB), 0);
	assert_true(strlen(text) > 0);
	assert_true(text[strlen(text) - 1] == '\n');
	assert_false(strlen(text) >= 2 && text[strlen(text) - 2] == '\n'); /* no blank line at the end */
	while (*p) {
		struct block *b = &blocks[n];
		const char *end = strchr(p, '\n');
		size_t len = (size_t)(end - p);

		assert_true(n < max);
		memset(b, 0, sizeof(*b));
		assert_true(len < sizeof(b->header));
		memcpy(b->header, p, len);
		assert_int_equal(regexec(&hdr, b->header, 0, NULL, 0), 0);
		b->tid = atoi(b->header + strlen("goroutine "));
		p = end + 1;
		while (*p && *p != '\n') {
			const char *fe = strchr(p, '\n'), *le;
			size_t flen = (size_t)(fe - p);

			assert_true(*p != '\t');
			assert_true(flen > 5 && !strncmp(fe - 5, "(...)", 5));
			le = strchr(fe + 1, '\n');
			assert_non_null(le);
			assert_true(fe[1] == '\t');
			if (b->nframes < 128) {
				snprintf(b->funcs[b->nframes], sizeof(b->funcs[0]), "%.*s", (int)(flen - 5), p);
				snprintf(b->files[b->nframes], sizeof(b->files[0]), "%.*s", (int)(le - fe - 2), fe + 2);
				b->nframes++;
			}
			p = le + 1;
		}
		if (*p == '\n') {
			p++;
			assert_true(*p == 'g'); /* exactly one blank line, then the next block */
		}
		n++;
	}
	regfree(&hdr);
	return n;
}

static const struct block *find_block(const struct block *blocks, int n, pid_t tid)
{
	for (int i = 0; i < n; i++)
		if (blocks[i].tid == tid)
			return &blocks[i];
	return NULL;
}

/* The functions appear in this order (not necessarily adjacent). Returns true if so. */
static bool has_chain(const struct block *b, const char *const *chain)
{
	int k = 0;

	for (int i = 0; i < b->nframes && chain[k]; i++)
		if (!strcmp(b->funcs[i], chain[k]))
			k++;
	return chain[k] == NULL;
}

static void print_block(const struct block *b)
{
	print_message("%s\n", b->header);
	for (int i = 0; i < b->nframes; i++)
		print_message("  %s | %s\n", b->funcs[i], b->files[i]);
}

static void check_role(const struct block *blocks, int n, pid_t pid, const char *name,
		       const char *header_part, const char *const *chain)
{
	pid_t tid = tt_find_thread(pid, name);
	const struct block *b;
	char quoted[64];

	assert_true(tid > 0);
	b = find_block(blocks, n, tid);
	assert_non_null(b);
	snprintf(quoted, sizeof(quoted), ", \"%s\"]:", name);
	if (!strstr(b->header, quoted) || (header_part && !strstr(b->header, header_part)) ||
	    !has_chain(b, chain))
		print_block(b);
	assert_non_null(strstr(b->header, quoted));
	if (header_part)
		assert_non_null(strstr(b->header, header_part));
	assert_true(has_chain(b, chain));
}

static struct block blocks_storage[300];

static void test_debug2_frames_and_names(void **state)
{
	static const char *const args[] = { "--cond", "3", "--sleep", "3", "--pipe", "2", "--spin", "1",
					    "--qsort", "1", NULL };
	static const char *const cond[] = { "___pthread_cond_wait", "cond_leaf", "cond_worker", "start_thread",
					    NULL };
	static const char *const sleep[] = { "sleep_leaf", "sleep_worker", "start_thread", NULL };
	static const char *const pipe_[] = { "pipe_leaf", "pipe_worker", "start_thread", NULL };
	static const char *const spin[] = { "spin_leaf", "spin_worker", "start_thread", NULL };
	static const char *const qs[] = { "qsort_worker", "start_thread", NULL };
	static const char *const qs_cmp[] = { "qsort_cmp", "msort_with_tmp", "__GI___qsort_r", "qsort_worker",
					      "start_thread", NULL };
	static const char *const main_[] = { "main", "__libc_start_call_main", NULL };
	struct fixture f;
	struct buf out = { 0 };
	bool cmp_seen = false, asleep[3] = { false, false, false };
	int n;

	(void)state;
	fixture_start(&f, args, 0);
	for (int round = 0; round < 30 && !(cmp_seen && asleep[0] && asleep[1] && asleep[2]); round++) {
		buf_reset(&out);
		assert_int_equal(threads_source__dump_text(f.src, 2, &out), 0);
		n = parse_debug2(out.data, blocks_storage, 300);
		assert_int_equal(n, 11);
		assert_int_equal(blocks_storage[0].tid, f.tt.pid); /* main first */
		check_role(blocks_storage, n, f.tt.pid, "threads_mix", ": read", main_);
		for (int i = 0; i < 3; i++) {
			char name[16];

			snprintf(name, sizeof(name), "cond-%d", i);
			check_role(blocks_storage, n, f.tt.pid, name, "[sleeping: futex,", cond);
			/* a 10 ms sleep loop is now and then caught awake ("running") between two sleeps:
			 * its chain must hold every time, and it must be shown in nanosleep in some round */
			snprintf(name, sizeof(name), "sleep-%d", i);
			check_role(blocks_storage, n, f.tt.pid, name, NULL, sleep);
			asleep[i] |= strstr(find_block(blocks_storage, n, tt_find_thread(f.tt.pid, name))->header,
					    "[sleeping: clock_nanosleep,") != NULL;
		}
		check_role(blocks_storage, n, f.tt.pid, "pipe-0", "[sleeping: read,", pipe_);
		check_role(blocks_storage, n, f.tt.pid, "pipe-1", "[sleeping: read,", pipe_);
		check_role(blocks_storage, n, f.tt.pid, "spin-0", NULL, spin);
		check_role(blocks_storage, n, f.tt.pid, "qsort-0", NULL, qs);
		cmp_seen = has_chain(find_block(blocks_storage, n, tt_find_thread(f.tt.pid, "qsort-0")), qs_cmp);
	}
	/* the comparator is slow on purpose: it is the leaf most of the time, below libc's qsort */
	assert_true(cmp_seen);
	for (int i = 0; i < 3; i++)
		assert_true(asleep[i]);
	/* source lines of our own frames, and Go's +0x on physical frames */
	{
		const struct block *b = find_block(blocks_storage, n, tt_find_thread(f.tt.pid, "cond-0"));

		for (int i = 0; i < b->nframes; i++)
			if (!strcmp(b->funcs[i], "cond_leaf"))
				assert_non_null(strstr(b->files[i], "threads_mix.c:"));
		assert_non_null(strstr(b->files[b->nframes - 1], " +0x"));
	}
	{
		struct buf s = { 0 };

		assert_int_equal(threads_source__summary(f.src, &s), 0);
		assert_non_null(strstr(s.data, "11 threads, 11 captured"));
		buf_free(&s);
	}
	buf_free(&out);
	fixture_stop(&f);
}

/* In debug=1 text ("count @ pcs" then "#" lines per record), the counts of the records whose
 * frames contain fn: the first one's (or -1 if none), and their sum in *ret_total. */
static long group_counts(const char *text, const char *fn, long *ret_total)
{
	const char *rec = text;
	char needle[128];
	long first = -1, total = 0;

	snprintf(needle, sizeof(needle), "\t%s+0x", fn);
	while ((rec = strstr(rec, "\n")) != NULL) {
		const char *end, *hit;
		long count;

		rec++;
		if (!(*rec >= '0' && *rec <= '9'))
			continue;
		count = strtol(rec, NULL, 10);
		end = strstr(rec, "\n\n");
		hit = strstr(rec, needle);
		if (hit && (!end || hit < end)) {
			if (first < 0)
				first = count;
			total += count;
		}
	}
	if (ret_total)
		*ret_total = total;
	return first;
}

/* The count of the first record whose frames contain fn, -1 if none. */
static long count_of_group(const char *text, const char *fn)
{
	return group_counts(text, fn, NULL);
}

/* The sum of the counts of every record whose frames contain fn: all threads that ran fn. */
static long total_of_group(const char *text, const char *fn)
{
	long total;

	group_counts(text, fn, &total);
	return total;
}

/* Sleepers in a 10 ms loop are now and then caught awake, in a stack of their own: all of them
 * must be there, and most in one group (records are sorted by count, the first is the largest). */
static void assert_sleepers_grouped(const char *text, long n)
{
	assert_int_equal(total_of_group(text, "sleep_leaf"), n);
	assert_true(count_of_group(text, "sleep_leaf") * 2 >= n);
}

static void test_debug1_groups(void **state)
{
	static const char *const args[] = { "--cond", "5", "--sleep", "4", "--pipe", "3", NULL };
	struct fixture f;
	struct buf out = { 0 };

	(void)state;
	fixture_start(&f, args, 0);
	assert_int_equal(threads_source__dump_text(f.src, 1, &out), 0);
	assert_true(!strncmp(out.data, "goroutine profile: total 13\n", strlen("goroutine profile: total 13\n")));
	assert_int_equal(count_of_group(out.data, "cond_leaf"), 5);
	assert_sleepers_grouped(out.data, 4);
	assert_int_equal(count_of_group(out.data, "pipe_leaf"), 3);
	/* most common first */
	assert_true(strstr(out.data, "\tcond_leaf+0x") < strstr(out.data, "\tsleep_leaf+0x"));
	assert_true(strstr(out.data, "\tsleep_leaf+0x") < strstr(out.data, "\tpipe_leaf+0x"));
	assert_int_equal(threads_source__dump_text(f.src, 0, &out), -EINVAL);
	buf_free(&out);
	fixture_stop(&f);
}

/* eu-stack's pcs per thread, in our convention (leaf + 1). Returns threads parsed. */
static int eu_stack(pid_t pid, pid_t *tids, uint64_t (*pcs)[64], int *npcs, int max)
{
	char cmd[128], line[512];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "eu-stack -p %d 2>/dev/null", pid);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long pc;
		int k;

		if (!strncmp(line, "TID ", 4) && n + 1 < max) {
			n++;
			tids[n] = atoi(line + 4);
			npcs[n] = 0;
		} else if (n >= 0 && sscanf(line, "#%d 0x%llx", &k, &pc) == 2 && npcs[n] < 64) {
			pcs[n][npcs[n]++] = k == 0 ? pc + 1 : pc;
		}
	}
	pclose(p);
	return n + 1;
}

static void test_same_frames_as_eu_stack(void **state)
{
	static const char *const args[] = { "--cond", "4", "--sleep", "4", "--pipe", "4", NULL };
	static pid_t tids[64];
	static uint64_t pcs[64][64];
	static int npcs[64];
	struct profd_sample_set *set = NULL;
	struct fixture f;
	int n, compared = 0;

	(void)state;
	if (system("command -v eu-stack >/dev/null 2>&1") != 0)
		skip();
	fixture_start(&f, args, 0);
	/* blocked threads: their stacks are the same for both tools */
	assert_true(tt_wait_all_sleeping(f.tt.pid, 5000));
	assert_int_equal(threads_source__snapshot(f.src, &set), 0);
	n = eu_stack(f.tt.pid, tids, pcs, npcs, 64);
	assert_int_equal(n, 13);
	for (int i = 0; i < n; i++) {
		bool found = false;

		for (size_t s = 0; s < set->nsamples && !found; s++) {
			const struct profd_sample *smp = &set->samples[s];

			found = smp->nframes == (uint32_t)npcs[i] &&
				!memcmp(smp->pcs, pcs[i], (size_t)npcs[i] * sizeof(uint64_t));
		}
		if (!found) {
			print_message("eu-stack thread %d (%d frames) not among profd's stacks\n", tids[i], npcs[i]);
			for (int k = 0; k < npcs[i]; k++)
				print_message("  0x%llx\n", (unsigned long long)pcs[i][k]);
		}
		assert_true(found);
		compared++;
	}
	assert_int_equal(compared, 13);
	sample_set__free(set);
	fixture_stop(&f);
}

static void test_debug0_set_and_go_pprof(void **state)
{
	static const char *const args[] = { "--cond", "6", "--pipe", "2", "--spin", "1", NULL };
	struct profd_sample_set *set = NULL;
	struct buf pb = { 0 };
	struct fixture f;
	int64_t total = 0;
	char path[] = "/tmp/profd-test-threads-XXXXXX", cmd[512];
	int fd;

	(void)state;
	fixture_start(&f, args, 0);
	assert_int_equal(threads_source__snapshot(f.src, &set), 0);
	assert_int_equal(set->nvalues, 1);
	assert_string_equal(set->types[0].type, "goroutine");
	assert_string_equal(set->types[0].unit, "count");
	assert_string_equal(set->period_type.type, "goroutine");
	assert_string_equal(set->period_type.unit, "count");
	assert_int_equal(set->period, 1);
	assert_true(set->ncomments >= 2);
	for (size_t i = 0; i < set->nsamples; i++)
		total += set->samples[i].values[0];
	assert_int_equal(total, 10);
	assert_true(set->nsamples <= 4); /* main, cond, pipe, spin */
	assert_int_equal(pprof_encode(set, f.sym, &pb), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, pb.data, pb.len), (ssize_t)pb.len);
	close(fd);
	if (system("command -v go >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd),
			 "HOME=/tmp GOCACHE=/tmp/profd-gocache GOFLAGS=-mod=mod go tool pprof -raw %s 2>&1"
			 " | grep -q 'cond_leaf'", path);
		assert_int_equal(system(cmd), 0);
	} else {
		print_message("go not installed: go tool pprof check skipped\n");
	}
	unlink(path);
	buf_free(&pb);
	sample_set__free(set);
	fixture_stop(&f);
}

static void test_many_threads(void **state)
{
	static const char *const args[] = { "--cond", "110", "--sleep", "100", "--pipe", "4", "--spin", "1", NULL };
	struct fixture f;
	struct buf out = { 0 };
	int n;

	(void)state;
	fixture_start(&f, args, 0);
	assert_int_equal(threads_source__dump_text(f.src, 2, &out), 0);
	n = parse_debug2(out.data, blocks_storage, 300);
	assert_int_equal(n, 216);
	for (int i = 0; i < n; i++)
		assert_true(blocks_storage[i].nframes >= 4);
	buf_reset(&out);
	assert_int_equal(threads_source__dump_text(f.src, 1, &out), 0);
	assert_int_equal(count_of_group(out.data, "cond_leaf"), 110);
	assert_sleepers_grouped(out.data, 100);
	buf_free(&out);
	fixture_stop(&f);
}

/* Each sample of want (stack -> number of threads) is in got with the same count, and nothing
 * else is. */
static void assert_same_stacks(const struct profd_sample_set *got, const struct profd_sample_set *want,
			       const char *what)
{
	assert_int_equal(got->nsamples, want->nsamples);
	for (size_t i = 0; i < want->nsamples; i++) {
		const struct profd_sample *w = &want->samples[i];
		bool found = false;

		for (size_t k = 0; k < got->nsamples && !found; k++) {
			const struct profd_sample *g = &got->samples[k];

			found = g->nframes == w->nframes && g->values[0] == w->values[0] &&
				!memcmp(g->pcs, w->pcs, w->nframes * sizeof(uint64_t));
		}
		if (!found)
			fail_msg("%s: a stack of %lld threads (%u frames) is not the same", what,
				 (long long)w->values[0], w->nframes);
	}
}

/* 1,000 threads that stay blocked: the task iterator's stacks are ptrace's and eu-stack's,
 * thread for thread (same pcs, same counts), and no thread was stopped for them. */
static void test_1000_threads_same_as_ptrace_and_eu_stack(void **state)
{
	/* not epoll_wait nor sigtimedwait: eu-stack's stops would make them fail with EINTR */
	static const char *const args[] = { "--cond", "900", "--pipe", "99", NULL };
	static pid_t tids[1100];
	static uint64_t pcs[1100][64];
	static int npcs[1100];
	struct profd_sample_set *iter = NULL, *stopped = NULL;
	struct threads_source *ptrace_src;
	struct buf s = { 0 };
	struct fixture f;
	int n, *matched;

	(void)state;
	if (!ITER)
		skip(); /* the comparison is of the two paths: once is enough */
	fixture_start(&f, args, 0);
	assert_true(tt_wait_all_sleeping(f.tt.pid, 5000)); /* every thread inside its syscall */
	for (int try = 1;; try++) {
		assert_int_equal(threads_source__snapshot(f.src, &iter), 0);
		buf_reset(&s);
		assert_int_equal(threads_source__summary(f.src, &s), 0);
		if (strstr(s.data, "1000 threads, 1000 captured (1000 without stopping, 0 stopped)"))
			break;
		print_message("try %d: %s\n", try, s.data);
		if (try == 3)
			fail_msg("not every blocked thread was read without stopping in 3 dumps: %s", s.data);
		sample_set__free(iter);
	}
	ptrace_src = new_source_method(&f.t, f.uw, f.sym, 0, THREADS_METHOD_PTRACE);
	assert_int_equal(threads_source__snapshot(ptrace_src, &stopped), 0);
	assert_same_stacks(iter, stopped, "ptrace");
	if (system("command -v eu-stack >/dev/null 2>&1") == 0) {
		n = eu_stack(f.tt.pid, tids, pcs, npcs, 1100);
		assert_int_equal(n, 1000);
		matched = calloc(iter->nsamples, sizeof(*matched));
		assert_non_null(matched);
		for (int i = 0; i < n; i++) {
			size_t k;

			for (k = 0; k < iter->nsamples; k++)
				if (iter->samples[k].nframes == (uint32_t)npcs[i] &&
				    !memcmp(iter->samples[k].pcs, pcs[i], (size_t)npcs[i] * sizeof(uint64_t)))
					break;
			if (k == iter->nsamples)
				fail_msg("eu-stack's stack of thread %d (%d frames) is not among profd's", tids[i], npcs[i]);
			matched[k]++;
		}
		for (size_t k = 0; k < iter->nsamples; k++)
			assert_int_equal(matched[k], iter->samples[k].values[0]);
		free(matched);
	} else {
		print_message("eu-stack not installed: the eu-stack half of the check is skipped\n");
	}
	sample_set__free(iter);
	sample_set__free(stopped);
	threads_source__free(ptrace_src);
	buf_free(&s);
	fixture_stop(&f);
}

/* epoll_wait and sigtimedwait fail with EINTR when a ptrace stop interrupts them: such threads
 * are read without stopping, and still get their whole stack. */
static void test_eintr_prone_syscalls_not_stopped(void **state)
{
	static const char *const args[] = { "--epoll", "3", "--sigwait", "1", "--cond", "1", NULL };
	static const char *const epoll[] = { "epoll_wait", "epoll_leaf", "epoll_worker", "start_thread", NULL };
	static const char *const sigw[] = { "sigwait_leaf", "sigwait_worker", "start_thread", NULL };
	static const char *const cond[] = { "cond_leaf", "cond_worker", "start_thread", NULL };
	struct fixture f;
	struct buf out = { 0 }, s = { 0 };
	int n;

	(void)state;
	fixture_start(&f, args, 0);
	assert_true(tt_wait_all_sleeping(f.tt.pid, 5000)); /* every thread inside its syscall */
	for (int i = 0; i < 20; i++) {
		buf_reset(&out);
		assert_int_equal(threads_source__dump_text(f.src, 2, &out), 0);
	}
	/* on the ptrace path the cond waiter was stopped too: let it get back into its wait */
	assert_true(tt_wait_all_sleeping(f.tt.pid, 5000));
	buf_reset(&out);
	assert_int_equal(threads_source__dump_text(f.src, 2, &out), 0);
	n = parse_debug2(out.data, blocks_storage, 300);
	assert_int_equal(n, 6);
	check_role(blocks_storage, n, f.tt.pid, "epoll-0", "[sleeping: epoll_wait,", epoll);
	check_role(blocks_storage, n, f.tt.pid, "epoll-2", "[sleeping: epoll_wait,", epoll);
	check_role(blocks_storage, n, f.tt.pid, "sigwait-0", "[sleeping: rt_sigtimedwait,", sigw);
	check_role(blocks_storage, n, f.tt.pid, "cond-0", "[sleeping: futex,", cond);
	assert_int_equal(threads_source__summary(f.src, &s), 0);
	/* without the iterator, only the EINTR-prone ones are read without a stop */
	assert_non_null(strstr(s.data, ITER ? "6 captured (6 without stopping, 0 stopped)" :
					       "6 captured (4 without stopping, 2 stopped)"));
	buf_free(&s);
	buf_free(&out);
	fixture_stop(&f); /* asserts eintr=0 */
}

/* A copy too small for the whole stack is counted, not an error. */
static void test_small_copy_is_reported(void **state)
{
	static const char *const args[] = { "--cond", "2", NULL };
	struct fixture f;
	struct buf out = { 0 }, s = { 0 };

	(void)state;
	fixture_start(&f, args, 64);
	assert_int_equal(threads_source__dump_text(f.src, 2, &out), 0);
	assert_non_null(strstr(out.data, ", stack truncated, \"cond-0\"]:"));
	assert_int_equal(threads_source__summary(f.src, &s), 0);
	assert_non_null(strstr(s.data, " 3 truncated stacks"));
	buf_free(&s);
	buf_free(&out);
	fixture_stop(&f);
}

static void test_churn(void **state)
{
	static const char *const args[] = { "--churn", "2", "--cond", "2", NULL };
	struct fixture f;
	struct buf out = { 0 };

	(void)state;
	fixture_start(&f, args, 0);
	for (int i = 0; i < 40; i++) {
		buf_reset(&out);
		assert_int_equal(threads_source__dump_text(f.src, i % 2 ? 1 : 2, &out), 0);
	}
	buf_free(&out);
	fixture_stop(&f);
}

struct dumper {
	struct threads_source *src;
	int fails, blocks;
};

static void *dump_repeatedly(void *arg)
{
	struct dumper *d = arg;
	struct buf out = { 0 };

	for (int i = 0; i < 10; i++) {
		buf_reset(&out);
		if (threads_source__dump_text(d->src, 2, &out) != 0) {
			d->fails++;
			continue;
		}
		for (const char *p = out.data; (p = strstr(p, "goroutine ")); p++)
			d->blocks++;
	}
	buf_free(&out);
	return NULL;
}

static void test_concurrent_dumps(void **state)
{
	static const char *const args[] = { "--cond", "20", "--sleep", "20", NULL };
	struct dumper a = { 0 }, b = { 0 };
	struct threads_source *src2;
	pthread_t ta, tb;
	struct fixture f;

	(void)state;
	fixture_start(&f, args, 0);
	src2 = new_source(&f.t, f.uw, f.sym, 16384);
	a.src = f.src;
	b.src = src2;
	assert_int_equal(pthread_create(&ta, NULL, dump_repeatedly, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, dump_repeatedly, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.fails, 0);
	assert_int_equal(b.fails, 0);
	assert_int_equal(a.blocks, 10 * 41);
	assert_int_equal(b.blocks, 10 * 41);
	threads_source__free(src2);
	fixture_stop(&f);
}

static int count_substr(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_already_traced(void **state)
{
	static const char *const args[] = { "--cond", "2", NULL };
	struct fixture f;
	struct buf out = { 0 };
	pid_t tracer, tids[8];
	int to_child[2], to_parent[2], n;
	char b, want[128];

	(void)state;
	fixture_start(&f, args, 0);
	n = tt_tids(f.tt.pid, tids, 8);
	assert_int_equal(n, 3);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	tracer = fork();
	assert_true(tracer >= 0);
	if (tracer > 0)
		tt_track(tracer);
	if (tracer == 0) {
		/* first one thread, then all of them */
		if (ptrace(PTRACE_SEIZE, tids[1], NULL, NULL) < 0 || write(to_parent[1], "1", 1) != 1)
			_exit(1);
		if (read(to_child[0], &b, 1) != 1)
			_exit(1);
		for (int i = 0; i < n; i++)
			if (i != 1 && ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) < 0)
				_exit(1);
		if (write(to_parent[1], "2", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	assert_int_equal(read(to_parent[0], &b, 1), 1);
	/* one thread traced: the others are dumped, that one says who traces it (the iterator reads
	 * it all the same; ptrace cannot stop it) */
	assert_int_equal(threads_source__dump_text(f.src, 2, &out), 0);
	snprintf(want, sizeof(want), "goroutine %d [sleeping: futex, traced by %d, ", tids[1], tracer);
	assert_non_null(strstr(out.data, want));
	if (ITER) {
		static const char *const cond[] = { "cond_leaf", "cond_worker", "start_thread", NULL };
		int nb = parse_debug2(out.data, blocks_storage, 300);

		assert_true(has_chain(find_block(blocks_storage, nb, tids[1]), cond));
	}
	assert_int_equal(write(to_child[1], "x", 1), 1);
	assert_int_equal(read(to_parent[0], &b, 1), 1);
	buf_reset(&out);
	if (ITER) {
		/* every thread traced: all read without stopping, each naming its tracer */
		assert_int_equal(threads_source__dump_text(f.src, 2, &out), 0);
		assert_int_equal(count_substr(out.data, ", traced by "), 3);
		assert_int_equal(count_substr(out.data, "cond_leaf(...)"), 2);
		assert_string_equal(threads_source__error(f.src), "");
	} else {
		/* every thread traced: a clear error naming the tracer */
		assert_int_equal(threads_source__dump_text(f.src, 2, &out), -EPERM);
		assert_int_equal(out.len, 0);
		snprintf(want, sizeof(want), "already traced by process %d", tracer);
		assert_non_null(strstr(threads_source__error(f.src), want));
	}
	kill(tracer, SIGKILL);
	waitpid(tracer, NULL, 0);
	tt_untrack(tracer);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	buf_reset(&out);
	assert_int_equal(threads_source__dump_text(f.src, 2, &out), 0);
	assert_string_equal(threads_source__error(f.src), "");
	buf_free(&out);
	fixture_stop(&f);
}

static void test_gone_target_and_bad_input(void **state)
{
	static const char *const args[] = { "--cond", "1", NULL };
	struct fixture f;
	struct buf out = { 0 };
	struct profd_sample_set *set = NULL;
	struct profd_profile p;

	(void)state;
	assert_null(threads_source__new(NULL, NULL, NULL, 0));
	assert_int_equal(threads_source__summary(NULL, &out), -EINVAL);
	assert_string_equal(threads_syscall_name(202), "futex");
	assert_string_equal(threads_syscall_name(0), "read");
	assert_null(threads_syscall_name(-1));
	assert_null(threads_syscall_name(100000));
	assert_null(threads_syscall_name(6)); /* lstat: not in the table */
	fixture_start(&f, args, 0);
	assert_int_equal(threads_source__summary(f.src, &out), -ENODATA);
	threads_source__profile(f.src, &p);
	assert_string_equal(p.name, "goroutine");
	assert_int_equal(p.count(p.ctx), 2);
	assert_int_equal(p.snapshot(p.ctx, NULL, &set), 0);
	sample_set__free(set);
	assert_int_equal(p.write_text(p.ctx, NULL, 2, &out), 0);
	buf_reset(&out);
	assert_int_equal(p.status(p.ctx, &out), 0);
	assert_non_null(strstr(out.data, "2 threads"));
	kill(f.tt.pid, SIGKILL);
	waitpid(f.tt.pid, NULL, 0);
	tt_untrack(f.tt.pid);
	buf_reset(&out);
	assert_int_equal(threads_source__dump_text(f.src, 2, &out), -ESRCH);
	assert_int_equal(threads_source__snapshot(f.src, &set), -ESRCH);
	assert_null(set);
	f.tt.pid = 0;
	threads_source__free(f.src);
	symbolizer__free(f.sym);
	unwinder__free(f.uw);
	tt_stop(&f.tt);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debug2_frames_and_names),
		cmocka_unit_test(test_debug1_groups),
		cmocka_unit_test(test_same_frames_as_eu_stack),
		cmocka_unit_test(test_debug0_set_and_go_pprof),
		cmocka_unit_test(test_many_threads),
		cmocka_unit_test(test_1000_threads_same_as_ptrace_and_eu_stack),
		cmocka_unit_test(test_eintr_prone_syscalls_not_stopped),
		cmocka_unit_test(test_small_copy_is_reported),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_concurrent_dumps),
		cmocka_unit_test(test_already_traced),
		cmocka_unit_test(test_gone_target_and_bad_input),
	};

	if (geteuid() != 0) {
		printf("needs root (CAP_SYS_PTRACE)\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
