/* SPDX-License-Identifier: MIT */
/* A function whose CFI names register 50,000,000: libdw 0.188 would grow its register table to
 * that many entries (1.6 GB, cleared) to evaluate it. tests/unit/stacks/test_unwind_image.c
 * checks that the unwinder refuses this CFI instead (stacks/cfiscan.c). Never run. */
	.text
	.globl	badcfi_f
badcfi_f:
	.cfi_startproc
	pushq	%rbp
	.cfi_offset 50000000, -16
	popq	%rbp
	ret
	.cfi_endproc

	.globl	_start
_start:
	.cfi_startproc
	call	badcfi_f
	hlt
	.cfi_endproc
