// SPDX-License-Identifier: MIT
/* Parsers of /proc text (see proctext.h), split from the readers so that they can be fuzzed:
 * each does what its reader did inline. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proc/proctext.h"

#define KSTACK_MAX_TEXT 4096 /* the kernel bounds task/TID/stack; so do we */

int proctext_stat(const char *text, char *ret_state, unsigned long *ret_flags, uint64_t *ret_start_time)
{
	const char *p = strrchr(text, ')');
	int field = 3; /* p points at the start of this field */

	if (!p || p[1] != ' ')
		return -EINVAL;
	p += 2;
	*ret_state = *p;
	while (*p && field < 22) {
		if (*p == ' ') {
			field++;
			if (field == 9 && ret_flags)
				*ret_flags = strtoul(p + 1, NULL, 10);
		}
		p++;
	}
	if (field != 22 || !isdigit((unsigned char)*p))
		return -EINVAL;
	*ret_start_time = strtoull(p, NULL, 10);
	return 0;
}

uint64_t proctext_stat_image(const char *text)
{
	const char *p = strrchr(text, ')');
	uint64_t h = 1469598103934665603ull, any = 0;
	int field = 3;

	if (!p || p[1] != ' ')
		return 0;
	p += 2;
	while (*p && field < 28) {
		if (*p == ' ') {
			field++;
			if (field >= 26) {
				uint64_t v;

				if (!isdigit((unsigned char)p[1]))
					return 0;
				v = strtoull(p + 1, NULL, 10);
				any |= v;
				h = (h ^ v) * 1099511628211ull;
			}
		}
		p++;
	}
	if (field != 28 || !any)
		return 0;
	return h ? h : 1;
}

bool proctext_stat_comm(const char *text, char *comm, size_t comm_size, char *ret_state)
{
	const char *open_paren = strchr(text, '('), *close_paren = strrchr(text, ')');
	size_t len;

	*ret_state = '?';
	if (!open_paren || !close_paren || close_paren <= open_paren || !comm_size)
		return false;
	len = (size_t)(close_paren - open_paren - 1);
	if (len >= comm_size)
		len = comm_size - 1;
	memcpy(comm, open_paren + 1, len);
	comm[len] = '\0';
	if (close_paren[1] == ' ' && close_paren[2])
		*ret_state = close_paren[2];
	return true;
}

int proctext_status_threads(const char *text)
{
	const char *p = strstr(text, "\nThreads:");

	if (!p)
		return -EINVAL;
	return atoi(p + 9);
}

pid_t proctext_status_nspid(const char *text)
{
	const char *p = strstr(text, "\nNSpid:");
	long v = -1;

	if (!p)
		return -EINVAL;
	p += strlen("\nNSpid:");
	for (;;) {
		char *end;
		long x;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		x = strtol(p, &end, 10);
		if (x <= 0 || x > INT32_MAX)
			return -EINVAL;
		v = x;
		p = end;
	}
	return v > 0 ? (pid_t)v : -EINVAL;
}

long proctext_status_euid(const char *text)
{
	const char *p = strstr(text, "\nUid:");
	unsigned long real, eff;
	char *end;

	if (!p)
		return -EINVAL;
	p += strlen("\nUid:");
	real = strtoul(p, &end, 10);
	if (end == p || (*end != ' ' && *end != '\t'))
		return -EINVAL;
	p = end;
	eff = strtoul(p, &end, 10);
	if (end == p || real > UINT32_MAX || eff > UINT32_MAX)
		return -EINVAL;
	return (long)eff;
}

void proctext_status_state(const char *text, char *ret_state, pid_t *ret_tracer)
{
	const char *p;

	*ret_state = '?';
	*ret_tracer = 0;
	p = strstr(text, "\nState:");
	if (p) {
		p += strlen("\nState:");
		while (*p == ' ' || *p == '\t')
			p++;
		*ret_state = *p;
	}
	p = strstr(text, "\nTracerPid:");
	if (p)
		*ret_tracer = (pid_t)strtol(p + strlen("\nTracerPid:"), NULL, 10);
}

long proctext_status_switches(const char *text)
{
	unsigned long n = 0; /* the sum is only compared: wrapping (not overflowing) is fine */
	const char *p;

	p = strstr(text, "voluntary_ctxt_switches:");
	if (p)
		n += (unsigned long)strtol(p + strlen("voluntary_ctxt_switches:"), NULL, 10);
	p = strstr(text, "nonvoluntary_ctxt_switches:");
	if (p)
		n += (unsigned long)strtol(p + strlen("nonvoluntary_ctxt_switches:"), NULL, 10);
	return (long)n;
}

long long proctext_status_field(const char *text, const char *field)
{
	size_t n = strlen(field);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, field, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			return strtoll(p, NULL, 10);
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

int proctext_stat_usage(const char *text, struct proctext_usage *ret)
{
	const char *p = strrchr(text, ')');
	unsigned long long v[21] = { 0 };
	int field = 3; /* p points at the start of this field */

	if (!p || p[1] != ' ')
		return -EINVAL;
	p += 2;
	while (*p && field < 20) {
		if (*p == ' ') {
			field++;
			if (!isdigit((unsigned char)p[1]) && !(p[1] == '-' && isdigit((unsigned char)p[2])))
				return -EINVAL;
			v[field] = strtoull(p + 1, NULL, 10);
		}
		p++;
	}
	if (field != 20)
		return -EINVAL;
	ret->minflt = v[10];
	ret->majflt = v[12];
	ret->utime = v[14];
	ret->stime = v[15];
	ret->threads = (long)v[20];
	return 0;
}

int proctext_cgroup_v2(const char *text, char *path, size_t len)
{
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, "0::", 3) == 0) {
			const char *end = strchr(p + 3, '\n');
			size_t n = end ? (size_t)(end - p - 3) : strlen(p + 3);

			if (n >= len)
				return -ENAMETOOLONG;
			memcpy(path, p + 3, n);
			path[n] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}

int proctext_cgroup_v1(const char *text, const char *controller, char *path, size_t len)
{
	size_t clen = strlen(controller);
	const char *p = text;

	while (p && *p) {
		const char *end = strchr(p, '\n'), *c = strchr(p, ':'), *colon2;

		if (!end)
			end = p + strlen(p);
		colon2 = c && c < end ? memchr(c + 1, ':', (size_t)(end - c - 1)) : NULL;
		/* "ID:LIST:PATH": LIST is empty for v2's "0::" */
		for (const char *q = c ? c + 1 : NULL; colon2 && q < colon2;) {
			const char *comma = memchr(q, ',', (size_t)(colon2 - q));
			const char *qe = comma ? comma : colon2;

			if ((size_t)(qe - q) == clen && strncmp(q, controller, clen) == 0) {
				size_t n = (size_t)(end - colon2 - 1);

				if (n >= len)
					return -ENAMETOOLONG;
				memcpy(path, colon2 + 1, n);
				path[n] = '\0';
				return 0;
			}
			q = qe + 1;
		}
		p = *end ? end + 1 : NULL;
	}
	return -ENOENT;
}

char *proctext_kstack(const char *text)
{
	struct buf b;
	const char *line = text;

	buf_init(&b, KSTACK_MAX_TEXT);
	while (*line) {
		const char *end = strchr(line, '\n'), *f = strchr(line, ']');
		size_t len;

		if (!end)
			end = line + strlen(line);
		if (f && f < end) {
			f++;
			while (*f == ' ')
				f++;
			len = strcspn(f, "/\n");
			if (f + len > end)
				len = (size_t)(end - f);
			/* whole lines only: a name cut by the bound would name another function */
			if (len && (b.len + len + 1 > KSTACK_MAX_TEXT || buf_append(&b, f, len) || buf_putc(&b, '\n')))
				break;
		}
		line = *end ? end + 1 : end;
	}
	return b.len ? buf_steal(&b, NULL) : (buf_free(&b), NULL);
}

long proctext_syscall_nr(const char *text)
{
	return text[0] >= '0' && text[0] <= '9' ? strtol(text, NULL, 10) : -1;
}

int proctext_syscall(const char *text, long *ret_nr, uint64_t *ret_sp, uint64_t *ret_pc)
{
	unsigned long long args[6], sp, pc;
	long nr;

	if (sscanf(text, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &nr, &args[0], &args[1], &args[2], &args[3],
		   &args[4], &args[5], &sp, &pc) != 9)
		return -EINVAL;
	*ret_nr = nr;
	*ret_sp = sp;
	*ret_pc = pc;
	return 0;
}
