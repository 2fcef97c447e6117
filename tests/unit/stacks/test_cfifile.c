// SPDX-License-Identifier: MIT
/* Per-file CFI shared across processes (daemon/stacks/cfifile.h): two processes that each exec'd
 * one binary (own address layouts) get one file object, referenced by both unwinders, kept idle
 * when both let go and freed by the idle bound or a flush; a copy of the binary (another inode,
 * the same build id) is the same object, the same copy given another build id another one;
 * other image bytes are another object; the idle files are
 * bounded. Needs to read the children's map_files (root). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "proc/procmaps.h"
#include "stacks/cfifile.h"
#include "stacks/unwind.h"
#include "targets.h"

static char bench[4096];

/* A child running `path worker 0 1000` (sleeps), once it runs the binary. */
static pid_t spawn(const char *path)
{
	pid_t pid = fork();
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	char exe[64], link[4096];

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(path, path, "worker", "0", "1000", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 500; i++) {
		ssize_t n = readlink(exe, link, sizeof(link) - 1);

		if (n > 0) {
			link[n] = '\0';
			if (strstr(link, "sets_bench"))
				return pid;
		}
		nanosleep(&nap, NULL);
	}
	fail_msg("child %d did not exec %s within 5 s", (int)pid, path);
	return -1;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The shared file behind pid's executable mapping of its main binary, referenced; its start in
 * *ret_start. */
static struct cfifile *exe_file(pid_t pid, uint64_t *ret_start)
{
	struct procmaps maps;
	struct cfifile *f = NULL;

	assert_int_equal(procmaps_read(pid, &maps), 0);
	for (size_t i = 0; i < maps.n; i++) {
		const struct procmaps_entry *e = &maps.entries[i];

		if (e->exec && strstr(e->path, "sets_bench")) {
			assert_int_equal(cfifile_get_fd(procmaps_open_file(pid, e), &f), 0);
			*ret_start = e->start;
			break;
		}
	}
	procmaps_free(&maps);
	assert_non_null(f);
	return f;
}

static void test_two_processes_share(void **state)
{
	pid_t a, b;
	struct unwinder *ua, *ub;
	struct cfifile *fa, *fb;
	uint64_t sa = 0, sb = 0;
	int base, one, two;

	(void)state;
	cfifile_flush();
	base = cfifile_count();
	a = spawn(bench);
	b = spawn(bench);
	ua = unwinder__new(a);
	assert_non_null(ua);
	one = cfifile_count();
	assert_true(one > base); /* sets_bench, libc, ld.so, the vDSO */
	ub = unwinder__new(b);
	assert_non_null(ub);
	two = cfifile_count();
	assert_int_equal(two, one); /* nothing new for a second process of the same binary */

	fa = exe_file(a, &sa);
	fb = exe_file(b, &sb);
	assert_ptr_equal(fa, fb); /* one object, whatever each process's load address */
	print_message("    executable mapped at %#llx and %#llx: one file object\n", (unsigned long long)sa,
		      (unsigned long long)sb);
	/* the two unwinders and the two references just taken */
	assert_int_equal(cfifile__refs(fa), 4);
	cfifile__put(fa);
	cfifile__put(fb);
	assert_int_equal(cfifile__refs(fa), 2);

	unwinder__free(ua);
	reap(a);
	assert_int_equal(cfifile__refs(fa), 1);
	unwinder__free(ub);
	reap(b);
	/* no process maps it: idle (a worker replaced at once would map it again), then freed */
	assert_int_equal(cfifile_count(), two);
	cfifile_flush();
	assert_int_equal(cfifile_count(), base);
}

static void test_copy_shares_by_build_id(void **state)
{
	char copy[] = "/tmp/profd-cfifile-sets_bench.XXXXXX", cmd[2 * 4096 + 1024];
	struct cfifile *fa, *fc;
	uint64_t sa, sc;
	struct stat st1, st2;
	pid_t a, c;
	int fd;

	(void)state;
	fd = mkstemp(copy);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 755 '%s'", bench, copy, copy);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(stat(bench, &st1), 0);
	assert_int_equal(stat(copy, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);
	a = spawn(bench);
	c = spawn(copy);
	fa = exe_file(a, &sa);
	fc = exe_file(c, &sc);
	assert_ptr_equal(fa, fc); /* another inode, the same build id */
	cfifile__put(fc);
	reap(c);

	/* the copy rebuilt with another build id (objcopy rewrites the note): another file */
	snprintf(cmd, sizeof(cmd), /* every %s is the copy */
		 "objcopy --dump-section .note.gnu.build-id='%s.note' '%s' && "
		 "n=$(($(stat -c %%s '%s.note') - 1)) && b=$(od -An -tu1 -j $n -N1 '%s.note') && "
		 "printf \"\\\\$(printf %%03o $((b ^ 1)))\" | dd of='%s.note' bs=1 seek=$n conv=notrunc 2>/dev/null && "
		 "objcopy --update-section .note.gnu.build-id='%s.note' '%s' '%s.new' && mv '%s.new' '%s' && chmod 755 '%s'",
		 copy, copy, copy, copy, copy, copy, copy, copy, copy, copy, copy);
	if (system(cmd) != 0) {
		print_message("    objcopy could not give a copy another build id: that case is not checked\n");
	} else {
		c = spawn(copy);
		fc = exe_file(c, &sc);
		assert_ptr_not_equal(fa, fc);
		cfifile__put(fc);
		reap(c);
	}
	cfifile__put(fa);
	reap(a);
	unlink(copy);
	snprintf(cmd, sizeof(cmd), "%s.note", copy);
	unlink(cmd);
	cfifile_flush();
}

/* The vDSO of this process, as bytes. */
static void *vdso_copy(size_t *ret_len)
{
	struct procmaps maps;
	void *copy = NULL;

	assert_int_equal(procmaps_read(getpid(), &maps), 0);
	for (size_t i = 0; i < maps.n; i++) {
		if (!strcmp(maps.entries[i].path, "[vdso]")) {
			*ret_len = maps.entries[i].end - maps.entries[i].start;
			copy = malloc(*ret_len);
			assert_non_null(copy);
			memcpy(copy, (void *)(uintptr_t)maps.entries[i].start, *ret_len);
		}
	}
	procmaps_free(&maps);
	assert_non_null(copy);
	return copy;
}

static void test_images_and_idle_bound(void **state)
{
	size_t len = 0;
	uint8_t *img = vdso_copy(&len);
	struct cfifile *f0, *f1, *same;
	int base;

	(void)state;
	cfifile_flush();
	base = cfifile_count();
	assert_int_equal(cfifile_get_image(img, len, &f0), 0);
	assert_int_equal(cfifile_get_image(img, len, &same), 0);
	assert_ptr_equal(f0, same); /* the same bytes (every process's vDSO) */
	img[len - 1] ^= 0xff;       /* other bytes: another file */
	assert_int_equal(cfifile_get_image(img, len, &f1), 0);
	assert_ptr_not_equal(f0, f1);
	assert_int_equal(cfifile_count(), base + 2);
	cfifile__put(f0);
	cfifile__put(same);
	cfifile__put(f1);
	/* more idle files than the bound: the oldest are freed */
	for (int i = 0; i < CFIFILE_IDLE_MAX + 8; i++) {
		struct cfifile *f;

		img[len - 2] = (uint8_t)i;
		assert_int_equal(cfifile_get_image(img, len, &f), 0);
		cfifile__put(f);
		assert_true(cfifile_count() <= base + CFIFILE_IDLE_MAX);
	}
	assert_int_equal(cfifile_count(), base + CFIFILE_IDLE_MAX);
	cfifile_flush();
	assert_int_equal(cfifile_count(), base);
	/* not an ELF of this machine */
	memset(img, 0, len);
	assert_int_equal(cfifile_get_image(img, len, &f0), -ENOEXEC);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_processes_share),
		cmocka_unit_test(test_copy_shares_by_build_id),
		cmocka_unit_test(test_images_and_idle_bound),
	};

	if (geteuid() != 0) {
		printf("SKIP: needs root (reads other processes' map_files)\n");
		return 77;
	}
	test_target_path(bench, sizeof(bench), "sets_bench");
	if (access(bench, X_OK) != 0) {
		printf("SKIP: %s not built (make test-bins)\n", bench);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
