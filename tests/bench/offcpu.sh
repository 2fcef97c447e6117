# SPDX-License-Identifier: MIT
# Sourced by the benchmarks that compare with bcc's offcputime (bench_block.sh, bench_mutex.sh):
# sets OFFCPU to the tool when it can run here, else to nothing (with a note), and BCC to the
# kernel headers it needs. BCC compiles against kernel headers: Debian's common and arch packages
# merged into one tree (as bench_heap.sh does); offcputime also reads the kprobe blacklist from
# debugfs, mounted here if it is not.
OFFCPU=$(command -v offcputime-bpfcc || command -v offcputime || true)
BCC=

bcc_headers() {
	local m=/tmp/profd-bcc-headers common arch
	[ -d "$m/include" ] && { echo "$m"; return 0; }
	common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | tail -1)
	arch=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | tail -1)
	[ -n "$common" ] && [ -n "$arch" ] || return 1
	mkdir -p "$m" && cp -a "$common"/. "$m"/ && cp -a --remove-destination "$arch"/. "$m"/ && echo "$m"
}
[ -n "$OFFCPU" ] && { BCC=$(bcc_headers) || { echo "note: no kernel headers for bcc: offcputime cannot run"; OFFCPU=; }; }
if [ -n "$OFFCPU" ] && [ ! -e /sys/kernel/debug/kprobes/blacklist ]; then
	if ! mountpoint -q /sys/kernel/debug; then
		echo "note: mounting debugfs on /sys/kernel/debug (offcputime needs it)"
		mount -t debugfs none /sys/kernel/debug 2>/dev/null
	fi
	[ -e /sys/kernel/debug/kprobes/blacklist ] || { echo "note: no kprobes in this kernel: bcc's offcputime cannot run"; OFFCPU=; }
fi

# offcputime's equivalent in bpftrace, for kernels without kprobes (BPFTRACE: the tool, or
# nothing): a frame-pointer user stack per switch-out of PID's threads, off-CPU time summed per
# stack in the kernel. Prints the program; it prints "Tracing" once attached.
BPFTRACE=$(command -v bpftrace || true)
offcpu_bpftrace_prog() {
	echo "tracepoint:sched:sched_switch /pid == $1/ { @s[tid] = nsecs; @u[tid] = ustack; }
		tracepoint:sched:sched_switch /@s[args->next_pid]/ {
			@off[@u[args->next_pid]] = sum(nsecs - @s[args->next_pid]); delete(@s[args->next_pid]); }
		BEGIN { printf(\"Tracing\n\"); }"
}
