/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a hard cap. Appends past the cap fail with -ENOSPC and leave the
 * buffer as it was, so no response or profile can grow without bound. Not thread-safe. */
#ifndef PROFD_BUF_H
#define PROFD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;   /* NUL-terminated after every successful append (the NUL is not counted) */
	size_t len;
	size_t alloc;
	size_t cap;   /* maximum len; 0 means BUF_DEFAULT_CAP */
};

#define BUF_DEFAULT_CAP (256u << 20)

/* A zeroed struct buf is a valid empty buffer with the default cap. */
void buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);      /* NULL-safe; leaves an empty buffer */
void buf_reset(struct buf *b);     /* keeps the allocation */
/* Returns 0, -ENOMEM or -ENOSPC (cap reached). */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Hands the data to the caller (free() it); the buffer becomes empty. Never NULL after a
 * successful append; may be NULL for a buffer that never held data. */
char *buf_steal(struct buf *b, size_t *ret_len);

#endif
