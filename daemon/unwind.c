// SPDX-License-Identifier: MIT
/* DWARF CFI unwinder over copied stacks, on libdwfl 0.188. One Dwfl per target holds every
 * executable ELF mapping (and the vDSO) as a module at its load bias; one fake thread whose
 * registers come from the sample and whose memory is the copied stack window is unwound per
 * call. libdwfl falls back to a frame-pointer guess when a pc has no CFI; we check every pc
 * for CFI first and stop there instead, so each stack is either CFI-correct or cut with a reason.
 * All public calls take uw->lock (libdwfl is not thread-safe). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "procmaps.h"
#include "unwind.h"

/* Bounds: modules per target, and the size of a vDSO image we are willing to copy. */
#define UNWIND_MAX_MODULES 8192
#define UNWIND_MAX_VDSO (1u << 20)

/* Identity of one executable mapping, to tell cheaply whether the maps changed. */
struct exec_map {
	uint64_t start, end, offset, inode;
	uint32_t dev_major, dev_minor;
};

struct module_range {
	uint64_t low, high; /* [low, high) as libdwfl computed it from the program headers */
};

struct unwinder {
	pthread_mutex_t lock;
	pid_t pid;
	Dwfl *dwfl;
	struct exec_map *execs; /* executable mappings last reported, in address order */
	size_t nexecs;
	struct module_range *mods;
	size_t nmods;
	/* the walk in progress (valid inside unwinder__unwind only) */
	const struct unwind_regs *regs;
	const struct unwind_stack *stack;
	uint64_t *pcs;
	int n, max;
	bool next_exact;  /* the previous frame was a signal trampoline */
	bool window_miss; /* a read fell outside the stack copy since the last frame */
	enum unwind_stop why;
};

static const char *const stop_names[UNWIND_STOP__COUNT] = {
	[UNWIND_STOP_ROOT] = "root",
	[UNWIND_STOP_WINDOW] = "stack_window",
	[UNWIND_STOP_NO_CFI] = "no_cfi",
	[UNWIND_STOP_BAD_ADDR] = "bad_address",
	[UNWIND_STOP_DEPTH] = "depth",
	[UNWIND_STOP_ERROR] = "error",
};

const char *unwind_stop_name(enum unwind_stop why)
{
	if ((unsigned)why >= UNWIND_STOP__COUNT)
		return "unknown";
	return stop_names[why];
}

/* Every module is reported with its ELF already open, so libdwfl never has to find one; and
 * separate debug files are not searched (no .debug_frame from /usr/lib/debug, no debuginfod
 * round trip under the lock): .eh_frame, or .debug_frame in the mapped file itself, is the CFI. */
static int find_no_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		       char **file_name, Elf **elfp)
{
	return -1;
}

static int find_no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			     const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			     char **debuginfo_file_name)
{
	return -1;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_no_elf,
	.find_debuginfo = find_no_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* The one fake thread: there is nothing to enumerate, get_thread hands out the sample. */
static pid_t next_thread(Dwfl *dwfl, void *dwfl_arg, void **thread_argp)
{
	return 0;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *dwfl_arg, void **thread_argp)
{
	*thread_argp = dwfl_arg;
	return true;
}

/* Stack reads are served from the copy only; anything else is a miss we remember, because
 * libdwfl turns an unreadable return address into "end of stack". */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *dwfl_arg)
{
	struct unwinder *uw = dwfl_arg;
	const struct unwind_stack *st = uw->stack;

	if (addr < st->start || addr - st->start > st->len || st->len - (addr - st->start) < sizeof(*result)) {
		uw->window_miss = true;
		return false;
	}
	memcpy(result, st->data + (addr - st->start), sizeof(*result));
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct unwinder *uw = thread_arg;

	return dwfl_thread_state_registers(thread, 0, UNWIND_NREGS, uw->regs->r);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

/* Looks addr up in a module's CFI the way libdwfl's unwinder will (.eh_frame, then
 * .debug_frame). Returns UNWIND_STOP_ROOT when an FDE covers it (*ret_signal: it is a signal
 * trampoline), else UNWIND_STOP_BAD_ADDR (no module) or UNWIND_STOP_NO_CFI. */
static enum unwind_stop cfi_check(Dwfl *dwfl, uint64_t addr, bool *ret_signal)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
	Dwarf_CFI *cfi;
	Dwarf_Frame *frame;
	Dwarf_Addr bias;

	if (!mod)
		return UNWIND_STOP_BAD_ADDR;
	for (int pass = 0; pass < 2; pass++) {
		cfi = pass == 0 ? dwfl_module_eh_cfi(mod, &bias) : dwfl_module_dwarf_cfi(mod, &bias);
		if (!cfi || dwarf_cfi_addrframe(cfi, addr - bias, &frame) != 0)
			continue;
		dwarf_frame_info(frame, NULL, NULL, ret_signal);
		free(frame);
		return UNWIND_STOP_ROOT;
	}
	return UNWIND_STOP_NO_CFI;
}

/* Called by libdwfl for each frame, leaf first, before it unwinds that frame. */
static int on_frame(Dwfl_Frame *state, void *arg)
{
	struct unwinder *uw = arg;
	/* the leaf and the frame a signal interrupted hold exact pcs; the others return addresses */
	bool exact = uw->n == 0 || uw->next_exact;
	bool signal = false;
	enum unwind_stop check;
	Dwarf_Addr pc;

	uw->window_miss = false;
	if (!dwfl_frame_pc(state, &pc, NULL)) {
		uw->why = UNWIND_STOP_ERROR;
		return DWARF_CB_ABORT;
	}
	if (uw->n >= uw->max) {
		uw->why = UNWIND_STOP_DEPTH;
		return DWARF_CB_ABORT;
	}
	/* a return address may sit just past the function (a call to a noreturn function): the
	 * call itself is at pc - 1 */
	check = cfi_check(uw->dwfl, exact ? pc : pc - 1, &signal);
	/* a trampoline's pc is where the kernel made the handler "return" to: exact as well */
	uw->pcs[uw->n++] = exact || signal ? pc + 1 : pc;
	if (check != UNWIND_STOP_ROOT) {
		uw->why = check;
		return DWARF_CB_ABORT;
	}
	uw->next_exact = signal;
	return DWARF_CB_OK;
}

int unwinder__unwind(struct unwinder *uw, const struct unwind_regs *regs, const struct unwind_stack *stack,
		     uint64_t *pcs, int max, enum unwind_stop *ret_why)
{
	enum unwind_stop why;
	int rc, n;

	if (!uw || !regs || !stack || !pcs || max <= 0 || !ret_why || (stack->len && !stack->data))
		return -EINVAL;
	if (regs->r[UNWIND_REG_RIP] == 0) {
		*ret_why = UNWIND_STOP_BAD_ADDR;
		return 0;
	}
	pthread_mutex_lock(&uw->lock);
	uw->regs = regs;
	uw->stack = stack;
	uw->pcs = pcs;
	uw->n = 0;
	uw->max = max;
	uw->next_exact = false;
	uw->window_miss = false;
	uw->why = UNWIND_STOP_ERROR;
	rc = dwfl_getthread_frames(uw->dwfl, uw->pid, on_frame, uw);
	if (rc == DWARF_CB_ABORT) {
		why = uw->why;
	} else {
		/* 0: the return address became undefined (the outermost frame's CFI says so, or a
		 * read fell off the copy); -1: libdwfl failed on the next frame */
		why = uw->window_miss ? UNWIND_STOP_WINDOW : rc == 0 ? UNWIND_STOP_ROOT : UNWIND_STOP_ERROR;
		if (rc != 0)
			log_debug("unwind pid %d: stopped after %d frames: %s", (int)uw->pid, uw->n,
				  dwfl_errmsg(-1));
	}
	n = uw->n;
	if (n == 0) { /* libdwfl refused the initial registers: still report the leaf */
		pcs[n++] = regs->r[UNWIND_REG_RIP] + 1;
	}
	uw->regs = NULL;
	uw->stack = NULL;
	uw->pcs = NULL;
	pthread_mutex_unlock(&uw->lock);
	*ret_why = why;
	return n;
}

/* The load bias of the ELF open on fd, mapped by e: where vaddr 0 of the file sits. The
 * PT_LOAD segment holding e's file offset maps p_offset to p_vaddr + bias. */
static int elf_load_bias(int fd, const struct procmaps_entry *e, uint64_t *ret_bias)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	GElf_Ehdr ehdr;
	size_t phnum;
	int err = -ENOEXEC;

	if (!elf)
		return -ENOEXEC;
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr) || elf_getphdrnum(elf, &phnum) != 0)
		goto cleanup;
	if (ehdr.e_type == ET_EXEC) {
		*ret_bias = 0;
		err = 0;
		goto cleanup;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		/* the kernel maps whole pages: the segment starts at p_offset rounded down */
		if (e->offset < (ph.p_offset & ~(page - 1)) || e->offset >= ph.p_offset + ph.p_filesz)
			continue;
		*ret_bias = e->start - e->offset + ph.p_offset - ph.p_vaddr;
		err = 0;
		break;
	}
cleanup:
	elf_end(elf);
	return err;
}

/* The vDSO has no file: copy its image out of the target into a memfd libelf can map. */
static int vdso_open(pid_t pid, const struct procmaps_entry *e)
{
	size_t len = e->end - e->start;
	char path[64];
	uint8_t *buf = NULL;
	int mem = -1, fd = -1, err;
	ssize_t got;

	if (e->end <= e->start || len > UNWIND_MAX_VDSO)
		return -E2BIG;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		err = -errno;
		goto cleanup;
	}
	got = pread(mem, buf, len, (off_t)e->start);
	if (got != (ssize_t)len) {
		err = got < 0 ? -errno : -EIO;
		goto cleanup;
	}
	fd = memfd_create("profd-vdso", MFD_CLOEXEC);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
		err = fd < 0 ? -errno : -EIO;
		goto cleanup;
	}
	err = fd;
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	if (mem >= 0)
		close(mem);
	free(buf);
	return err;
}

static bool is_vdso(const struct procmaps_entry *e)
{
	return !strcmp(e->path, "[vdso]");
}

/* The mappings that can hold code: executable, backed by a file or the vDSO. */
static bool is_code(const struct procmaps_entry *e)
{
	return e->exec && (procmaps_entry_is_file(e) || is_vdso(e));
}

static bool covered(const struct unwinder *uw, uint64_t addr)
{
	for (size_t i = 0; i < uw->nmods; i++)
		if (addr >= uw->mods[i].low && addr < uw->mods[i].high)
			return true;
	return false;
}

/* Reports the ELF behind one executable mapping to dwfl, unless a module already covers it.
 * Returns 0 (reported or already there), or -errno when this mapping is not usable (the
 * caller skips it: its pcs will stop the walk with UNWIND_STOP_BAD_ADDR). */
static int report_mapping(struct unwinder *uw, Dwfl *dwfl, const struct procmaps_entry *e)
{
	const char *name = e->path;
	Dwfl_Module *mod;
	Dwarf_Addr low, high;
	uint64_t bias;
	int fd, err;

	if (covered(uw, e->start))
		return 0;
	if (uw->nmods >= UNWIND_MAX_MODULES)
		return -E2BIG;
	fd = is_vdso(e) ? vdso_open(uw->pid, e) : procmaps_open_file(uw->pid, e);
	if (fd < 0)
		return fd;
	err = elf_load_bias(fd, e, &bias);
	if (err < 0) {
		close(fd);
		return err;
	}
	/* base = bias with add_p_vaddr: libdwfl adds each segment's p_vaddr to it */
	mod = dwfl_report_elf(dwfl, name, name, fd, bias, true);
	if (!mod) {
		log_debug("unwind pid %d: cannot report %s at %#llx: %s", (int)uw->pid, name,
			  (unsigned long long)e->start, dwfl_errmsg(-1));
		close(fd);
		return -ENOEXEC;
	}
	/* from here the module owns fd */
	dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL);
	uw->mods[uw->nmods].low = low;
	uw->mods[uw->nmods].high = high;
	uw->nmods++;
	return 0;
}

static int report_all(struct unwinder *uw, Dwfl *dwfl, const struct procmaps *maps)
{
	for (size_t i = 0; i < maps->n; i++) {
		if (is_code(&maps->entries[i]))
			report_mapping(uw, dwfl, &maps->entries[i]);
	}
	return uw->nmods > 0 ? 0 : -ENOEXEC;
}

/* The code mappings of maps, as identities. Returns the count or -ENOMEM; *ret freed by caller. */
static ssize_t exec_maps_of(const struct procmaps *maps, struct exec_map **ret)
{
	struct exec_map *v;
	size_t n = 0;

	v = calloc(maps->n ? maps->n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < maps->n; i++) {
		const struct procmaps_entry *e = &maps->entries[i];

		if (!is_code(e))
			continue;
		v[n++] = (struct exec_map){ e->start, e->end, e->offset, e->inode, e->dev_major, e->dev_minor };
	}
	*ret = v;
	return (ssize_t)n;
}

static bool exec_map_eq(const struct exec_map *a, const struct exec_map *b)
{
	return a->start == b->start && a->end == b->end && a->offset == b->offset && a->inode == b->inode &&
	       a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

/* true when every mapping of old is still in new (both in address order): only additions. */
static bool only_added(const struct exec_map *old, size_t nold, const struct exec_map *new, size_t nnew)
{
	size_t j = 0;

	for (size_t i = 0; i < nold; i++) {
		while (j < nnew && new[j].start < old[i].start)
			j++;
		if (j == nnew || !exec_map_eq(&old[i], &new[j]))
			return false;
	}
	return true;
}

/* Replaces uw's Dwfl by a fresh one holding the modules of maps; on failure uw is unchanged. */
static int rebuild(struct unwinder *uw, const struct procmaps *maps)
{
	struct module_range *old_mods = uw->mods;
	size_t old_nmods = uw->nmods;
	Dwfl *dwfl = NULL;
	int err;

	uw->mods = calloc(UNWIND_MAX_MODULES, sizeof(*uw->mods));
	uw->nmods = 0;
	dwfl = uw->mods ? dwfl_begin(&dwfl_callbacks) : NULL;
	if (!dwfl) {
		err = -ENOMEM;
		goto cleanup;
	}
	dwfl_report_begin(dwfl);
	err = report_all(uw, dwfl, maps);
	if (dwfl_report_end(dwfl, NULL, NULL) != 0 && !err)
		err = -ENOMEM;
	if (err)
		goto cleanup;
	/* no Elf given: libdwfl takes the architecture from the first module */
	if (!dwfl_attach_state(dwfl, NULL, uw->pid, &thread_callbacks, uw)) {
		log_debug("unwind pid %d: dwfl_attach_state: %s", (int)uw->pid, dwfl_errmsg(-1));
		err = -ENOEXEC;
		goto cleanup;
	}
	dwfl_end(uw->dwfl);
	uw->dwfl = dwfl;
	free(old_mods);
	return 0;
cleanup:
	dwfl_end(dwfl);
	free(uw->mods);
	uw->mods = old_mods;
	uw->nmods = old_nmods;
	return err;
}

static int refresh_locked(struct unwinder *uw)
{
	struct procmaps maps = { 0 };
	struct exec_map *execs = NULL;
	ssize_t nexecs;
	int err;

	err = procmaps_read(uw->pid, &maps);
	if (err)
		return err;
	nexecs = exec_maps_of(&maps, &execs);
	if (nexecs < 0) {
		err = (int)nexecs;
		goto cleanup;
	}
	if (uw->dwfl && (size_t)nexecs == uw->nexecs &&
	    (nexecs == 0 || !memcmp(execs, uw->execs, (size_t)nexecs * sizeof(*execs))))
		goto cleanup; /* nothing changed: the common case, keep every warm CFI cache */
	if (uw->dwfl && only_added(uw->execs, uw->nexecs, execs, (size_t)nexecs)) {
		/* dlopen: add the new objects, keep the others */
		dwfl_report_begin_add(uw->dwfl);
		for (size_t i = 0; i < maps.n; i++) {
			if (is_code(&maps.entries[i]))
				report_mapping(uw, uw->dwfl, &maps.entries[i]);
		}
		if (dwfl_report_end(uw->dwfl, NULL, NULL) != 0)
			err = -ENOMEM;
	} else {
		/* something was unmapped or replaced: start over */
		err = rebuild(uw, &maps);
	}
	if (err)
		goto cleanup;
	free(uw->execs);
	uw->execs = execs;
	uw->nexecs = (size_t)nexecs;
	execs = NULL;
cleanup:
	free(execs);
	procmaps_free(&maps);
	return err;
}

int unwinder__refresh(struct unwinder *uw)
{
	int err;

	if (!uw)
		return -EINVAL;
	pthread_mutex_lock(&uw->lock);
	err = refresh_locked(uw);
	pthread_mutex_unlock(&uw->lock);
	return err;
}

struct unwinder *unwinder__new(pid_t pid)
{
	struct unwinder *uw;
	int err;

	if (pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	uw = calloc(1, sizeof(*uw));
	if (!uw) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&uw->lock, NULL);
	uw->pid = pid;
	elf_version(EV_CURRENT);
	err = refresh_locked(uw);
	if (err) {
		unwinder__free(uw);
		errno = -err;
		return NULL;
	}
	return uw;
}

void unwinder__free(struct unwinder *uw)
{
	if (!uw)
		return;
	dwfl_end(uw->dwfl);
	free(uw->execs);
	free(uw->mods);
	pthread_mutex_destroy(&uw->lock);
	free(uw);
}
