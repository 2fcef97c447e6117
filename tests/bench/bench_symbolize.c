// SPDX-License-Identifier: MIT
/* Symbolization benchmark driver: symbolizes file addresses of one object as mapped in a live
 * process (another pid, or this one for a shared library such as libc), cold (fresh symbolizer and
 * empty cache: includes opening files and building indexes) and warm (the same addresses again),
 * and optionally writes the answers in `addr2line -a -f -i` form so a script can diff them.
 * usage: bench_symbolize PID|self OBJECT ADDRFILE [OUTFILE] */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc/procmaps.h"
#include "symbols/symbolize.h"
#include "symbols/symmod.h"

#define MAX_ADDRS 1000000

/* CPU time of this process: on a loaded machine wall time says more about the neighbours */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* p_vaddr - p_offset of the executable PT_LOAD of path: file address = file offset + this. */
static int exec_segment(const char *path, uint64_t *vaddr, uint64_t *offset, uint64_t *size)
{
	int fd = open(path, O_RDONLY), found = -ENOENT;
	size_t phnum;
	Elf *elf;

	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_getphdrnum(elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
				*vaddr = ph.p_vaddr;
				*offset = ph.p_offset;
				*size = ph.p_memsz;
				found = 0;
				break;
			}
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return found;
}

int main(int argc, char **argv)
{
	static uint64_t addrs[MAX_ADDRS], rt[MAX_ADDRS];
	uint64_t seg_vaddr = 0, seg_off = 0, seg_size = 0, base = 0;
	bool found = false;
	struct procmaps pm = { 0 };
	struct symbolizer *sym;
	char line[128], real[4096];
	struct sym_result r;
	double t0, t_new, t_cold, t_warm, t_index;
	int rounds = getenv("WARM_ROUNDS") ? atoi(getenv("WARM_ROUNDS")) : 20;
	int n = 0, resolved = 0, inlined = 0;
	pid_t pid;
	FILE *f;

	if (argc < 4) {
		fprintf(stderr, "usage: %s PID|self OBJECT ADDRFILE [OUTFILE]\n", argv[0]);
		return 2;
	}
	pid = strcmp(argv[1], "self") ? (pid_t)atoi(argv[1]) : getpid();
	if (!realpath(argv[2], real) || exec_segment(real, &seg_vaddr, &seg_off, &seg_size)) {
		fprintf(stderr, "cannot read the executable segment of %s\n", argv[2]);
		return 1;
	}
	f = fopen(argv[3], "r");
	if (!f) {
		perror(argv[3]);
		return 1;
	}
	while (n < MAX_ADDRS && fgets(line, sizeof(line), f))
		addrs[n++] = strtoull(line, NULL, 16);
	fclose(f);

	t0 = now_s();
	sym = symbolizer__new(pid);
	if (!sym) {
		fprintf(stderr, "symbolizer__new(%d): %s\n", (int)pid, strerror(errno));
		return 1;
	}
	t_new = now_s() - t0;
	/* the object's executable mapping, read directly: symbolizer__mappings() would load every
	 * module of the process for its has_* flags, which is not what this measures */
	if (procmaps_read(pid, &pm) == 0) {
		for (size_t i = 0; i < pm.n && !found; i++) {
			const struct procmaps_entry *e = &pm.entries[i];
			char mreal[4096];

			if (e->exec && realpath(e->path, mreal) && !strcmp(mreal, real) && e->offset <= seg_off + 0xfff &&
			    seg_off < e->offset + (e->end - e->start)) {
				base = e->start - e->offset + seg_off - seg_vaddr;
				found = true;
			}
		}
		procmaps_free(&pm);
	}
	if (!found) {
		fprintf(stderr, "%s is not mapped in pid %d\n", real, (int)pid);
		return 1;
	}
	for (int i = 0; i < n; i++)
		rt[i] = addrs[i] + base;

	/* cold: the first pass pays for loading debug info and building the indexes */
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		symbolizer__lookup(sym, rt[i], &r);
		resolved += r.nframes > 0;
		inlined += r.nframes > 1;
	}
	t_cold = now_s() - t0;
	/* warm: the same addresses again, answered from the result cache */
	t0 = now_s();
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < n; i++)
			symbolizer__lookup(sym, rt[i], &r);
	t_warm = rounds ? (now_s() - t0) / rounds : 0;
	/* warm, indexes only: what an address never seen before costs once its module is indexed */
	symbolizer__set_result_cache(sym, false);
	t0 = now_s();
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < n; i++)
			symbolizer__lookup(sym, rt[i], &r);
	t_index = rounds ? (now_s() - t0) / rounds : 0;
	symbolizer__set_result_cache(sym, true);
	printf("addrs %d resolved %d with_inlines %d new_ms %.2f cold_ms %.2f warm_ns_per_addr %.0f "
	       "warm_addr_per_s %.0f index_ns_per_addr %.0f index_addr_per_s %.0f cache_mb %.1f (cpu time)\n",
	       n, resolved, inlined, t_new * 1e3, (t_new + t_cold) * 1e3, t_warm * 1e9 / n, t_warm ? n / t_warm : 0,
	       t_index * 1e9 / n, t_index ? n / t_index : 0, symcache_bytes() / 1048576.0);
	if (argc > 4) {
		f = fopen(argv[4], "w");
		if (!f) {
			perror(argv[4]);
			return 1;
		}
		for (int i = 0; i < n; i++) {
			symbolizer__lookup(sym, rt[i], &r);
			fprintf(f, "0x%016llx\n", (unsigned long long)addrs[i]);
			if (!r.nframes)
				fprintf(f, "??\n??:0\n");
			for (int k = 0; k < r.nframes; k++)
				fprintf(f, "%s\n%s:%d\n", r.frames[k].name ? r.frames[k].name : "??",
					r.frames[k].file ? r.frames[k].file : "??", r.frames[k].file ? r.frames[k].line : 0);
		}
		fclose(f);
	}
	symbolizer__free(sym);
	return 0;
}
