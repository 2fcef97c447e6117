// SPDX-License-Identifier: MIT
/* Writes a profile of its own stacks, symbolized by profd's real symbolizer, for
 * tests/integration/test_pprof_accept.sh to feed to `go tool pprof`. The stacks are real: glibc's
 * backtrace() inside a known chain selfprof_leaf <- selfprof_middle <- selfprof_outer <- main.
 *   pprof_selfprof [--unsymbolized] OUT.pb.gz [OUT.txt]
 * Before writing, it decodes its own output and checks the tables and the names (exit 1 with the
 * reason on stderr if something is wrong); OUT.txt gets the debug=1 count text of the same set. */
#include <errno.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pprof/pprof.h"
#include "pprof_check.h"
#include "symbols/symbolize.h"

#define MAX_DEPTH 64

static void *stack[MAX_DEPTH];
static int depth;
static volatile int sink;

/* noinline + work after each call: the chain must survive -O2 (no inlining, no tail calls) */
__attribute__((noinline)) static void selfprof_leaf(void)
{
	depth = backtrace(stack, MAX_DEPTH);
	sink++;
}

__attribute__((noinline)) static void selfprof_middle(void)
{
	selfprof_leaf();
	sink++;
}

__attribute__((noinline)) static void selfprof_outer(void)
{
	selfprof_middle();
	sink++;
}

static int fail(const char *why)
{
	fprintf(stderr, "pprof_selfprof: %s\n", why);
	return 1;
}

static const char *func_name(const Perftools__Profiles__Profile *p, const Perftools__Profiles__Location *l, size_t i)
{
	if (i >= l->n_line)
		return "";
	return p->string_table[p->function[l->line[i]->function_id - 1]->name];
}

/* The decoded profile names the chain, leaf first, and claims functions for the executable. */
static int check_names(const Perftools__Profiles__Profile *p)
{
	static const char *const chain[] = { "selfprof_leaf", "selfprof_middle", "selfprof_outer", "main" };
	const Perftools__Profiles__Sample *s = p->sample[0];
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return fail("readlink /proc/self/exe");
	exe[n] = '\0';
	if (p->n_mapping < 2 || strcmp(p->string_table[p->mapping[0]->filename], exe) != 0)
		return fail("mapping[0] is not the executable");
	if (!p->mapping[0]->has_functions || !p->mapping[0]->has_filenames || !p->mapping[0]->has_line_numbers)
		return fail("the executable's mapping does not claim functions, files and lines");
	if (s->n_location_id < 4)
		return fail("stack too short");
	/* backtrace()'s own frame may or may not be first: find the leaf */
	for (size_t i = 0; i + 4 <= s->n_location_id; i++) {
		const Perftools__Profiles__Location *l = p->location[s->location_id[i] - 1];
		const Perftools__Profiles__Function *f;

		if (strcmp(func_name(p, l, 0), chain[0]) != 0)
			continue;
		for (int k = 0; k < 4; k++) {
			l = p->location[s->location_id[i + (size_t)k] - 1];
			if (l->n_line < 1 || strcmp(func_name(p, l, l->n_line - 1), chain[k]) != 0) {
				fprintf(stderr, "pprof_selfprof: frame %d is %s, not %s\n", k,
					func_name(p, l, l->n_line - 1), chain[k]);
				return 1;
			}
			if (l->mapping_id != 1)
				return fail("a frame of the executable is not in mapping 1");
			f = p->function[l->line[l->n_line - 1]->function_id - 1];
			if (!strstr(p->string_table[f->filename], "pprof_selfprof.c") || l->line[l->n_line - 1]->line <= 0)
				return fail("no file:line for a frame of the executable");
		}
		return 0;
	}
	return fail("selfprof_leaf not found in the stack");
}

int main(int argc, char **argv)
{
	bool symbolized = true;
	const char *out_pb, *out_txt = NULL;
	struct profd_sample_set *set = NULL;
	struct symbolizer *sym = NULL;
	Perftools__Profiles__Profile *p = NULL;
	uint64_t pcs[MAX_DEPTH];
	int64_t values[2] = { 7, 70000000 };
	struct profd_label label = { .key = "thread", .str = "selfprof" };
	struct buf out;
	const char *why;
	FILE *f;
	int err, ret = 1;

	if (argc > 1 && strcmp(argv[1], "--unsymbolized") == 0) {
		symbolized = false;
		argv++;
		argc--;
	}
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: pprof_selfprof [--unsymbolized] OUT.pb.gz [OUT.txt]\n");
		return 2;
	}
	out_pb = argv[1];
	out_txt = argc > 2 ? argv[2] : NULL;
	buf_init(&out, 0);

	selfprof_outer();
	if (depth < 4)
		return fail("backtrace() returned fewer than 4 frames");
	/* backtrace() gives return addresses: stored as they are (samples.h) */
	for (int i = 0; i < depth; i++)
		pcs[i] = (uint64_t)(uintptr_t)stack[i];

	set = sample_set__new(2);
	if (!set)
		return fail("out of memory");
	set->types[0] = (struct profd_value_type){ "samples", "count" };
	set->types[1] = (struct profd_value_type){ "cpu", "nanoseconds" };
	set->period_type = set->types[1];
	set->period = 10000000;
	set->duration_nanos = 1000000000;
	if (sample_set__add(set, pcs, (uint32_t)depth, values, &label, 1) ||
	    sample_set__add(set, pcs + 1, (uint32_t)depth - 1, values, NULL, 0) ||
	    sample_set__comment(set, "pprof_selfprof: stacks of itself, %s", symbolized ? "symbolized" : "raw")) {
		ret = fail("sample_set__add failed");
		goto cleanup;
	}
	if (symbolized) {
		sym = symbolizer__new(getpid());
		if (!sym) {
			fprintf(stderr, "pprof_selfprof: symbolizer__new: %s\n", strerror(errno));
			goto cleanup;
		}
	}
	err = pprof_encode(set, sym, &out);
	if (err) {
		fprintf(stderr, "pprof_selfprof: pprof_encode: %s\n", strerror(-err));
		goto cleanup;
	}
	p = pprof_check_decode(out.data, out.len, &why);
	if (!p) {
		ret = fail(why);
		goto cleanup;
	}
	if (symbolized && check_names(p))
		goto cleanup;
	if (!symbolized && (p->n_mapping != 0 || p->n_function != 0)) {
		ret = fail("an unsymbolized profile has mappings or functions");
		goto cleanup;
	}
	f = fopen(out_pb, "wb");
	if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
		ret = fail("cannot write the profile");
		goto cleanup;
	}
	if (out_txt) {
		buf_reset(&out);
		err = pprof_write_count_text("goroutine", set, sym, &out);
		f = err ? NULL : fopen(out_txt, "w");
		if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
			ret = fail("cannot write the count text");
			goto cleanup;
		}
	}
	ret = 0;
cleanup:
	if (p)
		perftools__profiles__profile__free_unpacked(p, NULL);
	symbolizer__free(sym);
	sample_set__free(set);
	buf_free(&out);
	return ret;
}
