// SPDX-License-Identifier: MIT
/* Fuzzes /debug/pprof/symbol bodies (http/symbolz.c) against a symbolizer of this very process
 * (linked without PIE, so that the corpus can name its functions at fixed addresses). The answer
 * must be exactly Go's: "num_symbols: 1\n", then for each '+'-separated word, in order and at
 * most SYMBOLZ_MAX_ADDRS of them, "0x<pc> <name>\n" when ParseUint(word, 0, 64) gives a pc != 0
 * that resolves to a function (query_parse_uint_base0 is held to Go's parser by fuzz_query). */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "http/query.h"
#include "http/symbolz.h"
#include "symbols/symbolize.h"

static struct symbolizer *self_sym(void)
{
	static struct symbolizer *sym;

	if (!sym) {
		sym = symbolizer__new(getpid());
		CHECK(sym, "symbolizer__new(self)");
	}
	return sym;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct symbolizer *sym = self_sym();
	const char *in = (const char *)data, *end = in + size, *p = in;
	struct buf out, want;
	int err, count = 0;

	buf_init(&out, 0);
	buf_init(&want, 0);
	/* an empty body still gets the header */
	err = symbolz_respond(sym, size ? in : NULL, size, &out);
	CHECK(err == 0, "symbolz_respond failed");
	CHECK(buf_puts(&want, "num_symbols: 1\n") == 0, "buf");
	while (size && p <= end && count < SYMBOLZ_MAX_ADDRS) {
		const char *plus = memchr(p, '+', (size_t)(end - p));
		const char *word_end = plus ? plus : end;
		struct sym_result r;
		uint64_t pc;

		count++;
		if (query_parse_uint_base0(p, (size_t)(word_end - p), &pc) == 0 && pc != 0 &&
		    symbolizer__lookup(sym, pc, &r) == 0 && r.nframes > 0) {
			const char *name = r.frames[r.nframes - 1].name ? r.frames[r.nframes - 1].name
									 : r.frames[r.nframes - 1].system_name;

			if (name)
				CHECK(buf_printf(&want, "%#llx %s\n", (unsigned long long)pc, name) == 0, "buf");
		}
		if (!plus)
			break;
		p = plus + 1;
	}
	if (out.len != want.len || memcmp(out.data, want.data, out.len)) {
		fprintf(stderr, "got:\n%.*s\nwant:\n%.*s\n", (int)out.len, out.data, (int)want.len, want.data);
		CHECK(0, "the answer is not Go's");
	}
	buf_free(&out);
	buf_free(&want);
	return 0;
}
