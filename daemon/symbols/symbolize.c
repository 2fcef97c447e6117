// SPDX-License-Identifier: MIT
/* The per-process side of symbolization: which executable mappings the target has (from
 * /proc/PID/maps, files opened through map_files so deleted or containerized binaries work), the
 * module (symmod.c) behind each, and the translation from a runtime address to a file address.
 * The vDSO is read from the target's memory, kernel addresses come from /proc/kallsyms, JIT
 * code is named from the perf map the runtime writes (perfmap.c), /tmp/perf-PID.map as the
 * target sees it (its root, its PID namespace), read again at each refresh as it grows.
 * All public calls serialize on the symbol cache's lock (libdw is not thread-safe). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/log.h"
#include "proc/procmaps.h"
#include "proc/proctext.h"
#include "proc/target.h"
#include "symbols/kallsyms.h"
#include "symbols/perfmap.h"
#include "symbols/symbolize.h"
#include "symbols/symmod.h"

/* Bounds: executable mappings per target, modules a symbolizer keeps referenced. */
#define SYM_MAX_MAPPINGS 65536
#define SYM_MAX_JIT_MAPPINGS 1024 /* anonymous executable mappings listed; more go unlisted */
#define SYM_JIT_NAME "[jit]" /* what pprof shows for anonymous executable memory */
#define SYM_MAX_PINNED 4096
#define KERNEL_MIN_ADDR 0xffff800000000000ull
/* Results by address: profiles ask about the same hot pcs again and again. Direct mapped, a
 * colliding address replaces the older entry; it starts small and grows by four once half as
 * many addresses as it has slots went in, so that a process sampled at a few pcs (one of 200
 * workers) costs a few KiB. */
#define RESULT_CACHE_MIN 256
#define RESULT_CACHE_SLOTS 65536
/* Mapping lists replaced by a refresh are kept this many refreshes longer, so that a profile
 * being built on another thread while a request refreshes does not lose its mapping pointers. */
#define RETIRED_GENERATIONS 16

struct cached_result {
	uint64_t addr;
	int mapping;              /* index into maps, -1 for none */
	int nframes;
	struct sym_frame frames[]; /* nframes */
};

struct map_priv {
	struct symmod *mod;     /* NULL when the file could not be read */
	int64_t file_adj;       /* file address = addr - start + offset + file_adj */
	bool adj_ok;
	bool flags_done;
	uint64_t inode;         /* identity, to reuse modules across refreshes */
	uint32_t dev_major, dev_minor;
};

struct symbolizer {
	pid_t pid;
	unsigned long long start_time;
	struct sym_mapping *maps;  /* main executable first; one spare slot for [kernel] */
	struct map_priv *priv;     /* parallel to maps */
	int n;                     /* process mappings */
	int nkernel;               /* 1 once the [kernel] slot is in use */
	int *by_addr;              /* indexes into maps, sorted by start */
	struct symmod **pinned;    /* every module whose strings we may have handed out */
	int npinned, pinned_cap;
	struct kallsyms *ks;
	int ks_err;                /* 0 not tried, <0 failed (retried at refresh) */
	struct perfmap *jit;       /* JIT code names, NULL until a perf map was found */
	struct cached_result **results; /* nslots, NULL until the first result or when disabled */
	size_t nslots, nstored;    /* nstored: put since the table last grew */
	bool no_result_cache;
	struct {
		struct sym_mapping *maps;
		struct map_priv *priv;
		int n;
	} retired[RETIRED_GENERATIONS]; /* ring of replaced mapping lists, oldest freed first */
	int retired_next;
};

static void results_flush(struct symbolizer *sym)
{
	if (!sym->results)
		return;
	for (size_t i = 0; i < sym->nslots; i++) {
		free(sym->results[i]);
		sym->results[i] = NULL;
	}
	sym->nstored = 0;
}

static size_t result_slot(uint64_t addr, size_t nslots)
{
	return (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 32) & (nslots - 1);
}

/* A table four times larger (or the first one), the entries moved over. false: keep the old. */
static bool results_grow(struct symbolizer *sym)
{
	size_t n = sym->results ? sym->nslots * 4 : RESULT_CACHE_MIN;
	struct cached_result **t;

	if (n > RESULT_CACHE_SLOTS || !(t = calloc(n, sizeof(*t))))
		return sym->results != NULL;
	for (size_t i = 0; i < sym->nslots; i++) {
		struct cached_result *c = sym->results[i];

		if (!c)
			continue;
		free(t[result_slot(c->addr, n)]); /* two old entries on one new slot: the later stays */
		t[result_slot(c->addr, n)] = c;
	}
	free(sym->results);
	sym->results = t;
	sym->nslots = n;
	sym->nstored = 0;
	return true;
}

static bool results_get(struct symbolizer *sym, uint64_t addr, struct sym_result *ret)
{
	const struct cached_result *c;

	if (!sym->results || !(c = sym->results[result_slot(addr, sym->nslots)]) || c->addr != addr)
		return false;
	ret->nframes = c->nframes;
	memcpy(ret->frames, c->frames, c->nframes * sizeof(c->frames[0]));
	ret->mapping = c->mapping >= 0 ? &sym->maps[c->mapping] : NULL;
	return true;
}

static void results_put(struct symbolizer *sym, uint64_t addr, const struct sym_result *r)
{
	struct cached_result *c;
	size_t slot;

	if (sym->no_result_cache)
		return;
	if ((!sym->results || (sym->nstored >= sym->nslots / 2 && sym->nslots < RESULT_CACHE_SLOTS)) &&
	    !results_grow(sym))
		return;
	slot = result_slot(addr, sym->nslots);
	sym->nstored++;
	c = malloc(sizeof(*c) + r->nframes * sizeof(r->frames[0]));
	if (!c)
		return;
	c->addr = addr;
	c->mapping = r->mapping ? (int)(r->mapping - sym->maps) : -1;
	c->nframes = r->nframes;
	memcpy(c->frames, r->frames, r->nframes * sizeof(r->frames[0]));
	free(sym->results[slot]);
	sym->results[slot] = c;
}

void symbolizer__set_result_cache(struct symbolizer *sym, bool on)
{
	symcache_lock();
	sym->no_result_cache = !on;
	results_flush(sym);
	symcache_unlock();
}

static struct kallsyms *shared_ks; /* one parsed kallsyms for all symbolizers */

static int read_start_time(pid_t pid, unsigned long long *ret)
{
	char path[64], buf[1024], state;
	uint64_t start;
	ssize_t n;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = proc_read_file(path, buf, sizeof(buf));
	if (n <= 0)
		return n == 0 ? -ESRCH : (int)n;
	err = proctext_stat(buf, &state, NULL, &start);
	if (!err)
		*ret = start;
	return err;
}

static void mappings_free(struct sym_mapping *maps, struct map_priv *priv, int n)
{
	for (int i = 0; i < n; i++) {
		free((char *)maps[i].filename);
		free((char *)maps[i].build_id);
	}
	free(maps);
	free(priv);
}

void symbolizer__free(struct symbolizer *sym)
{
	if (!sym)
		return;
	symcache_lock();
	results_flush(sym);
	free(sym->results);
	mappings_free(sym->maps, sym->priv, sym->n + sym->nkernel);
	for (int i = 0; i < RETIRED_GENERATIONS; i++)
		mappings_free(sym->retired[i].maps, sym->retired[i].priv, sym->retired[i].n);
	free(sym->by_addr);
	perfmap__free(sym->jit);
	for (int i = 0; i < sym->npinned; i++)
		symmod__put(sym->pinned[i]);
	free(sym->pinned);
	kallsyms__put(sym->ks);
	symcache_unlock();
	free(sym);
}

struct symbolizer *symbolizer__new(pid_t pid)
{
	struct symbolizer *sym;
	int err;

	sym = calloc(1, sizeof(*sym));
	if (!sym) {
		errno = ENOMEM;
		return NULL;
	}
	sym->pid = pid;
	err = read_start_time(pid, &sym->start_time);
	if (!err) {
		err = symbolizer__refresh(sym);
	}
	if (err) {
		symbolizer__free(sym);
		errno = -err;
		return NULL;
	}
	return sym;
}

/* Keeps m referenced for the symbolizer's lifetime (strings handed out point into it). Takes
 * over the caller's reference. false when the pin table is full (the reference is dropped). */
static bool pin(struct symbolizer *sym, struct symmod *m)
{
	for (int i = 0; i < sym->npinned; i++) {
		if (sym->pinned[i] == m) {
			symmod__put(m);
			return true;
		}
	}
	if (sym->npinned == sym->pinned_cap) {
		int cap = sym->pinned_cap ? sym->pinned_cap * 2 : 16;
		struct symmod **v = cap <= SYM_MAX_PINNED ? realloc(sym->pinned, (size_t)cap * sizeof(*v)) : NULL;

		if (!v) {
			symmod__put(m);
			return false;
		}
		sym->pinned = v;
		sym->pinned_cap = cap;
	}
	sym->pinned[sym->npinned++] = m;
	return true;
}

/* The vDSO's image, copied out of the target's memory. */
static int vdso_module(pid_t pid, const struct procmaps_entry *e, struct symmod **ret)
{
	size_t size = e->end - e->start;
	char path[64];
	void *image;
	ssize_t n;
	int fd;

	if (size > SYMMOD_MAX_IMAGE)
		return -E2BIG;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)proc_live_pid(pid));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	image = malloc(size);
	if (!image) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, image, size, (off_t)e->start);
	close(fd);
	if (n != (ssize_t)size) {
		free(image);
		return n < 0 ? -errno : -EIO;
	}
	return symmod_get_image(image, size, "[vdso]", ret);
}

/* Where profd finds the target's files: through /proc/PID/root when the target has its own
 * root (a container), so that .gnu_debuglink files next to the binary are found too. */
static void file_path(pid_t pid, const char *path, char *buf, size_t len)
{
	struct stat ours, theirs;
	char root[64];

	snprintf(root, sizeof(root), "/proc/%d/root", (int)proc_live_pid(pid));
	if (stat("/", &ours) == 0 && stat(root, &theirs) == 0 && ours.st_dev == theirs.st_dev &&
	    ours.st_ino == theirs.st_ino)
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "%s%s", root, path);
}

static int file_module(struct symbolizer *sym, const struct procmaps_entry *e, struct symmod **ret)
{
	char path[4200];
	int fd;

	/* the same file mapped before (earlier refresh, other segment): reuse its module */
	for (int i = 0; i < sym->n; i++) {
		struct map_priv *p = &sym->priv[i];

		if (p->mod && p->inode == e->inode && p->dev_major == e->dev_major && p->dev_minor == e->dev_minor &&
		    !strcmp(sym->maps[i].filename, e->path)) {
			*ret = symmod__ref(p->mod);
			return 0;
		}
	}
	fd = procmaps_open_file(sym->pid, e);
	if (fd < 0)
		return fd;
	file_path(sym->pid, e->path, path, sizeof(path));
	return symmod_get_fd(fd, path, ret);
}

/* Opens the target's perf map, /tmp/perf-NSPID.map in its own root and PID namespace. The
 * target chose what that path is: it is resolved as if the target's root were "/" (openat2
 * RESOLVE_IN_ROOT: no symlink leads out of it), the file itself must not be a symlink, must be
 * a regular file and belong to the target's effective user or to root, as perf asks. Returns
 * the fd, or -errno (-ENOENT: none; -EPERM: someone else's file). */
static int jit_open(pid_t live, const char *status, pid_t nspid)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	char path[64];
	long euid = proctext_status_euid(status);
	struct stat st;
	int root, fd, err;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)live);
	root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	snprintf(path, sizeof(path), "tmp/perf-%d.map", (int)nspid);
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	err = fd < 0 ? -errno : 0;
	close(root);
	if (fd < 0)
		return err == -ENOSYS ? -ENOENT : err; /* a kernel before 5.6: no safe way, no names */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && (euid < 0 || st.st_uid != (uid_t)euid))) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Reads the target's perf map (JIT code names) again if it grew. Under symcache_lock. A target
 * without one costs a failed open. */
static void jit_refresh(struct symbolizer *sym)
{
	char path[64], status[4096];
	pid_t live = proc_live_pid(sym->pid), nspid;
	int fd, rc;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)live);
	if (proc_read_file(path, status, sizeof(status)) <= 0)
		return;
	nspid = proctext_status_nspid(status);
	if (nspid <= 0)
		nspid = sym->pid; /* a kernel without NSpid: no PID namespaces to translate */
	fd = jit_open(live, status, nspid);
	if (fd < 0) {
		if (fd != -ENOENT)
			log_debug("symbolize: pid %d: perf map /tmp/perf-%d.map not read: %s", (int)sym->pid,
				  (int)nspid, strerror(-fd));
		return;
	}
	if (!sym->jit)
		sym->jit = perfmap__new();
	rc = sym->jit ? perfmap__read_fd(sym->jit, fd) : -ENOMEM;
	close(fd);
	if (rc > 0)
		results_flush(sym); /* addresses named before may have new code and names */
	else if (rc < 0)
		log_debug("symbolize: pid %d: cannot read /tmp/perf-%d.map: %s", (int)sym->pid, (int)nspid,
			  strerror(-rc));
}

static bool is_main(const struct procmaps_entry *e, const struct stat *exe)
{
	return exe && e->inode == exe->st_ino && e->dev_major == major(exe->st_dev) &&
	       e->dev_minor == minor(exe->st_dev);
}

static int cmp_start(const void *a, const void *b, void *arg)
{
	const struct sym_mapping *maps = arg;
	uint64_t x = maps[*(const int *)a].start, y = maps[*(const int *)b].start;

	return x < y ? -1 : x > y;
}

/* Fills one mapping (and its private half) from maps entry e, opening its module. */
/* The name a mapping is listed under: its path, or SYM_JIT_NAME for anonymous executable memory
 * (code a runtime generated: named by its perf map, if any); NULL for what is not listed. */
static const char *listed_name(const struct procmaps_entry *e)
{
	if (!e->exec)
		return NULL;
	return e->path[0] ? e->path : SYM_JIT_NAME;
}

static int mapping_fill(struct symbolizer *sym, struct sym_mapping *m, struct map_priv *p,
			const struct procmaps_entry *e, bool main_exe)
{
	struct symmod *mod = NULL;
	int err = 0;

	m->start = e->start;
	m->limit = e->end;
	m->file_offset = e->offset;
	m->is_main = main_exe;
	m->jit = !e->path[0];
	/* names come from the perf map; the profile keeps the flag only if they all had one */
	m->has_functions = m->jit;
	m->filename = strdup(listed_name(e));
	p->inode = e->inode;
	p->dev_major = e->dev_major;
	p->dev_minor = e->dev_minor;
	if (!m->filename)
		return -ENOMEM;
	if (procmaps_entry_is_file(e))
		err = file_module(sym, e, &mod);
	else if (!strcmp(e->path, "[vdso]"))
		err = vdso_module(sym->pid, e, &mod);
	if (err)
		log_debug("symbolize: pid %d: cannot read \"%s\": %s", (int)sym->pid, e->path, strerror(-err));
	if (mod && !pin(sym, mod)) {
		log_debug("symbolize: pid %d: too many modules, \"%s\" left unsymbolized", (int)sym->pid, e->path);
		mod = NULL;
	}
	p->mod = mod; /* the pin holds the reference */
	if (mod)
		p->adj_ok = symmod__offset_to_vaddr(mod, e->offset, &p->file_adj) == 0;
	m->build_id = strdup(mod ? symmod__build_id(mod) : "");
	return m->build_id ? 0 : -ENOMEM;
}

static bool same_entries(const struct symbolizer *sym, const struct procmaps *pm)
{
	int k = 0, njit = 0;

	for (size_t i = 0; i < pm->n; i++) {
		const struct procmaps_entry *e = &pm->entries[i];
		bool found = false;

		if (!listed_name(e) || (!e->path[0] && njit++ >= SYM_MAX_JIT_MAPPINGS))
			continue;
		for (int j = 0; j < sym->n; j++) {
			const struct sym_mapping *m = &sym->maps[j];

			if (m->start == e->start && m->limit == e->end && m->file_offset == e->offset &&
			    sym->priv[j].inode == e->inode && !strcmp(m->filename, listed_name(e))) {
				found = true;
				break;
			}
		}
		if (!found)
			return false;
		k++;
	}
	return k == sym->n;
}

int symbolizer__refresh(struct symbolizer *sym)
{
	struct procmaps pm = { 0 };
	struct sym_mapping *maps = NULL;
	struct map_priv *priv = NULL;
	int *by_addr = NULL;
	unsigned long long start_time;
	char exe_path[64];
	struct stat exe;
	bool have_exe;
	int err, n = 0, nexec = 0;

	err = read_start_time(sym->pid, &start_time);
	if (!err && start_time != sym->start_time)
		err = -ESRCH; /* the pid now belongs to another process */
	if (!err)
		err = procmaps_read(sym->pid, &pm);
	/* no mapping at all: the process is exiting (its memory is released before it is reaped,
	 * an OOM victim's among the first): what was known stays usable, as for one that is gone */
	if (!err && pm.n == 0)
		err = -ESRCH;
	if (err) {
		procmaps_free(&pm);
		return err;
	}
	snprintf(exe_path, sizeof(exe_path), "/proc/%d/exe", (int)proc_live_pid(sym->pid));
	have_exe = stat(exe_path, &exe) == 0;

	symcache_lock();
	if (sym->ks_err < 0)
		sym->ks_err = 0; /* kallsyms may have become readable */
	jit_refresh(sym);
	if (sym->maps && same_entries(sym, &pm)) {
		err = 0;
		goto cleanup;
	}
	for (size_t i = 0; i < pm.n; i++)
		if (listed_name(&pm.entries[i]))
			nexec++;
	if (nexec > SYM_MAX_MAPPINGS) {
		err = -E2BIG;
		goto cleanup;
	}
	maps = calloc(nexec + 1, sizeof(*maps));
	priv = calloc(nexec + 1, sizeof(*priv));
	by_addr = calloc(nexec + 1, sizeof(*by_addr));
	if (!maps || !priv || !by_addr) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* main executable first (pprof-compat 3.5), then the rest in address order */
	for (int pass = 0, njit = 0; pass < 2; pass++) {
		for (size_t i = 0; i < pm.n; i++) {
			const struct procmaps_entry *e = &pm.entries[i];
			bool main_exe;

			if (!listed_name(e))
				continue;
			/* a runtime may map JIT code in many pieces: beyond the bound, addresses there
			 * are still named from the perf map, with no mapping */
			if (!e->path[0] && pass == 1 && njit++ >= SYM_MAX_JIT_MAPPINGS)
				continue;
			main_exe = is_main(e, have_exe ? &exe : NULL);
			if (main_exe != (pass == 0))
				continue;
			err = mapping_fill(sym, &maps[n], &priv[n], e, main_exe);
			n++;
			if (err)
				goto cleanup;
		}
	}
	for (int i = 0; i < n; i++)
		by_addr[i] = i;
	qsort_r(by_addr, n, sizeof(*by_addr), cmp_start, maps);
	/* swap in the new generation; the kernel slot is rebuilt on demand */
	results_flush(sym);
	if (sym->maps) {
		int r = sym->retired_next;

		mappings_free(sym->retired[r].maps, sym->retired[r].priv, sym->retired[r].n);
		sym->retired[r].maps = sym->maps;
		sym->retired[r].priv = sym->priv;
		sym->retired[r].n = sym->n + sym->nkernel;
		sym->retired_next = (r + 1) % RETIRED_GENERATIONS;
	}
	free(sym->by_addr);
	sym->maps = maps;
	sym->priv = priv;
	sym->by_addr = by_addr;
	sym->n = n;
	sym->nkernel = 0;
	maps = NULL;
	priv = NULL;
	by_addr = NULL;
	err = 0;
cleanup:
	symcache_unlock();
	if (maps)
		mappings_free(maps, priv, n);
	else
		free(priv);
	free(by_addr);
	procmaps_free(&pm);
	return err;
}

/* Sets the has_* flags of slot i from its module (loading it). */
static void mapping_flags(struct symbolizer *sym, int i)
{
	struct sym_mapping *m = &sym->maps[i];
	struct map_priv *p = &sym->priv[i];

	if (p->flags_done || !p->mod)
		return;
	p->flags_done = true;
	if (symmod__load(p->mod) == 0 && p->adj_ok) {
		symmod__flags(p->mod, &m->has_functions, &m->has_filenames, &m->has_line_numbers,
			      &m->has_inline_frames);
		m->lacks_symbols = symmod__lacks_symbols(p->mod);
	}
}

static int find_mapping(const struct symbolizer *sym, uint64_t addr)
{
	int lo = 0, hi = sym->n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		const struct sym_mapping *m = &sym->maps[sym->by_addr[mid]];

		if (addr < m->start)
			hi = mid;
		else if (addr >= m->limit)
			lo = mid + 1;
		else
			return sym->by_addr[mid];
	}
	return -1;
}

/* A name from the perf map for addr (JIT code); leaves ret alone when it has none. */
static void jit_lookup(struct symbolizer *sym, uint64_t addr, struct sym_result *ret)
{
	uint64_t start = 0;
	const char *name = perfmap__lookup(sym->jit, addr, &start);

	if (!name)
		return;
	memset(&ret->frames[0], 0, sizeof(ret->frames[0]));
	ret->frames[0].name = name;
	ret->frames[0].system_name = name;
	ret->frames[0].func_start = start;
	ret->nframes = 1;
}

static int kernel_lookup(struct symbolizer *sym, uint64_t addr, struct sym_result *ret)
{
	struct sym_mapping *km = &sym->maps[sym->n];
	uint64_t start = 0;
	const char *name;

	if (!sym->ks && sym->ks_err == 0) {
		if (!shared_ks)
			sym->ks_err = kallsyms_load(&shared_ks);
		if (shared_ks)
			sym->ks = kallsyms__get(shared_ks);
	}
	if (!sym->ks)
		return 0;
	if (!sym->nkernel) {
		memset(km, 0, sizeof(*km));
		kallsyms__range(sym->ks, &km->start, &km->limit);
		km->filename = strdup("[kernel]");
		km->build_id = strdup("");
		if (!km->filename || !km->build_id) {
			free((char *)km->filename);
			free((char *)km->build_id);
			return -ENOMEM;
		}
		km->has_functions = true;
		sym->nkernel = 1;
	}
	name = kallsyms__lookup(sym->ks, addr, &start);
	if (addr >= km->start && addr < km->limit)
		ret->mapping = km;
	if (!name)
		return 0;
	memset(&ret->frames[0], 0, sizeof(ret->frames[0]));
	ret->frames[0].name = name;
	ret->frames[0].system_name = name;
	ret->frames[0].func_start = start;
	ret->nframes = 1;
	return 0;
}

/* profd's own steps (frame.h): a name, no mapping, no file. */
static void synthetic_lookup(uint64_t addr, struct sym_result *ret)
{
	static const char *const names[SYM_SYNTHETIC__COUNT] = {
		[SYM_SYNTHETIC_ALLOC_PROBE] = SYM_SYNTHETIC_ALLOC_PROBE_NAME,
		[SYM_SYNTHETIC_BEFORE_ATTACH] = SYM_SYNTHETIC_BEFORE_ATTACH_NAME,
		[SYM_SYNTHETIC_FD_BEFORE_ATTACH] = SYM_SYNTHETIC_FD_BEFORE_ATTACH_NAME,
		[SYM_SYNTHETIC_FD_UNSEEN] = SYM_SYNTHETIC_FD_UNSEEN_NAME,
		[SYM_SYNTHETIC_FD_FILE] = "file",
		[SYM_SYNTHETIC_FD_DIRECTORY] = "directory",
		[SYM_SYNTHETIC_FD_DEVICE] = "device",
		[SYM_SYNTHETIC_FD_SOCKET] = "socket",
		[SYM_SYNTHETIC_FD_PIPE] = "pipe",
		[SYM_SYNTHETIC_FD_EVENTFD] = "anon_inode:[eventfd]",
		[SYM_SYNTHETIC_FD_EPOLL] = "anon_inode:[eventpoll]",
		[SYM_SYNTHETIC_FD_TIMERFD] = "anon_inode:[timerfd]",
		[SYM_SYNTHETIC_FD_SIGNALFD] = "anon_inode:[signalfd]",
		[SYM_SYNTHETIC_FD_INOTIFY] = "anon_inode:inotify",
		[SYM_SYNTHETIC_FD_PIDFD] = "anon_inode:[pidfd]",
		[SYM_SYNTHETIC_FD_BPF] = "anon_inode:bpf",
		[SYM_SYNTHETIC_FD_PERF_EVENT] = "anon_inode:[perf_event]",
		[SYM_SYNTHETIC_FD_ANON] = "anon_inode (other)",
		[SYM_SYNTHETIC_FD_OTHER] = "closed while read",
	};

	memset(&ret->frames[0], 0, sizeof(ret->frames[0]));
	ret->frames[0].name = names[sym_synthetic_kind(addr)];
	ret->frames[0].system_name = ret->frames[0].name;
	ret->frames[0].func_start = addr;
	ret->nframes = 1;
}

int symbolizer__lookup(struct symbolizer *sym, uint64_t addr, struct sym_result *ret)
{
	struct map_priv *p;
	uint64_t vaddr;
	int i, n, err = 0;

	ret->nframes = 0;
	ret->mapping = NULL;
	if (sym_synthetic_kind(addr)) {
		synthetic_lookup(addr, ret);
		return 0;
	}
	symcache_lock();
	if (results_get(sym, addr, ret))
		goto unlock;
	i = find_mapping(sym, addr);
	if (i < 0) {
		if (addr >= KERNEL_MIN_ADDR)
			err = kernel_lookup(sym, addr, ret);
		else
			jit_lookup(sym, addr, ret); /* anonymous executable memory: JIT code */
		goto cleanup;
	}
	ret->mapping = &sym->maps[i];
	p = &sym->priv[i];
	if (!p->mod || !p->adj_ok) {
		jit_lookup(sym, addr, ret);
		goto cleanup;
	}
	vaddr = addr - sym->maps[i].start + sym->maps[i].file_offset + (uint64_t)p->file_adj;
	n = symmod__lookup(p->mod, vaddr, ret->frames, SYM_MAX_INLINE);
	if (n < 0) {
		/* the module cannot be used (unreadable, over the memory bound): it names nothing */
		mapping_flags(sym, i);
		goto cleanup;
	}
	mapping_flags(sym, i);
	ret->nframes = n;
	for (int k = 0; k < n; k++)
		if (ret->frames[k].func_start)
			ret->frames[k].func_start = ret->frames[k].func_start - vaddr + addr;
	if (n == 0) /* code a runtime generated into a file's pages, named only by its perf map */
		jit_lookup(sym, addr, ret);
cleanup:
	if (!err)
		results_put(sym, addr, ret);
unlock:
	symcache_unlock();
	return err;
}

int symbolizer__mappings(struct symbolizer *sym, const struct sym_mapping **ret, int *ret_n)
{
	symcache_lock();
	for (int i = 0; i < sym->n; i++)
		mapping_flags(sym, i);
	*ret = sym->maps;
	*ret_n = sym->n + sym->nkernel;
	symcache_unlock();
	return 0;
}
