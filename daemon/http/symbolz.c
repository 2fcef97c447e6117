// SPDX-License-Identifier: MIT
/* /debug/pprof/symbol: parse '+'-separated addresses the way Go's net/http/pprof does, answer with
 * the outermost function name at each (Go's FuncForPC names the function the pc is in, not an
 * inlined callee), and always emit the num_symbols line that old pprof clients check. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/symbolz.h"

/* strconv.ParseUint(s, 0, 64): optional 0x/0X, 0o/0O, 0b/0B or leading-0 octal prefix; Go also
 * allows '_' separators after a base prefix. false on empty, bad digits or overflow. */
static bool parse_uint0(const char *s, size_t n, uint64_t *ret)
{
	unsigned base = 10;
	bool prefixed = false, last_underscore = false, any = false;
	uint64_t v = 0;
	size_t i = 0;

	if (n == 0)
		return false;
	if (s[0] == '0' && n > 1) {
		char c = s[1] | 0x20;

		if (c == 'x' || c == 'o' || c == 'b') {
			base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
			i = 2;
		} else {
			base = 8;
			i = 1;
		}
		prefixed = true;
		last_underscore = false;
	}
	for (; i < n; i++) {
		unsigned d;
		char c = s[i];

		if (c == '_' && prefixed) {
			if (last_underscore)
				return false;
			last_underscore = true;
			continue;
		}
		last_underscore = false;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
			d = (unsigned)((c | 0x20) - 'a' + 10);
		else
			return false;
		if (d >= base)
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
		any = true;
	}
	/* "0x" alone or a trailing '_' is not a number; "0" alone (octal prefix, no digits) is 0 */
	if (last_underscore || (!any && base != 8))
		return false;
	*ret = v;
	return true;
}

int symbolz_respond(struct symbolizer *sym, const char *input, size_t len, struct buf *out)
{
	const char *p = input, *end = input + len;
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
		if (sym && parse_uint0(p, word_end - p, &pc) && pc != 0 && symbolizer__lookup(sym, pc, &r) == 0 &&
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
