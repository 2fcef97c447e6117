// SPDX-License-Identifier: MIT
/* Symbolizer tests: live target programs (tests/targets/sym/, built by symbolize.mk) are started,
 * and addresses across their functions are symbolized both by profd and by binutils'
 * `addr2line -a -f -i -C`; names, files, lines and inline chains must agree frame by frame.
 * Also: demangling, kallsyms parsing, the vDSO and kernel, the cache bound, /symbol responses. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "http/symbolz.h"
#include "symbols/demangle.h"
#include "symbols/kallsyms.h"
#include "symbols/symbolize.h"
#include "symbols/symmod.h"
#include "targets.h"

#define MAX_ADDRS 1500
#define MAX_REF_FRAMES 24

static char target_dir[4096];

struct target {
	pid_t pid;
	int out_fd;
	int in_fd;   /* the target's stdin */
};

/* Every started target, so a failed assertion (which leaves the test early) still kills it. */
#define MAX_LIVE 16
static pid_t live[MAX_LIVE];

static void live_add(pid_t pid)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (!live[i]) {
			live[i] = pid;
			return;
		}
	}
}

static void live_del(pid_t pid)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == pid)
			live[i] = 0;
}

/* How many addresses pick_addrs() spreads over one function (fewer: more functions). */
static int addrs_per_func = 200;

static int kill_live(void **state)
{
	addrs_per_func = 200; /* a test that failed half way leaves no setting behind */
	for (int i = 0; i < MAX_LIVE; i++) {
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			live[i] = 0;
		}
	}
	return 0;
}

static const char *tpath(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", target_dir, name);
	return buf;
}

/* Starts bin and waits (with a deadline) until it prints "ready". */
static int target_start(const char *bin, struct target *t)
{
	int pfd[2], ifd[2];
	char buf[256];
	size_t got = 0;
	struct timespec t0, now;

	if (pipe2(pfd, O_CLOEXEC) < 0 || pipe2(ifd, O_CLOEXEC) < 0)
		return -errno;
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (t->pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(ifd[0], 0);
		dup2(pfd[1], 1);
		dup2(devnull, 2);
		execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	live_add(t->pid);
	close(pfd[1]);
	close(ifd[0]);
	t->out_fd = pfd[0];
	t->in_fd = ifd[1];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = t->out_fd, .events = POLLIN };
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 10)
			return -ETIMEDOUT;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(t->out_fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "ready"))
			return 0;
		if (got == sizeof(buf) - 1)
			return -EIO;
	}
}

static void target_stop(struct target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
		live_del(t->pid);
		close(t->out_fd);
		close(t->in_fd);
		t->pid = 0;
	}
}

/* Runtime address of file address vaddr in the target's main mapping. */
static uint64_t to_runtime(const char *bin, struct symbolizer *sym, uint64_t vaddr)
{
	const struct sym_mapping *maps;
	uint64_t result = 0;
	bool by_name = false;
	int fd, n;
	Elf *elf;
	size_t phnum;

	assert_int_equal(symbolizer__mappings(sym, &maps, &n), 0);
	/* a library is found by its file name, the executable as the main mapping */
	for (int k = 0; k < n; k++)
		by_name |= !maps[k].is_main && maps[k].filename && !strcmp(maps[k].filename, bin);
	elf_version(EV_CURRENT);
	fd = open(bin, O_RDONLY);
	assert_true(fd >= 0);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getphdrnum(elf, &phnum), 0);
	for (size_t i = 0; i < phnum && !result; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (vaddr < ph.p_vaddr || vaddr >= ph.p_vaddr + ph.p_memsz)
			continue;
		for (int k = 0; k < n; k++) {
			if (by_name ? maps[k].is_main || !maps[k].filename || strcmp(maps[k].filename, bin) : !maps[k].is_main)
				continue;
			uint64_t off = vaddr - ph.p_vaddr + ph.p_offset;
			uint64_t a = maps[k].start + off - maps[k].file_offset;

			if (a >= maps[k].start && a < maps[k].limit)
				result = a;
		}
	}
	elf_end(elf);
	close(fd);
	return result;
}

struct ref_frame {
	char name[512];
	char file[512];
	int line;
};

struct ref_addr {
	uint64_t addr;
	int n;
	struct ref_frame f[MAX_REF_FRAMES];
};

typedef bool (*name_filter)(const char *name, int index);


/* File addresses spread over the functions nm lists for bin that pass the filter. */
static int pick_addrs(const char *bin, name_filter keep, uint64_t *out, int max)
{
	char cmd[4400], line[2048];
	int n = 0, index = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm -S --defined-only '%s'", bin);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr, size;
		char type, name[1500];
		uint64_t step;

		if (sscanf(line, "%llx %llx %c %1499s", &addr, &size, &type, name) != 4)
			continue;
		if (type != 't' && type != 'T' && type != 'W' && type != 'w')
			continue;
		if (!size || !keep(name, index++))
			continue;
		step = size < (uint64_t)addrs_per_func ? 1 : size / (uint64_t)addrs_per_func;
		for (uint64_t off = 0; off < size && n < max; off += step)
			out[n++] = addr + off;
	}
	pclose(f);
	return n;
}

/* Runs addr2line over the addresses; fills ref[] in order. */
static void run_addr2line(const char *bin, const uint64_t *addrs, int n, struct ref_addr *ref)
{
	char tmp[] = "/tmp/profd-symtest-XXXXXX", cmd[4500], line[4096];
	int fd = mkstemp(tmp), cur = -1;
	FILE *in, *f;
	bool want_name = true;

	assert_true(fd >= 0);
	in = fdopen(fd, "w");
	for (int i = 0; i < n; i++)
		fprintf(in, "%#llx\n", (unsigned long long)addrs[i]);
	fclose(in);
	snprintf(cmd, sizeof(cmd), "addr2line -a -f -i -C -e '%s' < %s", bin, tmp);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (want_name && !strncmp(line, "0x", 2) && cur + 1 < n && strtoull(line, NULL, 16) == addrs[cur + 1]) {
			cur++;
			ref[cur].addr = addrs[cur];
			ref[cur].n = 0;
			continue;
		}
		assert_true(cur >= 0);
		if (want_name) {
			if (ref[cur].n < MAX_REF_FRAMES)
				snprintf(ref[cur].f[ref[cur].n].name, sizeof(ref[cur].f[0].name), "%.511s", line);
		} else if (ref[cur].n < MAX_REF_FRAMES) {
			struct ref_frame *rf = &ref[cur].f[ref[cur].n];
			char *colon = strrchr(line, ':');
			char *disc = strstr(line, " (discriminator");

			if (disc)
				*disc = '\0';
			colon = strrchr(line, ':');
			rf->line = colon ? atoi(colon + 1) : 0;
			if (colon)
				*colon = '\0';
			snprintf(rf->file, sizeof(rf->file), "%.511s", line);
			ref[cur].n++;
		}
		want_name = !want_name;
	}
	pclose(f);
	unlink(tmp);
	assert_int_equal(cur, n - 1);
}

static bool streq_opt(const char *ours, const char *ref)
{
	if (!strcmp(ref, "??"))
		return true; /* addr2line knows nothing: anything we add is extra */
	return ours && !strcmp(ours, ref);
}

/* Two names for one address (aliases such as _exit/_Exit): nm lists both at the same value.
 * nm's listing of the last binary asked about is kept. */
#define MAX_NM 8192
static char nm_bin[4096];
static int nm_n;
static struct {
	unsigned long long v;
	char name[128];
} nm_tab[MAX_NM];

static unsigned long long nm_value(const char *name)
{
	for (int i = 0; i < nm_n; i++)
		if (!strcmp(nm_tab[i].name, name))
			return nm_tab[i].v;
	return 0;
}

static bool is_alias(const char *bin, const char *a, const char *b)
{
	if (strcmp(nm_bin, bin)) {
		char cmd[4400], line[2048];
		FILE *f;

		snprintf(cmd, sizeof(cmd), "nm --defined-only '%s'", bin);
		f = popen(cmd, "r");
		assert_non_null(f);
		nm_n = 0;
		while (nm_n < MAX_NM && fgets(line, sizeof(line), f)) {
			char type;

			if (sscanf(line, "%llx %c %127s", &nm_tab[nm_n].v, &type, nm_tab[nm_n].name) == 3)
				nm_n++;
		}
		pclose(f);
		snprintf(nm_bin, sizeof(nm_bin), "%s", bin);
	}
	return nm_value(a) && nm_value(a) == nm_value(b);
}

/* addr2line has known slips (an inlined extern "C" function reported under its caller's
 * name; the unit's main file named for code included from another file): where it disagrees
 * with us, llvm-symbolizer has the casting vote on every frame's file and line. Names: either
 * tool's (llvm-symbolizer names a function by its DWARF name, __libc_sigaction, where addr2line
 * and profd name the symbol, __GI___libc_sigaction). */
static bool llvm_agrees(const char *bin, uint64_t addr, const struct sym_result *r, const struct ref_addr *a2l)
{
	char cmd[4400], name[1024], loc[1024];
	int k = 0;
	bool ok = true;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "llvm-symbolizer --obj='%s' %#llx 2>/dev/null", bin, (unsigned long long)addr);
	f = popen(cmd, "r");
	if (!f)
		return false;
	while (ok && fgets(name, sizeof(name), f) && name[0] != '\n' && fgets(loc, sizeof(loc), f)) {
		char *c1, *c2;

		name[strcspn(name, "\n")] = '\0';
		c2 = strrchr(loc, ':');
		if (c2)
			*c2 = '\0';
		c1 = strrchr(loc, ':');
		if (k >= r->nframes || !c1 || !r->frames[k].name ||
		    (strcmp(name, r->frames[k].name) && (k >= a2l->n || strcmp(a2l->f[k].name, r->frames[k].name))) ||
		    atoi(c1 + 1) != r->frames[k].line) {
			ok = false;
			break;
		}
		*c1 = '\0';
		ok = r->frames[k].file && !strcmp(loc, r->frames[k].file);
		k++;
	}
	pclose(f);
	return ok && k == r->nframes;
}

/* Symbolizes addrs (file addresses of bin as run by the target) and compares with addr2line's
 * answers for ref_bin. Returns the number of addresses compared. */
static int compare_with_addr2line(struct symbolizer *sym, const char *bin, const char *ref_bin, name_filter keep)
{
	static uint64_t addrs[MAX_ADDRS];
	static struct ref_addr ref[MAX_ADDRS];
	int n = pick_addrs(ref_bin, keep, addrs, MAX_ADDRS), bad = 0, inline_seen = 0;

	assert_true(n > 10);
	run_addr2line(ref_bin, addrs, n, ref);
	for (int i = 0; i < n; i++) {
		struct sym_result r;
		uint64_t rt = to_runtime(bin, sym, addrs[i]);
		bool ok;

		assert_true(rt != 0);
		assert_int_equal(symbolizer__lookup(sym, rt, &r), 0);
		assert_non_null(r.mapping);
		if (ref[i].n == 1 && !strcmp(ref[i].f[0].name, "??"))
			continue; /* addr2line cannot name it either */
		/* deeper inline chains keep the innermost frames and the outermost function */
		ok = r.nframes == (ref[i].n > SYM_MAX_INLINE ? SYM_MAX_INLINE : ref[i].n);
		for (int k = 0; ok && k < r.nframes; k++) {
			int rk = (k == SYM_MAX_INLINE - 1) ? ref[i].n - 1 : k;
			const struct ref_frame *rf = &ref[i].f[rk];
			const struct sym_frame *f = &r.frames[k];

			ok = streq_opt(f->name, rf->name);
			if (strcmp(rf->file, "??"))
				ok = ok && f->file && !strcmp(f->file, rf->file) && f->line == rf->line;
		}
		if (!ok && r.nframes == 1 && ref[i].n == 1 && r.frames[0].name && !strcmp(ref[i].f[0].file, "??"))
			ok = is_alias(ref_bin, ref[i].f[0].name, r.frames[0].name);
		if (!ok && llvm_agrees(ref_bin, addrs[i], &r, &ref[i]))
			ok = true;
		if (r.nframes > 1)
			inline_seen++;
		if (!ok && bad++ < 8) {
			fprintf(stderr, "mismatch at %#llx (file %#llx): addr2line %d frames, profd %d\n",
				(unsigned long long)rt, (unsigned long long)addrs[i], ref[i].n, r.nframes);
			for (int k = 0; k < ref[i].n; k++)
				fprintf(stderr, "  a2l   %s %s:%d\n", ref[i].f[k].name, ref[i].f[k].file, ref[i].f[k].line);
			for (int k = 0; k < r.nframes; k++)
				fprintf(stderr, "  profd %s %s:%d\n", r.frames[k].name ? r.frames[k].name : "(null)",
					r.frames[k].file ? r.frames[k].file : "(null)", r.frames[k].line);
		}
	}
	fprintf(stderr, "%s: %d addresses compared, %d with inline frames, %d mismatches\n", bin, n, inline_seen, bad);
	assert_int_equal(bad, 0);
	return inline_seen;
}

static bool keep_c(const char *name, int index)
{
	return !strncmp(name, "sym_", 4) || !strcmp(name, "main");
}

static void check_c_binary(const char *name)
{
	char bin[4200];
	struct target t = { 0 };
	struct symbolizer *sym;

	tpath(name, bin, sizeof(bin));
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	assert_true(compare_with_addr2line(sym, bin, bin, keep_c) > 0);
	symbolizer__free(sym);
	target_stop(&t);
}

static void test_c_nofp(void **state)
{
	check_c_binary("sym_c_nofp");
}

static void test_c_fp(void **state)
{
	check_c_binary("sym_c_fp");
}

static bool keep_static(const char *name, int index)
{
	/* our functions plus every 25th libc function (symbol table only: libc.a has no DWARF) */
	return keep_c(name, index) || index % 25 == 0;
}

static void test_static(void **state)
{
	char bin[4200];
	struct target t = { 0 };
	struct symbolizer *sym;

	tpath("sym_c_static", bin, sizeof(bin));
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	compare_with_addr2line(sym, bin, bin, keep_static);
	symbolizer__free(sym);
	target_stop(&t);
}

static bool keep_cpp(const char *name, int index)
{
	return strstr(name, "symns") || !strcmp(name, "sym_cpp_entry") || !strcmp(name, "main");
}

static void test_cpp(void **state)
{
	char bin[4200];
	struct target t = { 0 };
	struct symbolizer *sym;
	struct sym_result r;
	bool found_run = false;
	uint64_t addrs[64];
	int n;

	tpath("sym_cpp", bin, sizeof(bin));
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	assert_true(compare_with_addr2line(sym, bin, bin, keep_cpp) > 0);
	/* name is demangled, system_name the mangled symbol */
	n = pick_addrs(bin, keep_cpp, addrs, 64);
	for (int i = 0; i < n; i++) {
		assert_int_equal(symbolizer__lookup(sym, to_runtime(bin, sym, addrs[i]), &r), 0);
		for (int k = 0; k < r.nframes; k++) {
			if (r.frames[k].name && !strcmp(r.frames[k].name, "symns::Worker::run(int)")) {
				assert_string_equal(r.frames[k].system_name, "_ZN5symns6Worker3runEi");
				found_run = true;
			}
		}
	}
	assert_true(found_run);
	symbolizer__free(sym);
	target_stop(&t);
}

static bool keep_rust(const char *name, int index)
{
	return strstr(name, "sym_rust") != NULL;
}

static void test_rust(void **state)
{
	char bin[4200];
	struct target t = { 0 };
	struct symbolizer *sym;

	tpath("sym_rust", bin, sizeof(bin));
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "SKIP test_rust: %s was not built (rustc not found)\n", bin);
		skip();
	}
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	compare_with_addr2line(sym, bin, bin, keep_rust);
	symbolizer__free(sym);
	target_stop(&t);
}

/* Runs the stripped binary name, whose debug file name.debug is found through .gnu_debuglink,
 * and compares with what addr2line reads from the debug file directly. */
static void check_debuglink(const char *name)
{
	char bin[4200], dbg[4300];
	struct target t = { 0 };
	struct symbolizer *sym;
	const struct sym_mapping *maps;
	int n;

	tpath(name, bin, sizeof(bin));
	snprintf(dbg, sizeof(dbg), "%s.debug", bin);
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	assert_true(compare_with_addr2line(sym, bin, dbg, keep_c) > 0);
	assert_int_equal(symbolizer__mappings(sym, &maps, &n), 0);
	assert_true(maps[0].is_main);
	assert_true(maps[0].has_functions && maps[0].has_line_numbers && maps[0].has_filenames &&
		    maps[0].has_inline_frames);
	symbolizer__free(sym);
	target_stop(&t);
}

static void test_stripped_debuglink(void **state)
{
	check_debuglink("sym_c_stripped");
}

/* Loads path as the symbolizer would (fresh: the cache is flushed first, since stripped copies
 * share their build id with the original) and says where its DWARF came from. */
static enum symmod_dwarf dwarf_source_of(const char *path)
{
	struct symmod *m = NULL;
	enum symmod_dwarf src;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	symcache_flush();
	symcache_lock();
	assert_int_equal(symmod_get_fd(fd, path, &m), 0);
	assert_int_equal(symmod__load(m), 0);
	src = symmod__dwarf_source(m);
	symmod__put(m);
	symcache_unlock();
	symcache_flush();
	return src;
}

/* A zlib-compressed debug file (as distributions ship them) goes through dwarfload's image and
 * answers exactly what addr2line reads from the file; an uncompressed one is left to libdw. */
static void test_compressed_debuglink(void **state)
{
	char bin[4200], plain[4200];

	tpath("sym_c_zstripped", bin, sizeof(bin));
	tpath("sym_c_stripped", plain, sizeof(plain));
	assert_int_equal(dwarf_source_of(bin), SYMMOD_DWARF_INFLATED);
	assert_int_equal(dwarf_source_of(plain), SYMMOD_DWARF_LIBDW);
	check_debuglink("sym_c_zstripped");
}

/* A debug file processed by dwz: what it shares with another program lives in an alternate
 * file, which dwarfload loads beside it. */
static void test_dwz_debuglink(void **state)
{
	char bin[4200];

	tpath("sym_dwz_c", bin, sizeof(bin));
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "SKIP test_dwz_debuglink: %s was not built (dwz not found)\n", bin);
		skip();
	}
	assert_int_equal(dwarf_source_of(bin), SYMMOD_DWARF_INFLATED);
	check_debuglink("sym_dwz_c");
}

/* A target with its own root (a container) whose debug file exists only in that root's
 * /usr/lib/debug/.build-id tree, not the host's: profd must look in the target's root. The
 * target is a stripped static program run with chroot, its debug file compressed. */
static void test_container_debug_root(void **state)
{
	char dir[] = "/tmp/profd-symroot-XXXXXX", src[4200], bin[4300], dbg[4500], wrap[4400], cmd[20000];
	const struct sym_mapping *maps;
	struct target t = { 0 };
	struct symbolizer *sym;
	struct symmod *m = NULL;
	FILE *f;
	int fd, n;

	tpath("sym_c_static", src, sizeof(src));
	assert_non_null(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/target", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, bin);
	assert_int_equal(system(cmd), 0);
	fd = open(bin, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	symcache_lock();
	assert_int_equal(symmod_get_fd(fd, bin, &m), 0);
	snprintf(dbg, sizeof(dbg), "%s/usr/lib/debug/.build-id/%.2s/%s.debug", dir, symmod__build_id(m),
		 symmod__build_id(m) + 2);
	symmod__put(m);
	symcache_unlock();
	symcache_flush();
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p \"$(dirname '%s')\" && objcopy --only-keep-debug --compress-debug-sections=zlib '%s' '%s' && "
		 "objcopy --strip-all '%s'",
		 dbg, bin, dbg, bin);
	assert_int_equal(system(cmd), 0);
	snprintf(wrap, sizeof(wrap), "%s.sh", dir);
	f = fopen(wrap, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\nexec chroot '%s' /target\n", dir);
	fclose(f);
	assert_int_equal(chmod(wrap, 0755), 0);

	assert_int_equal(target_start(wrap, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	assert_int_equal(symbolizer__mappings(sym, &maps, &n), 0);
	assert_true(maps[0].is_main);
	assert_true(maps[0].has_line_numbers && maps[0].has_inline_frames);
	assert_true(compare_with_addr2line(sym, bin, dbg, keep_c) > 0);
	symbolizer__free(sym);
	target_stop(&t);
	symcache_flush();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, wrap);
	assert_int_equal(system(cmd), 0);
}

static bool keep_sparse(const char *name, int index)
{
	return index % 8 == 0;
}

/* libc.so.6 with libc6-dbg: found by build id, zlib-compressed, many units, DWARF 5. */
/* A cache bound smaller than libc's debug info: libc still names its functions (from the
 * symbol table), without files or lines, and nothing fails. */
static void libc_over_the_bound(const char *libc, const char *dbg)
{
	struct sym_frame frames[SYM_MAX_INLINE];
	struct symmod *m = NULL;
	uint64_t addr;
	int fd, n;

	assert_int_equal(pick_addrs(dbg, keep_sparse, &addr, 1), 1);
	symcache_set_limit(4u << 20);
	assert_int_equal(dwarf_source_of(libc), SYMMOD_DWARF_TOO_BIG);
	fd = open(libc, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	symcache_lock();
	assert_int_equal(symmod_get_fd(fd, libc, &m), 0);
	n = symmod__lookup(m, addr, frames, SYM_MAX_INLINE);
	assert_int_equal(n, 1);
	assert_non_null(frames[0].name);
	assert_null(frames[0].file);
	symmod__put(m);
	symcache_unlock();
	symcache_set_limit(0);
}

static void test_libc_debug_file(void **state)
{
	char libc[4096], dbg[4400], bin[4200];
	struct target t = { 0 };
	struct symbolizer *sym;
	struct symmod *m = NULL;
	int fd;

	if (!realpath("/lib/x86_64-linux-gnu/libc.so.6", libc)) {
		fprintf(stderr, "SKIP test_libc_debug_file: no /lib/x86_64-linux-gnu/libc.so.6\n");
		skip();
	}
	fd = open(libc, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	symcache_lock();
	assert_int_equal(symmod_get_fd(fd, libc, &m), 0);
	snprintf(dbg, sizeof(dbg), "/usr/lib/debug/.build-id/%.2s/%s.debug", symmod__build_id(m),
		 symmod__build_id(m) + 2);
	symmod__put(m);
	symcache_unlock();
	if (access(dbg, R_OK) != 0) {
		fprintf(stderr, "SKIP test_libc_debug_file: %s missing (install libc6-dbg)\n", dbg);
		skip();
	}
	assert_int_equal(dwarf_source_of(libc), SYMMOD_DWARF_INFLATED);

	tpath("sym_c_nofp", bin, sizeof(bin));
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	addrs_per_func = 4; /* ~375 functions across libc's units */
	assert_true(compare_with_addr2line(sym, libc, dbg, keep_sparse) > 0);
	addrs_per_func = 200;
	symbolizer__free(sym);
	target_stop(&t);
	libc_over_the_bound(libc, dbg);
}

static void test_deleted_binary(void **state)
{
	char src[4200], dir[] = "/tmp/profd-symdel-XXXXXX", bin[4300], cmd[9000];
	struct target t = { 0 };
	struct symbolizer *sym;
	const struct sym_mapping *maps;
	int n;

	tpath("sym_c_nofp", src, sizeof(src));
	assert_non_null(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/victim", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, bin);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(target_start(bin, &t), 0);
	assert_int_equal(unlink(bin), 0);
	assert_int_equal(rmdir(dir), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	assert_int_equal(symbolizer__mappings(sym, &maps, &n), 0);
	assert_true(maps[0].is_main);
	assert_string_equal(maps[0].filename, bin); /* " (deleted)" stripped */
	assert_true(maps[0].has_functions);
	/* the same bytes are still on disk under their build name: addr2line reads those */
	{
		static uint64_t addrs[64];
		struct sym_result r;
		int na = pick_addrs(src, keep_c, addrs, 64), named = 0;
		const struct sym_mapping *m0 = &maps[0];
		Elf *elf;
		int fd = open(src, O_RDONLY);
		size_t phnum;
		GElf_Phdr ph = { 0 };

		elf = elf_begin(fd, ELF_C_READ, NULL);
		elf_getphdrnum(elf, &phnum);
		for (size_t i = 0; i < phnum; i++)
			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
				break;
		for (int i = 0; i < na; i++) {
			uint64_t rt = m0->start + (addrs[i] - ph.p_vaddr + ph.p_offset) - m0->file_offset;

			assert_int_equal(symbolizer__lookup(sym, rt, &r), 0);
			if (r.nframes && r.frames[r.nframes - 1].name && r.frames[r.nframes - 1].file)
				named++;
		}
		elf_end(elf);
		close(fd);
		assert_int_equal(named, na);
	}
	symbolizer__free(sym);
	target_stop(&t);
}

/* Child side of test_debuginfod: exit 0 when pid's main executable symbolizes to sym_leaf with
 * a source line, which for a stripped binary without a debuglink needs debuginfod. */
static int debuginfod_child(pid_t pid)
{
	struct symbolizer *sym = symbolizer__new(pid);
	const struct sym_mapping *maps;
	int n;

	if (!sym || symbolizer__mappings(sym, &maps, &n) != 0 || n < 1 || !maps[0].is_main)
		return 2;
	for (uint64_t a = maps[0].start; a < maps[0].limit; a++) {
		struct sym_result r;

		if (symbolizer__lookup(sym, a, &r) != 0)
			continue;
		for (int k = 0; k < r.nframes; k++) {
			const struct sym_frame *f = &r.frames[k];

			if (f->name && !strcmp(f->name, "sym_leaf") && f->file && strstr(f->file, "sym_c.c") && f->line > 0) {
				symbolizer__free(sym);
				return 0;
			}
		}
	}
	symbolizer__free(sym);
	return 1;
}

static int run_debuginfod_child(pid_t target, const char *urls, const char *cache)
{
	char self[4096], pidbuf[32];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int status;
	pid_t c;

	assert_true(len > 0);
	self[len] = '\0';
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)target);
	c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		/* libdwfl decides about debuginfod when it is loaded: the environment must be set
		 * before the process starts */
		if (urls)
			setenv("DEBUGINFOD_URLS", urls, 1);
		else
			unsetenv("DEBUGINFOD_URLS");
		setenv("DEBUGINFOD_CACHE_PATH", cache, 1);
		setenv("DEBUGINFOD_TIMEOUT", "5", 1);
		execl(self, self, "--debuginfod-child", pidbuf, (char *)NULL);
		_exit(3);
	}
	assert_int_equal(waitpid(c, &status, 0), c);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
}

static void test_debuginfod(void **state)
{
	char src[4200], dir[] = "/tmp/profd-symdbg-XXXXXX", cmd[24000], bin[4300], srv[4300], urls[64], cache[4400];
	struct target t = { 0 };
	struct timespec t0, now;
	pid_t server = 0;
	int port = 0, rc = 1, attempt = 0;

	if (system("command -v debuginfod > /dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP test_debuginfod: the debuginfod server is not installed\n");
		skip();
	}
	tpath("sym_c_nofp", src, sizeof(src));
	assert_non_null(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	snprintf(srv, sizeof(srv), "%s/srv", dir);
	/* debug info only in the folder the server scans; the binary has no debuglink */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && objcopy --only-keep-debug '%s' '%s/sym.debug' && "
		 "objcopy --strip-all '%s' '%s'", srv, src, srv, src, bin);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(target_start(bin, &t), 0);
	snprintf(cache, sizeof(cache), "%s/cache-none", dir);
	/* control: without debuginfod, nothing names sym_leaf */
	assert_int_equal(run_debuginfod_child(t.pid, NULL, cache), 1);

	for (int tries = 0; tries < 5 && !server; tries++) {
		char portbuf[16], db[4400];

		port = 20000 + (int)((getpid() * 7 + tries * 7919) % 30000);
		snprintf(portbuf, sizeof(portbuf), "%d", port);
		snprintf(db, sizeof(db), "%s/db.sqlite", dir);
		server = fork();
		assert_true(server >= 0);
		if (server == 0) {
			int devnull = open("/dev/null", O_WRONLY);

			dup2(devnull, 1);
			dup2(devnull, 2);
			execlp("debuginfod", "debuginfod", "-F", srv, "-p", portbuf, "-d", db, (char *)NULL);
			_exit(127);
		}
		live_add(server);
		usleep(300 * 1000);
		if (waitpid(server, NULL, WNOHANG) == server) {
			live_del(server);
			server = 0; /* port taken: try another */
		}
	}
	assert_true(server > 0);
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", port);
	/* the server indexes the folder after it starts; every attempt gets a fresh client cache,
	 * since the client remembers misses */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		snprintf(cache, sizeof(cache), "%s/cache-%d", dir, attempt++);
		rc = run_debuginfod_child(t.pid, urls, cache);
		if (rc == 0)
			break;
		usleep(300 * 1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 30);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	live_del(server);
	target_stop(&t);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	fprintf(stderr, "debuginfod: found after %d attempt(s)\n", attempt);
	assert_int_equal(rc, 0);
}

static int find_mapping_named(const struct sym_mapping *maps, int n, const char *needle)
{
	for (int i = 0; i < n; i++)
		if (strstr(maps[i].filename, needle))
			return i;
	return -1;
}

static void test_refresh_sees_dlopen(void **state)
{
	char bin[4200], buf[64];
	struct target t = { 0 };
	struct symbolizer *sym;
	const struct sym_mapping *maps;
	struct pollfd p;
	int n, z, named = 0;
	ssize_t got;

	tpath("sym_dlopen", bin, sizeof(bin));
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	assert_int_equal(symbolizer__mappings(sym, &maps, &n), 0);
	assert_int_equal(find_mapping_named(maps, n, "libz.so"), -1);
	assert_int_equal(write(t.in_fd, "go\n", 3), 3);
	p = (struct pollfd){ .fd = t.out_fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 10000), 1);
	got = read(t.out_fd, buf, sizeof(buf) - 1);
	assert_true(got > 0);
	buf[got] = '\0';
	assert_non_null(strstr(buf, "loaded"));
	assert_int_equal(symbolizer__refresh(sym), 0);
	assert_int_equal(symbolizer__mappings(sym, &maps, &n), 0);
	z = find_mapping_named(maps, n, "libz.so");
	assert_true(z > 0);
	assert_true(maps[z].has_functions); /* at least its exported functions */
	assert_int_equal(strlen(maps[z].build_id), 40);
	for (uint64_t a = maps[z].start; a < maps[z].limit && named < 10; a += 64) {
		struct sym_result r;

		assert_int_equal(symbolizer__lookup(sym, a, &r), 0);
		assert_ptr_equal(r.mapping, &maps[z]);
		named += r.nframes > 0 && r.frames[0].name != NULL;
	}
	assert_int_equal(named, 10);
	symbolizer__free(sym);
	target_stop(&t);
}

static void test_mappings_and_vdso(void **state)
{
	char bin[4200], cmd[4400], line[512], want_id[256] = "";
	struct target t = { 0 };
	struct symbolizer *sym;
	const struct sym_mapping *maps;
	int n, vdso = -1, named = 0;
	FILE *f;

	tpath("sym_c_nofp", bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "readelf -n '%s'", bin);
	f = popen(cmd, "r");
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "Build ID: ");

		if (p)
			sscanf(p + 10, "%255s", want_id);
	}
	pclose(f);
	assert_true(want_id[0]);
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	assert_int_equal(symbolizer__mappings(sym, &maps, &n), 0);
	assert_true(n >= 3);
	assert_true(maps[0].is_main);
	assert_string_equal(maps[0].filename, bin);
	assert_string_equal(maps[0].build_id, want_id);
	assert_true(maps[0].has_functions && maps[0].has_filenames && maps[0].has_line_numbers &&
		    maps[0].has_inline_frames);
	for (int i = 1; i < n; i++) {
		assert_false(maps[i].is_main);
		if (!strcmp(maps[i].filename, "[vdso]"))
			vdso = i;
		if (strstr(maps[i].filename, "libc.so")) {
			assert_true(maps[i].has_functions); /* at least .dynsym; lines only with libc6-dbg */
			assert_int_equal(strlen(maps[i].build_id), 40);
		}
	}
	assert_true(vdso > 0);
	assert_true(maps[vdso].has_functions);
	for (uint64_t a = maps[vdso].start; a < maps[vdso].limit; a += 4) {
		struct sym_result r;

		assert_int_equal(symbolizer__lookup(sym, a, &r), 0);
		assert_ptr_equal(r.mapping, &maps[vdso]);
		if (r.nframes && strstr(r.frames[0].name, "clock_gettime"))
			named++;
	}
	assert_true(named > 0);
	/* nothing changed: refresh keeps the same mappings */
	assert_int_equal(symbolizer__refresh(sym), 0);
	{
		const struct sym_mapping *maps2;
		int n2;

		assert_int_equal(symbolizer__mappings(sym, &maps2, &n2), 0);
		assert_ptr_equal(maps2, maps);
		assert_int_equal(n2, n);
	}
	target_stop(&t);
	assert_int_equal(symbolizer__refresh(sym), -ESRCH);
	symbolizer__free(sym);
	assert_null(symbolizer__new(t.pid > 0 ? t.pid : 999999));
	assert_int_equal(errno, ESRCH);
}

static void test_kernel(void **state)
{
	struct symbolizer *sym = symbolizer__new(getpid());
	struct kallsyms *ks = NULL;
	struct sym_result r;
	char line[512];
	unsigned long long addr = 0;
	FILE *f;

	assert_non_null(sym);
	if (kallsyms_load(&ks) != 0) {
		fprintf(stderr, "SKIP test_kernel: /proc/kallsyms has no addresses for us\n");
		symbolizer__free(sym);
		skip();
	}
	kallsyms__put(ks);
	f = fopen("/proc/kallsyms", "r");
	while (fgets(line, sizeof(line), f)) {
		char type, name[256];

		if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && !strcmp(name, "schedule") &&
		    (type == 't' || type == 'T'))
			break;
		addr = 0;
	}
	fclose(f);
	assert_true(addr != 0);
	assert_int_equal(symbolizer__lookup(sym, addr + 4, &r), 0);
	assert_int_equal(r.nframes, 1);
	assert_string_equal(r.frames[0].name, "schedule");
	assert_int_equal(r.frames[0].func_start, addr);
	assert_non_null(r.mapping);
	assert_string_equal(r.mapping->filename, "[kernel]");
	symbolizer__free(sym);
}

static void test_kallsyms_parse(void **state)
{
	static const char good[] = "ffffffff81000000 T _stext\n"
				   "ffffffff81000100 t helper\n"
				   "ffffffff81000080 D some_data\n"
				   "ffffffff81000200 T last\n"
				   "ffffffffc0000000 t mod_fn\t[mymod]\n"
				   "ffffffffc0001000 T mod_end\t[mymod]\n";
	static const char zeros[] = "0000000000000000 T _stext\n0000000000000000 T foo\n";
	struct kallsyms *ks;
	uint64_t start = 0;

	assert_int_equal(kallsyms_parse(good, sizeof(good) - 1, &ks), 0);
	assert_string_equal(kallsyms__lookup(ks, 0xffffffff81000050, &start), "_stext");
	assert_int_equal(start, 0xffffffff81000000);
	assert_string_equal(kallsyms__lookup(ks, 0xffffffff81000100, NULL), "helper");
	assert_string_equal(kallsyms__lookup(ks, 0xffffffffc0000010, NULL), "mod_fn [mymod]");
	assert_null(kallsyms__lookup(ks, 0xffffffff80000000, NULL));
	assert_null(kallsyms__lookup(ks, 0xffffffffc0002000, NULL));
	kallsyms__put(kallsyms__get(ks));
	kallsyms__put(ks);
	assert_int_equal(kallsyms_parse(zeros, sizeof(zeros) - 1, &ks), -ENOENT);
	assert_null(ks);
	assert_int_equal(kallsyms_parse("garbage\nmore garbage", 20, &ks), -EINVAL);
	assert_int_equal(kallsyms_parse("", 0, &ks), -EINVAL);
	assert_int_equal(kallsyms_parse("zzzz T x\n", 9, &ks), -EINVAL);
	/* a NUL ends a name; a line whose name starts with one is dropped (fuzz_kallsyms) */
	assert_int_equal(kallsyms_parse("1 T \0x\n2 T b\0c\n3 T d\n", 22, &ks), 0);
	assert_null(kallsyms__lookup(ks, 1, NULL));
	assert_string_equal(kallsyms__lookup(ks, 2, NULL), "b");
	kallsyms__put(ks);
}

static void test_demangle(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "_ZN5symns6Worker3runEi", "symns::Worker::run(int)" },
		{ "_ZNK5symns6detail3BoxIiE5twiceEv", "symns::detail::Box<int>::twice() const" },
		{ "_ZN5symns6detail10accumulateIdEET_PKS2_i", "double symns::detail::accumulate<double>(double const*, int)" },
		{ "_ZN8sym_rust4work4leaf17h87d4cf22dff84675E", "sym_rust::work::leaf" },
		{ "_ZN60_$LT$sym_rust..work..Sq$u20$as$u20$sym_rust..work..Shape$GT$4area17h231f36368bf9d0a3E",
		  "<sym_rust::work::Sq as sym_rust::work::Shape>::area" },
		{ "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$"
		  "17h0123456789abcdefE",
		  "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>" },
		/* Rust v0 (what rustc's std uses), as binutils prints them */
		{ "_RNvNtCslNYArtu3iFV_5alloc5alloc7dealloc", "alloc::alloc::dealloc" },
		{ "_RNvXs_NtCslNYArtu3iFV_5alloc5allocNtB4_6GlobalNtNtCsgEmfK2I1SDS_4core5alloc9Allocator10deallocate",
		  "<alloc::alloc::Global as core::alloc::Allocator>::deallocate" },
		{ "_RINvMs4_NtCsgY6Mt91CT9J_14rustc_demangle2v0NtB6_7Printer13print_backrefNCNvB2_10print_paths_0EB8_",
		  "<rustc_demangle::v0::Printer>::print_backref::<<rustc_demangle::v0::Printer>::print_path::{closure#1}>" },
		{ "_RINvNtCsgEmfK2I1SDS_4core3ptr13drop_in_placeINtNtCslNYArtu3iFV_5alloc5boxed3BoxDG0_INtNtNtB4_3ops8function2"
		  "FnTRL1_INtNtCsjrHSEGnQ3l9_3std5panic13PanicHookInfoL0_EEEp6OutputuNtNtB4_6marker4SyncNtB2N_4SendEL_EEB1T_",
		  "core::ptr::drop_in_place::<alloc::boxed::Box<dyn for<'a, 'b> core::ops::function::Fn<(&'a "
		  "std::panic::PanicHookInfo<'b>,), Output = ()> + core::marker::Sync + core::marker::Send>>" },
		{ "_RINvNtCsgEmfK2I1SDS_4core6escape14escape_unicodeKja_ECsgY6Mt91CT9J_14rustc_demangle",
		  "core::escape::escape_unicode::<10>" },
		{ "_RNvNtB9_5alloc7dealloc", NULL },     /* backref pointing forward */
		{ "_RNvNtCslNYArtu3iFV_5alloc", NULL }, /* truncated */
		{ "_RNvC999999999x", NULL },
		{ "main", NULL },
		{ "memcpy", NULL },
		{ "_Z", NULL },
		{ "_ZN3fooE", "foo" },
		{ "_ZN3foo17h0123456789abcdefE", "foo" },
		{ "_ZN8sym_rust4work4leaf17h87d4cf22dff8467E", NULL }, /* short hash: malformed */
		{ "_ZN999999foo17h0123456789abcdefE", NULL },
		{ "", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = demangle(cases[i].in);

		if (!cases[i].out) {
			if (d)
				fprintf(stderr, "demangle(%s) = %s, want NULL\n", cases[i].in, d);
			assert_null(d);
		} else {
			assert_non_null(d);
			assert_string_equal(d, cases[i].out);
		}
		free(d);
	}
	assert_null(demangle(NULL));
	assert_null(demangle_rust_legacy("_ZN5symns6Worker3runEi"));
}

static void test_symbolz(void **state)
{
	char bin[4200], input[512];
	struct target t = { 0 };
	struct symbolizer *sym;
	struct buf out = { 0 };
	uint64_t leaf = 0, addrs[4];
	char want[512];

	/* no symbolizer: only the header, whatever the input */
	assert_int_equal(symbolz_respond(NULL, "0x1234+garbage", 14, &out), 0);
	assert_string_equal(out.data, "num_symbols: 1\n");
	buf_reset(&out);
	assert_int_equal(symbolz_respond(NULL, NULL, 0, &out), 0);
	assert_string_equal(out.data, "num_symbols: 1\n");
	buf_reset(&out);

	tpath("sym_c_nofp", bin, sizeof(bin));
	assert_int_equal(target_start(bin, &t), 0);
	sym = symbolizer__new(t.pid);
	assert_non_null(sym);
	assert_int_equal(pick_addrs(bin, keep_c, addrs, 1), 1);
	{
		/* the first sym_* function nm lists: find one inside sym_leaf for a known answer */
		static uint64_t all[MAX_ADDRS];
		int n = pick_addrs(bin, keep_c, all, MAX_ADDRS);

		for (int i = 0; i < n && !leaf; i++) {
			struct sym_result r;
			uint64_t rt = to_runtime(bin, sym, all[i]);

			assert_int_equal(symbolizer__lookup(sym, rt, &r), 0);
			if (r.nframes >= 2 && !strcmp(r.frames[r.nframes - 1].name, "sym_leaf"))
				leaf = rt;
		}
	}
	assert_true(leaf != 0);
	/* hex, garbage, zero, unknown, decimal, octal, empty words; request order kept */
	snprintf(input, sizeof(input), "%#llx+garbage+0+0x1+%llu++0%llo+0x", (unsigned long long)leaf,
		 (unsigned long long)leaf, (unsigned long long)leaf);
	assert_int_equal(symbolz_respond(sym, input, strlen(input), &out), 0);
	snprintf(want, sizeof(want), "num_symbols: 1\n%#llx sym_leaf\n%#llx sym_leaf\n%#llx sym_leaf\n",
		 (unsigned long long)leaf, (unsigned long long)leaf, (unsigned long long)leaf);
	assert_string_equal(out.data, want);
	buf_reset(&out);
	/* overflow and bad digits are garbage; only the length given is read */
	snprintf(input, sizeof(input), "0x1ffffffffffffffff+09+0xg1+-5+%#llx", (unsigned long long)leaf);
	assert_int_equal(symbolz_respond(sym, input, strlen(input) - 1, &out), 0);
	assert_string_equal(out.data, "num_symbols: 1\n");
	buf_free(&out);
	symbolizer__free(sym);
	target_stop(&t);
}

static void test_cache_shared_and_bounded(void **state)
{
	char bin[4200];
	struct target t1 = { 0 }, t2 = { 0 };
	struct symbolizer *s1, *s2;
	struct sym_result r;
	uint64_t addrs[4];
	int before;

	tpath("sym_c_fp", bin, sizeof(bin));
	assert_int_equal(target_start(bin, &t1), 0);
	assert_int_equal(target_start(bin, &t2), 0);
	symcache_flush();
	s1 = symbolizer__new(t1.pid);
	assert_non_null(s1);
	before = symcache_count();
	s2 = symbolizer__new(t2.pid);
	assert_non_null(s2);
	/* the second process maps the same files: no new module */
	assert_int_equal(symcache_count(), before);
	assert_int_equal(pick_addrs(bin, keep_c, addrs, 1), 1);
	assert_int_equal(symbolizer__lookup(s1, to_runtime(bin, s1, addrs[0]), &r), 0);
	assert_true(r.nframes > 0);
	assert_true(symcache_bytes() > 0);
	symbolizer__free(s1);
	symbolizer__free(s2);
	/* unreferenced modules stay cached for reuse until the bound says otherwise */
	assert_int_equal(symcache_count(), before);
	symcache_set_limit(1);
	assert_int_equal(symcache_count(), 0);
	assert_int_equal(symcache_bytes(), 0);
	/* a bound nothing fits in: lookups answer nothing, flags say so, nothing breaks */
	s1 = symbolizer__new(t1.pid);
	assert_non_null(s1);
	assert_int_equal(symbolizer__lookup(s1, to_runtime(bin, s1, addrs[0]), &r), 0);
	assert_int_equal(r.nframes, 0);
	assert_non_null(r.mapping);
	assert_false(r.mapping->has_functions);
	symbolizer__free(s1);
	symcache_set_limit(0);
	symcache_flush();
	target_stop(&t1);
	target_stop(&t2);
}

/* JIT code: an anonymous executable mapping of this process, listed as a "[jit]" mapping and
 * named by /tmp/perf-PID.map; the map read again at refresh when it grew; a code address in no
 * map line stays unnamed. */
static void test_perf_map(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *code = mmap(NULL, (size_t)page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t a = (uint64_t)(uintptr_t)code;
	struct symbolizer *sym;
	struct sym_result r;
	char path[64], line[128];
	FILE *f;

	assert_true(code != MAP_FAILED);
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%llx 40 JS:*hot /app/work.js:12:3\n", (unsigned long long)a);
	fclose(f);
	sym = symbolizer__new(getpid());
	assert_non_null(sym);
	assert_int_equal(symbolizer__lookup(sym, a + 0x10, &r), 0);
	assert_int_equal(r.nframes, 1);
	assert_string_equal(r.frames[0].name, "JS:*hot /app/work.js:12:3");
	assert_true(r.frames[0].func_start == a);
	/* anonymous executable memory: a mapping of its own, marked as JIT code */
	assert_non_null(r.mapping);
	assert_true(r.mapping->jit);
	assert_string_equal(r.mapping->filename, "[jit]");
	assert_true(r.mapping->start <= a && a < r.mapping->limit);
	assert_string_equal(r.mapping->build_id, "");
	assert_int_equal(symbolizer__lookup(sym, a + 0x80, &r), 0);
	assert_int_equal(r.nframes, 0);
	/* the runtime compiles more: appended, seen at the next refresh (cached results too) */
	f = fopen(path, "a");
	assert_non_null(f);
	snprintf(line, sizeof(line), "%llx 40 JS:*later /app/work.js:40:1\n", (unsigned long long)a + 0x80);
	fputs(line, f);
	fclose(f);
	assert_int_equal(symbolizer__refresh(sym), 0);
	assert_int_equal(symbolizer__lookup(sym, a + 0x80, &r), 0);
	assert_int_equal(r.nframes, 1);
	assert_string_equal(r.frames[0].name, "JS:*later /app/work.js:40:1");
	symbolizer__free(sym);
	unlink(path);

	/* the target names the file: a symlink is not followed, someone else's file not read */
	{
		char real[64];

		snprintf(real, sizeof(real), "/tmp/perf-%d.real", (int)getpid());
		f = fopen(real, "w");
		assert_non_null(f);
		fprintf(f, "%llx 40 JS:*hot /app/work.js:12:3\n", (unsigned long long)a);
		fclose(f);
		assert_int_equal(symlink(real, path), 0);
		sym = symbolizer__new(getpid());
		assert_non_null(sym);
		assert_int_equal(symbolizer__lookup(sym, a + 0x10, &r), 0);
		assert_int_equal(r.nframes, 0);
		symbolizer__free(sym);
		unlink(path);
		if (geteuid() == 0) {
			assert_int_equal(rename(real, path), 0);
			assert_int_equal(chown(path, 12345, 12345), 0);
			sym = symbolizer__new(getpid());
			assert_non_null(sym);
			assert_int_equal(symbolizer__lookup(sym, a + 0x10, &r), 0);
			assert_int_equal(r.nframes, 0);
			symbolizer__free(sym);
			unlink(path);
		}
		unlink(real);
	}
	munmap(code, (size_t)page);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_demangle, kill_live),
		cmocka_unit_test_teardown(test_kallsyms_parse, kill_live),
		cmocka_unit_test_teardown(test_c_nofp, kill_live),
		cmocka_unit_test_teardown(test_c_fp, kill_live),
		cmocka_unit_test_teardown(test_cpp, kill_live),
		cmocka_unit_test_teardown(test_rust, kill_live),
		cmocka_unit_test_teardown(test_stripped_debuglink, kill_live),
		cmocka_unit_test_teardown(test_compressed_debuglink, kill_live),
		cmocka_unit_test_teardown(test_dwz_debuglink, kill_live),
		cmocka_unit_test_teardown(test_container_debug_root, kill_live),
		cmocka_unit_test_teardown(test_libc_debug_file, kill_live),
		cmocka_unit_test_teardown(test_static, kill_live),
		cmocka_unit_test_teardown(test_deleted_binary, kill_live),
		cmocka_unit_test_teardown(test_debuginfod, kill_live),
		cmocka_unit_test_teardown(test_refresh_sees_dlopen, kill_live),
		cmocka_unit_test_teardown(test_mappings_and_vdso, kill_live),
		cmocka_unit_test_teardown(test_kernel, kill_live),
		cmocka_unit_test_teardown(test_perf_map, kill_live),
		cmocka_unit_test_teardown(test_symbolz, kill_live),
		cmocka_unit_test_teardown(test_cache_shared_and_bounded, kill_live),
	};

	if (argc == 3 && !strcmp(argv[1], "--debuginfod-child"))
		return debuginfod_child((pid_t)atoi(argv[2]));

	test_target_path(target_dir, sizeof(target_dir), "sym");
	{
		char *real = realpath(target_dir, NULL);

		if (real) {
			snprintf(target_dir, sizeof(target_dir), "%s", real);
			free(real);
		}
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
