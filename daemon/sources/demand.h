/* SPDX-License-Identifier: MIT */
/* When a source's kernel attachment (probes, tracepoints) should exist, and the one thread that
 * makes it so. A source that costs the target while attached is attached only while wanted:
 * from start-up (`always`), for a ?seconds=N window (overlapping windows share one attachment),
 * or for a lease that every request without seconds renews and that ends after `idle_ns`
 * without one. The source may pause itself for its cost; it comes back after a backoff (10 s,
 * doubling to 10 min): for an open window or an `always` source by itself, otherwise on the next
 * request. The manager thread alone calls attach, detach and poll, so what they own changes
 * hands only there. Every public function is thread-safe. */
#ifndef PROFD_DEMAND_H
#define PROFD_DEMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEMAND_BACKOFF_MIN_NS (10ll * 1000000000)
#define DEMAND_BACKOFF_MAX_NS (600ll * 1000000000)
/* A request waits at most this long for an attach (load, calibrate, attach). */
#define DEMAND_ATTACH_WAIT_NS (20ll * 1000000000)
/* After a failed attach, the next attempt comes no sooner than this. */
#define DEMAND_RETRY_NS (5ll * 1000000000)

struct demand_ops {
	/* Attach now. Returns 0 or -errno with one sentence for the user in err. On failure
	 * nothing stays attached. */
	int (*attach)(void *ctx, char *err, size_t errlen);
	/* Detach now: the target stops paying at once. */
	void (*detach)(void *ctx);
	/* While attached, called in a loop: drain what the kernel queued, check the cost (and call
	 * demand__pause() when it is too high). Should block at most about 100 ms. */
	void (*poll)(void *ctx);
};

struct demand_config {
	const char *what;      /* for the log: "heap probes of process 1234" */
	const char *idle_flag; /* the flag that sets idle_ns, for the log: "--heap-idle" */
	bool always;           /* attached from start-up, not on demand */
	int64_t idle_ns;       /* on demand: the lease a request without seconds gives */
	int max_windows;       /* windows open at once; more get -EBUSY */
	int64_t backoff_min_ns; /* the first pause's length; 0: DEMAND_BACKOFF_MIN_NS (tests shorten it) */
};

/* The lifecycle as it is now, for comments, text and the index. Times are CLOCK_REALTIME ns. */
struct demand_view {
	bool attached;
	bool paused;            /* within a backoff after demand__pause() */
	int64_t tracking_since; /* the current tracking (or `always` attachment) began; 0: none */
	int64_t attached_since; /* the attachment began (later than tracking_since after a pause) */
	int64_t paused_at, paused_until; /* the last pause */
	int npauses;
};

struct demand;

/* Starts the manager thread; an `always` source is attached before this returns and a failure
 * is returned (-errno, err set). ops and ctx must outlive the object. Returns 0 or -errno. */
int demand__new(const struct demand_config *cfg, const struct demand_ops *ops, void *ctx, struct demand **ret,
		char *err, size_t errlen);
/* Stops the manager, detaching first. NULL-safe. */
void demand__free(struct demand *d);

/* A request's part: registers a window (window=true; end it with demand__window_done()) or
 * renews the lease, and when the source is not attached but may be, waits for the manager's
 * attempt. Returns 0 (attached, or paused for its cost: the answer should say so), -EBUSY (too
 * many windows), -ETIMEDOUT, or the attach error. *ret_started (may be NULL): this request
 * started the tracking. */
int demand__want(struct demand *d, bool window, bool *ret_started);
void demand__window_done(struct demand *d);

/* From ops->poll: the source costs too much. Detaches it at once (after poll returns) for the
 * backoff, which doubles at each pause; on demand, the tracking ends. Returns the CLOCK_REALTIME
 * ns when it may come back. */
int64_t demand__pause(struct demand *d);

void demand__view(struct demand *d, struct demand_view *ret);

#endif
