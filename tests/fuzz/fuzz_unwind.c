// SPDX-License-Identifier: MIT
/* Fuzzes the unwinder's CFI walk (stacks/unwind.c) with a mutated ELF file and a mutated stack:
 * .eh_frame and .debug_frame rules, the expressions the fast walker evaluates, and libdwfl's own
 * walk (unwinder__new_image, no process). Input: a flag byte (bit 0: libdwfl's walk only), the
 * leaf pc as an offset into the executable segment (4 bytes), the stack length (2 bytes), the
 * stack, then the ELF file; flag bits 1-2 lay words over the stack copy (unwind_stack.words). A stack word below 2^32 is read as an offset into the executable
 * segment, so that return addresses land in code. Flag bit 3 declares a range of code without
 * CFI (a JIT's, walked by frame pointer), where words in [2^32, 2^33) land; bit 4 puts the leaf
 * there. Checks: at most max pcs, a leaf that is the
 * given pc (none for pc 0), a reason for the stop that is one of the documented ones. */
#include <errno.h>

#include "fuzz_elf.h"
#include "stacks/samples.h"
#include "stacks/unwind.h"

#define START 0x10000000ull    /* where an ET_DYN image is "mapped" */
#define STACK 0x7ffe00000000ull
#define MAX_PCS 32
#define JIT 0x300000000000ull /* code without CFI (flag bit 3) */
#define JIT_SIZE 0x10000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, data + size };
	struct unwind_regs regs;
	struct unwind_stack st;
	struct unwind_word overlay[3];
	struct fuzz_elf e;
	struct unwinder *uw;
	enum unwind_stop why;
	uint64_t pcs[MAX_PCS + 1], base, code, *words;
	unsigned flags, pc_off;
	size_t len, nwords;
	int n;

	flags = fuzz_u8(&in);
	pc_off = (unsigned)fuzz_le(&in, 4);
	len = (size_t)fuzz_le(&in, 2) % 4096;
	if ((size_t)(in.end - in.p) < len)
		return 0;
	nwords = (len + 7) / 8;
	words = calloc(nwords ? nwords : 1, 8);
	CHECK(words, "calloc");
	memcpy(words, in.p, len);
	in.p += len;
	if (!fuzz_elf_read(in.p, (size_t)(in.end - in.p), &e) || !e.exec_size) {
		free(words);
		return 0;
	}
	base = e.type == 3 /* ET_DYN */ ? START : 0;
	code = base + e.exec_vaddr;
	for (size_t i = 0; i < nwords; i++)
		if (words[i] >> 32 == 0)
			words[i] = code + words[i] % e.exec_size;
		else if (words[i] >> 32 == 1 && (flags & 8))
			words[i] = JIT + words[i] % JIT_SIZE;
	uw = unwinder__new_image(in.p, (size_t)(in.end - in.p), base, flags & 1);
	if (!uw) {
		CHECK(errno == ENOEXEC || errno == EINVAL || errno == ENOMEM, "unwinder__new_image: errno");
		free(words);
		return 0;
	}
	if (flags & 8)
		CHECK(unwinder__add_code(uw, JIT, JIT + JIT_SIZE) == 0, "unwinder__add_code");
	memset(&regs, 0, sizeof(regs));
	for (int r = 0; r < UNWIND_NREGS; r++)
		regs.r[r] = STACK + 8 * (uint64_t)r; /* plausible values for CFA expressions */
	regs.r[UNWIND_REG_RSP] = STACK;
	regs.r[UNWIND_REG_RBP] = STACK + 64;
	regs.r[UNWIND_REG_RIP] = code + pc_off % e.exec_size;
	if ((flags & 24) == 24)
		regs.r[UNWIND_REG_RIP] = JIT + pc_off % JIT_SIZE;
	st = (struct unwind_stack){ .start = STACK, .data = (const uint8_t *)words, .len = len };
	/* flags bits 1-2: up to 3 words read as other values (return addresses a probe replaced),
	 * described by the stack's own first bytes: a 2-byte offset (any alignment, past the end
	 * too), then the value */
	st.nwords = (flags >> 1) & 3;
	for (size_t i = 0; i < st.nwords; i++) {
		uint16_t off = 0;
		uint64_t v = 0;

		if (len >= 10 * (i + 1)) {
			memcpy(&off, (const uint8_t *)words + 10 * i, 2);
			memcpy(&v, (const uint8_t *)words + 10 * i + 2, 8);
		}
		overlay[i].addr = STACK + off % (len + 16) - 4;
		overlay[i].value = v >> 32 == 0 ? code + v % e.exec_size : v;
	}
	st.words = overlay;
	pcs[MAX_PCS] = 0x5a5a5a5a;
	for (int pass = 0; pass < 2; pass++) { /* the second walk runs on cached rules */
		n = unwinder__unwind(uw, &regs, &st, pcs, MAX_PCS, &why);
		if (!regs.r[UNWIND_REG_RIP]) { /* an image at vaddr 0: pc 0 is no pc */
			CHECK(n == 0 && why == UNWIND_STOP_BAD_ADDR, "pc 0");
			break;
		}
		CHECK(n >= 1 && n <= MAX_PCS, "pc count");
		CHECK(pcs[MAX_PCS] == 0x5a5a5a5a, "wrote past max pcs");
		CHECK(pcs[0] == sample_pc_exact(regs.r[UNWIND_REG_RIP]), "the leaf is not the sample's pc");
		CHECK((unsigned)why < UNWIND_STOP__COUNT, "stop reason");
	}
	/* a depth bound of 1 */
	n = unwinder__unwind(uw, &regs, &st, pcs, 1, &why);
	CHECK(n == (regs.r[UNWIND_REG_RIP] != 0), "max 1");
	unwinder__free(uw);
	free(words);
	return 0;
}
