// SPDX-License-Identifier: MIT
/* Memory pressure notifications of a memory cgroup, v2 or v1 (mempressure.h). Files only: the
 * cgroup filesystem's own notifications (kernfs poll, PSI triggers, v1 eventfds). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/mempressure.h"
#include "proc/procset.h"
#include "proc/proctext.h"
#include "proc/target.h"


struct mempressure {
	bool v1;
	int events_fd;   /* v2: memory.events of the limited cgroup, -1 */
	int psi_fd;      /* v2: the PSI trigger on memory.pressure, -1 */
	int efd;         /* v1: the eventfd cgroup.event_control signals, -1 */
	int level_fd;    /* v1: memory.pressure_level, open while the event is registered, -1 */
	uint64_t high, max; /* v2: the counters last read */
	bool gone;          /* the cgroup was removed: nothing more to watch */
	char lim[8300];     /* the cgroup whose limit is watched */
	char describe[17200];
};

int mempressure_events_parse(const char *text, uint64_t *ret_high, uint64_t *ret_max)
{
	bool hi = false, mx = false;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, "high ", 5) == 0) {
			*ret_high = strtoull(p + 5, NULL, 10);
			hi = true;
		} else if (strncmp(p, "max ", 4) == 0) {
			*ret_max = strtoull(p + 4, NULL, 10);
			mx = true;
		}
	}
	return hi && mx ? 0 : -EINVAL;
}

int mempressure_v1_mount(const char *mountinfo, char *ret, size_t len)
{
	for (const char *line = mountinfo; line && *line;) {
		const char *end = strchr(line, '\n'), *sep = strstr(line, " - ");
		size_t l = end ? (size_t)(end - line) : strlen(line);

		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - cgroup SOURCE rw,memory" */
		if (sep && sep < line + l && strncmp(sep + 3, "cgroup ", 7) == 0) {
			const char *super = memchr(sep + 10, ' ', (size_t)(line + l - sep - 10));
			char opts[512];
			size_t ol = super ? (size_t)(line + l - super - 1) : 0;

			snprintf(opts, sizeof(opts), ",%.*s,", (int)(ol < 500 ? ol : 500), super ? super + 1 : "");
			if (strstr(opts, ",memory,")) {
				const char *p = line;
				size_t o = 0;
				int field = 1;

				while (field < 5 && p < line + l)
					if (*p++ == ' ')
						field++;
				while (field == 5 && p < line + l && *p != ' ' && o + 1 < len) {
					/* mountinfo escapes space, tab, newline and backslash as \ooo */
					if (p[0] == '\\' && p + 3 < line + l) {
						ret[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
						p += 4;
					} else {
						ret[o++] = *p++;
					}
				}
				ret[o] = '\0';
				if (o)
					return 0;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

static bool exists(const char *dir, const char *file)
{
	char path[8400];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

static int64_t read_number(const char *dir, const char *file)
{
	char path[8400], text[64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (proc_read_file(path, text, sizeof(text)) <= 0)
		return -1;
	if (strncmp(text, "max", 3) == 0)
		return INT64_MAX;
	return (int64_t)strtoll(text, NULL, 10);
}

/* The nearest cgroup from dir up to root (both included) with a memory limit, into ret; dir
 * itself when none has one. Returns true when one has. A file that cannot be read is no limit. */
static bool limited_ancestor(const char *root, const char *dir, bool v1, char *ret, size_t len)
{
	char d[8300];
	size_t rl = strlen(root);

	snprintf(d, sizeof(d), "%s", dir);
	for (;;) {
		int64_t a = read_number(d, v1 ? "memory.limit_in_bytes" : "memory.max");
		int64_t b = v1 ? -1 : read_number(d, "memory.high");
		char *slash;

		if ((a > 0 && (uint64_t)a < MEMPRESSURE_V1_UNLIMITED) || (b > 0 && (uint64_t)b < MEMPRESSURE_V1_UNLIMITED)) {
			snprintf(ret, len, "%s", d);
			return true;
		}
		slash = strrchr(d, '/');
		if (strlen(d) <= rl || !slash || (size_t)(slash - d) < rl)
			break;
		*slash = '\0';
	}
	snprintf(ret, len, "%s", dir);
	return false;
}

static int read_text(const char *path, char *buf, size_t size)
{
	ssize_t n = proc_read_file(path, buf, size);

	return n < 0 ? (int)n : 0;
}

int mempressure_v1_root(char *ret, size_t len)
{
	char *mi = malloc(1u << 18);
	int r;

	if (!mi)
		return -ENOMEM;
	r = read_text("/proc/self/mountinfo", mi, 1u << 18);
	if (r == 0)
		r = mempressure_v1_mount(mi, ret, len);
	free(mi);
	return r;
}

/* The process's cgroup directory in v2 (when it has memory.events) or v1 (memory.pressure_level). */
static int find_cgroup(pid_t pid, const char *cgroup_dir, bool *ret_v1, char *root, size_t rootlen, char *dir,
		       size_t len)
{
	char path[64], text[8192], rel[4096];
	int r;

	if (cgroup_dir) {
		if (procset_cgroup2_root(root, rootlen) != 0)
			return -ENOENT;
		snprintf(dir, len, "%s", cgroup_dir);
		*ret_v1 = false;
		return exists(dir, "memory.events") ? 0 : -ENOENT;
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	r = read_text(path, text, sizeof(text));
	if (r < 0)
		return r;
	if (procset_cgroup2_root(root, rootlen) == 0 && proctext_cgroup_v2(text, rel, sizeof(rel)) == 0 &&
	    !strstr(rel, "..")) {
		snprintf(dir, len, "%s%s", root, strcmp(rel, "/") == 0 ? "" : rel);
		if (exists(dir, "memory.events")) {
			*ret_v1 = false;
			return 0;
		}
	}
	if (proctext_cgroup_v1(text, "memory", rel, sizeof(rel)) != 0 || strstr(rel, ".."))
		return -ENOENT;
	if (mempressure_v1_root(root, rootlen) < 0)
		return -ENOENT;
	snprintf(dir, len, "%s%s", root, strcmp(rel, "/") == 0 ? "" : rel);
	*ret_v1 = true;
	return exists(dir, "memory.pressure_level") ? 0 : -ENOENT;
}

static int open_v2(struct mempressure *m, const char *root, const char *dir)
{
	char lim[8300], path[8400], text[1024], trig[64];
	bool limited = limited_ancestor(root, dir, false, lim, sizeof(lim));
	int n, psi_err;

	snprintf(m->lim, sizeof(m->lim), "%s", lim);

	snprintf(path, sizeof(path), "%s/memory.events", lim);
	m->events_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->events_fd < 0)
		return -errno;
	n = (int)pread(m->events_fd, text, sizeof(text) - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	if (mempressure_events_parse(text, &m->high, &m->max) != 0)
		return -EINVAL;
	/* PSI: the kernel may have it off (psi=0), then only the counters say anything */
	snprintf(path, sizeof(path), "%s/memory.pressure", dir);
	snprintf(trig, sizeof(trig), "some %d %d", MEMPRESSURE_PSI_STALL_US, MEMPRESSURE_PSI_WINDOW_US);
	m->psi_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	psi_err = m->psi_fd < 0 ? errno : 0;
	if (m->psi_fd >= 0 && write(m->psi_fd, trig, strlen(trig) + 1) < 0) {
		psi_err = errno;
		close(m->psi_fd);
		m->psi_fd = -1;
	}
	snprintf(m->describe, sizeof(m->describe), "cgroup v2 %s: memory.events high/max of %s%s%s%s%s", dir, lim,
		 limited ? "" : " (no memory.max or memory.high up to the root: only its own would count)",
		 m->psi_fd >= 0 ? ", and PSI (memory stalls of 10% over 1 s)" : ", no PSI trigger (memory.pressure: ",
		 m->psi_fd >= 0 ? "" : psi_err == EOPNOTSUPP || psi_err == ENOENT ? "the kernel has PSI off" : strerror(psi_err),
		 m->psi_fd >= 0 ? "" : ")");
	return 0;
}

static int open_v1(struct mempressure *m, const char *root, const char *dir)
{
	char lim[8300], path[8400], line[64];
	bool limited = limited_ancestor(root, dir, true, lim, sizeof(lim));
	int ctl, r = 0;

	snprintf(m->lim, sizeof(m->lim), "%s", lim);

	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/memory.pressure_level", lim);
	m->level_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->level_fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/cgroup.event_control", lim);
	ctl = open(path, O_WRONLY | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	snprintf(line, sizeof(line), "%d %d low", m->efd, m->level_fd);
	if (write(ctl, line, strlen(line)) < 0)
		r = -errno;
	close(ctl);
	if (r)
		return r;
	snprintf(m->describe, sizeof(m->describe), "cgroup v1 %s: memory.pressure_level low (reclaim) of %s%s", dir, lim,
		 limited ? "" : " (no memory.limit_in_bytes up to the root)");
	return 0;
}

int mempressure__new(pid_t pid, const char *cgroup_dir, struct mempressure **ret, char *err, size_t errlen)
{
	char root[4096], dir[8300];
	struct mempressure *m;
	bool v1 = false;
	int r;

	*ret = NULL;
	r = find_cgroup(pid, cgroup_dir, &v1, root, sizeof(root), dir, sizeof(dir));
	if (r < 0) {
		if (r == -ENOENT && cgroup_dir)
			snprintf(err, errlen, "cgroup %s has no memory controller (no memory.events)", cgroup_dir);
		else if (r == -ENOENT)
			snprintf(err, errlen, "the cgroup of process %d has no memory controller (neither cgroup v2's "
				 "memory.events nor v1's memory.pressure_level)", (int)pid);
		else
			snprintf(err, errlen, "cannot read the cgroup of process %d: %s", (int)pid, strerror(-r));
		return r;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->events_fd = m->psi_fd = m->efd = m->level_fd = -1;
	m->v1 = v1;
	r = v1 ? open_v1(m, root, dir) : open_v2(m, root, dir);
	if (r < 0) {
		snprintf(err, errlen, "cannot watch the memory pressure of cgroup %s (%s): %s", dir, v1 ? "v1" : "v2",
			 strerror(-r));
		mempressure__free(m);
		return r;
	}
	*ret = m;
	return 0;
}

void mempressure__free(struct mempressure *m)
{
	if (!m)
		return;
	if (m->events_fd >= 0)
		close(m->events_fd);
	if (m->psi_fd >= 0)
		close(m->psi_fd);
	if (m->level_fd >= 0)
		close(m->level_fd);
	if (m->efd >= 0)
		close(m->efd);
	free(m);
}

const char *mempressure__describe(const struct mempressure *m)
{
	return m->describe;
}

int mempressure__pollfds(const struct mempressure *m, struct pollfd *pfd)
{
	int n = 0;

	if (m->gone)
		return 0;
	if (m->v1) {
		pfd[n++] = (struct pollfd){ .fd = m->efd, .events = POLLIN };
		return n;
	}
	/* kernfs says a file changed with POLLPRI (and POLLERR); PSI says a trigger fired with POLLPRI */
	pfd[n++] = (struct pollfd){ .fd = m->events_fd, .events = POLLPRI };
	if (m->psi_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = m->psi_fd, .events = POLLPRI };
	return n;
}

int mempressure__check(struct mempressure *m, char *why, size_t len)
{
	struct pollfd pfd[MEMPRESSURE_MAX_FDS];
	int n, hit = 0;

	if (m->gone)
		return 0;
	if (m->v1) {
		uint64_t v;

		if (read(m->efd, &v, sizeof(v)) == sizeof(v)) {
			/* the eventfd is also signalled when the cgroup is removed */
			if (!exists(m->lim, "memory.pressure_level")) {
				m->gone = true;
				return -ENODEV;
			}
			snprintf(why, len, "memory.pressure_level low, %llu time%s", (unsigned long long)v, v == 1 ? "" : "s");
			return 1;
		}
		return 0;
	}
	n = mempressure__pollfds(m, pfd);
	if (poll(pfd, (nfds_t)n, 0) > 0 && n > 1 && (pfd[1].revents & POLLPRI)) {
		snprintf(why, len, "PSI: tasks stalled on memory over %d%% of %d ms",
			 MEMPRESSURE_PSI_STALL_US * 100 / MEMPRESSURE_PSI_WINDOW_US, MEMPRESSURE_PSI_WINDOW_US / 1000);
		hit = 1;
	}
	{
		char text[1024];
		uint64_t hi = m->high, mx = m->max;
		/* a read re-arms kernfs's change notification */
		int got = (int)pread(m->events_fd, text, sizeof(text) - 1, 0);

		/* a removed cgroup's files poll ready for ever: stop polling them */
		if (got < 0 && errno != EINTR && errno != EAGAIN) {
			m->gone = true;
			return -ENODEV;
		}
		text[got > 0 ? got : 0] = '\0';
		if (got > 0 && mempressure_events_parse(text, &hi, &mx) == 0 && (hi > m->high || mx > m->max)) {
			if (!hit)
				snprintf(why, len, "memory.events high %llu -> %llu, max %llu -> %llu",
					 (unsigned long long)m->high, (unsigned long long)hi, (unsigned long long)m->max,
					 (unsigned long long)mx);
			hit = 1;
		}
		if (got > 0) {
			m->high = hi;
			m->max = mx;
		}
	}
	return hit;
}
