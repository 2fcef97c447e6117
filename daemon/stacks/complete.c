// SPDX-License-Identifier: MIT
/* The rule of a complete stack (complete.h) and the counts kept by it. Pure: no state beyond
 * the caller's tally. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "stacks/complete.h"

static const char *const meanings[UNWIND_STOP__COUNT] = {
	[UNWIND_STOP_ROOT] = "reached the thread's start",
	[UNWIND_STOP_WINDOW] = "the stack copy was too short",
	[UNWIND_STOP_NO_CFI] = "code without unwind information",
	[UNWIND_STOP_BAD_ADDR] = "a return address outside any code",
	[UNWIND_STOP_DEPTH] = "the depth bound",
	[UNWIND_STOP_ERROR] = "the unwinder failed",
	[UNWIND_STOP_FRAME_POINTER] = "a frame-pointer chain failed its checks",
};

bool stack_root_function(const char *name)
{
	static const char *const roots[] = {
		"_start", "start_thread", "clone", "clone3", "__clone", "__clone3", "_start_c",
		"runtime.goexit", "runtime.goexit.abi0", "runtime.mstart", "runtime.mstart.abi0",
		"runtime.rt0_go", "runtime.rt0_go.abi0",
		/* Go's switches to the thread's g0 stack: frames there begin at the switch */
		"runtime.mcall", "runtime.mcall.abi0", "runtime.systemstack", "runtime.systemstack.abi0",
		"runtime.morestack", "runtime.morestack.abi0",
	};

	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (!strcmp(name, roots[i]))
			return true;
	return false;
}

enum unwind_stop stack_short_reason(int n, enum unwind_stop why)
{
	if ((unsigned)why >= UNWIND_STOP__COUNT)
		return UNWIND_STOP_ERROR;
	if (n <= 0)
		return UNWIND_STOP_ERROR;
	return why;
}

bool stack_complete(int n, enum unwind_stop why)
{
	return stack_short_reason(n, why) == UNWIND_STOP_ROOT;
}

void stack_tally__add(struct stack_tally *t, int n, enum unwind_stop why)
{
	enum unwind_stop r = stack_short_reason(n, why);

	if (!t)
		return;
	t->stacks++;
	if (r != UNWIND_STOP_ROOT)
		t->short_by[r]++;
}

void stack_tally__merge(struct stack_tally *t, const struct stack_tally *o)
{
	if (!t || !o)
		return;
	t->stacks += o->stacks;
	for (int i = 0; i < UNWIND_STOP__COUNT; i++)
		t->short_by[i] += o->short_by[i];
}

uint64_t stack_tally__short(const struct stack_tally *t)
{
	uint64_t n = 0;

	if (!t)
		return 0;
	for (int i = 0; i < UNWIND_STOP__COUNT; i++)
		if (i != UNWIND_STOP_ROOT)
			n += t->short_by[i];
	return n;
}

const char *stack_short_meaning(enum unwind_stop why)
{
	if ((unsigned)why >= UNWIND_STOP__COUNT)
		return "unknown";
	return meanings[why];
}

int stack_tally__sentence(const struct stack_tally *t, const char *what, char *out, size_t len)
{
	uint64_t bad = stack_tally__short(t);
	size_t off = 0;
	int r;

	if (!t || !what || !out || !len)
		return -EINVAL;
	out[0] = '\0';
	if (!bad)
		return snprintf(out, len, "all %" PRIu64 " %s reached the thread's start", t->stacks, what);
	r = snprintf(out, len, "%" PRIu64 " of %" PRIu64 " %s (%.1f%%) fell short of the thread's start:", bad,
		     t->stacks, what, t->stacks ? 100.0 * (double)bad / (double)t->stacks : 100.0);
	if (r < 0)
		return -EINVAL;
	off = (size_t)r;
	for (int i = 0, k = 0; i < UNWIND_STOP__COUNT; i++) {
		if (i == UNWIND_STOP_ROOT || !t->short_by[i])
			continue;
		r = snprintf(off < len ? out + off : NULL, off < len ? len - off : 0, "%s %" PRIu64 " %s (%s)",
			     k++ ? "," : "", t->short_by[i], unwind_stop_name((enum unwind_stop)i),
			     meanings[i]);
		if (r < 0)
			return -EINVAL;
		off += (size_t)r;
	}
	return (int)off;
}
