/* SPDX-License-Identifier: MIT */
/* A flag's value chosen from a fixed list of words (--heap demand, --growth always, --fd off):
 * the parse, its one error sentence, and the word back for the log. No state. */
#ifndef PROFD_WORDS_H
#define PROFD_WORDS_H

#include <stddef.h>

struct word {
	const char *name;
	int value;
};

/* The value of the word s among n words, or -EINVAL with "FLAG: expected w1, w2 or w3, got 's'"
 * in err (the words in their order). */
int words_parse(const char *s, const struct word *words, size_t n, const char *flag, int *ret, char *err,
		size_t errlen);
/* The word of value, or dflt when none has it. */
const char *words_name(const struct word *words, size_t n, int value, const char *dflt);

#endif
