/* SPDX-License-Identifier: MIT */
/* Types shared by bpf/oom.bpf.c and daemon/sources/oomwatch.c: one ring-buffer record per
 * process the kernel's OOM killer chose as its victim, anywhere on the system (user space keeps
 * those of the processes profd serves). */
#ifndef PROFD_BPF_OOM_H
#define PROFD_BPF_OOM_H

/* One victim. */
struct profd_oom_event {
	__u32 pid;         /* the victim (a thread ID; the group leader's, but for an exited leader) */
	__u32 pad;
	__u64 anon_rss_kb; /* its anonymous resident memory when chosen; 0 where the kernel's
			    * tracepoint does not carry it (before 6.8) */
};

#endif
