// SPDX-License-Identifier: MIT
/* Fuzzes what the symbolizer parses from files the target controls: symbol names through the
 * demanglers (C++, Rust legacy, Rust v0) and /proc/kallsyms-style text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/demangle.h"
#include "symbols/kallsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct kallsyms *ks = NULL;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	free(demangle(s));
	free(demangle_rust_legacy(s));
	free(demangle_rust_v0(s));
	if (kallsyms_parse(s, size, &ks) == 0) {
		uint64_t lo, hi;

		kallsyms__range(ks, &lo, &hi);
		kallsyms__lookup(ks, lo + (hi - lo) / 2, NULL);
		kallsyms__put(ks);
	}
	free(s);
	return 0;
}
