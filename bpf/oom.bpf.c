// SPDX-License-Identifier: GPL-2.0
/* The OOM killer's choice (--snapshot-on oom): on the tracepoint oom:mark_victim, which the
 * kernel hits once per victim before the victim dies, the victim's PID goes to user space. It
 * runs once per OOM kill on the whole system, nothing else: its cost is nil until memory runs
 * out. The classic tracepoint's record (its pid field is in every kernel since 4.x; 6.8 added
 * the victim's RSS) rather than its arguments, which changed type in 6.8. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "oom.h"

__u64 victims = 0; /* OOM kills seen */
__u64 lost = 0;    /* records dropped: ring buffer full (user space did not keep up) */

/* Records (struct profd_oom_event): a page holds 256, far more than OOM kills come in a burst. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp/oom/mark_victim")
int on_mark_victim(struct trace_event_raw_mark_victim *ctx)
{
	struct profd_oom_event *e;

	__sync_fetch_and_add(&victims, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return 0;
	}
	e->pid = (__u32)BPF_CORE_READ(ctx, pid);
	e->pad = 0;
	e->anon_rss_kb = 0;
	if (bpf_core_field_exists(ctx->anon_rss))
		e->anon_rss_kb = BPF_CORE_READ(ctx, anon_rss);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
