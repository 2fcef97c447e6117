/* SPDX-License-Identifier: MIT */
/* The /debug/pprof routes, with Go's exact shapes (pprof-compat.md): index, redirect, cmdline,
 * symbol, and the profiles that sources register (pprof/provider.h): named profiles with debug=
 * and seconds= (a delta, or a collection when the source collects), and the CPU profile
 * (/debug/pprof/profile: a profile that only collects). Sources never format HTTP themselves.
 * Every route takes ?pid=N when profd serves several processes. */
#ifndef PROFD_ENDPOINTS_H
#define PROFD_ENDPOINTS_H

#include <stdbool.h>

#include "http/http.h"
#include "pprof/provider.h"

struct procs;
struct history;
struct metrics;

/* /metrics answers with Prometheus's text exposition format 0.0.4 */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct endpoints;

/* The processes served (set/procs.h; one with --pid, a whole service otherwise: then ?pid=N
 * chooses one, a PID outside the set gets 404, and the index lists them). ps is borrowed and must
 * outlive it. Returns NULL only when out of memory. */
struct endpoints *endpoints__new(struct procs *ps);
void endpoints__free(struct endpoints *ep); /* NULL-safe */
/* Returns 0, -EEXIST (name taken), -EINVAL (neither snapshot nor collect) or -ENOSPC (too
 * many). Register before serving. */
int endpoints__add_profile(struct endpoints *ep, const struct profd_profile *p);
/* A profile this target cannot have (its source refused or is off), with why in words a user
 * can act on: requests for it get 404 with the reason in Go's error shape (instead of "Unknown
 * profile"), and the index lists it apart. Returns 0, -EEXIST, -EINVAL or -ENOSPC. */
int endpoints__add_unavailable(struct endpoints *ep, const char *name, const char *reason);
/* The registered profile with this name (/debug/pprof/NAME), NULL if none. Borrowed, valid until
 * endpoints__free(). */
const struct profd_profile *endpoints__profile(const struct endpoints *ep, const char *name);
/* Longest delta (?seconds=N) a request may ask for; longer gets 400. */
void endpoints__set_max_seconds(struct endpoints *ep, int max_seconds);
/* The resource history (http/history.h) drawn on the index and served as CSV at
 * /debug/pprof/history; borrowed, must outlive ep. NULL (the default): none. */
void endpoints__set_history(struct endpoints *ep, struct history *h);
/* Every registered profile's figures for /metrics (their metrics callbacks) into m: a
 * history_gather_fn with ep as ctx. Returns 0 or the first -errno. */
int endpoints__gather(void *ep, const struct profd_scope *scope, struct metrics *m);
/* The http_handler_fn to give http_server__start, with ep as its ctx. */
void endpoints__handle(void *ep, const struct http_request *req, struct http_response *resp);

#endif
