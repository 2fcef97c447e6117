// SPDX-License-Identifier: MIT
/* The on-demand lifecycle of a source (demand.h). One mutex guards the state; the manager drops
 * it while attaching, detaching and polling, which may take long. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "sources/demand.h"

struct demand {
	struct demand_config cfg;
	const struct demand_ops *ops;
	void *ctx;
	pthread_t manager;
	bool manager_started;
	atomic_bool stop;

	pthread_mutex_t lock;
	pthread_cond_t wake;     /* wakes the manager */
	pthread_cond_t attempt;  /* wakes requests waiting for an attach attempt */
	int nwindows;
	int64_t lease_until;     /* CLOCK_MONOTONIC ns */
	bool attached;
	uint64_t attempts;       /* attach attempts finished */
	int attach_err;          /* the last one's result */
	char attach_msg[1024];   /* and what it said */
	int64_t retry_at;        /* CLOCK_MONOTONIC */
	int64_t tracking_since;  /* CLOCK_REALTIME; 0: none */
	int64_t attached_since;  /* CLOCK_REALTIME */
	int64_t paused_until;    /* CLOCK_MONOTONIC */
	int64_t paused_at_real, paused_until_real;
	int64_t backoff_ns;
	int npauses;
};

/* pthread_cond_timedwait on CLOCK_MONOTONIC until `until` (the conds are made for it). */
static void wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t until)
{
	struct timespec ts = { .tv_sec = until / 1000000000, .tv_nsec = until % 1000000000 };

	pthread_cond_timedwait(c, m, &ts);
}

/* Caller holds the lock. */
static bool wanted(const struct demand *d, int64_t now)
{
	return d->cfg.always || d->nwindows > 0 || now < d->lease_until;
}

static void *manager_main(void *arg)
{
	struct demand *d = arg;
	char err[sizeof(d->attach_msg)];

	pthread_mutex_lock(&d->lock);
	while (!atomic_load(&d->stop)) {
		int64_t now = profd_mono_ns();
		bool want = wanted(d, now), allowed = now >= d->paused_until;

		if (want && allowed && !d->attached && now >= d->retry_at) {
			int r;

			pthread_mutex_unlock(&d->lock);
			err[0] = '\0';
			r = d->ops->attach(d->ctx, err, sizeof(err));
			pthread_mutex_lock(&d->lock);
			d->attach_err = r;
			d->attempts++;
			if (r == 0) {
				d->attached = true;
				d->attached_since = profd_now_nanos();
				if (!d->tracking_since)
					d->tracking_since = d->attached_since;
				log_debug("%s attached", d->cfg.what);
			} else {
				d->retry_at = profd_mono_ns() + DEMAND_RETRY_NS;
				snprintf(d->attach_msg, sizeof(d->attach_msg), "%s", err);
				/* the start-up attach of an `always` source is reported by its caller */
				if (!d->cfg.always || d->attempts > 1)
					log_warn("%s", err);
			}
			pthread_cond_broadcast(&d->attempt);
			continue;
		}
		if (d->attached && !(want && allowed)) {
			/* stated before the detach, so that a request arriving meanwhile neither
			 * hears of a tracking that is ending nor finds the source attached: it
			 * waits for the attach that follows the detach, and starts a new tracking */
			d->attached = false;
			if (!want)
				d->tracking_since = 0;
			pthread_mutex_unlock(&d->lock);
			d->ops->detach(d->ctx);
			pthread_mutex_lock(&d->lock);
			if (!want && allowed)
				log_debug("%s detached: no request for %s", d->cfg.what, d->cfg.idle_flag);
			continue;
		}
		if (!d->attached) {
			/* nothing to poll: sleep until asked, or until a pause or a retry delay ends */
			int64_t wake = now + 1000000000;

			if (want)
				wake = d->paused_until > d->retry_at ? d->paused_until : d->retry_at;
			wait_until(&d->wake, &d->lock, wake);
			continue;
		}
		pthread_mutex_unlock(&d->lock);
		d->ops->poll(d->ctx);
		pthread_mutex_lock(&d->lock);
	}
	if (d->attached) {
		pthread_mutex_unlock(&d->lock);
		d->ops->detach(d->ctx);
		pthread_mutex_lock(&d->lock);
		d->attached = false;
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int demand__want(struct demand *d, bool window, bool *ret_started)
{
	int64_t now = profd_mono_ns(), deadline = now + DEMAND_ATTACH_WAIT_NS;
	int r = 0;

	if (ret_started)
		*ret_started = false;
	pthread_mutex_lock(&d->lock);
	if (window) {
		if (d->nwindows >= d->cfg.max_windows) {
			pthread_mutex_unlock(&d->lock);
			return -EBUSY;
		}
		d->nwindows++;
	} else if (!d->cfg.always) {
		if (ret_started)
			*ret_started = !d->tracking_since && now >= d->paused_until;
		d->lease_until = now + d->cfg.idle_ns;
	}
	if (!d->attached && now >= d->paused_until) {
		if (now < d->retry_at) {
			r = d->attach_err; /* failed a moment ago: do not hammer the target */
		} else {
			uint64_t attempts = d->attempts;

			pthread_cond_signal(&d->wake);
			while (d->attempts == attempts && !atomic_load(&d->stop) && profd_mono_ns() < deadline)
				wait_until(&d->attempt, &d->lock, profd_mono_ns() + 100000000);
			r = d->attached ? 0 : d->attempts == attempts ? -ETIMEDOUT : d->attach_err;
		}
	}
	if (r && window)
		d->nwindows--;
	pthread_mutex_unlock(&d->lock);
	return r;
}

void demand__window_done(struct demand *d)
{
	pthread_mutex_lock(&d->lock);
	d->nwindows--;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
}

int64_t demand__pause(struct demand *d)
{
	int64_t until;

	pthread_mutex_lock(&d->lock);
	d->paused_until = profd_mono_ns() + d->backoff_ns;
	d->paused_at_real = profd_now_nanos();
	d->paused_until_real = until = d->paused_at_real + d->backoff_ns;
	d->backoff_ns = d->backoff_ns * 2 < DEMAND_BACKOFF_MAX_NS ? d->backoff_ns * 2 : DEMAND_BACKOFF_MAX_NS;
	d->npauses++;
	/* on demand the tracking ends here: the next request after the backoff starts it again (an
	 * open window still wants the source: it comes back for the window after the backoff) */
	d->lease_until = 0;
	pthread_mutex_unlock(&d->lock);
	return until;
}

void demand__view(struct demand *d, struct demand_view *ret)
{
	pthread_mutex_lock(&d->lock);
	ret->attached = d->attached;
	ret->paused = profd_mono_ns() < d->paused_until;
	ret->tracking_since = d->tracking_since;
	ret->attached_since = d->attached_since;
	ret->paused_at = d->paused_at_real;
	ret->paused_until = d->paused_until_real;
	ret->npauses = d->npauses;
	pthread_mutex_unlock(&d->lock);
}

int demand__new(const struct demand_config *cfg, const struct demand_ops *ops, void *ctx, struct demand **ret,
		char *err, size_t errlen)
{
	pthread_condattr_t ca;
	struct demand *d;
	int r;

	*ret = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->ops = ops;
	d->ctx = ctx;
	d->backoff_ns = cfg->backoff_min_ns > 0 ? cfg->backoff_min_ns : DEMAND_BACKOFF_MIN_NS;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &ca);
	pthread_cond_init(&d->attempt, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&d->manager, NULL, manager_main, d);
	if (r) {
		snprintf(err, errlen, "cannot start the thread that manages the %s: %s", cfg->what, strerror(r));
		demand__free(d);
		return -r;
	}
	d->manager_started = true;
	if (cfg->always) {
		r = demand__want(d, false, NULL);
		if (r < 0) {
			if (d->attach_msg[0])
				snprintf(err, errlen, "%s", d->attach_msg);
			else
				snprintf(err, errlen, "cannot attach the %s: %s", cfg->what, strerror(-r));
			demand__free(d);
			return r;
		}
	}
	*ret = d;
	return 0;
}

void demand__free(struct demand *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	atomic_store(&d->stop, true);
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
	if (d->manager_started)
		pthread_join(d->manager, NULL);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->wake);
	pthread_cond_destroy(&d->attempt);
	free(d);
}
