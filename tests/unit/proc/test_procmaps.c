// SPDX-License-Identifier: MIT
/* /proc/PID/maps parsing: table-driven good and bad lines (paths with spaces, " (deleted)",
 * [vdso], anonymous memory), ordering, bounds, procmaps_find at the edges, and the live reader
 * and file opener on this test process itself. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc/procmaps.h"

struct good_case {
	const char *line;
	uint64_t start, end, offset, inode;
	uint32_t major, minor;
	const char *perms;
	bool deleted;
	const char *path;
};

static const struct good_case good[] = {
	{ "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon", 0x400000, 0x452000, 0, 173521,
	  8, 2, "r-xp", false, "/usr/bin/dbus-daemon" },
	{ "7f6af2ce7000-7f6af2ce9000 rw-p 00000000 00:00 0 ", 0x7f6af2ce7000, 0x7f6af2ce9000, 0, 0, 0, 0, "rw-p",
	  false, "" },
	{ "7f6af2ce7000-7f6af2ce9000 rw-p 00000000 00:00 0", 0x7f6af2ce7000, 0x7f6af2ce9000, 0, 0, 0, 0, "rw-p",
	  false, "" },
	{ "7ffd1c3f1000-7ffd1c3f3000 r-xp 00000000 00:00 0                          [vdso]", 0x7ffd1c3f1000,
	  0x7ffd1c3f3000, 0, 0, 0, 0, "r-xp", false, "[vdso]" },
	{ "558797a02000-558797a23000 rw-p 00000000 00:00 0                          [heap]", 0x558797a02000,
	  0x558797a23000, 0, 0, 0, 0, "rw-p", false, "[heap]" },
	{ "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
	  0xffffffffff600000, 0xffffffffff601000, 0, 0, 0, 0, "--xp", false, "[vsyscall]" },
	{ "7f0000001000-7f0000002000 r-xp 00026000 fd:01 4242                       /opt/my app/lib x.so",
	  0x7f0000001000, 0x7f0000002000, 0x26000, 4242, 0xfd, 1, "r-xp", false, "/opt/my app/lib x.so" },
	{ "7f0000001000-7f0000002000 r-xp 00001000 fd:01 99                         /tmp/target (deleted)",
	  0x7f0000001000, 0x7f0000002000, 0x1000, 99, 0xfd, 1, "r-xp", true, "/tmp/target" },
	{ "7f0000001000-7f0000002000 r-xp 00001000 fd:01 99                         /tmp/a b (deleted)",
	  0x7f0000001000, 0x7f0000002000, 0x1000, 99, 0xfd, 1, "r-xp", true, "/tmp/a b" },
	{ "7f0000001000-7f0000002000 rw-s 00000000 00:01 1025                       /dev/zero (deleted)",
	  0x7f0000001000, 0x7f0000002000, 0, 1025, 0, 1, "rw-s", true, "/dev/zero" },
	{ "7f0000001000-7f0000002000 ---p 00000000 00:00 0", 0x7f0000001000, 0x7f0000002000, 0, 0, 0, 0, "---p",
	  false, "" },
	{ "7f0000001000-7f0000002000 r--p 00000000 103:05 18446744073709551615      /memfd:x (deleted)",
	  0x7f0000001000, 0x7f0000002000, 0, UINT64_MAX, 0x103, 5, "r--p", true, "/memfd:x" },
	{ "7F0000001000-7F0000002000 r--p 0000ABCD 00:00 0  [anon:name]", 0x7f0000001000, 0x7f0000002000, 0xabcd,
	  0, 0, 0, "r--p", false, "[anon:name]" },
	{ "0-1000 r--p 0 0:0 0", 0, 0x1000, 0, 0, 0, 0, "r--p", false, "" },
};

static void test_good_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct good_case *c = &good[i];
		struct procmaps maps;
		const struct procmaps_entry *e;

		if (procmaps_parse(c->line, strlen(c->line), &maps) != 0)
			fail_msg("rejected good line %zu: %s", i, c->line);
		assert_int_equal(maps.n, 1);
		e = &maps.entries[0];
		assert_int_equal(e->start, c->start);
		assert_int_equal(e->end, c->end);
		assert_int_equal(e->offset, c->offset);
		assert_int_equal(e->inode, c->inode);
		assert_int_equal(e->dev_major, c->major);
		assert_int_equal(e->dev_minor, c->minor);
		assert_int_equal(e->read, c->perms[0] == 'r');
		assert_int_equal(e->write, c->perms[1] == 'w');
		assert_int_equal(e->exec, c->perms[2] == 'x');
		assert_int_equal(e->shared, c->perms[3] == 's');
		assert_int_equal(e->deleted, c->deleted);
		assert_string_equal(e->path, c->path);
		procmaps_free(&maps);
		assert_int_equal(maps.n, 0);
		assert_null(maps.entries);
	}
}

static const char *const bad[] = {
	"hello",
	"00400000 r-xp 00000000 08:02 1 /x",          /* no end */
	"00400000-00300000 r-xp 00000000 08:02 1 /x", /* end before start */
	"00400000-00452000 r-xq 00000000 08:02 1 /x", /* bad sharing flag */
	"00400000-00452000 rwx 00000000 08:02 1 /x",  /* short perms */
	"00400000-00452000 xr-p 00000000 08:02 1 /x",
	"00400000-00452000 r-xp 0000zz00 08:02 1 /x", /* bad offset */
	"00400000-00452000 r-xp 00000000 0802 1 /x",  /* no colon in dev */
	"00400000-00452000 r-xp 00000000 08:02 1a /x", /* inode not decimal */
	"00400000-00452000 r-xp 00000000 08:02",       /* no inode */
	"00400000-00452000 r-xp 00000000 08:02 ",      /* empty inode */
	"00400000-00452000 r-xp",
	"00400000-00452000 r-xp ",
	"-00452000 r-xp 00000000 08:02 1 /x",
	"10000000000000000-10000000000000001 r-xp 00000000 08:02 1 /x", /* 17 hex digits */
	"00400000-00452000 r-xp 00000000 100000000:02 1 /x",           /* major too large */
	"00400000-00452000 r-xp 00000000 08:02 123456789012345678901 /x", /* > 64 bits */
	"00400000-00452000 r-xp 00000000 08:02 18446744073709551616 /x",
	" 00400000-00452000 r-xp 00000000 08:02 1 /x",
	"00400000-00452000  r-xp 00000000 08:02 1 /x",
	/* an empty line is only allowed at the very end */
	"00400000-00452000 r-xp 00000000 08:02 1 /x\n\n00500000-00552000 r-xp 00000000 08:02 1 /x\n",
	"\n\n",
	/* entries must ascend without overlap, as the kernel writes them */
	"00500000-00552000 r-xp 00000000 08:02 1 /x\n00400000-00452000 r-xp 00000000 08:02 1 /x\n",
	"00400000-00452000 r-xp 00000000 08:02 1 /x\n00451000-00500000 r-xp 00000000 08:02 1 /x\n",
	/* a good line then garbage: the whole input is refused */
	"00400000-00452000 r-xp 00000000 08:02 1 /x\ngarbage\n",
};

static void test_bad_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct procmaps maps = { .n = 99, .entries = (void *)1 };
		int err = procmaps_parse(bad[i], strlen(bad[i]), &maps);

		if (err != -EINVAL)
			fail_msg("bad input %zu gave %d, not -EINVAL: %s", i, err, bad[i]);
		assert_int_equal(maps.n, 0); /* left empty on error */
		assert_null(maps.entries);
	}
}

static void test_multi_and_edges(void **state)
{
	const char *text = "00400000-00401000 r--p 00000000 08:02 7  /bin/t\n"
			   "00401000-00402000 r-xp 00001000 08:02 7  /bin/t\n"
			   "00402000-00403000 rw-p 00002000 08:02 7  /bin/t\n"
			   "00500000-00600000 rw-p 00000000 00:00 0\n"
			   "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0  [vdso]\n";
	struct procmaps maps, empty;
	const struct procmaps_entry *e;

	(void)state;
	assert_int_equal(procmaps_parse(text, strlen(text), &maps), 0);
	assert_int_equal(maps.n, 5);
	/* find: start inclusive, end exclusive, gaps and outside are NULL */
	assert_null(procmaps_find(&maps, 0));
	assert_null(procmaps_find(&maps, 0x3fffff));
	assert_ptr_equal(procmaps_find(&maps, 0x400000), &maps.entries[0]);
	assert_ptr_equal(procmaps_find(&maps, 0x400fff), &maps.entries[0]);
	assert_ptr_equal(procmaps_find(&maps, 0x401000), &maps.entries[1]);
	assert_ptr_equal(procmaps_find(&maps, 0x402fff), &maps.entries[2]);
	assert_null(procmaps_find(&maps, 0x403000));
	assert_null(procmaps_find(&maps, 0x4fffff));
	assert_ptr_equal(procmaps_find(&maps, 0x5abcde), &maps.entries[3]);
	assert_ptr_equal(procmaps_find(&maps, 0x7ffd00001fff), &maps.entries[4]);
	assert_null(procmaps_find(&maps, 0x7ffd00002000));
	assert_null(procmaps_find(&maps, UINT64_MAX));
	e = procmaps_find(&maps, 0x401234);
	assert_true(e->exec);
	assert_int_equal(e->offset, 0x1000);
	assert_true(procmaps_entry_is_file(&maps.entries[1]));
	assert_false(procmaps_entry_is_file(&maps.entries[3])); /* anonymous */
	assert_false(procmaps_entry_is_file(&maps.entries[4])); /* [vdso] */
	procmaps_free(&maps);
	procmaps_free(&maps); /* twice is fine */
	procmaps_free(NULL);

	/* empty input: no entries; NULL with a length is refused */
	assert_int_equal(procmaps_parse("", 0, &empty), 0);
	assert_int_equal(empty.n, 0);
	assert_null(procmaps_find(&empty, 0x400000));
	assert_int_equal(procmaps_parse(NULL, 0, &empty), 0);
	assert_int_equal(procmaps_parse(NULL, 5, &empty), -EINVAL);
	/* the last line may lack its newline; the length is respected (no NUL needed) */
	assert_int_equal(procmaps_parse(text, 47, &maps), 0);
	assert_int_equal(maps.n, 1);
	assert_string_equal(maps.entries[0].path, "/bin/t");
	procmaps_free(&maps);
}

static void test_too_many_entries(void **state)
{
	size_t n = PROCMAPS_MAX_ENTRIES + 1, len = 0, len_without_last = 0;
	char *text = malloc(n * 40);
	struct procmaps maps;

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < n; i++) {
		len_without_last = len;
		len += (size_t)sprintf(text + len, "%zx-%zx r--p 0 0:0 0\n", i * 0x1000 + 0x1000,
				       i * 0x1000 + 0x2000);
	}
	assert_int_equal(procmaps_parse(text, len, &maps), -E2BIG);
	assert_int_equal(maps.n, 0);
	assert_int_equal(procmaps_parse(text, len_without_last, &maps), 0);
	assert_int_equal(maps.n, PROCMAPS_MAX_ENTRIES);
	procmaps_free(&maps);
	free(text);
}

static void test_read_self(void **state)
{
	struct procmaps maps;
	const struct procmaps_entry *e;
	char exe[PATH_MAX];
	ssize_t n;
	struct stat st_maps, st_exe;
	int fd;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(procmaps_read(getpid(), &maps), 0);
	assert_true(maps.n > 5);
	/* this very function is in an executable mapping of the test binary */
	e = procmaps_find(&maps, (uint64_t)(uintptr_t)&test_read_self);
	assert_non_null(e);
	assert_true(e->exec);
	assert_string_equal(e->path, exe);
	assert_true(procmaps_entry_is_file(e));
	/* and its file opens (through map_files) as the same inode */
	fd = procmaps_open_file(getpid(), e);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st_maps), 0);
	assert_int_equal(stat(exe, &st_exe), 0);
	assert_int_equal(st_maps.st_ino, st_exe.st_ino);
	assert_int_equal(st_maps.st_ino, e->inode);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* a heap variable's page is not a file */
	e = procmaps_find(&maps, (uint64_t)(uintptr_t)state);
	assert_true(!e || !e->exec);
	procmaps_free(&maps);
	/* no such process */
	assert_int_equal(procmaps_read(INT_MAX, &maps), -ESRCH);
	assert_int_equal(maps.n, 0);
}

/* A file deleted after it was mapped (a package upgrade under a running target): the entry says
 * so, the path has no suffix, and the file still opens through map_files. */
static void test_open_deleted(void **state)
{
	char path[] = "/tmp/profd-procmaps-XXXXXX";
	struct procmaps maps;
	const struct procmaps_entry *e;
	char buf[5] = { 0 };
	void *map;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "ELFX", 4), 4);
	assert_int_equal(ftruncate(fd, 8192), 0);
	map = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(map != MAP_FAILED);
	close(fd);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(procmaps_read(getpid(), &maps), 0);
	e = procmaps_find(&maps, (uint64_t)(uintptr_t)map);
	assert_non_null(e);
	assert_true(e->deleted);
	assert_string_equal(e->path, path);
	assert_int_equal(e->start, (uint64_t)(uintptr_t)map);
	fd = procmaps_open_file(getpid(), e);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, 4, 0), 4);
	assert_string_equal(buf, "ELFX");
	close(fd);
	procmaps_free(&maps);
	munmap(map, 8192);
}

/* A process whose mappings change all the time (as one starting threads does), read over and
 * over: a read that spans a change can show overlapping entries, which procmaps_read() must
 * answer by reading again, never by failing (it failed about 1 read in 200 before). */
static void test_read_while_mappings_change(void **state)
{
	enum { NMAPS = 300, READS = 3000 };
	int failures = 0, status;
	size_t most = 0;
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0) {
		/* every other page read-only: NMAPS * 2 entries; flipping a page back and forth
		 * merges three of them into one and splits them again */
		char *base = mmap(NULL, 4096 * 2 * NMAPS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (base == MAP_FAILED)
			_exit(1);
		for (int i = 0; i < NMAPS; i++)
			mprotect(base + 4096 * 2 * i, 4096, PROT_READ);
		for (unsigned k = 0;; k++) {
			int i = (int)(k % NMAPS);

			mprotect(base + 4096 * (2 * i + 1), 4096, (k / NMAPS) % 2 ? PROT_READ | PROT_WRITE : PROT_READ);
		}
	}
	usleep(100 * 1000);
	for (int i = 0; i < READS; i++) {
		struct procmaps m;
		int err = procmaps_read(child, &m);

		if (err) {
			if (failures++ < 3)
				fprintf(stderr, "read %d: %s\n", i, strerror(-err));
			continue;
		}
		if (m.n > most)
			most = m.n;
		procmaps_free(&m);
	}
	/* before any assertion: a failed one must not leave the child spinning */
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	fprintf(stderr, "%d reads, %d failed, up to %zu entries\n", READS, failures, most);
	assert_int_equal(failures, 0);
	assert_true(most > NMAPS); /* text for several read() calls */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_multi_and_edges),
		cmocka_unit_test(test_too_many_entries),
		cmocka_unit_test(test_read_self),
		cmocka_unit_test(test_open_deleted),
		cmocka_unit_test(test_read_while_mappings_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
