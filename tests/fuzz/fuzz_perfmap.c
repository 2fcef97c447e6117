// SPDX-License-Identifier: MIT
/* Fuzzes the perf map parser (symbols/perfmap.c) with arbitrary text, fed in two pieces as a
 * growing file is (the first byte says where to cut; no NUL terminator: the parser must keep
 * to the length). Checks: what a non-final piece consumes ends at a '\n', the entry bound
 * holds, and lookups answer with a name free of control characters and a start at or below
 * the address, which itself resolves. */
#include <errno.h>
#include <stdbool.h>

#include "fuzz_util.h"
#include "symbols/perfmap.h"

static void check_lookup(const struct perfmap *pm, uint64_t addr)
{
	uint64_t start = 0;
	const char *name = perfmap__lookup(pm, addr, &start);

	if (!name)
		return;
	CHECK(start <= addr, "start above the address");
	CHECK(*name, "empty name");
	for (const char *c = name; *c; c++)
		CHECK((unsigned char)*c >= 0x20 && *c != 0x7f, "control character in a name");
	CHECK(perfmap__lookup(pm, start, NULL), "the start of a piece resolves to nothing");
	CHECK(perfmap__lookup(pm, addr, NULL) == name, "lookup is not repeatable");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct perfmap *pm;
	size_t cut;
	char *text;
	long used;

	if (size < 1)
		return 0;
	cut = data[0] * (size - 1) / 256;
	data++;
	size--;
	/* an exact-size heap copy: ASan sees any read past the length */
	text = malloc(size ? size : 1);
	CHECK(text, "malloc");
	memcpy(text, data, size);
	pm = perfmap__new();
	CHECK(pm, "perfmap__new");
	used = perfmap__add_text(pm, text, cut, false);
	CHECK(used >= 0 && (size_t)used <= cut, "consumed more than given");
	CHECK(used == 0 || text[used - 1] == '\n', "a piece consumed past its last complete line");
	used = perfmap__add_text(pm, text + used, size - (size_t)used, true);
	CHECK(used >= 0, "final piece");
	free(text); /* names must not point into the text */
	CHECK(perfmap__count(pm) <= PERFMAP_MAX_ENTRIES, "entry bound");
	/* addresses taken from the input itself, so that some fall in its pieces */
	for (size_t i = 0; i + 8 <= size && i < 64; i += 8) {
		uint64_t a;

		memcpy(&a, data + i, 8);
		check_lookup(pm, a);
		check_lookup(pm, a & 0xffffff);
	}
	for (uint64_t a = 0; a < 0x10000; a += 0x111)
		check_lookup(pm, a);
	check_lookup(pm, UINT64_MAX);
	perfmap__free(pm);
	return 0;
}
