// SPDX-License-Identifier: MIT
/* files: a whole-file write leaves the file or nothing; a series pruned keeps its newest by
 * name, leaves other names alone, and removes all with keep 0; bad directories are errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/files.h"

static char dir[] = "/tmp/profd-test-files.XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static bool present(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void touch(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(file_write_atomic(p, "x", 1), 0);
}

static void test_write(void **state)
{
	char p[256], text[16] = "";
	FILE *f;

	snprintf(p, sizeof(p), "%s/a.pb.gz", dir);
	assert_int_equal(file_write_atomic(p, "hello", 5), 0);
	assert_int_equal(file_write_atomic(p, "world!", 6), 0); /* replaced whole */
	f = fopen(p, "r");
	assert_non_null(f);
	assert_int_equal(fread(text, 1, sizeof(text) - 1, f), 6);
	fclose(f);
	assert_string_equal(text, "world!");
	assert_false(present("a.pb.gz.tmp"));
	assert_int_equal(file_write_atomic("/nonexistent-dir/x", "x", 1), -ENOENT);
	unlink(p);
}

static void test_prune(void **state)
{
	touch("profd-heap-12-20260101T000001.000Z.pb.gz");
	touch("profd-heap-12-20260101T000003.000Z.pb.gz");
	touch("profd-heap-12-20260101T000002.000Z.pb.gz");
	touch("profd-heap-123-20260101T000000.000Z.pb.gz"); /* another process: another series */
	touch("profd-growth-12-20260101T000000.000Z.pb.gz");
	touch("profd-heap-12-20260101T000009.000Z.pb.gz.tmp");
	assert_int_equal(files_prune(dir, "profd-heap-12-", ".pb.gz", 2), 1);
	assert_false(present("profd-heap-12-20260101T000001.000Z.pb.gz"));
	assert_true(present("profd-heap-12-20260101T000002.000Z.pb.gz"));
	assert_true(present("profd-heap-12-20260101T000003.000Z.pb.gz"));
	assert_true(present("profd-heap-123-20260101T000000.000Z.pb.gz"));
	assert_true(present("profd-growth-12-20260101T000000.000Z.pb.gz"));
	assert_true(present("profd-heap-12-20260101T000009.000Z.pb.gz.tmp"));
	assert_int_equal(files_prune(dir, "profd-heap-12-", ".pb.gz", 2), 0); /* nothing more */
	assert_int_equal(files_prune(dir, "profd-heap-12-", ".pb.gz", 0), 2);
	assert_false(present("profd-heap-12-20260101T000003.000Z.pb.gz"));
	assert_int_equal(files_prune("/nonexistent-dir", "p", ".pb.gz", 1), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_prune),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
