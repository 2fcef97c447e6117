// SPDX-License-Identifier: MIT
/* Whole-file writes and the pruning of a series of files (files.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/files.h"

int file_write_atomic(const char *path, const void *data, size_t len)
{
	const char *p = data;
	size_t off = 0;
	char *tmp = NULL;
	int fd, r = 0;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	while (off < len && !r) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			r = w < 0 ? -errno : -EIO;
		else
			off += (size_t)w;
	}
	if (!r && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) != 0)
		r = -errno;
	if (r)
		unlink(tmp);
	free(tmp);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int files_prune(const char *dir, const char *prefix, const char *suffix, int keep)
{
	size_t plen = strlen(prefix), slen = strlen(suffix), n = 0, cap = 0;
	char **names = NULL, *path = NULL;
	struct dirent *d;
	int removed = 0, r = 0;
	DIR *dh = opendir(dir);

	if (!dh)
		return -errno;
	while ((d = readdir(dh)) && n < FILES_PRUNE_MAX) {
		size_t len = strlen(d->d_name);

		if (len < plen + slen || strncmp(d->d_name, prefix, plen) != 0 ||
		    strcmp(d->d_name + len - slen, suffix) != 0)
			continue;
		if (n == cap) {
			char **t = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (!t) {
				r = -ENOMEM;
				break;
			}
			names = t;
		}
		if (!(names[n] = strdup(d->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(dh);
	if (!r && names)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (!r && i + (size_t)(keep > 0 ? keep : 0) < n && asprintf(&path, "%s/%s", dir, names[i]) >= 0) {
			if (unlink(path) == 0)
				removed++;
			free(path);
		}
		free(names[i]);
	}
	free(names);
	return r ? r : removed;
}
