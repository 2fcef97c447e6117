// SPDX-License-Identifier: MIT
/* Prometheus text exposition (metrics.h): families kept in first-seen order, each with its
 * samples as lines already formatted, written grouped. One request's collector, single-threaded. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"

struct family {
	char name[128];
	char help[256];
	enum metric_type type;
	struct buf lines; /* "name{labels} value\n" */
};

struct metrics {
	struct family fams[METRICS_MAX_FAMILIES];
	int nfams;
	size_t bytes;
};

struct metrics *metrics__new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void metrics__free(struct metrics *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nfams; i++)
		buf_free(&m->fams[i].lines);
	free(m);
}

bool metrics_name_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';

		if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
			return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Label values: backslash, double quote and newline escaped (the format's three). */
static void put_label_value(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			buf_puts(b, "\\\\");
		else if (*v == '"')
			buf_puts(b, "\\\"");
		else if (*v == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, *v);
	}
}

/* HELP text: backslash and newline escaped. */
static void put_help(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			buf_puts(b, "\\\\");
		else if (*v == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, *v);
	}
}

static void put_value(struct buf *b, double v)
{
	if (isnan(v))
		buf_puts(b, "NaN");
	else if (isinf(v))
		buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9e15)
		buf_printf(b, "%lld", (long long)v);
	else {
		char s[40];

		/* the shortest form that reads back as the same double */
		snprintf(s, sizeof(s), "%.15g", v);
		if (strtod(s, NULL) != v)
			snprintf(s, sizeof(s), "%.17g", v);
		buf_puts(b, s);
	}
}

static struct family *family_get(const struct metrics *m, const char *name)
{
	for (int i = 0; i < m->nfams; i++)
		if (strcmp(m->fams[i].name, name) == 0)
			return (struct family *)&m->fams[i];
	return NULL;
}

int metrics__add(struct metrics *m, const char *name, enum metric_type type, const char *help,
		 const struct metric_label *labels, int nlabels, double value)
{
	struct family *f;
	size_t before;

	if (!metrics_name_ok(name) || strlen(name) >= sizeof(f->name) || nlabels < 0 ||
	    nlabels > METRICS_MAX_LABELS || (type == METRIC_COUNTER) != ends_with(name, "_total"))
		return -EINVAL;
	for (int i = 0; i < nlabels; i++)
		if (!metrics_name_ok(labels[i].name) || strncmp(labels[i].name, "__", 2) == 0 || !labels[i].value)
			return -EINVAL;
	f = family_get(m, name);
	if (f && f->type != type)
		return -EINVAL;
	if (!f) {
		if (m->nfams >= METRICS_MAX_FAMILIES)
			return -ENOSPC;
		f = &m->fams[m->nfams++];
		snprintf(f->name, sizeof(f->name), "%s", name);
		snprintf(f->help, sizeof(f->help), "%s", help ? help : "");
		f->type = type;
	}
	if (m->bytes >= METRICS_MAX_BYTES)
		return -ENOSPC;
	before = f->lines.len;
	buf_puts(&f->lines, name);
	if (nlabels) {
		buf_putc(&f->lines, '{');
		for (int i = 0; i < nlabels; i++) {
			buf_printf(&f->lines, "%s%s=\"", i ? "," : "", labels[i].name);
			put_label_value(&f->lines, labels[i].value);
			buf_putc(&f->lines, '"');
		}
		buf_putc(&f->lines, '}');
	}
	buf_putc(&f->lines, ' ');
	put_value(&f->lines, value);
	if (buf_putc(&f->lines, '\n') != 0) {
		f->lines.len = before;
		return -ENOMEM;
	}
	m->bytes += f->lines.len - before;
	return 0;
}

bool metrics__find(const struct metrics *m, const char *name, const char *label, const char *value,
		   double *ret)
{
	const struct family *f = family_get(m, name);
	char want[512];
	const char *line;

	if (!f || !f->lines.len)
		return false;
	if (label) {
		struct buf b = { 0 };

		buf_printf(&b, "%s=\"", label);
		put_label_value(&b, value);
		buf_putc(&b, '"');
		snprintf(want, sizeof(want), "%s", b.data ? b.data : "");
		buf_free(&b);
	}
	for (line = f->lines.data; line && line < f->lines.data + f->lines.len;) {
		const char *end = memchr(line, '\n', (size_t)(f->lines.data + f->lines.len - line));
		const char *sp;
		size_t len = end ? (size_t)(end - line) : strlen(line);
		bool hit = !label;

		if (label) {
			/* within the braces: after '{' or ',' */
			const char *close = memchr(line, '}', len);

			for (const char *p = line; close && p < close && !hit; p++)
				if ((*p == '{' || *p == ',') && strncmp(p + 1, want, strlen(want)) == 0 &&
				    (p[1 + strlen(want)] == ',' || p[1 + strlen(want)] == '}'))
					hit = true;
		}
		if (hit) {
			sp = memrchr(line, ' ', len);
			if (!sp)
				return false;
			if (strncmp(sp + 1, "NaN", 3) == 0)
				*ret = NAN;
			else
				*ret = strtod(sp + 1, NULL);
			return true;
		}
		if (!end)
			break;
		line = end + 1;
	}
	return false;
}

int metrics__write(const struct metrics *m, struct buf *out)
{
	for (int i = 0; i < m->nfams; i++) {
		const struct family *f = &m->fams[i];

		if (!f->lines.len)
			continue;
		buf_printf(out, "# HELP %s ", f->name);
		put_help(out, f->help);
		buf_printf(out, "\n# TYPE %s %s\n", f->name, f->type == METRIC_COUNTER ? "counter" : "gauge");
		if (buf_append(out, f->lines.data, f->lines.len) != 0)
			return -ENOMEM;
	}
	return 0;
}
