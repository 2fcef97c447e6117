// SPDX-License-Identifier: MIT
/* Fuzzes procmaps_parse() with arbitrary bytes. On success the result must hold what lookups rely
 * on: entries ascending and non-overlapping, start <= end, paths without a " (deleted)" suffix
 * when deleted is set, procmaps_find() agreeing with a linear scan. On failure nothing is left. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, what)                                                                      \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "fuzz_procmaps: %s (%s:%d)\n", what, __FILE__, __LINE__); \
			abort();                                                               \
		}                                                                              \
	} while (0)

static const struct procmaps_entry *linear_find(const struct procmaps *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (addr >= m->entries[i].start && addr < m->entries[i].end)
			return &m->entries[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procmaps maps;
	int err;

	/* no NUL terminator on purpose: the parser must respect the length */
	err = procmaps_parse((const char *)data, size, &maps);
	if (err) {
		CHECK(err == -EINVAL || err == -E2BIG || err == -ENOMEM, "unexpected error code");
		CHECK(maps.n == 0 && maps.entries == NULL, "output not empty after an error");
		return 0;
	}
	CHECK(maps.n == 0 || maps.entries, "entries missing");
	CHECK(maps.n <= size / 16 + 1, "more entries than lines could hold");
	for (size_t i = 0; i < maps.n; i++) {
		const struct procmaps_entry *e = &maps.entries[i];
		size_t plen;

		CHECK(e->path, "NULL path");
		CHECK(e->start <= e->end, "end before start");
		CHECK(i == 0 || maps.entries[i - 1].end <= e->start, "entries overlap or are unsorted");
		plen = strlen(e->path);
		CHECK(plen < size, "path longer than the input");
		CHECK(!memchr(e->path, '\n', plen), "newline in a path");
		if (e->start < e->end) {
			CHECK(procmaps_find(&maps, e->start) == e, "find(start)");
			CHECK(procmaps_find(&maps, e->end - 1) == e, "find(end - 1)");
			CHECK(procmaps_find(&maps, e->end) == linear_find(&maps, e->end), "find(end)");
		}
		if (e->start > 0)
			CHECK(procmaps_find(&maps, e->start - 1) == linear_find(&maps, e->start - 1),
			      "find(start - 1)");
		(void)procmaps_entry_is_file(e);
	}
	procmaps_free(&maps);
	CHECK(maps.n == 0 && maps.entries == NULL, "free left entries");
	return 0;
}
