// SPDX-License-Identifier: MIT
/* /proc/kallsyms: "ADDR TYPE NAME [MODULE]" per line. We keep text symbols (t/T, w/W pointing into
 * text is not distinguishable, so only t/T) in one allocation of sorted entries plus one string
 * pool, and find an address by binary search. A symbol ends where the next one starts. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/kallsyms.h"

struct ksym {
	uint64_t addr;
	uint32_t name; /* offset into names */
};

struct kallsyms {
	atomic_int refs;
	size_t n;
	struct ksym *syms;
	char *names;
	size_t names_len;
};

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

static void kallsyms_free(struct kallsyms *ks)
{
	if (!ks)
		return;
	free(ks->syms);
	free(ks->names);
	free(ks);
}

struct kallsyms *kallsyms__get(struct kallsyms *ks)
{
	if (ks)
		atomic_fetch_add(&ks->refs, 1);
	return ks;
}

void kallsyms__put(struct kallsyms *ks)
{
	if (ks && atomic_fetch_sub(&ks->refs, 1) == 1)
		kallsyms_free(ks);
}

/* Parses one line [p, end). Returns true and fills the fields for a text symbol. */
static bool parse_line(const char *p, const char *end, uint64_t *addr, const char **name, size_t *name_len,
		       const char **mod, size_t *mod_len)
{
	uint64_t v = 0;
	int digits = 0;
	char type;

	while (p < end && *p != ' ') {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return false;
		if (++digits > 16)
			return false;
		v = v << 4 | (uint64_t)d;
		p++;
	}
	if (!digits || end - p < 4 || p[2] != ' ')
		return false;
	type = p[1];
	if (type != 't' && type != 'T')
		return false;
	p += 3;
	*name = p;
	/* names are kept as C strings: a NUL ends one (an empty name drops the line) */
	while (p < end && *p != '\t' && *p != ' ' && *p != '\0')
		p++;
	*name_len = p - *name;
	if (!*name_len)
		return false;
	*mod = NULL;
	*mod_len = 0;
	while (p < end && (*p == '\t' || *p == ' '))
		p++;
	if (p < end && *p == '[') {
		const char *close = memchr(p, ']', end - p);

		if (close && !memchr(p, '\0', close - p)) {
			*mod = p + 1;
			*mod_len = close - p - 1;
		}
	}
	*addr = v;
	return true;
}

int kallsyms_parse(const char *text, size_t len, struct kallsyms **ret)
{
	struct kallsyms *ks = NULL;
	const char *p = text, *end = text + len;
	size_t cap = 0, names_cap = 0, nonzero = 0;
	int err;

	*ret = NULL;
	if (len > KALLSYMS_MAX_TEXT)
		return -E2BIG;
	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return -ENOMEM;
	atomic_init(&ks->refs, 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *line_end = nl ? nl : end;
		const char *name, *mod;
		size_t name_len, mod_len, need;
		uint64_t addr;

		if (parse_line(p, line_end, &addr, &name, &name_len, &mod, &mod_len)) {
			if (ks->n == KALLSYMS_MAX_SYMS) {
				err = -E2BIG;
				goto cleanup;
			}
			if (ks->n == cap) {
				size_t ncap = cap ? cap * 2 : 4096;
				struct ksym *s = realloc(ks->syms, ncap * sizeof(*s));

				if (!s) {
					err = -ENOMEM;
					goto cleanup;
				}
				ks->syms = s;
				cap = ncap;
			}
			/* "name [module]" so that module symbols say where they come from */
			need = name_len + (mod_len ? mod_len + 3 : 0) + 1;
			if (ks->names_len + need > names_cap) {
				size_t ncap = names_cap ? names_cap * 2 : 65536;
				char *s;

				while (ncap < ks->names_len + need)
					ncap *= 2;
				s = realloc(ks->names, ncap);
				if (!s) {
					err = -ENOMEM;
					goto cleanup;
				}
				ks->names = s;
				names_cap = ncap;
			}
			ks->syms[ks->n].addr = addr;
			ks->syms[ks->n].name = (uint32_t)ks->names_len;
			memcpy(ks->names + ks->names_len, name, name_len);
			ks->names_len += name_len;
			if (mod_len) {
				ks->names[ks->names_len++] = ' ';
				ks->names[ks->names_len++] = '[';
				memcpy(ks->names + ks->names_len, mod, mod_len);
				ks->names_len += mod_len;
				ks->names[ks->names_len++] = ']';
			}
			ks->names[ks->names_len++] = '\0';
			ks->n++;
			if (addr)
				nonzero++;
		}
		p = line_end + 1;
	}
	if (!ks->n) {
		err = -EINVAL;
		goto cleanup;
	}
	if (!nonzero) {
		err = -ENOENT;
		goto cleanup;
	}
	qsort(ks->syms, ks->n, sizeof(*ks->syms), ksym_cmp);
	*ret = ks;
	return 0;
cleanup:
	kallsyms_free(ks);
	return err;
}

int kallsyms_load(struct kallsyms **ret)
{
	size_t len = 0, cap = 1u << 20;
	char *text = NULL;
	int fd, err;

	*ret = NULL;
	fd = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	text = malloc(cap);
	if (!text) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *t;

			if (cap >= KALLSYMS_MAX_TEXT) {
				err = -E2BIG;
				goto cleanup;
			}
			t = realloc(text, cap * 2);
			if (!t) {
				err = -ENOMEM;
				goto cleanup;
			}
			text = t;
			cap *= 2;
		}
		r = read(fd, text + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	err = kallsyms_parse(text, len, ret);
cleanup:
	free(text);
	close(fd);
	return err;
}

const char *kallsyms__lookup(const struct kallsyms *ks, uint64_t addr, uint64_t *ret_start)
{
	size_t lo = 0, hi;

	if (!ks || !ks->n || addr < ks->syms[0].addr || addr >= ks->syms[ks->n - 1].addr)
		return NULL; /* past the last symbol there is no end to measure against */
	hi = ks->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (ks->syms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	if (ret_start)
		*ret_start = ks->syms[lo].addr;
	return ks->names + ks->syms[lo].name;
}

void kallsyms__range(const struct kallsyms *ks, uint64_t *ret_lo, uint64_t *ret_hi)
{
	*ret_lo = ks && ks->n ? ks->syms[0].addr : 0;
	*ret_hi = ks && ks->n ? ks->syms[ks->n - 1].addr : 0;
}
