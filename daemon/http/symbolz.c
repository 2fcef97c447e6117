// SPDX-License-Identifier: MIT
/* /debug/pprof/symbol: parse '+'-separated addresses the way Go's net/http/pprof does, answer with
 * the outermost function name at each (Go's FuncForPC names the function the pc is in, not an
 * inlined callee), and always emit the num_symbols line that old pprof clients check. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/query.h"
#include "http/symbolz.h"

int symbolz_respond(struct symbolizer *sym, const char *input, size_t len, struct buf *out)
{
	const char *p = input, *end = input ? input + len : NULL; /* NULL + 0 is undefined in C */
	int err, count = 0;

	err = buf_puts(out, "num_symbols: 1\n");
	if (err)
		return err;
	while (input && p < end && count < SYMBOLZ_MAX_ADDRS) {
		const char *plus = memchr(p, '+', end - p);
		const char *word_end = plus ? plus : end;
		struct sym_result r;
		uint64_t pc;

		count++;
		if (sym && query_parse_uint_base0(p, (size_t)(word_end - p), &pc) == 0 && pc != 0 && symbolizer__lookup(sym, pc, &r) == 0 &&
		    r.nframes > 0) {
			/* frames are callee first: the last one is the function the pc is in */
			const char *name = r.frames[r.nframes - 1].name;

			if (!name)
				name = r.frames[r.nframes - 1].system_name;
			if (name) {
				err = buf_printf(out, "%#llx %s\n", (unsigned long long)pc, name);
				if (err)
					return err;
			}
		}
		if (!plus)
			break;
		p = plus + 1;
	}
	return 0;
}
