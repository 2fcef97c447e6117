/* SPDX-License-Identifier: MIT */
/* A sample set: the profile-independent snapshot every profile source hands to the output side
 * (pprof builder, text writers). Stacks are lists of program counters; identical stacks with
 * identical labels are merged as they are added. Values are final (already scaled) proto values.
 *
 * PC convention (Go's): every pc stored is "caller style", the address to symbolize is pc - 1.
 * Return addresses are stored as they are; exact instruction addresses (the leaf of a CPU or
 * thread sample, a frame interrupted by a signal) are stored + 1. Use sample_pc_exact() for them.
 * A pc may also stand for one of profd's own steps rather than code (the symbolizer's synthetic
 * range, symbols/frame.h): stored the same way, it needs no special case here.
 * Not thread-safe: one owner at a time. */
#ifndef PROFD_SAMPLES_H
#define PROFD_SAMPLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"

#define PROFD_MAX_VALUES 4
/* what a source sets (heap: "bytes") plus "pid" and "process" in profiles of several processes */
#define PROFD_MAX_LABELS 4
#define PROFD_MAX_FRAMES 256
#define PROFD_MAX_COMMENTS 32
/* Default bound on distinct samples in one set; adds beyond it fail with -ENOSPC. */
#define PROFD_MAX_SAMPLES (1u << 20)

static inline uint64_t sample_pc_exact(uint64_t pc)
{
	return pc + 1;
}

struct profd_value_type {
	const char *type; /* static strings, e.g. "samples" */
	const char *unit; /* e.g. "count" */
};

struct profd_label {
	const char *key;  /* static string */
	char *str;        /* owned; NULL for a numeric label */
	int64_t num;
	const char *unit; /* static string or NULL, numeric labels only */
};

struct profd_sample {
	uint32_t nframes;
	uint32_t nlabels;
	uint64_t *pcs;    /* nframes entries, leaf first, owned by the set */
	int64_t values[PROFD_MAX_VALUES];
	struct profd_label labels[PROFD_MAX_LABELS];
};

struct profd_sample_set {
	int nvalues;
	struct profd_value_type types[PROFD_MAX_VALUES];
	struct profd_value_type period_type;
	int64_t period;
	int default_sample_type; /* index into types, or -1 for unset */
	int64_t time_nanos;      /* when the snapshot was taken */
	int64_t duration_nanos;  /* 0 = absent */
	int ncomments;
	char *comments[PROFD_MAX_COMMENTS];
	size_t max_samples;
	size_t nsamples;
	struct profd_sample *samples;
	/* private: hash index of samples for merging */
	size_t *index;
	size_t index_size;
};

/* The sample's process: its numeric "pid" label, 0 when it has none (a one-process profile). */
int64_t sample_pid(const struct profd_sample *s);

/* Keeps only the samples of process pid (their "pid" label). */
void sample_set__keep_pid(struct profd_sample_set *set, int64_t pid);

/* Creates an empty set with nvalues value columns (<= PROFD_MAX_VALUES), time_nanos = now.
 * Returns NULL only when out of memory. Free with sample_set__free(). */
struct profd_sample_set *sample_set__new(int nvalues);
void sample_set__free(struct profd_sample_set *set); /* NULL-safe */

/* Adds values to the sample with this stack and these labels, creating it if needed.
 * Returns 0, -EINVAL (bad arguments), -ENOMEM, or -ENOSPC when max_samples distinct samples
 * already exist (the caller counts the drop). */
int sample_set__add(struct profd_sample_set *set, const uint64_t *pcs, uint32_t nframes,
		    const int64_t *values, const struct profd_label *labels, uint32_t nlabels);
/* The same, returning the sample's index in set->samples (>= 0; valid until the set is sorted,
 * subtracted from or freed), or -errno as sample_set__add. */
int64_t sample_set__add_at(struct profd_sample_set *set, const uint64_t *pcs, uint32_t nframes,
			   const int64_t *values, const struct profd_label *labels, uint32_t nlabels);
/* printf-style comment; at most PROFD_MAX_COMMENTS are kept (later ones are dropped). */
int sample_set__comment(struct profd_sample_set *set, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Delta as Go's serveDeltaProfile computes it: set = p1 - p0 per (stack, labels); samples whose
 * values all become zero are dropped, negative values are kept. time_nanos stays p1's and
 * duration_nanos becomes p1.time - p0.time. Returns 0, -EINVAL (different value columns),
 * -ENOMEM or -ENOSPC. */
int sample_set__subtract(struct profd_sample_set *p1, const struct profd_sample_set *p0);

/* Sorts samples by values[col] descending, ties by stack (stable, deterministic). */
void sample_set__sort(struct profd_sample_set *set, int col);


#endif
