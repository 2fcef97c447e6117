/* SPDX-License-Identifier: MIT */
/* The /debug/pprof routes, with Go's exact shapes (pprof-compat.md): index, redirect, cmdline,
 * named profiles with debug= and seconds= (delta), and routes that sources add (profile, symbol).
 * Profile sources register here; they never format HTTP themselves. */
#ifndef PROFD_ENDPOINTS_H
#define PROFD_ENDPOINTS_H

#include <stdbool.h>

#include "buf.h"
#include "http.h"
#include "samples.h"

struct target;
struct symbolizer;

/* A named profile (/debug/pprof/NAME): goroutine, heap, allocs, threadcreate, block, mutex. */
struct profd_profile {
	const char *name;
	const char *description; /* one line for the index */
	void *ctx;
	/* Index count column (threads, records); -errno when unknown. May be NULL. */
	int (*count)(void *ctx);
	/* A snapshot for debug=0 and deltas. Returns 0 or -errno; the caller frees *ret. */
	int (*snapshot)(void *ctx, struct profd_sample_set **ret);
	/* Text for debug != 0, appended to out. Returns 0 or -errno. May be NULL: then debug=1 is the
	 * generic count-profile text built from the snapshot. */
	int (*write_text)(void *ctx, int debug, struct buf *out);
	/* Optional line of status for the index (e.g. "allocator: glibc, 10 probes"). May be NULL. */
	int (*status)(void *ctx, struct buf *out);
};

/* Any other route (/debug/pprof/profile, /debug/pprof/symbol): the handler gets the request
 * after the common checks (method, nosniff). */
struct profd_route {
	const char *name;
	const char *description; /* NULL: not listed in the index */
	void *ctx;
	http_handler_fn handler;
	bool allow_post;
};

struct endpoints;

/* Returns NULL only when out of memory. target and sym are borrowed and must outlive it. */
struct endpoints *endpoints__new(const struct target *target, struct symbolizer *sym);
void endpoints__free(struct endpoints *ep); /* NULL-safe */
/* Both return 0, -EEXIST (name taken) or -ENOSPC (too many). Register before serving. */
int endpoints__add_profile(struct endpoints *ep, const struct profd_profile *p);
int endpoints__add_route(struct endpoints *ep, const struct profd_route *r);
/* Longest delta (?seconds=N) a request may ask for; longer gets 400. */
void endpoints__set_max_seconds(struct endpoints *ep, int max_seconds);
/* The http_handler_fn to give http_server__start, with ep as its ctx. */
void endpoints__handle(void *ep, const struct http_request *req, struct http_response *resp);

#endif
