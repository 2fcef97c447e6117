/* SPDX-License-Identifier: MIT */
/* Where the test programs of tests/targets/ were built: $O/tests/targets when tests/run sets O
 * (relative to the tree), else found from the test binary itself
 * ($(O)/tests/unit/FOLDER/test_x -> $(O)/tests/targets). One helper for every unit test. */
#ifndef PROFD_TEST_TARGETS_H
#define PROFD_TEST_TARGETS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes the path of tests/targets/REL ("threads_mix", "sym/sym_c_fp", "sym") into out. */
static inline void test_target_path(char *out, size_t len, const char *rel)
{
	const char *o = getenv("O");
	char self[4000], *slash;
	ssize_t n;

	snprintf(out, len, "%s/tests/targets/%s", o && *o ? o : "build", rel);
	if (access(out, F_OK) == 0)
		return;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return;
	self[n] = '\0';
	for (int up = 0; up < 3 && (slash = strrchr(self, '/')); up++)
		*slash = '\0'; /* drop test_x, FOLDER, unit */
	snprintf(out, len, "%s/targets/%s", self, rel);
}

#endif
