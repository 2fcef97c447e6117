// SPDX-License-Identifier: MIT
/* Snapshots and windows of Go's contention profiles (cumwindow.h). */
#include <errno.h>
#include <stddef.h>

#include <bpf/libbpf.h>

#include "base/clock.h"
#include "proc/target.h"
#include "set/procs.h"
#include "sources/cumwindow.h"
#include "sources/demand.h"
#include "stacks/samples.h"

/* Caller holds lock. */
static void consume(const struct cumwindow *c)
{
	if (*c->rb)
		ring_buffer__consume(*c->rb);
}

/* A copy of the cumulative set, raw values. Caller holds lock. */
static struct profd_sample_set *copy(const struct cumwindow *c)
{
	const struct profd_sample_set *cum = *c->cum;
	struct profd_sample_set *set = sample_set__new(2);

	if (set && cum)
		set->max_samples = cum->max_samples;
	for (size_t i = 0; set && cum && i < cum->nsamples; i++) {
		const struct profd_sample *s = &cum->samples[i];

		if (sample_set__add(set, s->pcs, s->nframes, s->values, s->labels, s->nlabels) < 0) {
			sample_set__free(set);
			return NULL;
		}
	}
	return set;
}

/* Go's contention profile of a raw set: the source's values, samples of nothing left out. Caller
 * holds lock. */
static struct profd_sample_set *profile(const struct cumwindow *c, const struct profd_sample_set *raw)
{
	struct profd_sample_set *set = sample_set__new(2);

	if (!set)
		return NULL;
	set->types[0] = (struct profd_value_type){ "contentions", "count" };
	set->types[1] = (struct profd_value_type){ "delay", "nanoseconds" };
	set->period_type = (struct profd_value_type){ "contentions", "count" };
	set->period = 1;
	set->default_sample_type = -1;
	for (size_t i = 0; raw && i < raw->nsamples; i++) {
		const struct profd_sample *s = &raw->samples[i];
		int64_t v[2];

		c->values(c->ctx, s->values, v);
		if (v[0] == 0 && v[1] == 0)
			continue;
		if (sample_set__add(set, s->pcs, s->nframes, v, s->labels, s->nlabels) < 0) {
			sample_set__free(set);
			return NULL;
		}
	}
	return set;
}

int cumwindow_snapshot(const struct cumwindow *c, struct profd_sample_set **ret)
{
	bool started = false;
	int r;

	*ret = NULL;
	r = demand__want(*c->demand, false, &started);
	if (r < 0)
		return r;
	pthread_mutex_lock(c->lock);
	consume(c);
	*ret = profile(c, *c->cum);
	if (*ret) {
		(*ret)->time_nanos = profd_now_nanos();
		c->comments(c->ctx, *ret, started);
	}
	pthread_mutex_unlock(c->lock);
	return *ret ? 0 : -ENOMEM;
}

int cumwindow_collect(const struct cumwindow *c, int64_t duration_ns, profd_cancel_fn cancelled, void *arg,
		      struct profd_sample_set **ret)
{
	struct profd_sample_set *start = NULL, *end = NULL;
	struct proc *p = NULL;
	int64_t t0, t0_mono;
	int r, waited;

	*ret = NULL;
	r = demand__want(*c->demand, true, NULL);
	if (r < 0)
		return r;
	pthread_mutex_lock(c->lock);
	consume(c);
	start = copy(c);
	pthread_mutex_unlock(c->lock);
	t0 = profd_now_nanos();
	t0_mono = profd_mono_ns();
	if (!start) {
		r = -ENOMEM;
		goto cleanup;
	}
	if (c->single)
		p = procs__get(c->ps, c->single);
	waited = target_wait(p ? &p->target : NULL, duration_ns, cancelled, arg);
	pthread_mutex_lock(c->lock);
	consume(c);
	end = copy(c);
	/* a new tracking began meanwhile (the set was replaced): the window is all of the new one */
	if (end && *c->since && start->nsamples && *c->since > t0)
		start->nsamples = 0;
	r = end ? sample_set__subtract(end, start) : -ENOMEM;
	if (r == 0) {
		*ret = profile(c, end);
		r = *ret ? 0 : -ENOMEM;
	}
	if (r == 0) {
		(*ret)->time_nanos = t0;
		(*ret)->duration_nanos = profd_now_nanos() - t0;
		sample_set__comment(*ret, "a %.0f s window: %s", (double)(*ret)->duration_nanos / 1e9, c->window_what);
		if (waited == -ESRCH)
			sample_set__comment(*ret, "the target process (pid %d) exited %.1f s into the window; this is "
					    "what was collected until then", (int)c->single,
					    (double)(profd_mono_ns() - t0_mono) / 1e9);
		else if (waited == -ECANCELED)
			sample_set__comment(*ret, "the window was ended early by its requester");
		c->comments(c->ctx, *ret, false);
	}
	pthread_mutex_unlock(c->lock);
cleanup:
	demand__window_done(*c->demand);
	proc__put(p);
	sample_set__free(start);
	sample_set__free(end);
	return r;
}
