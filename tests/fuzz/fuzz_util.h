/* SPDX-License-Identifier: MIT */
/* What the fuzz targets share: a CHECK that aborts (libFuzzer records the input, the replay test
 * fails), a reader that takes bytes off the front of an input, and a copy of an input with a
 * NUL after it (libFuzzer's buffer is const and unterminated). */
#ifndef PROFD_FUZZ_UTIL_H
#define PROFD_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, what)                                                                  \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz: check failed: %s (%s:%d)\n", what, __FILE__, __LINE__);\
			abort();                                                           \
		}                                                                          \
	} while (0)

struct fuzz_input {
	const uint8_t *p, *end;
};

static inline unsigned fuzz_u8(struct fuzz_input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

/* n bytes, little-endian, zeros past the end. */
static inline uint64_t fuzz_le(struct fuzz_input *in, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)fuzz_u8(in) << (8 * i);
	return v;
}

/* A malloc'd copy of [p, p + n) with a NUL after it. */
static inline char *fuzz_strndup(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

#endif
