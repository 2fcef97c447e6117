// SPDX-License-Identifier: MIT
/* Process sets (procset.h). A scan collects candidate PIDs from the selector (the root PID; the
 * children files of every live member, so descendants are followed even after their parent
 * ends; or cgroup.procs in the selected directory and below), identifies each by its start time,
 * and merges them with the members: new ones came, missing ones went. One lock guards it all. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "proc/procset.h"
#include "proc/target.h"

struct procset {
	struct procset_config cfg;
	char cgroup[4096];      /* CGROUP, UNIT: the directory (absolute path) */
	char describe[8448];
	pthread_mutex_t lock;
	struct procset_member *m; /* live members first (unsorted), then exited */
	int nlive, nexited;
	struct procset_member *came, *went;
	int ncame, nwent, came_cap, went_cap;
	struct procset_stats st;
	/* the candidates of a scan: PIDs (deduplicated) */
	pid_t *cand;
	int ncand, cand_cap;
};

int procset_cgroup2_mount(const char *mountinfo, char *ret, size_t len)
{
	const char *line = mountinfo;

	while (line && *line) {
		const char *end = strchr(line, '\n'), *sep = strstr(line, " - ");
		size_t l = end ? (size_t)(end - line) : strlen(line);

		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER" */
		if (sep && sep < line + l && strncmp(sep + 3, "cgroup2 ", 8) == 0) {
			const char *p = line;
			int field = 1;

			while (field < 5 && p < line + l) {
				if (*p++ == ' ')
					field++;
			}
			if (field == 5) {
				size_t o = 0;

				while (p < line + l && *p != ' ' && o + 1 < len) {
					/* mountinfo escapes space, tab, newline and backslash as \ooo */
					if (p[0] == '\\' && p + 3 < line + l && p[1] >= '0' && p[1] <= '3') {
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

int procset_cgroup2_root(char *ret, size_t len)
{
	char *text = NULL;
	size_t cap = 0, n = 0;
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t got;

		if (n + 4096 + 1 > cap) {
			char *t = realloc(text, cap ? cap * 2 : 65536);

			if (!t) {
				free(text);
				close(fd);
				return -ENOMEM;
			}
			text = t;
			cap = cap ? cap * 2 : 65536;
		}
		got = read(fd, text + n, cap - n - 1);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (!text)
		return -ENOENT;
	text[n] = '\0';
	r = procset_cgroup2_mount(text, ret, len);
	free(text);
	return r;
}

static bool is_cgroup_dir(const char *path)
{
	char f[4200];

	snprintf(f, sizeof(f), "%s/cgroup.procs", path);
	return access(f, R_OK) == 0;
}

/* A directory named name under root, breadth first, at most PROCSET_MAX_CGROUP_DIRS visited. */
static int find_dir(const char *root, const char *name, char *ret, size_t len)
{
	char (*queue)[4096] = malloc(PROCSET_MAX_CGROUP_DIRS * sizeof(*queue));
	int head = 0, tail = 0, found = -ENOENT;

	if (!queue)
		return -ENOMEM;
	snprintf(queue[tail++], sizeof(queue[0]), "%s", root);
	while (head < tail && found < 0) {
		DIR *d = opendir(queue[head]);
		struct dirent *de;

		if (!d) {
			head++;
			continue;
		}
		while ((de = readdir(d)) && found < 0) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			if (strcmp(de->d_name, name) == 0) {
				snprintf(ret, len, "%s/%s", queue[head], de->d_name);
				found = 0;
			} else if (tail < PROCSET_MAX_CGROUP_DIRS) {
				snprintf(queue[tail++], sizeof(queue[0]), "%s/%s", queue[head], de->d_name);
			}
		}
		closedir(d);
		head++;
	}
	free(queue);
	return found;
}

static int add_cand(struct procset *s, pid_t pid)
{
	for (int i = 0; i < s->ncand; i++)
		if (s->cand[i] == pid)
			return 0;
	if (s->ncand == s->cand_cap) {
		int cap = s->cand_cap ? s->cand_cap * 2 : 64;
		pid_t *c = realloc(s->cand, (size_t)cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		s->cand = c;
		s->cand_cap = cap;
	}
	s->cand[s->ncand++] = pid;
	return 1;
}

/* The PIDs of a file of decimal numbers separated by spaces or newlines (a thread's children
 * file, cgroup.procs), read in chunks to the end: a parent with a thousand children has more
 * than 8 KiB of them, and a number cut at a buffer's end would be another process's PID. */
static int add_pid_file(struct procset *s, const char *path, int limit)
{
	char buf[8192];
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	bool eof = false;

	if (fd < 0)
		return 0;
	while (!eof && r >= 0 && s->ncand < limit) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		size_t i = 0, end;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			eof = true;
		else
			have += (size_t)n;
		/* complete numbers only, unless the file ended: the rest waits for the next read */
		end = have;
		if (!eof)
			while (end > 0 && buf[end - 1] >= '0' && buf[end - 1] <= '9')
				end--;
		if (!eof && end == 0 && have == sizeof(buf) - 1)
			end = have; /* no separator in a whole buffer: not a PID list; give it up */
		while (i < end && r >= 0 && s->ncand < limit) {
			long c = 0;
			bool digits = false;

			for (; i < end && buf[i] >= '0' && buf[i] <= '9'; i++) {
				if (c <= INT_MAX)
					c = c * 10 + (buf[i] - '0');
				digits = true;
			}
			if (digits && c > 0 && c <= INT_MAX)
				r = add_cand(s, (pid_t)c);
			while (i < end && !(buf[i] >= '0' && buf[i] <= '9'))
				i++;
		}
		memmove(buf, buf + end, have - end);
		have -= end;
	}
	close(fd);
	return r < 0 ? r : 0;
}

/* Every child of every thread of pid (CONFIG_PROC_CHILDREN). */
static int add_children(struct procset *s, pid_t pid, int limit)
{
	char path[320];
	struct dirent *de;
	DIR *d;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && r >= 0 && s->ncand < limit) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		r = add_pid_file(s, path, limit);
	}
	closedir(d);
	return r < 0 ? r : 0;
}

/* cgroup.procs of dir and of the directories below it. */
static int add_cgroup(struct procset *s, const char *dir, int depth, int *ndirs, int limit)
{
	char path[4200];
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (++*ndirs > PROCSET_MAX_CGROUP_DIRS || depth > PROCSET_MAX_CGROUP_DEPTH)
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	r = add_pid_file(s, path, limit);
	d = opendir(dir);
	if (!d)
		return r;
	while ((de = readdir(d)) && r >= 0) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		r = add_cgroup(s, path, depth + 1, ndirs, limit);
	}
	closedir(d);
	return r;
}

/* The member index of (pid, start), or -1. */
static int find_member(const struct procset *s, pid_t pid, uint64_t start, int from, int to)
{
	for (int i = from; i < to; i++)
		if (s->m[i].pid == pid && (!start || s->m[i].start_time == start))
			return i;
	return -1;
}

static int push(struct procset_member **arr, int *n, int *cap, const struct procset_member *m)
{
	if (*n == *cap) {
		int c = *cap ? *cap * 2 : 16;
		struct procset_member *a = realloc(*arr, (size_t)c * sizeof(*a));

		if (!a)
			return -ENOMEM;
		*arr = a;
		*cap = c;
	}
	(*arr)[(*n)++] = *m;
	return 0;
}

/* Identifies a candidate: its start time, image and name, if it is a live user process. */
static bool identify(const struct procset *s, pid_t pid, struct procset_member *ret)
{
	struct target t;

	if (target_open(pid, &t) != 0 || t.kernel_thread)
		return false;
	memset(ret, 0, sizeof(*ret));
	ret->pid = pid;
	ret->start_time = t.start_time;
	/* one process (--pid) stays the same member across exec: profd follows it by its PID */
	ret->image = s->cfg.kind == PROCSET_PID ? 0 : t.image;
	snprintf(ret->comm, sizeof(ret->comm), "%s", t.comm);
	return true;
}

static int collect(struct procset *s)
{
	/* beyond max_processes, candidates are still read (up to twice as many) to count the drop */
	int limit = 2 * s->cfg.max_processes + 64, r = 0, ndirs = 0, nlive_before = s->nlive;

	s->ncand = 0;
	switch (s->cfg.kind) {
	case PROCSET_PID:
		r = add_cand(s, s->cfg.pid);
		break;
	case PROCSET_CHILDREN:
		/* from the root and from every live member: descendants whose parent ended (and were
		 * handed to a reaper) are still followed, and so are their children */
		r = add_cand(s, s->cfg.pid);
		for (int i = 0; i < nlive_before && r >= 0; i++)
			r = add_cand(s, s->m[i].pid);
		for (int i = 0; i < s->ncand && r >= 0 && s->ncand < limit; i++)
			r = add_children(s, s->cand[i], limit);
		break;
	case PROCSET_CGROUP:
	case PROCSET_UNIT:
		s->st.gone = !is_cgroup_dir(s->cgroup);
		if (!s->st.gone)
			r = add_cgroup(s, s->cgroup, 0, &ndirs, limit);
		break;
	}
	return r < 0 ? r : 0;
}

int procset__scan(struct procset *s, struct procset_delta *ret)
{
	int r, taken = 0;
	int64_t now = profd_now_nanos();
	bool *seen = NULL;

	pthread_mutex_lock(&s->lock);
	s->ncame = s->nwent = 0;
	r = collect(s);
	if (r < 0)
		goto out;
	seen = calloc((size_t)(s->nlive ? s->nlive : 1), sizeof(*seen));
	if (!seen) {
		r = -ENOMEM;
		goto out;
	}
	s->st.dropped = 0;
	for (int i = 0; i < s->ncand; i++) {
		struct procset_member m;
		int k;

		if (!identify(s, s->cand[i], &m))
			continue;
		k = find_member(s, m.pid, m.start_time, 0, s->nlive);
		/* the same process with another image: it exec'd, the old member went, a new one comes */
		if (k >= 0 && !(m.image && s->m[k].image && m.image != s->m[k].image)) {
			seen[k] = true;
			taken++;
			continue;
		}
		if (taken >= s->cfg.max_processes) {
			s->st.dropped++;
			continue;
		}
		m.first_seen = now;
		r = push(&s->came, &s->ncame, &s->came_cap, &m);
		if (r < 0)
			goto out;
		taken++;
	}
	/* the members not seen went; the set is rebuilt: live (kept + came), then exited (the
	 * newest first, at most max_processes of them) */
	{
		int total = s->nlive + s->ncame + s->nexited, n = 0, nlive;
		struct procset_member *nm = malloc((size_t)(total ? total : 1) * sizeof(*nm));

		if (!nm) {
			r = -ENOMEM;
			goto out;
		}
		for (int i = 0; i < s->nlive; i++) {
			if (seen[i]) {
				nm[n++] = s->m[i];
				continue;
			}
			s->m[i].exited_at = now;
			r = push(&s->went, &s->nwent, &s->went_cap, &s->m[i]);
			if (r < 0) {
				free(nm);
				goto out;
			}
		}
		for (int i = 0; i < s->ncame; i++)
			nm[n++] = s->came[i];
		nlive = n;
		for (int i = 0; i < s->nwent && n - nlive < s->cfg.max_processes; i++)
			nm[n++] = s->went[i];
		for (int i = 0; i < s->nexited && n - nlive < s->cfg.max_processes; i++)
			nm[n++] = s->m[s->nlive + i];
		free(s->m);
		s->m = nm;
		s->nlive = nlive;
		s->nexited = n - nlive;
	}
	s->st.came += (uint64_t)s->ncame;
	s->st.went += (uint64_t)s->nwent;
	if (s->cfg.kind == PROCSET_PID)
		s->st.gone = s->nlive == 0;
	s->st.live = s->nlive;
	s->st.exited = s->nexited;
	r = 0;
out:
	if (ret) {
		ret->ncame = r < 0 ? 0 : s->ncame;
		ret->nwent = r < 0 ? 0 : s->nwent;
		ret->came = s->came;
		ret->went = s->went;
	}
	free(seen);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* "nginx" -> "nginx.service": a unit name without a type suffix is a service, as systemctl
 * reads it. */
static void unit_name(const char *in, char *out, size_t len)
{
	static const char *const types[] = { ".service", ".scope", ".slice", ".socket", ".mount", ".swap" };
	size_t l = strlen(in);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t t = strlen(types[i]);

		if (l > t && strcmp(in + l - t, types[i]) == 0) {
			snprintf(out, len, "%s", in);
			return;
		}
	}
	snprintf(out, len, "%s.service", in);
}

static int resolve_cgroup(struct procset *s, char *err, size_t errlen)
{
	char mount[4096], unit[4200], real[PATH_MAX], path[8300];
	const char *flag = s->cfg.kind == PROCSET_UNIT ? "--unit" : "--cgroup";
	int r = procset_cgroup2_root(mount, sizeof(mount));

	if (r < 0) {
		snprintf(err, errlen, "%s %s: this system has no cgroup v2 hierarchy (cgroup v1 only); select the "
			 "processes with --pid PID --children instead", flag, s->cfg.name);
		return -ENOTSUP;
	}
	if (s->cfg.kind == PROCSET_UNIT) {
		unit_name(s->cfg.name, unit, sizeof(unit));
		r = find_dir(mount, unit, s->cgroup, sizeof(s->cgroup));
		if (r == -ENOENT) {
			snprintf(err, errlen, "--unit %s: no cgroup named %s under %s: the unit is not running or does "
				 "not exist (systemctl status %s)", s->cfg.name, unit, mount, unit);
			return r;
		}
		if (r < 0) {
			snprintf(err, errlen, "--unit %s: cannot search %s: %s", s->cfg.name, mount, strerror(-r));
			return r;
		}
		snprintf(s->describe, sizeof(s->describe), "%s (cgroup %s)", unit, s->cgroup);
		return 0;
	}
	/* absolute (below the mount, or as /proc/PID/cgroup writes it), or relative to the mount */
	if (s->cfg.name[0] == '/' && strncmp(s->cfg.name, mount, strlen(mount)) == 0)
		snprintf(path, sizeof(path), "%s", s->cfg.name);
	else
		snprintf(path, sizeof(path), "%s%s%s", mount, s->cfg.name[0] == '/' ? "" : "/", s->cfg.name);
	if (!realpath(path, real) || strncmp(real, mount, strlen(mount)) != 0 || !is_cgroup_dir(real) ||
	    strlen(real) >= sizeof(s->cgroup)) {
		snprintf(err, errlen, "--cgroup %s: %s is not a cgroup v2 directory (the cgroup2 hierarchy is mounted "
			 "at %s; give a path below it, e.g. system.slice/nginx.service)", s->cfg.name, path, mount);
		return -ENOENT;
	}
	memcpy(s->cgroup, real, strlen(real) + 1);
	snprintf(s->describe, sizeof(s->describe), "cgroup %s", s->cgroup);
	return 0;
}

int procset__new(const struct procset_config *cfg, struct procset **ret, char *err, size_t errlen)
{
	struct procset *s;
	int r;

	*ret = NULL;
	if (cfg->max_processes < 0 || cfg->max_processes > PROCSET_MAX_MAX) {
		snprintf(err, errlen, "--max-processes must be between 1 and %d (got %d)", PROCSET_MAX_MAX,
			 cfg->max_processes);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.max_processes)
		s->cfg.max_processes = PROCSET_DEFAULT_MAX;
	pthread_mutex_init(&s->lock, NULL);
	switch (cfg->kind) {
	case PROCSET_PID:
	case PROCSET_CHILDREN: {
		struct procset_member m;
		struct target t;

		r = target_open(cfg->pid, &t);
		if (r == 0 && t.kernel_thread) {
			snprintf(err, errlen, "--pid %d is a kernel thread (%s): profd profiles the user space of programs",
				 (int)cfg->pid, t.comm);
			r = -EPERM;
			goto fail;
		}
		if (r < 0 || !identify(s, cfg->pid, &m)) {
			snprintf(err, errlen, "--pid %d: no such process (or it has already exited); check the PID with ps "
				 "or pgrep", (int)cfg->pid);
			r = -ESRCH;
			goto fail;
		}
		snprintf(s->describe, sizeof(s->describe), cfg->kind == PROCSET_PID ? "process %d (%s)"
				: "process %d (%s) and its descendants", (int)cfg->pid, m.comm);
		break;
	}
	case PROCSET_CGROUP:
	case PROCSET_UNIT:
		r = resolve_cgroup(s, err, errlen);
		if (r < 0)
			goto fail;
		break;
	default:
		snprintf(err, errlen, "no process selector");
		r = -EINVAL;
		goto fail;
	}
	r = procset__scan(s, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the members of %s: %s", s->describe, strerror(-r));
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	procset__free(s);
	return r;
}

void procset__free(struct procset *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->m);
	free(s->came);
	free(s->went);
	free(s->cand);
	free(s);
}

static int cmp_pid(const void *a, const void *b)
{
	const struct procset_member *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

int procset__members(struct procset *s, struct procset_member **ret)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->nlive + s->nexited;
	*ret = malloc((size_t)(n ? n : 1) * sizeof(**ret));
	if (*ret) {
		memcpy(*ret, s->m, (size_t)n * sizeof(**ret));
		qsort(*ret, (size_t)s->nlive, sizeof(**ret), cmp_pid);
	}
	pthread_mutex_unlock(&s->lock);
	return *ret ? n : -ENOMEM;
}

bool procset__find(struct procset *s, pid_t pid, struct procset_member *ret)
{
	int k;

	pthread_mutex_lock(&s->lock);
	k = find_member(s, pid, 0, 0, s->nlive + s->nexited);
	if (k >= 0 && ret)
		*ret = s->m[k];
	pthread_mutex_unlock(&s->lock);
	return k >= 0;
}

void procset__stats(struct procset *s, struct procset_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->st;
	pthread_mutex_unlock(&s->lock);
}

const char *procset__describe(const struct procset *s)
{
	return s->describe;
}

const char *procset__cgroup(const struct procset *s)
{
	return s->cfg.kind == PROCSET_CGROUP || s->cfg.kind == PROCSET_UNIT ? s->cgroup : NULL;
}

enum procset_kind procset__kind(const struct procset *s)
{
	return s->cfg.kind;
}
