// SPDX-License-Identifier: MIT
/* The pprof builder: a sample set + a symbolizer -> gzip(profile.proto), and the debug=1 text of
 * count profiles. Strings, functions, locations and mappings are interned in small open-addressing
 * tables while the samples are walked, then laid out as protobuf-c messages in a few arrays and
 * packed once. Every input dimension is bounded (-E2BIG); errors: -EINVAL (malformed set), -ENOMEM,
 * -ENOSPC (output cap). Reentrant: each call owns its builder; the set must not change meanwhile. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pprof/pprof.h"
#include "profile.pb-c.h"
#include "symbols/symbolize.h"

/* Hard limits on what one profile may hold; beyond them the input is refused, never truncated. */
#define PPROF_MAX_TOTAL_FRAMES (1u << 24) /* sum of all samples' frames */
#define PPROF_MAX_EXTRA_MAPPINGS 4096     /* mappings a lookup named that the list did not have */
#define PPROF_MAX_PROCESSES 65536         /* processes in one profile (procset.h bounds them first) */
#define PPROF_MAX_PROTO (1u << 30)        /* uncompressed proto bytes */
#define PPROF_MAX_TEXT_FRAMES 16          /* inline frames printed per pc in debug=1 text */

/* An open-addressing set of 1-based indexes into a caller's array (0 = empty slot). */
struct intern_index {
	uint32_t *slots;
	size_t size; /* power of two */
	size_t n;
};

struct func_rec {
	int64_t name, system_name, filename, start_line;
};

struct line_rec {
	uint32_t func; /* 0-based index into funcs */
	int64_t line;
	uint64_t func_start; /* for the debug=1 text's "+0x..." */
};

struct loc_rec {
	int64_t pid;      /* the sample's process (its "pid" label; 0: a one-process profile) */
	uint64_t pc;      /* as stored in the sample (caller style) */
	uint32_t first_line, nlines;
	uint32_t mapping; /* 1-based index into maps, 0 = none */
};

struct map_rec {
	const struct sym_mapping *m;
	bool listed;    /* from a symbolizer's list (kept even when unused), not added by a lookup */
	bool has_locations;
	bool all_named; /* every location in it got a function name */
};

/* One process of the profile: its symbolizer and where its mappings are in maps[]. */
struct builder_proc {
	int64_t pid;
	struct symbolizer *sym;
	size_t first_map, nmaps; /* its symbolizer's own list: maps[first_map .. first_map + nmaps) */
};

struct builder {
	const struct pprof_symbols *syms;
	struct builder_proc *procs;
	size_t nprocs, aprocs, last_proc;
	const char **strs;
	size_t nstrs, astrs;
	struct intern_index str_ix;
	struct func_rec *funcs;
	size_t nfuncs, afuncs;
	struct intern_index func_ix;
	struct line_rec *lines;
	size_t nlines, alines;
	struct loc_rec *locs;
	size_t nlocs, alocs;
	struct intern_index loc_ix;
	struct map_rec *maps;
	size_t nmaps, amaps;
};

/* Doubles *alloc until it holds n + 1 elements of size elem; bounded by the callers' limits. */
static int grow(void **arr, size_t *alloc, size_t n, size_t elem)
{
	size_t a = *alloc ? *alloc : 64;
	void *p;

	if (n < *alloc)
		return 0;
	while (a <= n)
		a *= 2;
	p = realloc(*arr, a * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*alloc = a;
	return 0;
}

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static uint64_t hash_func(const struct func_rec *f)
{
	return hash_mix(hash_mix(hash_mix(hash_mix(0, (uint64_t)f->name), (uint64_t)f->system_name),
				 (uint64_t)f->filename),
			(uint64_t)f->start_line);
}

static uint64_t hash_loc(int64_t pid, uint64_t pc)
{
	return hash_mix((uint64_t)pid, pc);
}

static uint64_t builder_hash(const struct builder *b, const struct intern_index *ix, uint32_t i)
{
	if (ix == &b->str_ix)
		return hash_str(b->strs[i]);
	if (ix == &b->func_ix)
		return hash_func(&b->funcs[i]);
	return hash_loc(b->locs[i].pid, b->locs[i].pc);
}

/* Makes room for one more entry (load factor <= 1/2), rehashing what is there. */
static int index_reserve(struct builder *b, struct intern_index *ix)
{
	size_t size = ix->size ? ix->size : 256;
	uint32_t *slots;

	if (ix->size && (ix->n + 1) * 2 <= ix->size)
		return 0;
	while ((ix->n + 1) * 2 > size)
		size *= 2;
	slots = calloc(size, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < ix->size; i++) {
		size_t s;

		if (!ix->slots[i])
			continue;
		s = builder_hash(b, ix, ix->slots[i] - 1) & (size - 1);
		while (slots[s])
			s = (s + 1) & (size - 1);
		slots[s] = ix->slots[i];
	}
	free(ix->slots);
	ix->slots = slots;
	ix->size = size;
	return 0;
}

/* Index of s in the string table, adding it if new. NULL is "". The pointer is borrowed: every
 * string comes from the sample set or the symbolizer, both alive until the profile is packed. */
static int64_t str_intern(struct builder *b, const char *s)
{
	size_t slot;
	int err;

	if (!s || !*s)
		return 0;
	err = index_reserve(b, &b->str_ix);
	if (err)
		return err;
	slot = hash_str(s) & (b->str_ix.size - 1);
	while (b->str_ix.slots[slot]) {
		uint32_t i = b->str_ix.slots[slot] - 1;

		if (strcmp(b->strs[i], s) == 0)
			return i;
		slot = (slot + 1) & (b->str_ix.size - 1);
	}
	err = grow((void **)&b->strs, &b->astrs, b->nstrs, sizeof(*b->strs));
	if (err)
		return err;
	b->strs[b->nstrs] = s;
	b->str_ix.slots[slot] = (uint32_t)++b->nstrs;
	b->str_ix.n++;
	return (int64_t)b->nstrs - 1;
}

/* 0-based function index for this frame, or -errno. */
static int64_t func_intern(struct builder *b, const struct sym_frame *f)
{
	struct func_rec key;
	const char *name = f->name ? f->name : f->system_name;
	const char *sys = f->system_name ? f->system_name : f->name;
	size_t slot;
	int64_t v;
	int err;

	if ((v = str_intern(b, name)) < 0)
		return v;
	key.name = v;
	if ((v = str_intern(b, sys)) < 0)
		return v;
	key.system_name = v;
	if ((v = str_intern(b, f->file)) < 0)
		return v;
	key.filename = v;
	key.start_line = f->start_line > 0 ? f->start_line : 0;
	err = index_reserve(b, &b->func_ix);
	if (err)
		return err;
	slot = hash_func(&key) & (b->func_ix.size - 1);
	while (b->func_ix.slots[slot]) {
		uint32_t i = b->func_ix.slots[slot] - 1;

		if (memcmp(&b->funcs[i], &key, sizeof(key)) == 0)
			return i;
		slot = (slot + 1) & (b->func_ix.size - 1);
	}
	err = grow((void **)&b->funcs, &b->afuncs, b->nfuncs, sizeof(*b->funcs));
	if (err)
		return err;
	b->funcs[b->nfuncs] = key;
	b->func_ix.slots[slot] = (uint32_t)++b->nfuncs;
	b->func_ix.n++;
	return (int64_t)b->nfuncs - 1;
}

/* 1-based index into b->maps of the mapping a lookup returned, appending unknown ones. */
static int map_index(struct builder *b, const struct builder_proc *pr, const struct sym_mapping *m, uint64_t addr)
{
	size_t listed = 0;
	int err;

	if (!m)
		return 0;
	for (size_t i = 0; i < b->nmaps; i++)
		if (b->maps[i].m == m)
			return (int)i + 1;
	/* not the same object: maybe a copy of one in the process's list */
	for (size_t i = pr->first_map; i < pr->first_map + pr->nmaps; i++)
		if (addr >= b->maps[i].m->start && addr < b->maps[i].m->limit)
			return (int)i + 1;
	for (size_t i = 0; i < b->nprocs; i++)
		listed += b->procs[i].nmaps;
	if (b->nmaps - listed >= PPROF_MAX_EXTRA_MAPPINGS)
		return 0;
	err = grow((void **)&b->maps, &b->amaps, b->nmaps, sizeof(*b->maps));
	if (err)
		return err;
	b->maps[b->nmaps] = (struct map_rec){ .m = m, .all_named = true };
	return (int)++b->nmaps;
}

static int builder_proc(struct builder *b, int64_t pid, struct builder_proc **ret);

/* Builds the Location of one stored pc: address pc - 1, lines callee first. */
static int loc_build(struct builder *b, struct loc_rec *loc)
{
	struct builder_proc *pr;
	struct sym_result res;
	uint64_t addr = loc->pc ? loc->pc - 1 : 0;
	int err, nframes;

	loc->first_line = (uint32_t)b->nlines;
	loc->nlines = 0;
	loc->mapping = 0;
	err = builder_proc(b, loc->pid, &pr);
	if (err)
		return err;
	if (!pr->sym || !loc->pc)
		return 0;
	memset(&res, 0, sizeof(res));
	err = symbolizer__lookup(pr->sym, addr, &res);
	if (err == -ENOMEM)
		return err;
	if (err) { /* an address the symbolizer cannot handle is an unknown address, not a failure */
		res.nframes = 0;
		res.mapping = NULL;
		for (size_t i = pr->first_map; i < pr->first_map + pr->nmaps && !res.mapping; i++)
			if (addr >= b->maps[i].m->start && addr < b->maps[i].m->limit)
				res.mapping = b->maps[i].m;
	}
	err = map_index(b, pr, res.mapping, addr);
	if (err < 0)
		return err;
	loc->mapping = (uint32_t)err;
	nframes = res.nframes < SYM_MAX_INLINE ? res.nframes : SYM_MAX_INLINE;
	for (int i = 0; i < nframes; i++) {
		const struct sym_frame *f = &res.frames[i];
		int64_t fi;

		/* a frame without a name ends the chain: pprof has nothing to show for it */
		if (!f->name && !f->system_name)
			break;
		fi = func_intern(b, f);
		if (fi < 0)
			return (int)fi;
		err = grow((void **)&b->lines, &b->alines, b->nlines, sizeof(*b->lines));
		if (err)
			return err;
		b->lines[b->nlines++] = (struct line_rec){ .func = (uint32_t)fi, .line = f->line > 0 ? f->line : 0,
							   .func_start = f->func_start };
		loc->nlines++;
	}
	if (loc->mapping) {
		struct map_rec *mr = &b->maps[loc->mapping - 1];

		mr->has_locations = true;
		if (!loc->nlines)
			mr->all_named = false;
	}
	return 0;
}

/* 1-based Location id of a stored pc of process pid, building the Location on first sight; or
 * -errno. The same address in two processes is two Locations: their mappings differ. */
static int64_t loc_intern(struct builder *b, int64_t pid, uint64_t pc)
{
	size_t slot;
	int err;

	err = index_reserve(b, &b->loc_ix);
	if (err)
		return err;
	slot = hash_loc(pid, pc) & (b->loc_ix.size - 1);
	while (b->loc_ix.slots[slot]) {
		uint32_t i = b->loc_ix.slots[slot];

		if (b->locs[i - 1].pc == pc && b->locs[i - 1].pid == pid)
			return i;
		slot = (slot + 1) & (b->loc_ix.size - 1);
	}
	err = grow((void **)&b->locs, &b->alocs, b->nlocs, sizeof(*b->locs));
	if (err)
		return err;
	b->locs[b->nlocs].pid = pid;
	b->locs[b->nlocs].pc = pc;
	err = loc_build(b, &b->locs[b->nlocs]);
	if (err)
		return err;
	b->loc_ix.slots[slot] = (uint32_t)++b->nlocs;
	b->loc_ix.n++;
	return (int64_t)b->nlocs;
}

static void builder_release(struct builder *b)
{
	free(b->strs);
	free(b->str_ix.slots);
	free(b->funcs);
	free(b->func_ix.slots);
	free(b->lines);
	free(b->locs);
	free(b->loc_ix.slots);
	free(b->maps);
	free(b->procs);
}

/* The process pid of the profile: found, or added with its symbolizer and its list of executable
 * mappings (loaded once; a process's main executable first, and the first process's first in
 * the profile, as pprof wants). Returns 0 or -errno. */
static int builder_proc(struct builder *b, int64_t pid, struct builder_proc **ret)
{
	const struct sym_mapping *list = NULL;
	struct builder_proc *pr;
	int n = 0, err;

	if (b->last_proc < b->nprocs && b->procs[b->last_proc].pid == pid) {
		*ret = &b->procs[b->last_proc];
		return 0;
	}
	for (size_t i = 0; i < b->nprocs; i++) {
		if (b->procs[i].pid == pid) {
			b->last_proc = i;
			*ret = &b->procs[i];
			return 0;
		}
	}
	if (b->nprocs >= PPROF_MAX_PROCESSES)
		return -E2BIG;
	err = grow((void **)&b->procs, &b->aprocs, b->nprocs, sizeof(*b->procs));
	if (err)
		return err;
	pr = &b->procs[b->nprocs];
	*pr = (struct builder_proc){ .pid = pid, .sym = b->syms && b->syms->get ? b->syms->get(b->syms->ctx, pid) : NULL };
	pr->first_map = b->nmaps;
	if (pr->sym) {
		err = symbolizer__mappings(pr->sym, &list, &n);
		if (err == -ENOMEM)
			return err;
		/* without the list (the process is gone, say) lookups still name addresses; the
		 * mappings they report are added as they come */
		if (err || n <= 0 || !list)
			n = 0;
		if ((size_t)n > PROFD_MAX_SAMPLES)
			return -E2BIG;
		for (int i = 0; i < n; i++) {
			err = grow((void **)&b->maps, &b->amaps, b->nmaps, sizeof(*b->maps));
			if (err)
				return err;
			b->maps[b->nmaps++] = (struct map_rec){ .m = &list[i], .listed = true, .all_named = true };
		}
		pr->nmaps = (size_t)n;
	}
	b->last_proc = b->nprocs++;
	*ret = pr;
	return 0;
}

/* The first sample's process goes first (its main executable is the profile's first mapping). */
static int builder_start(struct builder *b, const struct profd_sample_set *set)
{
	struct builder_proc *pr;

	return builder_proc(b, set->nsamples ? sample_pid(&set->samples[0]) : 0, &pr);
}

/* Checks the set against the format's and our limits; returns the total number of frames. */
static int64_t set_check(const struct profd_sample_set *set)
{
	uint64_t frames = 0;

	if (!set || set->nvalues < 1 || set->nvalues > PROFD_MAX_VALUES || set->ncomments < 0 ||
	    set->ncomments > PROFD_MAX_COMMENTS || (set->nsamples && !set->samples))
		return -EINVAL;
	if (set->nsamples > PROFD_MAX_SAMPLES)
		return -E2BIG;
	for (size_t i = 0; i < set->nsamples; i++) {
		const struct profd_sample *s = &set->samples[i];

		if (s->nframes > PROFD_MAX_FRAMES || s->nlabels > PROFD_MAX_LABELS || (s->nframes && !s->pcs))
			return -EINVAL;
		for (uint32_t l = 0; l < s->nlabels; l++)
			if (!s->labels[l].key)
				return -EINVAL;
		frames += s->nframes;
	}
	if (frames > PPROF_MAX_TOTAL_FRAMES)
		return -E2BIG;
	return (int64_t)frames;
}

/* Everything the packed Profile points to, allocated as a few arrays. */
struct layout {
	Perftools__Profiles__ValueType vt[PROFD_MAX_VALUES + 1], *vtp[PROFD_MAX_VALUES];
	int64_t comments[PROFD_MAX_COMMENTS + 1]; /* + the note on binaries without symbols */
	Perftools__Profiles__Sample *samples, **samplep;
	uint64_t *loc_ids;
	int64_t *values;
	Perftools__Profiles__Label *labels, **labelp;
	Perftools__Profiles__Location *locs, **locp;
	Perftools__Profiles__Line *lines, **linep;
	Perftools__Profiles__Function *funcs, **funcp;
	Perftools__Profiles__Mapping *maps, **mapp;
};

static void layout_release(struct layout *l)
{
	free(l->samples);
	free(l->samplep);
	free(l->loc_ids);
	free(l->values);
	free(l->labels);
	free(l->labelp);
	free(l->locs);
	free(l->locp);
	free(l->lines);
	free(l->linep);
	free(l->funcs);
	free(l->funcp);
	free(l->maps);
	free(l->mapp);
}

static void *calloc_n(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* Interns the samples' stacks, labels and the header strings, filling loc_ids and label fields. */
static int build_samples(struct builder *b, const struct profd_sample_set *set, struct layout *l,
			 Perftools__Profiles__Profile *p)
{
	size_t frame = 0, label = 0;

	for (int i = 0; i < set->nvalues; i++) {
		int64_t t = str_intern(b, set->types[i].type), u;

		if (t < 0)
			return (int)t;
		if ((u = str_intern(b, set->types[i].unit)) < 0)
			return (int)u;
		perftools__profiles__value_type__init(&l->vt[i]);
		l->vt[i].type = t;
		l->vt[i].unit = u;
		l->vtp[i] = &l->vt[i];
	}
	p->n_sample_type = (size_t)set->nvalues;
	p->sample_type = l->vtp;
	if (set->period_type.type || set->period_type.unit) {
		Perftools__Profiles__ValueType *pt = &l->vt[PROFD_MAX_VALUES];
		int64_t t = str_intern(b, set->period_type.type), u;

		if (t < 0)
			return (int)t;
		if ((u = str_intern(b, set->period_type.unit)) < 0)
			return (int)u;
		perftools__profiles__value_type__init(pt);
		pt->type = t;
		pt->unit = u;
		p->period_type = pt;
	}
	p->period = set->period;
	if (set->default_sample_type >= 0 && set->default_sample_type < set->nvalues) {
		int64_t t = str_intern(b, set->types[set->default_sample_type].type);

		if (t < 0)
			return (int)t;
		p->default_sample_type = t;
	}
	for (int i = 0; i < set->ncomments; i++) {
		int64_t c = str_intern(b, set->comments[i]);

		if (c < 0)
			return (int)c;
		l->comments[i] = c;
	}
	p->n_comment = (size_t)set->ncomments;
	p->comment = l->comments;
	for (size_t i = 0; i < set->nsamples; i++) {
		const struct profd_sample *s = &set->samples[i];
		Perftools__Profiles__Sample *ps = &l->samples[i];

		perftools__profiles__sample__init(ps);
		l->samplep[i] = ps;
		ps->n_location_id = s->nframes;
		ps->location_id = &l->loc_ids[frame];
		for (uint32_t f = 0; f < s->nframes; f++) {
			int64_t id = loc_intern(b, sample_pid(s), s->pcs[f]);

			if (id < 0)
				return (int)id;
			l->loc_ids[frame++] = (uint64_t)id;
		}
		ps->n_value = (size_t)set->nvalues;
		ps->value = &l->values[i * (size_t)set->nvalues];
		memcpy(ps->value, s->values, (size_t)set->nvalues * sizeof(*ps->value));
		ps->n_label = s->nlabels;
		ps->label = &l->labelp[label];
		for (uint32_t j = 0; j < s->nlabels; j++) {
			const struct profd_label *sl = &s->labels[j];
			Perftools__Profiles__Label *pl = &l->labels[label];
			int64_t v;

			perftools__profiles__label__init(pl);
			if ((v = str_intern(b, sl->key)) < 0)
				return (int)v;
			pl->key = v;
			if (sl->str) {
				if ((v = str_intern(b, sl->str)) < 0)
					return (int)v;
				pl->str = v;
			} else {
				pl->num = sl->num;
				if ((v = str_intern(b, sl->unit)) < 0)
					return (int)v;
				pl->num_unit = v;
			}
			l->labelp[label++] = pl;
		}
	}
	p->n_sample = set->nsamples;
	p->sample = l->samplep;
	return 0;
}

/* Lays out mappings, locations, lines and functions once every pc has been interned. */
static int build_tables(struct builder *b, struct layout *l, Perftools__Profiles__Profile *p)
{
	size_t nmaps = 0, main_at = 0;
	uint64_t *map_ids = NULL;
	int err = -ENOMEM;

	l->funcs = calloc_n(b->nfuncs, sizeof(*l->funcs));
	l->funcp = calloc_n(b->nfuncs, sizeof(*l->funcp));
	l->lines = calloc_n(b->nlines, sizeof(*l->lines));
	l->linep = calloc_n(b->nlines, sizeof(*l->linep));
	l->locs = calloc_n(b->nlocs, sizeof(*l->locs));
	l->locp = calloc_n(b->nlocs, sizeof(*l->locp));
	l->maps = calloc_n(b->nmaps, sizeof(*l->maps));
	l->mapp = calloc_n(b->nmaps, sizeof(*l->mapp));
	map_ids = calloc_n(b->nmaps, sizeof(*map_ids));
	if (!l->funcs || !l->funcp || !l->lines || !l->linep || !l->locs || !l->locp || !l->maps ||
	    !l->mapp || !map_ids)
		goto cleanup;
	for (size_t i = 0; i < b->nfuncs; i++) {
		Perftools__Profiles__Function *f = &l->funcs[i];

		perftools__profiles__function__init(f);
		f->id = i + 1;
		f->name = b->funcs[i].name;
		f->system_name = b->funcs[i].system_name;
		f->filename = b->funcs[i].filename;
		f->start_line = b->funcs[i].start_line;
		l->funcp[i] = f;
	}
	/* mappings: the symbolizer's list and any a lookup added, the main executable first (pprof
	 * names the profile after mapping[0]); an extra mapping no location uses is dropped, the
	 * listed ones are kept as Go keeps every executable mapping */
	for (size_t i = 0; i < b->nmaps; i++)
		if (b->maps[i].m->is_main) {
			main_at = i;
			break;
		}
	for (size_t k = 0; k < b->nmaps; k++) {
		size_t i = k == 0 ? main_at : k <= main_at ? k - 1 : k;
		const struct map_rec *mr = &b->maps[i];
		Perftools__Profiles__Mapping *m = &l->maps[nmaps];
		int64_t v;

		/* JIT code comes and goes in many pieces: only those a sample is in */
		if (!mr->has_locations && (!mr->listed || mr->m->jit))
			continue;
		perftools__profiles__mapping__init(m);
		m->id = nmaps + 1;
		m->memory_start = mr->m->start;
		m->memory_limit = mr->m->limit;
		m->file_offset = mr->m->file_offset;
		if ((v = str_intern(b, mr->m->filename)) < 0) {
			err = (int)v;
			goto cleanup;
		}
		m->filename = v;
		if ((v = str_intern(b, mr->m->build_id)) < 0) {
			err = (int)v;
			goto cleanup;
		}
		m->build_id = v;
		/* a mapping with an unnamed location must not claim functions: pprof then asks
		 * /debug/pprof/symbol for exactly the locations that have no lines */
		m->has_functions = mr->m->has_functions && mr->all_named;
		m->has_filenames = mr->m->has_filenames;
		m->has_line_numbers = mr->m->has_line_numbers;
		m->has_inline_frames = mr->m->has_inline_frames;
		l->mapp[nmaps] = m;
		map_ids[i] = ++nmaps;
	}
	for (size_t i = 0; i < b->nlines; i++) {
		perftools__profiles__line__init(&l->lines[i]);
		l->lines[i].function_id = b->lines[i].func + 1;
		l->lines[i].line = b->lines[i].line;
		l->linep[i] = &l->lines[i];
	}
	for (size_t i = 0; i < b->nlocs; i++) {
		const struct loc_rec *lr = &b->locs[i];
		Perftools__Profiles__Location *loc = &l->locs[i];

		perftools__profiles__location__init(loc);
		loc->id = i + 1;
		/* return addresses point past the call: the location is the call itself (samples.h) */
		loc->address = lr->pc ? lr->pc - 1 : 0;
		loc->mapping_id = lr->mapping ? map_ids[lr->mapping - 1] : 0;
		loc->n_line = lr->nlines;
		loc->line = lr->nlines ? &l->linep[lr->first_line] : NULL;
		l->locp[i] = loc;
	}
	p->n_function = b->nfuncs;
	p->function = l->funcp;
	p->n_location = b->nlocs;
	p->location = l->locp;
	p->n_mapping = nmaps;
	p->mapping = l->mapp;
	err = 0;
cleanup:
	free(map_ids);
	return err;
}

int pprof_symbols_note(const struct sym_mapping *const *maps, size_t n, struct buf *out)
{
	const size_t max_named = 8;
	size_t named = 0, more = 0;
	int err = 0;

	if (!maps && n)
		return -EINVAL;
	for (size_t i = 0; i < n && !err; i++) {
		bool seen = false;

		if (!maps[i] || !maps[i]->lacks_symbols || !maps[i]->filename)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = maps[j] && maps[j]->lacks_symbols && maps[j]->filename &&
			       !strcmp(maps[j]->filename, maps[i]->filename);
		if (seen)
			continue;
		if (named == max_named) {
			more++;
			continue;
		}
		err = buf_printf(out, "%s%s", named ? ", " : "no symbol table in ", maps[i]->filename);
		named++;
	}
	if (err || !named)
		return err ? err : 0;
	if (more)
		err = buf_printf(out, " and %zu more", more);
	if (!err)
		err = buf_puts(out, ": functions without an exported name are named FILE+0xADDR, the ELF "
			       "address of their start as .eh_frame gives it (what objdump, addr2line -e FILE and "
			       "gdb take). For names, install the debug symbols of the package that ships each "
			       "file (Debian: its -dbgsym package from the debian-debug archive, libc6-dbg for "
			       "libc; dpkg -S FILE names the package) or start profd with DEBUGINFOD_URLS set "
			       "(e.g. https://debuginfod.debian.net)");
	return err ? err : 1;
}

/* Adds pprof_symbols_note() of the mappings the profile's locations use as its last comment;
 * note holds the text until the profile is packed. Returns 0 or -errno. */
static int add_symbols_note(struct builder *b, struct layout *l, Perftools__Profiles__Profile *p, struct buf *note)
{
	const struct sym_mapping **used;
	size_t n = 0;
	int64_t c;
	int r;

	used = calloc_n(b->nmaps, sizeof(*used));
	if (!used)
		return -ENOMEM;
	for (size_t i = 0; i < b->nmaps; i++)
		if (b->maps[i].has_locations && b->maps[i].m->lacks_symbols)
			used[n++] = b->maps[i].m;
	r = pprof_symbols_note(used, n, note);
	free(used);
	if (r <= 0)
		return r;
	c = str_intern(b, note->data);
	if (c < 0)
		return (int)c;
	l->comments[p->n_comment++] = c;
	return 0;
}

/* gzip (RFC 1952 header, fast level, as Go's runtime writes profiles) of data onto out. */
static int gzip_append(const uint8_t *data, size_t len, struct buf *out)
{
	uint8_t chunk[16384];
	z_stream zs;
	int err = 0, zerr;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	zs.next_in = (uint8_t *)data;
	zs.avail_in = 0;
	do {
		if (zs.avail_in == 0 && len) {
			uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

			zs.next_in = (uint8_t *)data;
			zs.avail_in = n;
			data += n;
			len -= n;
		}
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zerr = deflate(&zs, len ? Z_NO_FLUSH : Z_FINISH);
		if (zerr == Z_STREAM_ERROR) {
			err = -EIO;
			goto cleanup;
		}
		err = buf_append(out, chunk, sizeof(chunk) - zs.avail_out);
		if (err)
			goto cleanup;
	} while (zerr != Z_STREAM_END);
cleanup:
	deflateEnd(&zs);
	return err;
}

/* The one-process resolver: every sample is the symbolizer's process. */
static struct symbolizer *one_symbolizer(void *ctx, int64_t pid)
{
	return ctx;
}

int pprof_encode(const struct profd_sample_set *set, struct symbolizer *sym, struct buf *out)
{
	struct pprof_symbols syms = { .get = one_symbolizer, .ctx = sym };

	return pprof_encode_procs(set, &syms, out);
}

int pprof_encode_procs(const struct profd_sample_set *set, const struct pprof_symbols *syms, struct buf *out)
{
	Perftools__Profiles__Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
	struct builder b = { .syms = syms };
	struct buf note = { 0 };
	struct layout l;
	uint8_t *packed = NULL;
	size_t packed_len, nlabels = 0, out_len = out ? out->len : 0;
	int64_t frames;
	int err;

	memset(&l, 0, sizeof(l));
	if (!out)
		return -EINVAL;
	frames = set_check(set);
	if (frames < 0)
		return (int)frames;
	for (size_t i = 0; i < set->nsamples; i++)
		nlabels += set->samples[i].nlabels;
	err = -ENOMEM;
	l.samples = calloc_n(set->nsamples, sizeof(*l.samples));
	l.samplep = calloc_n(set->nsamples, sizeof(*l.samplep));
	l.loc_ids = calloc_n((size_t)frames, sizeof(*l.loc_ids));
	l.values = calloc_n(set->nsamples * (size_t)set->nvalues, sizeof(*l.values));
	l.labels = calloc_n(nlabels, sizeof(*l.labels));
	l.labelp = calloc_n(nlabels, sizeof(*l.labelp));
	if (!l.samples || !l.samplep || !l.loc_ids || !l.values || !l.labels || !l.labelp)
		goto cleanup;
	/* string_table[0] must be "" (pprof rejects the profile otherwise) */
	err = grow((void **)&b.strs, &b.astrs, 0, sizeof(*b.strs));
	if (err)
		goto cleanup;
	b.strs[b.nstrs++] = "";
	err = builder_start(&b, set);
	if (err)
		goto cleanup;
	err = build_samples(&b, set, &l, &p);
	if (err)
		goto cleanup;
	err = build_tables(&b, &l, &p);
	if (err)
		goto cleanup;
	err = add_symbols_note(&b, &l, &p, &note);
	if (err)
		goto cleanup;
	p.n_string_table = b.nstrs;
	p.string_table = (char **)b.strs;
	/* exactly one non-zero time_nanos: a zero one would read as "no time" */
	p.time_nanos = set->time_nanos > 0 ? set->time_nanos : profd_now_nanos();
	p.duration_nanos = set->duration_nanos > 0 ? set->duration_nanos : 0;
	packed_len = perftools__profiles__profile__get_packed_size(&p);
	if (packed_len > PPROF_MAX_PROTO) {
		err = -E2BIG;
		goto cleanup;
	}
	packed = malloc(packed_len ? packed_len : 1);
	if (!packed) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (perftools__profiles__profile__pack(&p, packed) != packed_len) {
		err = -EIO;
		goto cleanup;
	}
	err = gzip_append(packed, packed_len, out);
cleanup:
	if (err && out->len != out_len) {
		out->len = out_len; /* leave the buffer as it was */
		out->data[out_len] = '\0';
	}
	free(packed);
	layout_release(&l);
	buf_free(&note);
	builder_release(&b);
	return err;
}

/* ---- debug=1 text of count profiles (pprof-compat.md 2.1-2.3) ---- */

/* One "#" frame line as tabwriter cells; the last cell is the trailing text (not a column).
 * A cell is a borrowed string plus a short formatted suffix ("+0x1a", ":42"). */
struct text_cell {
	const char *s;
	char suffix[24];
};

struct text_line {
	int ncells; /* tab-terminated cells; the trailing text is cells[ncells] */
	struct text_cell cells[4];
	char addr[24];
};

static size_t text_width(const struct text_cell *c)
{
	size_t w = strlen(c->suffix);

	for (const char *s = c->s; s && *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80; /* runes, as Go's tabwriter counts */
	return w;
}

static int write_padding(struct buf *out, size_t textw, size_t cellw)
{
	/* padchar '\t', tabwidth 8: cell width rounded up to a tab stop, filled with tabs */
	size_t n;
	int err;

	cellw = (cellw + 7) / 8 * 8;
	n = (cellw - textw + 7) / 8;
	for (size_t i = 0; i < n; i++)
		if ((err = buf_putc(out, '\t')))
			return err;
	return 0;
}

static int text_line_write(struct buf *out, const struct text_line *tl, const size_t *widths, int nwidths)
{
	int err = 0;

	for (int c = 0; c <= tl->ncells; c++) {
		const struct text_cell *cell = &tl->cells[c];

		if ((err = buf_puts(out, cell->s ? cell->s : "")) || (err = buf_puts(out, cell->suffix)))
			return err;
		if (c == tl->ncells)
			break;
		if (c < nwidths)
			err = write_padding(out, text_width(cell), widths[c]);
		else
			err = buf_putc(out, '\t');
		if (err)
			return err;
	}
	return buf_putc(out, '\n');
}

/* Go's text/tabwriter format(): a column block is a run of lines that all have a cell in that
 * column; its width is the widest cell + 1 padding. Recursion depth <= 3 (cells per line). */
static int tab_format(struct buf *out, const struct text_line *lines, int l0, int l1, size_t *widths,
		      int col)
{
	int err;

	for (int i = l0; i < l1; i++) {
		size_t width = 1;

		if (col >= lines[i].ncells)
			continue;
		for (int k = l0; k < i; k++)
			if ((err = text_line_write(out, &lines[k], widths, col)))
				return err;
		l0 = i;
		for (; i < l1 && col < lines[i].ncells; i++) {
			size_t w = text_width(&lines[i].cells[col]) + 1;

			width = w > width ? w : width;
		}
		widths[col] = width;
		if ((err = tab_format(out, lines, l0, i, widths, col + 1)))
			return err;
		l0 = i;
		i--;
	}
	for (int k = l0; k < l1; k++)
		if ((err = text_line_write(out, &lines[k], widths, col)))
			return err;
	return 0;
}

/* Appends Go's %q of s (the subset of escapes that label keys and values need). */
static int quote(struct buf *out, const char *s)
{
	int err = buf_putc(out, '"');

	for (; !err && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			err = buf_printf(out, "\\%c", c);
		else if (c == '\n')
			err = buf_puts(out, "\\n");
		else if (c == '\t')
			err = buf_puts(out, "\\t");
		else if (c == '\r')
			err = buf_puts(out, "\\r");
		else if (c < 0x20 || c == 0x7f)
			err = buf_printf(out, "\\x%02x", c);
		else
			err = buf_putc(out, (char)c);
	}
	return err ? err : buf_putc(out, '"');
}

static int label_cmp(const void *a, const void *b)
{
	const struct profd_label *x = *(const struct profd_label *const *)a;
	const struct profd_label *y = *(const struct profd_label *const *)b;

	return strcmp(x->key, y->key);
}

/* Go's record key: "@ 0x.. 0x.." then "\n# labels: {...}" for string labels; the sort key. */
static int record_key(const struct profd_sample *s, struct buf *out)
{
	const struct profd_label *sorted[PROFD_MAX_LABELS];
	int n = 0, err;

	if ((err = buf_putc(out, '@')))
		return err;
	for (uint32_t i = 0; i < s->nframes; i++)
		if ((err = buf_printf(out, " 0x%llx", (unsigned long long)s->pcs[i])))
			return err;
	for (uint32_t i = 0; i < s->nlabels; i++)
		if (s->labels[i].str)
			sorted[n++] = &s->labels[i];
	if (!n)
		return 0;
	qsort(sorted, (size_t)n, sizeof(*sorted), label_cmp);
	if ((err = buf_puts(out, "\n# labels: {")))
		return err;
	for (int i = 0; i < n; i++) {
		if ((i && (err = buf_puts(out, ", "))) || (err = quote(out, sorted[i]->key)) ||
		    (err = buf_putc(out, ':')) || (err = quote(out, sorted[i]->str)))
			return err;
	}
	return buf_putc(out, '}');
}

struct text_record {
	int64_t count;
	size_t sample;
	size_t key_off; /* into the keys buffer */
};

static int text_record_cmp(const void *a, const void *b, void *arg)
{
	const struct text_record *x = a, *y = b;
	const char *keys = arg;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(keys + x->key_off, keys + y->key_off);
}

static struct text_line *text_line_add(struct text_line *lines, int *n, uint64_t addr)
{
	struct text_line *tl = &lines[(*n)++];

	memset(tl, 0, sizeof(*tl));
	snprintf(tl->addr, sizeof(tl->addr), "0x%llx", (unsigned long long)addr);
	tl->cells[0].s = "#";
	tl->cells[1].s = tl->addr;
	tl->ncells = 1; /* "#\t0x..." until a function is known */
	return tl;
}

/* The "#" lines of one stack: each pc at pc - 1, inlined frames expanded callee first; an
 * unknown function prints the address alone. Symbolization goes through the builder's location
 * table, so each distinct pc is looked up once per profile however many stacks share it. */
static int write_frames(const struct profd_sample *s, struct builder *b, struct buf *out)
{
	struct text_line *lines;
	size_t widths[4] = { 0 };
	int n = 0, err = 0;

	lines = calloc((size_t)s->nframes * PPROF_MAX_TEXT_FRAMES + 1, sizeof(*lines));
	if (!lines)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nframes; i++) {
		uint64_t addr = s->pcs[i] ? s->pcs[i] - 1 : 0;
		int64_t id = loc_intern(b, sample_pid(s), s->pcs[i]);
		const struct loc_rec *loc;
		uint32_t nl;

		if (id < 0) {
			err = (int)id;
			goto cleanup;
		}
		loc = &b->locs[id - 1];
		nl = loc->nlines < PPROF_MAX_TEXT_FRAMES ? loc->nlines : PPROF_MAX_TEXT_FRAMES;
		for (uint32_t k = 0; k < nl; k++) {
			const struct line_rec *lr = &b->lines[loc->first_line + k];
			const struct func_rec *fr = &b->funcs[lr->func];
			struct text_line *tl = text_line_add(lines, &n, addr);

			tl->cells[2].s = b->strs[fr->name];
			if (lr->func_start && lr->func_start <= addr)
				snprintf(tl->cells[2].suffix, sizeof(tl->cells[2].suffix), "+0x%llx",
					 (unsigned long long)(addr - lr->func_start));
			tl->ncells = 2;
			if (fr->filename) { /* "#\taddr\tfunc+off\tfile:line" */
				tl->cells[3].s = b->strs[fr->filename];
				snprintf(tl->cells[3].suffix, sizeof(tl->cells[3].suffix), ":%lld",
					 (long long)lr->line);
				tl->ncells = 3;
			}
		}
		if (!nl)
			text_line_add(lines, &n, addr);
	}
	if (s->nframes == 0) /* Go 1.19 prints an empty stack as "#\t0x0" */
		text_line_add(lines, &n, 0);
	err = tab_format(out, lines, 0, n, widths, 0);
cleanup:
	free(lines);
	return err;
}

int pprof_write_count_text(const char *name, struct profd_sample_set *set, struct symbolizer *sym,
			   struct buf *out)
{
	struct pprof_symbols syms = { .get = one_symbolizer, .ctx = sym };

	return pprof_write_count_text_procs(name, set, &syms, out);
}

/* Go's two debug=1 shapes over one loop: count profiles (contention = false) and contention
 * profiles (values[0] contentions, values[1] delay ns, each divided by period when > 1). */
static int write_text(const char *name, bool contention, int64_t period, struct profd_sample_set *set,
		      const struct pprof_symbols *syms, struct buf *out)
{
	struct text_record *recs = NULL;
	struct builder b = { .syms = syms };
	struct buf keys;
	int64_t total = 0, frames;
	size_t out_len = out ? out->len : 0;
	int err;

	if (!name || !out)
		return -EINVAL;
	frames = set_check(set);
	if (frames < 0)
		return (int)frames;
	buf_init(&keys, 0);
	recs = calloc_n(set->nsamples, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	err = grow((void **)&b.strs, &b.astrs, 0, sizeof(*b.strs));
	if (err)
		goto cleanup;
	b.strs[b.nstrs++] = "";
	err = builder_start(&b, set);
	if (err)
		goto cleanup;
	if (contention && set->nvalues < 2) {
		err = -EINVAL;
		goto cleanup;
	}
	for (size_t i = 0; i < set->nsamples; i++) {
		recs[i].count = set->samples[i].values[contention ? 1 : 0];
		recs[i].sample = i;
		recs[i].key_off = keys.len;
		total += set->samples[i].values[0];
		if ((err = record_key(&set->samples[i], &keys)) || (err = buf_putc(&keys, '\0')))
			goto cleanup;
	}
	/* by count descending, then by the key text, as Go's printCountProfile sorts */
	if (set->nsamples > 1)
		qsort_r(recs, set->nsamples, sizeof(*recs), text_record_cmp, keys.data);
	if (!contention)
		err = buf_printf(out, "%s profile: total %lld\n", name, (long long)total);
	else if (!(err = buf_printf(out, "--- %s:\ncycles/second=1000000000\n", name)) && period > 0)
		err = buf_printf(out, "sampling period=%lld\n", (long long)period);
	if (err)
		goto cleanup;
	for (size_t i = 0; i < set->nsamples; i++) {
		const struct profd_sample *s = &set->samples[recs[i].sample];
		int64_t div = contention && period > 1 ? period : 1;

		if (contention)
			err = buf_printf(out, "%lld %lld %s\n", (long long)(s->values[1] / div),
					 (long long)(s->values[0] / div), keys.data + recs[i].key_off);
		else
			err = buf_printf(out, "%lld %s\n", (long long)recs[i].count, keys.data + recs[i].key_off);
		if (err ||
		    (err = write_frames(&set->samples[recs[i].sample], &b, out)) ||
		    (err = buf_putc(out, '\n')))
			goto cleanup;
	}
cleanup:
	if (err && out->len != out_len) {
		out->len = out_len; /* leave the buffer as it was */
		out->data[out_len] = '\0';
	}
	buf_free(&keys);
	builder_release(&b);
	free(recs);
	return err;
}

int pprof_write_count_text_procs(const char *name, struct profd_sample_set *set, const struct pprof_symbols *syms,
				 struct buf *out)
{
	return write_text(name, false, 0, set, syms, out);
}

int pprof_write_contention_text_procs(const char *name, int64_t period, struct profd_sample_set *set,
				      const struct pprof_symbols *syms, struct buf *out)
{
	return write_text(name, true, period, set, syms, out);
}

/* ---- the CPU top list (debug=1 of /debug/pprof/profile) ---- */

#define TOP_MAX_FUNCS 65536
#define TOP_MAX_LINES 100

struct top_func {
	char *name;
	int64_t flat, cum;
	size_t stamp; /* last sample that counted this function in cum, + 1 */
};

struct top_table {
	struct top_func *funcs;
	size_t n, alloc;
	size_t *index; /* open addressing over funcs, (size_t)-1 = empty */
	size_t index_size;
};

static int top_grow_index(struct top_table *tt)
{
	size_t size = tt->index_size ? tt->index_size * 2 : 1024;
	size_t *idx = malloc(size * sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	memset(idx, 0xff, size * sizeof(*idx));
	for (size_t i = 0; i < tt->n; i++) {
		size_t slot = hash_str(tt->funcs[i].name) & (size - 1);

		while (idx[slot] != (size_t)-1)
			slot = (slot + 1) & (size - 1);
		idx[slot] = i;
	}
	free(tt->index);
	tt->index = idx;
	tt->index_size = size;
	return 0;
}

/* Returns the function's slot, or -errno. Beyond TOP_MAX_FUNCS, names are lumped into one. */
static long top_func(struct top_table *tt, const char *name)
{
	size_t slot;

	if (tt->n >= TOP_MAX_FUNCS)
		name = "(other functions)";
	if (tt->n * 2 >= tt->index_size && top_grow_index(tt))
		return -ENOMEM;
	slot = hash_str(name) & (tt->index_size - 1);
	while (tt->index[slot] != (size_t)-1) {
		if (!strcmp(tt->funcs[tt->index[slot]].name, name))
			return (long)tt->index[slot];
		slot = (slot + 1) & (tt->index_size - 1);
	}
	if (tt->n == tt->alloc) {
		size_t na = tt->alloc ? tt->alloc * 2 : 256;
		struct top_func *f = realloc(tt->funcs, na * sizeof(*f));

		if (!f)
			return -ENOMEM;
		tt->funcs = f;
		tt->alloc = na;
	}
	tt->funcs[tt->n] = (struct top_func){ .name = strdup(name) };
	if (!tt->funcs[tt->n].name)
		return -ENOMEM;
	tt->index[slot] = tt->n;
	return (long)tt->n++;
}

static int cmp_top(const void *a, const void *b)
{
	const struct top_func *x = a, *y = b;

	if (x->flat != y->flat)
		return x->flat < y->flat ? 1 : -1;
	if (x->cum != y->cum)
		return x->cum < y->cum ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void put_seconds(struct buf *out, int64_t ns)
{
	buf_printf(out, "%9.2fs", (double)ns / 1e9);
}

int pprof_write_top(const struct profd_sample_set *set, struct symbolizer *sym, struct buf *out)
{
	struct pprof_symbols syms = { .get = one_symbolizer, .ctx = sym };

	return pprof_write_top_procs(set, &syms, out);
}

int pprof_write_top_procs(const struct profd_sample_set *set, const struct pprof_symbols *syms, struct buf *out)
{
	struct top_table tt = { 0 };
	int64_t total = 0, sum = 0, count = 0;
	int vi = set->nvalues > 1 ? 1 : 0;
	int err = 0;

	for (size_t s = 0; s < set->nsamples; s++) {
		const struct profd_sample *smp = &set->samples[s];
		int64_t v = smp->values[vi];

		total += v;
		count += smp->values[0];
		struct symbolizer *sym = syms && syms->get ? syms->get(syms->ctx, sample_pid(smp)) : NULL;

		for (uint32_t f = 0; f < smp->nframes; f++) {
			struct sym_result r = { 0 };
			char unknown[32];
			int nnames;

			if (!sym || symbolizer__lookup(sym, smp->pcs[f] - 1, &r) || r.nframes == 0) {
				r.nframes = 0;
				snprintf(unknown, sizeof(unknown), "0x%" PRIx64, smp->pcs[f] - 1);
			}
			nnames = r.nframes ? r.nframes : 1;
			for (int k = 0; k < nnames; k++) {
				const char *name = r.nframes ? r.frames[k].name : unknown;
				long id;

				if (!name)
					name = r.frames[k].system_name ? r.frames[k].system_name : "(unknown)";
				id = top_func(&tt, name);
				if (id < 0) {
					err = (int)id;
					goto cleanup;
				}
				/* flat: the innermost function of the leaf; cum: once per sample */
				if (f == 0 && k == 0)
					tt.funcs[id].flat += v;
				if (tt.funcs[id].stamp != s + 1) {
					tt.funcs[id].stamp = s + 1;
					tt.funcs[id].cum += v;
				}
			}
		}
	}
	if (tt.n)
		qsort(tt.funcs, tt.n, sizeof(*tt.funcs), cmp_top);
	buf_printf(out, "cpu profile: %" PRId64 " samples, %.2fs of CPU in %.2fs (period %.3f ms)\n", count,
		   (double)total / 1e9, (double)set->duration_nanos / 1e9, (double)set->period / 1e6);
	for (int i = 0; i < set->ncomments; i++)
		buf_printf(out, "# %s\n", set->comments[i]);
	buf_printf(out, "%10s %7s %7s %10s %7s  %s\n", "flat", "flat%", "sum%", "cum", "cum%", "function");
	for (size_t i = 0; i < tt.n && i < TOP_MAX_LINES; i++) {
		const struct top_func *f = &tt.funcs[i];
		double pct = total ? 100.0 / (double)total : 0;

		sum += f->flat;
		put_seconds(out, f->flat);
		buf_printf(out, " %6.2f%% %6.2f%% ", (double)f->flat * pct, (double)sum * pct);
		put_seconds(out, f->cum);
		err = buf_printf(out, " %6.2f%%  %s\n", (double)f->cum * pct, f->name);
		if (err)
			goto cleanup;
	}
	if (tt.n > TOP_MAX_LINES)
		err = buf_printf(out, "(%zu more functions; use go tool pprof on ?debug=0 for all of them)\n",
				 tt.n - TOP_MAX_LINES);

cleanup:
	for (size_t i = 0; i < tt.n; i++)
		free(tt.funcs[i].name);
	free(tt.funcs);
	free(tt.index);
	return err < 0 ? err : 0;
}

int pprof_write_legacy_frames(const uint64_t *pcs, uint32_t n, struct symbolizer *sym, struct buf *out)
{
	int r = 0;

	for (uint32_t f = 0; f < n && r >= 0; f++) {
		struct sym_result res;
		uint64_t addr = pcs[f] - 1;

		if (!sym || symbolizer__lookup(sym, addr, &res) < 0 || res.nframes == 0) {
			r = buf_printf(out, "#\t%#llx\n", (unsigned long long)addr);
			continue;
		}
		for (int k = 0; k < res.nframes && r >= 0; k++) {
			const struct sym_frame *fr = &res.frames[k];

			r = buf_printf(out, "#\t%#llx\t%s+%#llx\t%s:%d\n", (unsigned long long)addr,
				       fr->name ? fr->name : "?",
				       (unsigned long long)(fr->func_start && addr >= fr->func_start ? addr - fr->func_start : 0),
				       fr->file ? fr->file : "?", fr->line);
		}
	}
	return r < 0 ? r : 0;
}
