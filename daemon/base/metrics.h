/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition (format 0.0.4) of figures gathered from several places: each adds
 * samples to named families in any order, and metrics__write groups them (a family's # HELP,
 * # TYPE and samples together, families in the order they first appeared). Label values are
 * escaped; names are checked. Bounded: at most METRICS_MAX_FAMILIES families and
 * METRICS_MAX_BYTES of sample text; what is beyond is counted, not kept. Not thread-safe: one
 * request's collector. */
#ifndef PROFD_METRICS_H
#define PROFD_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define METRICS_MAX_FAMILIES 128
#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BYTES (8u << 20)

enum metric_type { METRIC_GAUGE, METRIC_COUNTER };

struct metric_label {
	const char *name;
	const char *value;
};

struct metrics;

/* Returns NULL only when out of memory. */
struct metrics *metrics__new(void);
void metrics__free(struct metrics *m); /* NULL-safe */
/* Adds one sample to family `name` (created with help and type at its first sample; later ones
 * must agree on the type). labels: nlabels pairs (at most METRICS_MAX_LABELS). Returns 0,
 * -EINVAL (a name that is not [a-zA-Z_:][a-zA-Z0-9_:]*, a counter not ending in _total, a type
 * that differs from the family's), -ENOSPC (a bound reached) or -ENOMEM. */
int metrics__add(struct metrics *m, const char *name, enum metric_type type, const char *help,
		 const struct metric_label *labels, int nlabels, double value);
/* The value of the first sample of `name` whose label `label` is `value` (label NULL: the first
 * sample). Returns true when found. */
bool metrics__find(const struct metrics *m, const char *name, const char *label, const char *value,
		   double *ret);
/* Appends the exposition to out. Returns 0 or -ENOMEM. */
int metrics__write(const struct metrics *m, struct buf *out);
/* Whether s is a valid metric or label name. */
bool metrics_name_ok(const char *s);

#endif
