// SPDX-License-Identifier: MIT
/* Minimal x86-64 decoding for uprobe placement (see x86_decode.h). Only the handful of encodings
 * compilers emit at function entries are recognised; anything else is "unknown", which always
 * leads to the safe choice (probe at the entry). */
#include <string.h>

#include "sources/x86_decode.h"

/* register number (0..15, rax=0 ... rdi=7, r8=8) -> argument index, or -1 */
static int arg_index(int reg)
{
	static const int map[16] = { -1, 3, 2, -1, -1, -1, 1, 0, 4, 5, -1, -1, -1, -1, -1, -1 };

	return map[reg & 15];
}

/* May an instruction write this register before the probe? Only caller-saved, non-argument ones. */
static bool writable(int reg, unsigned args_mask)
{
	int a = arg_index(reg);

	/* rax, rcx, rdx, rsi, rdi, r8-r11 are caller-saved; rsp, rbp, rbx, r12-r15 are not */
	if (reg == 4 || reg == 5 || reg == 3 || reg >= 12)
		return false;
	return a < 0 || !(args_mask & (1u << a));
}

int x86_emulated_len(const uint8_t *c, size_t len)
{
	if (len < 1)
		return 0;
	if (c[0] >= 0x50 && c[0] <= 0x57)
		return 1; /* push reg */
	if (c[0] == 0x41 && len >= 2 && c[1] >= 0x50 && c[1] <= 0x57)
		return 2; /* push r8..r15 */
	if (c[0] == 0x90)
		return 1; /* nop */
	if ((c[0] >= 0x70 && c[0] <= 0x7f) || c[0] == 0xeb)
		return len >= 2 ? 2 : 0; /* jcc/jmp rel8 */
	if (c[0] == 0xe8 || c[0] == 0xe9)
		return len >= 5 ? 5 : 0; /* call/jmp rel32 */
	if (c[0] == 0x0f && len >= 6 && c[1] >= 0x80 && c[1] <= 0x8f)
		return 6; /* jcc rel32 */
	return 0;
}

/* Bytes of a ModRM operand (ModRM, SIB, displacement) starting at c[i]; 0 if truncated. */
static size_t modrm_len(const uint8_t *c, size_t len, size_t i)
{
	size_t n = 1;
	int mod, rm;

	if (i >= len)
		return 0;
	mod = c[i] >> 6;
	rm = c[i] & 7;
	if (mod != 3 && rm == 4) { /* SIB */
		if (i + 1 >= len)
			return 0;
		n++;
		if (mod == 0 && (c[i + 1] & 7) == 5)
			n += 4; /* no base: disp32 */
	}
	if (mod == 0 && rm == 5)
		n += 4; /* rip-relative */
	else if (mod == 1)
		n += 1;
	else if (mod == 2)
		n += 4;
	return i + n <= len ? n : 0;
}

/* Instructions compilers put before the first push/branch of allocator entries (glibc,
 * jemalloc): compares and tests (flags only), loads, lea, ALU ops and shifts whose destination
 * is a caller-saved register that is not an argument. Memory is only ever read. */
int x86_skippable_len(const uint8_t *c, size_t len, unsigned args_mask)
{
	size_t i = 0, m;
	int rex = 0, op, modrm, mod, reg, rm, sub;

	if (len >= 4 && c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
		return 4; /* endbr64 */
	if (i < len && (c[i] == 0x64 || c[i] == 0x65))
		i++; /* fs/gs segment override: a thread-local read */
	if (i < len && (c[i] & 0xf0) == 0x40)
		rex = c[i++];
	if (i >= len)
		return 0;
	op = c[i++];
	/* op eax/rax, imm32 (add, or, and, sub, xor, cmp): rax is never an argument */
	if (op == 0x05 || op == 0x0d || op == 0x25 || op == 0x2d || op == 0x35 || op == 0x3d)
		return i + 4 <= len ? (int)(i + 4) : 0;
	if (i >= len)
		return 0;
	modrm = c[i];
	mod = modrm >> 6;
	reg = ((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0);
	rm = (modrm & 7) | ((rex & 1) ? 8 : 0);
	sub = (modrm >> 3) & 7;
	m = modrm_len(c, len, i);
	if (!m)
		return 0;
	i += m;

	switch (op) {
	case 0x84: case 0x85: /* test */
	case 0x38: case 0x39: case 0x3a: case 0x3b: /* cmp */
		return (int)i;
	case 0x01: case 0x09: case 0x21: case 0x29: case 0x31: /* op r/m <- r: writes rm */
	case 0x89:                                               /* mov r/m <- r */
		return mod == 3 && writable(rm, args_mask) ? (int)i : 0;
	case 0x03: case 0x0b: case 0x23: case 0x2b: case 0x33: /* op r <- r/m: writes reg */
	case 0x8b:                                               /* mov r <- r/m */
		return writable(reg, args_mask) ? (int)i : 0;
	case 0x8d: /* lea: computes an address, reads nothing */
		return mod != 3 && writable(reg, args_mask) ? (int)i : 0;
	case 0x80: case 0x81: case 0x83: { /* group 1 with an immediate */
		size_t imm = op == 0x81 ? 4 : 1;

		if (i + imm > len)
			return 0;
		if (sub == 7) /* cmp */
			return (int)(i + imm);
		if (sub == 2 || sub == 3) /* adc/sbb: leave them alone */
			return 0;
		return mod == 3 && writable(rm, args_mask) ? (int)(i + imm) : 0;
	}
	case 0xc1: /* shifts by an immediate: shl, shr, sar */
		if (i + 1 > len || (sub != 4 && sub != 5 && sub != 7))
			return 0;
		return mod == 3 && writable(rm, args_mask) ? (int)(i + 1) : 0;
	default:
		return 0;
	}
}

/* Could some branch in body land in (0, off]? Checks every byte offset, so it over-approximates. */
static bool branch_into(const uint8_t *b, size_t n, size_t off)
{
	for (size_t i = 0; i < n; i++) {
		int64_t target = -1;
		int32_t rel32;

		if ((b[i] >= 0x70 && b[i] <= 0x7f) || b[i] == 0xeb || b[i] == 0xe3) {
			if (i + 2 <= n)
				target = (int64_t)i + 2 + (int8_t)b[i + 1];
		} else if (b[i] == 0xe8 || b[i] == 0xe9) {
			if (i + 5 <= n) {
				memcpy(&rel32, b + i + 1, 4);
				target = (int64_t)i + 5 + rel32;
			}
		} else if (b[i] == 0x0f && i + 6 <= n && b[i + 1] >= 0x80 && b[i + 1] <= 0x8f) {
			memcpy(&rel32, b + i + 2, 4);
			target = (int64_t)i + 6 + rel32;
		}
		if (target > 0 && (uint64_t)target <= off)
			return true;
	}
	return false;
}

size_t x86_probe_offset(const uint8_t *body, size_t body_len, unsigned args_mask)
{
	size_t off = 0;

	for (int n = 0; n <= X86_MAX_SKIP && off < body_len; n++) {
		int l;

		if (x86_emulated_len(body + off, body_len - off) > 0)
			break;
		l = x86_skippable_len(body + off, body_len - off, args_mask);
		if (l <= 0 || n == X86_MAX_SKIP)
			return 0;
		off += (size_t)l;
	}
	if (off >= body_len || x86_emulated_len(body + off, body_len - off) == 0)
		return 0;
	if (off > 0 && branch_into(body, body_len, off))
		return 0;
	return off;
}

int x86_scan_rel32(const uint8_t *b, size_t n, void (*fn)(void *ctx, size_t at, int64_t target, bool is_call),
		   void *ctx)
{
	int count = 0;
	int32_t rel32;

	for (size_t i = 0; i + 5 <= n; i++) {
		if (b[i] != 0xe8 && b[i] != 0xe9)
			continue;
		memcpy(&rel32, b + i + 1, 4);
		fn(ctx, i, (int64_t)i + 5 + rel32, b[i] == 0xe8);
		count++;
	}
	return count;
}
