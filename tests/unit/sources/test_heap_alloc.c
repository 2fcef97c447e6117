// SPDX-License-Identifier: MIT
/* Allocator detection on this very process (no privileges needed: our own maps and files):
 * the object malloc is bound to (libc.so.6, or libasan in sanitizer builds) is found first, each probe offset lies inside its function and
 * is a file offset of the mapped library, wrappers are not probed twice; a non-Go ELF is not
 * taken for Go; a bad pid fails cleanly. */
#include <dlfcn.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <linux/types.h>

#include "bpf/heap.h"
#include "sources/allocator.h"

static const struct alloc_probe *find(const struct alloc_plan *p, const char *name)
{
	for (int i = 0; i < p->nprobes; i++)
		if (strcmp(p->probes[i].name, name) == 0)
			return &p->probes[i];
	return NULL;
}

static void test_self_plan(void **state)
{
	static struct alloc_plan plan;
	const struct alloc_probe *m, *f;
	char err[256], line[2048];
	void *p = malloc(16); /* make sure malloc is bound */

	Dl_info di;
	char want[4096], got[4096];
	bool glibc;

	assert_int_equal(alloc_plan_build(getpid(), &plan, err, sizeof(err)), 0);
	free(p);
	/* the object our malloc is bound to: libc, or libasan in a sanitizer build */
	assert_true(dladdr((void *)&malloc, &di) != 0);
	assert_non_null(realpath(di.dli_fname, want));
	assert_non_null(realpath(plan.where, got));
	assert_string_equal(got, want);
	glibc = strstr(want, "/libc.so") != NULL;
	if (glibc)
		assert_string_equal(plan.allocator, "glibc");
	assert_false(plan.is_static);
	m = find(&plan, "malloc");
	f = find(&plan, "free");
	assert_non_null(m);
	assert_non_null(f);
	assert_int_equal(m->kind, PROFD_HEAP_MALLOC);
	assert_int_equal(f->kind, PROFD_HEAP_FREE);
	assert_int_equal(m->addr, (uint64_t)(uintptr_t)&malloc);
	assert_int_equal(f->addr, (uint64_t)(uintptr_t)&free);
	assert_true(f->delta < 64);
	if (glibc)
		assert_non_null(strstr(m->path, "/libc.so"));
	/* every probe's object has a text range containing its entry */
	for (int i = 0; i < plan.nprobes; i++) {
		const struct alloc_probe *q = &plan.probes[i];

		assert_true(q->obj >= 0 && q->obj < plan.nobjs);
		assert_true(q->addr >= plan.objs[q->obj].text_lo && q->addr < plan.objs[q->obj].text_hi);
		for (int j = 0; j < i; j++)
			assert_true(plan.probes[j].addr != q->addr); /* aliases probed once */
	}
	/* the leaf frame inside malloc is trimmed */
	{
		bool trimmed = false;

		for (int i = 0; i < plan.ntrim; i++)
			trimmed |= m->addr >= plan.trim[i].lo && m->addr < plan.trim[i].hi;
		assert_true(trimmed);
	}
	assert_true(alloc_plan_describe(&plan, line, sizeof(line)) > 0);
	assert_non_null(strstr(line, glibc ? "allocator: glibc (libc.so.6" : "allocator: "));
}

static void test_not_go(void **state)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_false(alloc_elf_is_go(fd));
	close(fd);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_false(alloc_elf_is_go(fd)); /* not an ELF at all */
	close(fd);
}

static void test_bad_pid(void **state)
{
	static struct alloc_plan plan;
	char err[256];

	assert_int_equal(alloc_plan_build(0x3ffffff, &plan, err, sizeof(err)), -ESRCH);
	assert_non_null(strstr(err, "cannot read /proc/"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_plan),
		cmocka_unit_test(test_not_go),
		cmocka_unit_test(test_bad_pid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
