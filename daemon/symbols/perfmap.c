// SPDX-License-Identifier: MIT
/* Perf map files (perfmap.h): a parser of "START SIZE name" lines into entries sorted by start
 * with their names in one string pool, and an incremental reader of the file the target writes
 * (it is the target's: every field is checked, every size is bounded). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/target.h"
#include "symbols/perfmap.h"

/* Entries scanned backwards from the last one starting at or below an address, looking for
 * one that covers it: overlapping pieces are few (a region whose code was replaced). */
#define OVERLAP_SCAN 32
#define READ_CHUNK (1u << 20)

struct perfmap_entry {
	uint64_t start, end; /* [start, end) */
	uint32_t name;       /* offset into the pool */
	uint32_t seq;        /* order in the file: the later wins where entries overlap */
};

struct perfmap {
	struct perfmap_entry *e;
	size_t n, cap;
	char *pool;
	size_t pool_len, pool_cap;
	bool truncated;
	/* the file last read: its identity and how far it was consumed */
	dev_t dev;
	ino_t ino;
	uint64_t off;
	bool have_file;
};

struct perfmap *perfmap__new(void)
{
	return calloc(1, sizeof(struct perfmap));
}

static void perfmap_clear(struct perfmap *pm)
{
	pm->n = 0;
	pm->pool_len = 0;
	pm->truncated = false;
	pm->off = 0;
	pm->have_file = false;
}

void perfmap__free(struct perfmap *pm)
{
	if (!pm)
		return;
	free(pm->e);
	free(pm->pool);
	free(pm);
}

/* Parses up to 16 hex digits (an optional 0x first) at *p. */
static bool parse_hex(const char **p, const char *end, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	if (end - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; s < end; s++, digits++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (digits == 16)
			return false;
		v = v << 4 | d;
	}
	if (!digits)
		return false;
	*p = s;
	*ret = v;
	return true;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return true;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * elem);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

/* Adds the line [s, end) (no '\n') if it is "START SIZE name". Returns -ENOMEM or 0. */
static int add_line(struct perfmap *pm, const char *s, const char *end)
{
	struct perfmap_entry *e;
	uint64_t start, size;
	size_t len;
	char *name;

	if (end - s > PERFMAP_MAX_LINE)
		return 0;
	while (end > s && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (!parse_hex(&s, end, &start) || s == end || (*s != ' ' && *s != '\t'))
		return 0;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (!parse_hex(&s, end, &size) || s == end || (*s != ' ' && *s != '\t'))
		return 0;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end || size == 0 || start + size < start)
		return 0;
	if (pm->n >= PERFMAP_MAX_ENTRIES || pm->pool_len + (size_t)(end - s) + 1 > PERFMAP_MAX_BYTES) {
		pm->truncated = true;
		return 0;
	}
	len = (size_t)(end - s);
	if (!grow((void **)&pm->e, &pm->cap, pm->n + 1, sizeof(*pm->e)) ||
	    !grow((void **)&pm->pool, &pm->pool_cap, pm->pool_len + len + 1, 1))
		return -ENOMEM;
	name = pm->pool + pm->pool_len;
	/* the name goes into profiles as text: no control characters */
	for (size_t i = 0; i < len; i++)
		name[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	name[len] = '\0';
	e = &pm->e[pm->n];
	e->start = start;
	e->end = start + size;
	e->name = (uint32_t)pm->pool_len;
	e->seq = (uint32_t)pm->n;
	pm->pool_len += len + 1;
	pm->n++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct perfmap_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

long perfmap__add_text(struct perfmap *pm, const char *text, size_t len, bool final)
{
	size_t n0 = pm->n, pool0 = pm->pool_len, done = 0;
	bool trunc0 = pm->truncated;

	while (done < len) {
		const char *nl = memchr(text + done, '\n', len - done);
		const char *end = nl ? nl : text + len;

		if (!nl && !final)
			break;
		if (add_line(pm, text + done, end) < 0) {
			pm->n = n0;
			pm->pool_len = pool0;
			pm->truncated = trunc0;
			return -ENOMEM;
		}
		done = (size_t)(end - text) + (nl ? 1 : 0);
	}
	/* seq, the order in the whole file, was given as each line was added */
	if (pm->n != n0)
		qsort(pm->e, pm->n, sizeof(*pm->e), cmp_entry);
	return (long)done;
}

int perfmap__read(struct perfmap *pm, const char *path)
{
	int fd = proc_open_regular(path), rc;

	if (fd < 0)
		return fd;
	rc = perfmap__read_fd(pm, fd);
	close(fd);
	return rc;
}

int perfmap__read_fd(struct perfmap *pm, int fd)
{
	struct stat st;
	size_t n0 = pm->n;
	char *buf = NULL;
	int err = 0;
	bool reset = false;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (pm->have_file && (st.st_dev != pm->dev || st.st_ino != pm->ino || (uint64_t)st.st_size < pm->off)) {
		perfmap_clear(pm); /* another file, or rewritten: start over */
		reset = true;
	}
	pm->have_file = true;
	pm->dev = st.st_dev;
	pm->ino = st.st_ino;
	if ((uint64_t)st.st_size <= pm->off)
		goto cleanup;
	buf = malloc(READ_CHUNK);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (pm->off < (uint64_t)st.st_size) {
		size_t want = READ_CHUNK;
		ssize_t got;
		long used;

		if (pm->off >= PERFMAP_MAX_BYTES) {
			pm->truncated = true;
			break;
		}
		if (want > PERFMAP_MAX_BYTES - pm->off)
			want = (size_t)(PERFMAP_MAX_BYTES - pm->off);
		got = pread(fd, buf, want, (off_t)pm->off);
		if (got < 0) {
			err = -errno;
			break;
		}
		if (got == 0)
			break;
		used = perfmap__add_text(pm, buf, (size_t)got, false);
		if (used < 0) {
			err = (int)used;
			break;
		}
		if (used == 0) {
			/* no '\n' in a whole chunk: a line no writer makes; or the last line is being
			 * written: wait for its end */
			if ((size_t)got == want && want == READ_CHUNK)
				pm->off += (uint64_t)got;
			break;
		}
		pm->off += (uint64_t)used;
	}
cleanup:
	free(buf);
	if (err)
		return err;
	return pm->n != n0 || reset;
}

const char *perfmap__lookup(const struct perfmap *pm, uint64_t addr, uint64_t *ret_start)
{
	const struct perfmap_entry *best = NULL;
	size_t lo = 0, hi;

	if (!pm)
		return NULL;
	hi = pm->n;
	/* the first entry starting above addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->e[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, k = 0; i > 0 && k < OVERLAP_SCAN; i--, k++) {
		const struct perfmap_entry *e = &pm->e[i - 1];

		if (addr < e->end && (!best || e->seq > best->seq))
			best = e;
	}
	if (!best)
		return NULL;
	if (ret_start)
		*ret_start = best->start;
	return pm->pool + best->name;
}

size_t perfmap__count(const struct perfmap *pm)
{
	return pm ? pm->n : 0;
}

bool perfmap__truncated(const struct perfmap *pm)
{
	return pm && pm->truncated;
}
