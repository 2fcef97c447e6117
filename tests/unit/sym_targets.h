/* SPDX-License-Identifier: MIT */
/* Where the symbolization test programs (tests/targets/symbolize.mk) were built: $O/tests/targets/sym
 * when tests/run sets O, else next to the test binary ($(O)/tests/unit/../targets/sym). */
#ifndef PROFD_TEST_SYM_TARGETS_H
#define PROFD_TEST_SYM_TARGETS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void sym_targets_dir(char *out, size_t len)
{
	const char *o = getenv("O");
	char self[4000];
	ssize_t n;

	snprintf(out, len, "%s/tests/targets/sym", o && *o ? o : "build");
	if (access(out, F_OK) == 0)
		return;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(out, len, "%s/../targets/sym", self);
	}
}

#endif
