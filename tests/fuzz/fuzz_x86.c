// SPDX-License-Identifier: MIT
/* Fuzzes the x86-64 decoder that places heap uprobes with arbitrary code bytes (a hostile target
 * controls its own function bodies). First byte: the argument mask; the rest: the function body.
 * Checks what the placement relies on: lengths within the bytes given, a probe offset that lands
 * on an emulated instruction reached through skippable ones, every e8/e9 reported once. */
#include <stdbool.h>

#include "fuzz_util.h"
#include "sources/x86_decode.h"

struct scan {
	size_t n, last;
	const uint8_t *body;
	size_t len;
};

static void on_rel32(void *ctx, size_t at, int64_t target, bool is_call)
{
	struct scan *s = ctx;
	int32_t rel;

	CHECK(at + 5 <= s->len, "rel32 candidate past the end");
	CHECK(s->n == 0 || at > s->last, "rel32 candidates out of order");
	CHECK(s->body[at] == (is_call ? 0xe8 : 0xe9), "rel32 candidate is not e8/e9");
	memcpy(&rel, s->body + at + 1, 4);
	CHECK(target == (int64_t)at + 5 + rel, "rel32 target");
	s->n++;
	s->last = at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mask;
	const uint8_t *body;
	size_t len, off, expect = 0;
	struct scan s = { 0 };
	uint8_t *copy;

	if (size < 1)
		return 0;
	mask = data[0] & X86_ARGS(6);
	len = size - 1;
	/* an exact-size heap copy: ASan sees any read past the body */
	copy = malloc(len ? len : 1);
	CHECK(copy, "malloc");
	memcpy(copy, data + 1, len);
	body = copy;

	for (size_t i = 0; i < len; i++) {
		int e = x86_emulated_len(body + i, len - i);
		int k = x86_skippable_len(body + i, len - i, mask);

		CHECK(e >= 0 && (size_t)e <= len - i, "emulated length past the bytes");
		CHECK(k >= 0 && (size_t)k <= len - i, "skippable length past the bytes");
		CHECK(!(e > 0 && k > 0), "an instruction both emulated and skipped");
		/* a register that is not an argument under mask cannot become one by clearing bits */
		if (k > 0)
			CHECK(x86_skippable_len(body + i, len - i, 0) == k, "skippable under mask but not without");
	}

	off = x86_probe_offset(body, len, mask);
	CHECK(off == 0 || off < len, "probe offset past the body");
	if (off > 0) {
		size_t at = 0;
		int n = 0;

		CHECK(x86_emulated_len(body + off, len - off) > 0, "probe offset is not on an emulated instruction");
		while (at < off) {
			int k = x86_skippable_len(body + at, len - at, mask);

			CHECK(k > 0 && n++ < X86_MAX_SKIP, "probe offset not reached through skippable instructions");
			at += (size_t)k;
		}
		CHECK(at == off, "probe offset inside an instruction");
	}

	s.body = body;
	s.len = len;
	for (size_t i = 0; i + 5 <= len; i++)
		expect += body[i] == 0xe8 || body[i] == 0xe9;
	CHECK(x86_scan_rel32(body, len, on_rel32, &s) == (int)expect && s.n == expect, "rel32 candidate count");
	free(copy);
	return 0;
}
