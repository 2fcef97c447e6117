// SPDX-License-Identifier: MIT
/* Sample sets: stacks + values, merged by (stack, labels) through an open-addressing index. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stacks/samples.h"

#define EMPTY_SLOT ((size_t)-1)

int64_t sample_pid(const struct profd_sample *s)
{
	for (uint32_t i = 0; i < s->nlabels; i++)
		if (!s->labels[i].str && strcmp(s->labels[i].key, "pid") == 0)
			return s->labels[i].num;
	return 0;
}

struct profd_sample_set *sample_set__new(int nvalues)
{
	struct profd_sample_set *set;

	if (nvalues < 1 || nvalues > PROFD_MAX_VALUES)
		return NULL;
	set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	set->nvalues = nvalues;
	set->default_sample_type = -1;
	set->max_samples = PROFD_MAX_SAMPLES;
	set->time_nanos = profd_now_nanos();
	return set;
}

static void sample_release(struct profd_sample *s)
{
	free(s->pcs);
	for (uint32_t i = 0; i < s->nlabels; i++)
		free(s->labels[i].str);
}

void sample_set__free(struct profd_sample_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->nsamples; i++)
		sample_release(&set->samples[i]);
	for (int i = 0; i < set->ncomments; i++)
		free(set->comments[i]);
	free(set->samples);
	free(set->index);
	free(set);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static uint64_t key_hash(const uint64_t *pcs, uint32_t n, const struct profd_label *labels, uint32_t nl)
{
	uint64_t h = n;

	for (uint32_t i = 0; i < n; i++)
		h = mix(h, pcs[i]);
	for (uint32_t i = 0; i < nl; i++) {
		h = mix(h, str_hash(labels[i].key));
		h = mix(h, labels[i].str ? str_hash(labels[i].str) : (uint64_t)labels[i].num);
	}
	return h;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool key_eq(const struct profd_sample *s, const uint64_t *pcs, uint32_t n,
		   const struct profd_label *labels, uint32_t nl)
{
	if (s->nframes != n || s->nlabels != nl)
		return false;
	if (n && memcmp(s->pcs, pcs, n * sizeof(*pcs)) != 0)
		return false;
	for (uint32_t i = 0; i < nl; i++) {
		const struct profd_label *a = &s->labels[i], *b = &labels[i];

		if (!str_eq(a->key, b->key) || !str_eq(a->str, b->str) || a->num != b->num ||
		    !str_eq(a->unit, b->unit))
			return false;
	}
	return true;
}

/* Rebuilds the index with room for at least twice the current samples (grow: four times). */
static int index_build(struct profd_sample_set *set, bool grow)
{
	size_t size = 1024;
	size_t *idx;

	while (size < set->nsamples * (grow ? 4 : 2))
		size *= 2;
	idx = malloc(size * sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < size; i++)
		idx[i] = EMPTY_SLOT;
	for (size_t i = 0; i < set->nsamples; i++) {
		const struct profd_sample *s = &set->samples[i];
		size_t slot = key_hash(s->pcs, s->nframes, s->labels, s->nlabels) & (size - 1);

		while (idx[slot] != EMPTY_SLOT)
			slot = (slot + 1) & (size - 1);
		idx[slot] = i;
	}
	free(set->index);
	set->index = idx;
	set->index_size = size;
	return 0;
}

/* Finds the sample with this key; returns its index, or EMPTY_SLOT with *ret_slot the free slot. */
static size_t find(const struct profd_sample_set *set, const uint64_t *pcs, uint32_t n,
		   const struct profd_label *labels, uint32_t nl, size_t *ret_slot)
{
	size_t mask = set->index_size - 1;
	size_t slot = key_hash(pcs, n, labels, nl) & mask;

	while (set->index[slot] != EMPTY_SLOT) {
		if (key_eq(&set->samples[set->index[slot]], pcs, n, labels, nl))
			return set->index[slot];
		slot = (slot + 1) & mask;
	}
	*ret_slot = slot;
	return EMPTY_SLOT;
}

int sample_set__add(struct profd_sample_set *set, const uint64_t *pcs, uint32_t nframes,
		    const int64_t *values, const struct profd_label *labels, uint32_t nlabels)
{
	int64_t at = sample_set__add_at(set, pcs, nframes, values, labels, nlabels);

	return at < 0 ? (int)at : 0;
}

int64_t sample_set__add_at(struct profd_sample_set *set, const uint64_t *pcs, uint32_t nframes,
			   const int64_t *values, const struct profd_label *labels, uint32_t nlabels)
{
	struct profd_sample *s;
	size_t at, slot = 0;
	int err;

	if (!set || (nframes && !pcs) || nframes > PROFD_MAX_FRAMES || nlabels > PROFD_MAX_LABELS || !values)
		return -EINVAL;
	if (set->nsamples * 2 >= set->index_size) {
		err = index_build(set, true);
		if (err)
			return err;
	}
	at = find(set, pcs, nframes, labels, nlabels, &slot);
	if (at != EMPTY_SLOT) {
		for (int i = 0; i < set->nvalues; i++)
			set->samples[at].values[i] += values[i];
		return (int64_t)at;
	}
	if (set->nsamples >= set->max_samples)
		return -ENOSPC;
	if ((set->nsamples & (set->nsamples - 1)) == 0) {
		size_t n = set->nsamples ? set->nsamples * 2 : 16;
		struct profd_sample *p = realloc(set->samples, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		set->samples = p;
	}
	s = &set->samples[set->nsamples];
	memset(s, 0, sizeof(*s));
	s->pcs = malloc((nframes ? nframes : 1) * sizeof(*pcs));
	if (!s->pcs)
		return -ENOMEM;
	if (nframes)
		memcpy(s->pcs, pcs, nframes * sizeof(*pcs));
	s->nframes = nframes;
	for (uint32_t i = 0; i < nlabels; i++) {
		s->labels[i] = labels[i];
		s->labels[i].str = NULL;
		if (labels[i].str && !(s->labels[i].str = strdup(labels[i].str))) {
			s->nlabels = i;
			sample_release(s);
			return -ENOMEM;
		}
	}
	s->nlabels = nlabels;
	for (int i = 0; i < set->nvalues; i++)
		s->values[i] = values[i];
	set->index[slot] = set->nsamples;
	return (int64_t)set->nsamples++;
}

int sample_set__comment(struct profd_sample_set *set, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (set->ncomments >= PROFD_MAX_COMMENTS)
		return 0;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	set->comments[set->ncomments++] = s;
	return 0;
}

static bool value_type_eq(const struct profd_value_type *a, const struct profd_value_type *b)
{
	return str_eq(a->type, b->type) && str_eq(a->unit, b->unit);
}

/* The comments of Merge([p0, p1]): p0's then p1's, each text once, at most PROFD_MAX_COMMENTS. */
static int merge_comments(struct profd_sample_set *p1, const struct profd_sample_set *p0)
{
	char *merged[PROFD_MAX_COMMENTS];
	int n = 0;

	for (int i = 0; i < p0->ncomments + p1->ncomments && n < PROFD_MAX_COMMENTS; i++) {
		const char *c = i < p0->ncomments ? p0->comments[i] : p1->comments[i - p0->ncomments];
		bool seen = false;

		for (int j = 0; j < n && !seen; j++)
			seen = strcmp(merged[j], c) == 0;
		if (seen)
			continue;
		merged[n] = strdup(c);
		if (!merged[n]) {
			while (n > 0)
				free(merged[--n]);
			return -ENOMEM;
		}
		n++;
	}
	for (int i = 0; i < p1->ncomments; i++)
		free(p1->comments[i]);
	memcpy(p1->comments, merged, (size_t)n * sizeof(*merged));
	p1->ncomments = n;
	return 0;
}

int sample_set__subtract(struct profd_sample_set *p1, const struct profd_sample_set *p0)
{
	int64_t neg[PROFD_MAX_VALUES];
	size_t out = 0;
	int err;

	/* profile.Merge refuses profiles of different types: so do we, before touching p1 */
	if (p1->nvalues != p0->nvalues || !value_type_eq(&p1->period_type, &p0->period_type))
		return -EINVAL;
	for (int v = 0; v < p1->nvalues; v++)
		if (!value_type_eq(&p1->types[v], &p0->types[v]))
			return -EINVAL;
	for (size_t i = 0; i < p0->nsamples; i++) {
		const struct profd_sample *s = &p0->samples[i];

		for (int v = 0; v < p0->nvalues; v++)
			neg[v] = -s->values[v];
		err = sample_set__add(p1, s->pcs, s->nframes, neg, s->labels, s->nlabels);
		if (err)
			return err;
	}
	/* drop all-zero samples, keeping order */
	for (size_t i = 0; i < p1->nsamples; i++) {
		struct profd_sample *s = &p1->samples[i];
		bool zero = true;

		for (int v = 0; v < p1->nvalues; v++)
			zero &= s->values[v] == 0;
		if (zero)
			sample_release(s);
		else
			p1->samples[out++] = *s;
	}
	p1->nsamples = out;
	err = index_build(p1, false); /* rebuild the index over the compacted array */
	if (err)
		return err;
	/* the headers as Merge([p0, p1]) combines them (pprof-compat.md 1.8) */
	err = merge_comments(p1, p0);
	if (err)
		return err;
	if (p0->period > p1->period)
		p1->period = p0->period;
	if (p0->default_sample_type >= 0)
		p1->default_sample_type = p0->default_sample_type;
	p1->duration_nanos = p1->time_nanos - p0->time_nanos;
	return 0;
}

static int sample_cmp(const void *a, const void *b, void *arg)
{
	const struct profd_sample *x = a, *y = b;
	int col = *(const int *)arg;
	uint32_t n;

	if (x->values[col] != y->values[col])
		return x->values[col] > y->values[col] ? -1 : 1;
	n = x->nframes < y->nframes ? x->nframes : y->nframes;
	for (uint32_t i = 0; i < n; i++)
		if (x->pcs[i] != y->pcs[i])
			return x->pcs[i] < y->pcs[i] ? -1 : 1;
	return (x->nframes > y->nframes) - (x->nframes < y->nframes);
}

void sample_set__keep_pid(struct profd_sample_set *set, int64_t pid)
{
	size_t k = 0;

	for (size_t i = 0; i < set->nsamples; i++) {
		if (sample_pid(&set->samples[i]) == pid)
			set->samples[k++] = set->samples[i];
		else
			sample_release(&set->samples[i]);
	}
	set->nsamples = k;
	/* the index maps keys to positions: rebuild it (on failure the old one is dropped) */
	if (index_build(set, false) != 0) {
		free(set->index);
		set->index = NULL;
		set->index_size = 0;
	}
}

void sample_set__sort(struct profd_sample_set *set, int col)
{
	if (col < 0 || col >= set->nvalues || set->nsamples < 2)
		return;
	qsort_r(set->samples, set->nsamples, sizeof(*set->samples), sample_cmp, &col);
	/* the index maps keys to positions: rebuild it (on failure the old one is dropped) */
	if (index_build(set, false) != 0) {
		free(set->index);
		set->index = NULL;
		set->index_size = 0;
	}
}
