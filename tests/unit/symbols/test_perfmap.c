// SPDX-License-Identifier: MIT
/* perfmap: the parser of perf map lines (good and bad ones), lookups (sorted, overlapping code
 * where the later line wins), the bounds, the incremental reader of a file that grows, is
 * replaced or is not a regular file, and allocation failures. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_sweep.h"
#include "symbols/perfmap.h"

static const char *name_at(const struct perfmap *pm, uint64_t addr)
{
	return perfmap__lookup(pm, addr, NULL);
}

static void add(struct perfmap *pm, const char *text)
{
	assert_int_equal(perfmap__add_text(pm, text, strlen(text), true), (long)strlen(text));
}

static void test_lines(void **state)
{
	static const struct {
		const char *line;
		uint64_t addr;     /* looked up after adding the line */
		const char *name;  /* NULL: the line is refused */
	} cases[] = {
		{ "7ff294003400 378 JS:~ node:internal/main/run_main_module:1:1", 0x7ff294003400,
		  "JS:~ node:internal/main/run_main_module:1:1" },
		{ "18c4000 300 Builtin:DeoptimizationEntry_Eager", 0x18c42ff, "Builtin:DeoptimizationEntry_Eager" },
		{ "0x1000 0x10 Interpreter", 0x100f, "Interpreter" },           /* 0x prefixes (.NET) */
		{ "1000 10 LazyCompile:*f a.js:1\r", 0x1000, "LazyCompile:*f a.js:1" }, /* CRLF */
		{ "1000\t10\tname  ", 0x1000, "name" },                        /* tabs, trailing blanks */
		{ "ABCDEF 1 Upper", 0xabcdef, "Upper" },
		{ "1000 10 a\x01" "b", 0x1000, "a?b" },                         /* control characters */
		{ "1000 10", 0x1000, NULL },                                    /* no name */
		{ "1000 10 ", 0x1000, NULL },
		{ "1000 0 zero", 0x1000, NULL },                                /* empty */
		{ "1000 g name", 0x1000, NULL },                                /* not hex */
		{ "1000x 10 name", 0x1000, NULL },
		{ "x1000 10 name", 0x1000, NULL },
		{ "", 0, NULL },
		{ "ffffffffffffffff 2 wraps", 0xffffffffffffffff, NULL },
		{ "10000000000000000 1 too_long", 0, NULL },                    /* 17 digits */
		{ "1000 10000000000000000 too_big", 0x1000, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct perfmap *pm = perfmap__new();
		uint64_t start = 0;
		const char *got;

		assert_non_null(pm);
		add(pm, cases[i].line);
		got = perfmap__lookup(pm, cases[i].addr, &start);
		if (!cases[i].name) {
			if (got)
				fail_msg("line %zu \"%s\" was taken as \"%s\"", i, cases[i].line, got);
			assert_int_equal(perfmap__count(pm), 0);
		} else {
			if (!got || strcmp(got, cases[i].name))
				fail_msg("line %zu \"%s\": \"%s\"", i, cases[i].line, got ? got : "(none)");
			assert_int_equal(perfmap__count(pm), 1);
		}
		perfmap__free(pm);
	}
	perfmap__free(NULL);
	assert_null(perfmap__lookup(NULL, 1, NULL));
}

static void test_lookup(void **state)
{
	struct perfmap *pm = perfmap__new();
	uint64_t start = 0;

	assert_non_null(pm);
	/* out of order, with a gap, a bad line among good ones */
	add(pm, "3000 100 c\n1000 100 a\ngarbage\n2000 80 b\n");
	assert_int_equal(perfmap__count(pm), 3);
	assert_string_equal(perfmap__lookup(pm, 0x1050, &start), "a");
	assert_true(start == 0x1000);
	assert_string_equal(name_at(pm, 0x2000), "b");
	assert_null(name_at(pm, 0x2080)); /* end is exclusive */
	assert_null(name_at(pm, 0xfff));
	assert_null(name_at(pm, 0x1100));
	assert_string_equal(name_at(pm, 0x30ff), "c");
	assert_null(name_at(pm, 0x3100));
	/* code replaced: a later line over the same addresses wins, also with an earlier start */
	add(pm, "1000 100 a2\n0f80 200 wide\n");
	assert_string_equal(name_at(pm, 0x1010), "wide");
	assert_string_equal(name_at(pm, 0xf90), "wide");
	add(pm, "1000 100 a3\n");
	assert_string_equal(name_at(pm, 0x1010), "a3");
	assert_string_equal(name_at(pm, 0x1150), "wide");
	/* a last line without '\n' waits, unless final */
	assert_int_equal(perfmap__add_text(pm, "4000 10 d\n5000 10 e", 19, false), 10);
	assert_string_equal(name_at(pm, 0x4000), "d");
	assert_null(name_at(pm, 0x5000));
	perfmap__free(pm);
}

static void test_bounds(void **state)
{
	struct perfmap *pm = perfmap__new();
	size_t len = (size_t)PERFMAP_MAX_ENTRIES * 16 + 64, off = 0;
	char *text = malloc(len), *line;

	assert_non_null(pm);
	assert_non_null(text);
	for (uint32_t i = 0; i <= PERFMAP_MAX_ENTRIES; i++)
		off += (size_t)sprintf(text + off, "%x 10 f\n", i * 16 + 0x10000);
	assert_int_equal(perfmap__add_text(pm, text, off, false), (long)off);
	assert_int_equal(perfmap__count(pm), PERFMAP_MAX_ENTRIES);
	assert_true(perfmap__truncated(pm));
	assert_string_equal(name_at(pm, 0x10000), "f");
	assert_null(name_at(pm, 0x10000 + (uint64_t)PERFMAP_MAX_ENTRIES * 16)); /* the one past the cap */
	perfmap__free(pm);
	/* a line longer than PERFMAP_MAX_LINE is skipped */
	pm = perfmap__new();
	line = malloc(PERFMAP_MAX_LINE + 64);
	assert_non_null(line);
	off = (size_t)sprintf(line, "1000 10 ");
	memset(line + off, 'n', PERFMAP_MAX_LINE);
	line[off + PERFMAP_MAX_LINE] = '\0';
	add(pm, line);
	assert_int_equal(perfmap__count(pm), 0);
	free(line);
	free(text);
	perfmap__free(pm);
}

static void append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_read_file(void **state)
{
	char dir[] = "/tmp/profd-perfmap.XXXXXX", path[64], other[64], fifo[64];
	struct perfmap *pm = perfmap__new();

	assert_non_null(pm);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/perf-1.map", dir);
	snprintf(other, sizeof(other), "%s/perf-2.map", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(perfmap__read(pm, path), -ENOENT);
	append(path, "1000 10 one\n2000 10 tw");
	assert_int_equal(perfmap__read(pm, path), 1);
	assert_string_equal(name_at(pm, 0x1000), "one");
	assert_null(name_at(pm, 0x2000)); /* being written */
	assert_int_equal(perfmap__read(pm, path), 0); /* nothing new */
	append(path, "o\n3000 10 three\n");
	assert_int_equal(perfmap__read(pm, path), 1);
	assert_string_equal(name_at(pm, 0x2000), "two");
	assert_string_equal(name_at(pm, 0x3000), "three");
	assert_int_equal(perfmap__count(pm), 3);
	/* replaced by another file (a new process with the PID): read from the start */
	append(other, "4000 10 four\n");
	assert_int_equal(rename(other, path), 0);
	assert_int_equal(perfmap__read(pm, path), 1);
	assert_null(name_at(pm, 0x1000));
	assert_string_equal(name_at(pm, 0x4000), "four");
	assert_int_equal(perfmap__count(pm), 1);
	/* not a regular file: refused without blocking */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(perfmap__read(pm, fifo), -EINVAL);
	assert_int_equal(perfmap__read(pm, "/dev/zero"), -EINVAL);
	assert_string_equal(name_at(pm, 0x4000), "four"); /* what was read stays */
	unlink(fifo);
	unlink(path);
	rmdir(dir);
	perfmap__free(pm);
}

#ifdef ALLOC_SWEEP
/* Every allocation of add_text, failing in turn: -ENOMEM and the map as before, or success. */
static void test_alloc_failures(void **state)
{
	static const char text[] = "1000 10 a\n2000 10 b\n3000 10 c\n";
	bool done = false;

	for (long k = 0; !done && k < 100; k++) {
		struct perfmap *pm;
		long before = live, rc;

		fail_after = k;
		pm = perfmap__new();
		if (!pm) {
			fail_after = -1;
			continue;
		}
		rc = perfmap__add_text(pm, text, strlen(text), false);
		fail_after = -1;
		if (rc < 0) {
			assert_int_equal(rc, -ENOMEM);
			assert_int_equal(perfmap__count(pm), 0);
		} else {
			assert_int_equal(rc, (long)strlen(text));
			assert_string_equal(name_at(pm, 0x3000), "c");
			done = true;
		}
		perfmap__free(pm);
		assert_int_equal(live, before);
	}
	assert_true(done);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_read_file),
#ifdef ALLOC_SWEEP
		cmocka_unit_test(test_alloc_failures),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
