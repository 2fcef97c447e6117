// SPDX-License-Identifier: MIT
/* Fuzzes the /proc/kallsyms parser with arbitrary text (no NUL terminator: the parser must keep to
 * the length). On success the index must answer like a linear scan of what it holds: the symbol
 * at or below an address, none past the last or before the first, names that outlive the text. */
#include <errno.h>
#include <stdbool.h>

#include "fuzz_util.h"
#include "symbols/kallsyms.h"

static void check_lookup(const struct kallsyms *ks, uint64_t addr, uint64_t lo, uint64_t hi)
{
	uint64_t start = 0, again = 0;
	const char *name = kallsyms__lookup(ks, addr, &start);

	if (addr < lo || addr >= hi) {
		CHECK(!name, "a name outside the range");
		return;
	}
	CHECK(name, "no name inside the range");
	CHECK(start <= addr && start >= lo, "symbol start not at or below the address");
	CHECK(*name, "empty name");
	CHECK(kallsyms__lookup(ks, start, &again) && again == start, "the symbol's own start does not resolve to it");
	CHECK(kallsyms__lookup(ks, addr, NULL) == name, "lookup is not repeatable");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size heap copy: ASan sees any read past the length */
	char *text = malloc(size ? size : 1);
	struct kallsyms *ks = NULL;
	uint64_t lo, hi;
	int err;

	CHECK(text, "malloc");
	memcpy(text, data, size);
	err = kallsyms_parse(text, size, &ks);
	if (err) {
		CHECK(err == -EINVAL || err == -ENOENT || err == -E2BIG || err == -ENOMEM, "unexpected error");
		CHECK(!ks, "an index after an error");
		free(text);
		return 0;
	}
	free(text); /* the index must not point into the text */
	CHECK(ks, "no index");
	kallsyms__range(ks, &lo, &hi);
	CHECK(lo <= hi, "range upside down");
	check_lookup(ks, lo, lo, hi);
	check_lookup(ks, hi, lo, hi);
	check_lookup(ks, lo + (hi - lo) / 2, lo, hi);
	check_lookup(ks, lo + (hi - lo) / 3, lo, hi);
	if (lo > 0)
		check_lookup(ks, lo - 1, lo, hi);
	if (hi > 0)
		check_lookup(ks, hi - 1, lo, hi);
	check_lookup(ks, UINT64_MAX, lo, hi);
	CHECK(kallsyms__get(ks) == ks, "get");
	kallsyms__put(ks);
	kallsyms__put(ks);
	return 0;
}
