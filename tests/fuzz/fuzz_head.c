// SPDX-License-Identifier: MIT
/* Fuzzes the request-head checker (http/head.c) with arbitrary bytes, as any client can send. The
 * intake calls it on every chunk that arrives, so its answer must not depend on how the bytes
 * were cut: a head it accepts whole must be "need more" (0) at every shorter prefix, and the
 * same with anything after it; a refusal is an HTTP status it documents, with a reason. First
 * byte: which limits (small ones, so that inputs reach them). */
#include "fuzz_util.h"
#include "http/head.h"

static const struct http_head_limits limits[] = {
	{ .max_request_line = 8192, .max_head = 16384, .max_fields = 100, .max_body = 4u << 20 },
	{ .max_request_line = 64, .max_head = 256, .max_fields = 4, .max_body = 100 },
	{ .max_request_line = 16, .max_head = 32, .max_fields = 1, .max_body = 0 },
};

static bool documented(int r)
{
	return r == 400 || r == 411 || r == 413 || r == 414 || r == 431 || r == 505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct http_head_limits *lim;
	struct http_head h = { 0 }, h2;
	char why[256], why2[256];
	char *buf;
	size_t len;
	int r, r2;

	if (size < 1)
		return 0;
	lim = &limits[data[0] % 3];
	len = size - 1;
	buf = malloc(len ? len : 1); /* exact size: ASan sees a read past it */
	CHECK(buf, "malloc");
	memcpy(buf, data + 1, len);
	why[0] = '\0';
	r = http_head_check(buf, len, lim, &h, why, sizeof(why));
	CHECK(r == 0 || r == 1 || documented(r), "an answer head.h does not document");
	if (documented(r))
		CHECK(why[0] && memchr(why, '\0', sizeof(why)), "a refusal without a reason");
	(void)http_status_text(r);
	if (r == 1) {
		CHECK(h.len > 0 && h.len <= len, "head length");
		CHECK(h.content_length >= -1 && (h.content_length < 0 || (uint64_t)h.content_length <= lim->max_body),
		      "content length");
		/* the same bytes cut anywhere before the head's end: need more, never a refusal */
		for (size_t k = 0; k < h.len; k += 1 + h.len / 32) {
			r2 = http_head_check(buf, k, lim, &h2, why2, sizeof(why2));
			if (r2 != 0)
				fprintf(stderr, "prefix %zu of %zu: %d (%s)\n", k, h.len, r2, r2 > 1 ? why2 : "");
			CHECK(r2 == 0, "a prefix of an acceptable head is not 'need more'");
		}
		r2 = http_head_check(buf, h.len - 1, lim, &h2, why2, sizeof(why2));
		CHECK(r2 == 0, "the head less its last byte is not 'need more'");
		/* and just the head: the same answer */
		r2 = http_head_check(buf, h.len, lim, &h2, why2, sizeof(why2));
		CHECK(r2 == 1 && h2.len == h.len && h2.content_length == h.content_length, "the head alone");
	} else if (documented(r)) {
		/* a refusal stands whatever follows (the intake refuses as soon as it sees it); which
		 * status may change: "GET /aaa...\r" past the line limit is 414, and 400 once the byte
		 * after the CR shows it was no line end */
		static const char tail[] = "\r\n\r\nGET / HTTP";
		char *more = malloc(len + sizeof(tail) - 1);

		CHECK(more, "malloc");
		memcpy(more, buf, len);
		memcpy(more + len, tail, sizeof(tail) - 1);
		r2 = http_head_check(more, len + sizeof(tail) - 1, lim, &h2, why2, sizeof(why2));
		CHECK(documented(r2), "a refusal that more bytes undo");
		free(more);
	}
	free(buf);
	return 0;
}
