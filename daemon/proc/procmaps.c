// SPDX-License-Identifier: MIT
/* /proc/PID/maps parser. Format per line:
 *   start-end perms offset major:minor inode [path]
 * with the path padded by spaces and possibly suffixed " (deleted)". Paths may contain spaces. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc/procmaps.h"
#include "proc/target.h"

void procmaps_free(struct procmaps *maps)
{
	if (!maps)
		return;
	for (size_t i = 0; i < maps->n; i++)
		free(maps->entries[i].path);
	free(maps->entries);
	maps->entries = NULL;
	maps->n = 0;
}

/* Parses a hex number ending at a delimiter; advances *p. */
static int parse_hex(const char **p, const char *end, char delim, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	while (s < end && *s != delim) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -EINVAL;
		if (++digits > 16)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
		s++;
	}
	if (digits == 0 || s >= end)
		return -EINVAL;
	*p = s + 1; /* skip the delimiter */
	*ret = v;
	return 0;
}

static int parse_dec(const char **p, const char *end, char delim, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	while (s < end && *s != delim) {
		uint64_t d = (uint64_t)(*s - '0');

		/* inode numbers are full 64-bit values (NFS file ids): up to 20 digits */
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		digits++;
		s++;
	}
	if (digits == 0)
		return -EINVAL;
	*p = s < end ? s + 1 : s;
	*ret = v;
	return 0;
}

static int parse_line(const char *s, const char *end, struct procmaps_entry *e)
{
	static const char deleted[] = " (deleted)";
	const size_t dlen = sizeof(deleted) - 1;
	uint64_t major, minor;
	const char *path;
	size_t plen;

	memset(e, 0, sizeof(*e));
	if (parse_hex(&s, end, '-', &e->start) || parse_hex(&s, end, ' ', &e->end) || e->end < e->start)
		return -EINVAL;
	if (end - s < 5 || s[4] != ' ')
		return -EINVAL;
	if ((s[0] != 'r' && s[0] != '-') || (s[1] != 'w' && s[1] != '-') || (s[2] != 'x' && s[2] != '-') ||
	    (s[3] != 'p' && s[3] != 's'))
		return -EINVAL;
	e->read = s[0] == 'r';
	e->write = s[1] == 'w';
	e->exec = s[2] == 'x';
	e->shared = s[3] == 's';
	s += 5;
	if (parse_hex(&s, end, ' ', &e->offset) || parse_hex(&s, end, ':', &major) ||
	    parse_hex(&s, end, ' ', &minor) || major > UINT32_MAX || minor > UINT32_MAX)
		return -EINVAL;
	e->dev_major = (uint32_t)major;
	e->dev_minor = (uint32_t)minor;
	if (parse_dec(&s, end, ' ', &e->inode))
		return -EINVAL;
	path = s;
	while (path < end && *path == ' ')
		path++;
	plen = (size_t)(end - path);
	if (plen >= dlen && memcmp(path + plen - dlen, deleted, dlen) == 0) {
		e->deleted = true;
		plen -= dlen;
	}
	e->path = strndup(path, plen);
	return e->path ? 0 : -ENOMEM;
}

int procmaps_parse(const char *text, size_t len, struct procmaps *ret)
{
	struct procmaps maps = { 0 };
	size_t alloc = 0;
	const char *p = text, *end = text + len;
	int err = 0;

	ret->n = 0;
	ret->entries = NULL;
	if (!text && len)
		return -EINVAL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;

		if (line_end == p) { /* an empty line can only be a trailing one */
			if (nl && nl + 1 != end) {
				err = -EINVAL;
				goto fail;
			}
			break;
		}
		if (maps.n >= PROCMAPS_MAX_ENTRIES) {
			err = -E2BIG;
			goto fail;
		}
		if (maps.n == alloc) {
			size_t n = alloc ? alloc * 2 : 64;
			struct procmaps_entry *e = realloc(maps.entries, n * sizeof(*e));

			if (!e) {
				err = -ENOMEM;
				goto fail;
			}
			maps.entries = e;
			alloc = n;
		}
		err = parse_line(p, line_end, &maps.entries[maps.n]);
		if (err)
			goto fail;
		maps.n++;
		/* the kernel writes entries in ascending, non-overlapping order; lookups rely on it */
		if (maps.n > 1 && maps.entries[maps.n - 1].start < maps.entries[maps.n - 2].end) {
			err = -EINVAL;
			goto fail;
		}
		p = nl ? nl + 1 : end;
	}
	*ret = maps;
	return 0;
fail:
	procmaps_free(&maps);
	return err;
}

/* /proc/PID/maps is read in several read() calls, each a consistent snapshot of its own: a
 * mapping that changes between two calls (a thread starting, an mmap) can make the text show
 * two overlapping entries. procmaps_parse() refuses that, and the whole file is read again,
 * after a pause from the fourth try on (a process that keeps changing its mappings can tear
 * several reads in a row): at most about 30 ms in all. */
#define PROCMAPS_READ_TRIES 32

int procmaps_read(pid_t pid, struct procmaps *ret)
{
	char path[64], *text = NULL;
	size_t len = 0, alloc = 0;
	int fd, err = 0;

	ret->n = 0;
	ret->entries = NULL;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)proc_live_pid(pid));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	for (int attempt = 0; attempt < PROCMAPS_READ_TRIES; attempt++) {
		if (attempt >= 3)
			usleep(1000);
		if (attempt && lseek(fd, 0, SEEK_SET) != 0) {
			err = -errno;
			goto out;
		}
		len = 0;
		for (;;) {
			ssize_t n;

			if (alloc - len < 4096) {
				char *t;

				if (alloc >= PROCMAPS_MAX_TEXT) {
					err = -E2BIG;
					goto out;
				}
				alloc = alloc ? alloc * 2 : 65536;
				t = realloc(text, alloc);
				if (!t) {
					err = -ENOMEM;
					goto out;
				}
				text = t;
			}
			n = read(fd, text + len, alloc - len);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				err = errno == ESRCH ? -ESRCH : -errno;
				goto out;
			}
			if (n == 0)
				break;
			len += (size_t)n;
		}
		err = procmaps_parse(text, len, ret);
		if (err != -EINVAL)
			break;
	}
out:
	free(text);
	close(fd);
	return err;
}

const struct procmaps_entry *procmaps_find(const struct procmaps *maps, uint64_t addr)
{
	size_t lo = 0, hi = maps->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct procmaps_entry *e = &maps->entries[mid];

		if (addr < e->start)
			hi = mid;
		else if (addr >= e->end)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

bool procmaps_entry_is_file(const struct procmaps_entry *e)
{
	return e->path && e->path[0] == '/' && e->inode != 0;
}

int procmaps_open_file(pid_t pid, const struct procmaps_entry *e)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)proc_live_pid(pid), (unsigned long long)e->start,
		 (unsigned long long)e->end);
	fd = proc_open_regular(path);
	if (fd >= 0 || fd == -EINVAL)
		return fd;
	if (!procmaps_entry_is_file(e))
		return -ENOENT;
	/* the path as the target sees it: it may have put a FIFO there since */
	snprintf(path, sizeof(path), "/proc/%d/root%s", (int)proc_live_pid(pid), e->path);
	return proc_open_regular(path);
}
