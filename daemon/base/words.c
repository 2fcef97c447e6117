// SPDX-License-Identifier: MIT
/* Flag values from a list of words (words.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/words.h"

int words_parse(const char *s, const struct word *words, size_t n, const char *flag, int *ret, char *err,
		size_t errlen)
{
	size_t at;

	for (size_t i = 0; s && i < n; i++) {
		if (strcmp(s, words[i].name) == 0) {
			*ret = words[i].value;
			return 0;
		}
	}
	at = (size_t)snprintf(err, errlen, "%s: expected ", flag);
	for (size_t i = 0; i < n && at < errlen; i++)
		at += (size_t)snprintf(err + at, errlen - at, "%s%s", words[i].name,
				       i + 2 < n ? ", " : i + 1 < n ? " or " : "");
	if (at < errlen)
		snprintf(err + at, errlen - at, ", got '%s'", s ? s : "");
	return -EINVAL;
}

const char *words_name(const struct word *words, size_t n, int value, const char *dflt)
{
	for (size_t i = 0; i < n; i++)
		if (words[i].value == value)
			return words[i].name;
	return dflt;
}
