/* SPDX-License-Identifier: MIT */
/* The /debug/pprof/symbol responder (pprof-compat.md 1.9): addresses in, "0x<addr> <name>" lines
 * out. The HTTP layer passes the POST body, or the raw query string for other methods. */
#ifndef PROFD_SYMBOLZ_H
#define PROFD_SYMBOLZ_H

#include <stddef.h>

#include "base/buf.h"
#include "symbols/symbolize.h"

/* Addresses looked up per request; the rest of the request is ignored. */
#define SYMBOLZ_MAX_ADDRS 100000

/* Appends the response body to out: "num_symbols: 1\n", then "%#x %s\n" per address that
 * resolves to a function, in request order. Words are split on '+' and parsed like Go's
 * strconv.ParseUint(word, 0, 64) (0x.. hex, 0.. octal, decimal); garbage and 0 are skipped.
 * sym may be NULL (nothing resolves). Returns 0, or -ENOMEM/-ENOSPC from out. */
int symbolz_respond(struct symbolizer *sym, const char *input, size_t len, struct buf *out);

#endif
