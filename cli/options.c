// SPDX-License-Identifier: MIT
/* Flag and environment parsing for profd. Flags override PROFD_* variables; everything is
 * validated here so that a bad value stops profd before it touches the target. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "http/history.h"
#include "sources/block.h"
#include "sources/fd.h"
#include "sources/mutex.h"
#include "sources/growth.h"
#include "sources/heap.h"
#include "sources/threads.h"
#include "options.h"
#include "http/query.h"

static const char usage[] =
	"Usage: profd SELECTOR [--addr HOST:PORT] [options]\n"
	"       profd stacks SELECTOR [--stack-bytes N] [--thread-dump MODE]\n"
	"       profd cpu SELECTOR [--seconds N] -o FILE\n"
	"       profd heap SELECTOR [--seconds N] -o FILE\n"
	"where SELECTOR is --pid PID [--children], --cgroup PATH or --unit NAME\n"
	"\n"
	"Attach to a running native process, or to every process of a service, and serve\n"
	"Go-compatible /debug/pprof endpoints for it, from outside the process (ptrace, perf events,\n"
	"eBPF, DWARF unwinding): nothing is loaded into the target and it is not restarted.\n"
	"\n"
	"Commands:\n"
	"  (none)                 run the HTTP server for the target (the daemon)\n"
	"  stacks                 print every thread's stack (like goroutine?debug=2) and exit\n"
	"  cpu                    write a CPU profile of --seconds (default 30) to -o FILE and exit\n"
	"  heap                   attach the heap probes, sample for --seconds (default 30), write the\n"
	"                         heap profile to -o FILE and exit (what was allocated before is not seen)\n"
	"\n"
	"Each option can also be set by the environment variable shown; flags win.\n"
	"\n"
	"Selectors (exactly one):\n"
	"  -p, --pid PID          one process (PROFD_PID); profd exits with it (status 3)\n"
	"      --children         with --pid: the process and all its descendants, those created\n"
	"                         later included (PROFD_CHILDREN=1)\n"
	"      --cgroup PATH      every process of a cgroup v2 directory, absolute or relative to\n"
	"                         the cgroup2 mount, e.g. system.slice/nginx.service (PROFD_CGROUP)\n"
	"      --unit NAME        a systemd unit's processes (.service may be omitted), across its\n"
	"                         restarts (PROFD_UNIT)\n"
	"  With a set, processes join (fork, exec) and leave as they come and go; profd keeps\n"
	"  serving when the set is empty, samples carry pid and process labels, and ?pid=N\n"
	"  restricts a request to one process of the set (the index lists them).\n"
	"      --max-processes N  processes of a set followed at once, 1..65536\n"
	"                         (PROFD_MAX_PROCESSES), default 1024; more are counted, not followed\n"
	"\n"
	"Options:\n"
	"  -a, --addr HOST:PORT   address to listen on (PROFD_ADDR), default 127.0.0.1:6060;\n"
	"                         HOST is a numeric IPv4 address, [IPv6] or localhost; port 0 picks\n"
	"                         a free port. profd prints 'listening on HOST:PORT' once bound.\n"
	"      --allow-public     allow a non-loopback address (PROFD_ALLOW_PUBLIC=1). Profiles\n"
	"                         expose memory layout, command lines and code paths, and long CPU\n"
	"                         profiles cost the target CPU: anyone who can connect gets them.\n"
	"      --ready-file PATH  write the bound HOST:PORT to PATH once serving (PROFD_READY_FILE)\n"
	"      --max-connections N  concurrent HTTP connections, 4..4096 (PROFD_MAX_CONNECTIONS),\n"
	"                         default 512; at the limit, a new connection replaces the one that\n"
	"                         has been sending its request the longest (if for 0.25 s or more)\n"
	"      --request-timeout N  seconds a client has to send its whole request, head and body,\n"
	"                         at any pace, 1..600 (PROFD_REQUEST_TIMEOUT), default 10; slower\n"
	"                         clients get HTTP 408 and are disconnected\n"
	"      --max-seconds N    longest ?seconds=N a request may ask for, 1..86400\n"
	"                         (PROFD_MAX_SECONDS), default 300; longer gets HTTP 400\n"
	"      --stack-bytes N    bytes of each thread's stack copied for a thread dump, 4096..1048576\n"
	"                         (PROFD_STACK_BYTES), default 65536; deeper stacks are cut and said so\n"
	"      --thread-dump MODE auto (default) or ptrace (PROFD_THREAD_DUMP). auto reads every thread\n"
	"                         that is not on a CPU from the kernel (a BPF task iterator, kernel\n"
	"                         5.18+) without stopping it, and stops only the running ones, each\n"
	"                         alone for microseconds; ptrace stops every thread. Where the kernel\n"
	"                         refuses the iterator, auto logs why once and stops every thread\n"
	"      --cpu-hz N         CPU samples per second of CPU time, 1..1000 (PROFD_CPU_HZ), default 100\n"
	"      --cpu-stack-bytes N  stack bytes copied per CPU sample, 1024..32768\n"
	"                         (PROFD_CPU_STACK_BYTES), default 16384\n"
	"      --heap MODE        demand (default), inuse, allocs or off (PROFD_HEAP). While attached,\n"
	"                         the heap probes trap on every malloc/free of the target (1-12 us each,\n"
	"                         by machine), so by default nothing is attached until a heap or allocs\n"
	"                         request: ?seconds=N attaches them for N seconds; a request without\n"
	"                         seconds starts tracking, which goes on while requests keep coming.\n"
	"                         inuse (live and cumulative) and allocs (cumulative only, cheaper)\n"
	"                         attach at start-up. What was allocated before attaching is not seen.\n"
	"                         Their cost shows in CPU profiles as the frame 'profd: allocator probe'\n"
	"      --heap-idle DURATION  demand mode: detach the probes after this long without a heap or\n"
	"                         allocs request, 1s..168h (PROFD_HEAP_IDLE), default 10m\n"
	"      --heap-budget PERCENT  the share of the target's CPU time the heap probes may cost,\n"
	"                         above 0 up to 100 (PROFD_HEAP_BUDGET), default 2; above it they are\n"
	"                         detached within a second and come back after a backoff (10 s,\n"
	"                         doubling to 10 min); 100 = no limit. Said in profiles and the index\n"
	"      --heap-rate BYTES  mean bytes between heap samples, 1 (every allocation) to 2^40, K/M\n"
	"                         suffixes (PROFD_HEAP_RATE), default 524288 as in Go\n"
	"      --growth MODE      demand (default), always or off (PROFD_GROWTH): the growth profile,\n"
	"                         where resident memory grew by stack, from page faults: nothing paid\n"
	"                         per allocation. While attached, a BPF program runs on every page\n"
	"                         fault of the target: at worst (only touching fresh pages) it runs\n"
	"                         1.2x as long, as under perf record -e page-faults with stacks; nothing\n"
	"                         while it reuses memory it has. demand attaches it for a\n"
	"                         growth?seconds=N window, or from a growth request until --growth-idle\n"
	"                         passes without one; always attaches it at start-up. Needs the x86\n"
	"                         page-fault tracepoint in BTF (Debian 12's 6.1 has it); else said at start\n"
	"      --growth-rate BYTES  mean bytes faulted in between growth samples, 1 (every fault) to\n"
	"                         2^40, K/M suffixes (PROFD_GROWTH_RATE), default 1M\n"
	"      --growth-idle DURATION  demand mode: detach after this long without a growth request,\n"
	"                         1s..168h (PROFD_GROWTH_IDLE), default 10m\n"
	"      --fd MODE          demand (default), always or off (PROFD_FD): the fd profile, open\n"
	"                         descriptors by the stack that opened them, from the syscall\n"
	"                         tracepoints (no uprobes). While attached, the target pays at each\n"
	"                         descriptor it creates (a record and a 16 KiB stack copy, about 1-3 us;\n"
	"                         the fd profile and /metrics show the measured figure), and every\n"
	"                         syscall of the machine takes the kernel's syscall-tracepoint path\n"
	"                         (about +0.5 us here). demand attaches them at the first fd request\n"
	"                         (descriptors open then are 'opened before profd attached') until\n"
	"                         --fd-idle passes without one; always attaches them at start-up\n"
	"      --fd-idle DURATION demand mode: detach after this long without an fd request,\n"
	"                         1s..168h (PROFD_FD_IDLE), default 10m\n"
	"      --snapshot-dir DIR on SIGUSR2, write the heap profile to DIR/profd-heap-PID.pb.gz\n"
	"                         (PROFD_SNAPSHOT_DIR)\n"
	"      --snapshot-on LIST  write snapshots on triggers, a comma-separated list of\n"
	"                         rss-step=SIZE, oom and pressure (PROFD_SNAPSHOT_ON), to\n"
	"                         DIR/profd-PROFILE-PID-TIME.pb.gz; needs --snapshot-dir.\n"
	"                         rss-step=SIZE: the heap profile each time the target's RSS has\n"
	"                         grown by SIZE (1M..1024G, K/M/G) since the last one; --pid alone;\n"
	"                         with --heap demand a snapshot holds only what requests had the\n"
	"                         probes track: use --heap inuse. oom: the heap (and growth, fd)\n"
	"                         profiles of a process the OOM killer chose, written after it died\n"
	"                         (BPF on oom:mark_victim; --pid: before profd exits). pressure: them\n"
	"                         when its memory cgroup reports pressure (v2 memory.events high/max\n"
	"                         and PSI, or v1 memory.pressure_level), at most every 30 s. oom and\n"
	"                         pressure keep the heap probes on from start-up with --heap demand\n"
	"                         (within --heap-budget); refused with --heap off or allocs\n"
	"      --snapshot-keep N  triggered snapshots kept per profile and process, the newest,\n"
	"                         1..10000 (PROFD_SNAPSHOT_KEEP), default 10\n"
	"      --history-interval DURATION  how often the resource history (RSS, threads, fds,\n"
	"                         heap in use: charts on the index, /debug/pprof/history?format=csv)\n"
	"                         is sampled, 1s..1h (PROFD_HISTORY_INTERVAL), default 10s\n"
	"      --history-length N  samples kept, 0..100000 (PROFD_HISTORY_LENGTH), default 8640\n"
	"                         (24 h at 10 s); its memory (24 bytes a sample, x9 for a set) is\n"
	"                         taken at start; 0: no history\n"
	"      --block-rate DURATION  the block profile's sampling rate, as Go's\n"
	"                         runtime.SetBlockProfileRate: a wait of d ns is kept with probability\n"
	"                         min(1, d/rate) and scaled; 1ns (every wait) to 1s, unit ns (default),\n"
	"                         us, ms or s (PROFD_BLOCK_RATE), default 10ms\n"
	"      --block-idle DURATION  detach the block profile's BPF programs after this long without\n"
	"                         a block request, 1s..168h (PROFD_BLOCK_IDLE), default 10m\n"
	"      --mutex-rate N     the mutex profile's sampling rate, as Go's\n"
	"                         runtime.SetMutexProfileFraction: one contended unlock in N on\n"
	"                         average is recorded and scaled by N; 1 (every one) to 1000000\n"
	"                         (PROFD_MUTEX_RATE), default 10\n"
	"      --mutex-idle DURATION  detach the mutex profile's BPF programs after this long without\n"
	"                         a mutex request, 1s..168h (PROFD_MUTEX_IDLE), default 10m\n"
	"      --seconds N        cpu and heap commands: how long to sample, 1..86400, default 30\n"
	"  -o, --output FILE      cpu and heap commands: where to write the profile (- = stdout)\n"
	"      --log-level LEVEL  error, warn, info or debug (PROFD_LOG_LEVEL), default info\n"
	"  -h, --help             show this help\n"
	"  -V, --version          show the version\n"
	"\n"
	"Endpoints (under http://HOST:PORT/debug/pprof/):\n"
	"  /debug/pprof/          index: what profd serves for this target, with status\n"
	"  profile?seconds=N      CPU profile (default 30 s); concurrent requests share one sampler\n"
	"  heap, allocs           sampled live heap / cumulative allocations by call stack;\n"
	"                         ?seconds=N: what was allocated in the next N s and what of it lives\n"
	"  block                  off-CPU waits of the target's threads by stack (contentions, delay),\n"
	"                         label wait=SYSCALL (futex, read, epoll_wait...); attached from the\n"
	"                         first request (sched_switch), ?seconds=N: the waits of the next N s\n"
	"  mutex                  lock contention: waiters' delay charged to the stack that released\n"
	"                         the lock (pthread mutexes and rwlocks, std::mutex; futex tracepoints),\n"
	"                         condition-variable waits excluded; on demand as block\n"
	"  threadcreate           where threads were created (the creator's stack), since attach;\n"
	"                         those that existed then under 'created before profd attached'\n"
	"  growth                 where resident memory grew: first touches of new pages, by stack\n"
	"                         (pagefaults/count, growth/bytes; any allocator, Go's too); ?seconds=N:\n"
	"                         the growth of the next N s; debug=1: gperftools' growthz text\n"
	"  fd                     open file descriptors by the stack that opened them (fds/count, label\n"
	"                         syscall=openat, socket, pipe2...); those open before profd attached\n"
	"                         under 'opened before profd attached', by type; debug=1 lists each\n"
	"                         descriptor: number, what it points to, opening stack\n"
	"  goroutine              every thread's stack (debug=1 grouped, debug=2 one block per thread)\n"
	"  cmdline                the target's argv, NUL-separated\n"
	"  symbol                 address to function name lookup (GET query or POST body)\n"
	"  history?format=csv     the resource history as CSV (?pid=N: one process of a set)\n"
	"  /metrics               (at the root) Prometheus text format: each process's memory,\n"
	"                         threads, fds, CPU, faults, cgroup memory, sampled heap in use;\n"
	"                         profd's own; reading it never stops a thread or attaches a probe\n"
	"  Named profiles take debug=N and seconds=N, as Go's net/http/pprof does (a delta of two\n"
	"  snapshots; for heap, allocs, block and mutex, a window of tracking). A profile this\n"
	"  target cannot have (off, refused, unsupported) answers 404 with the reason; the index\n"
	"  lists it. Go programs: dumps show their OS threads, not goroutines (their own\n"
	"  net/http/pprof has those); heap and allocs are refused for them.\n"
	"\n"
	"Debug info (source files, lines, inlined calls) comes from the binary itself, from a\n"
	"separate debug file (/usr/lib/debug/.build-id/, .gnu_debuglink: e.g. libc6-dbg), or from\n"
	"debuginfod when DEBUGINFOD_URLS is set; without it frames carry function names only.\n"
	"\n"
	"Exit status:\n"
	"  0  clean shutdown (SIGINT or SIGTERM), or a one-shot command succeeded\n"
	"  1  runtime failure (cannot listen, BPF or perf events unusable, I/O error)\n"
	"  2  usage error: unknown flag or bad value\n"
	"  3  the target process does not exist or exited\n"
	"  4  missing privileges: run as root or with CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE\n";

const char *options_usage(void)
{
	return usage;
}

bool addr_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(&a6))
			return a6.s6_addr[12] == 127;
	}
	return false;
}

int addr_parse(const char *s, char *host, size_t hostlen, unsigned *port, char *err, size_t errlen)
{
	const char *colon, *h = s, *hend;
	struct in_addr a4;
	struct in6_addr a6;
	char tmp[256];
	int64_t p;
	size_t n;

	if (!s || !*s) {
		snprintf(err, errlen, "the address is empty");
		return -EINVAL;
	}
	if (*s == '[') {
		hend = strchr(s, ']');
		if (!hend || hend[1] != ':') {
			snprintf(err, errlen, "'%s': an IPv6 address is written [ADDR]:PORT", s);
			return -EINVAL;
		}
		h = s + 1;
		colon = hend + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			snprintf(err, errlen, "'%s' has no port: use HOST:PORT (port 0 picks a free port)", s);
			return -EINVAL;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			snprintf(err, errlen, "'%s': write an IPv6 address in brackets, [ADDR]:PORT", s);
			return -EINVAL;
		}
		hend = colon;
	}
	if (query_parse_int64(colon + 1, &p) != 0 || colon[1] == '+' || colon[1] == '-' || p < 0 || p > 65535) {
		snprintf(err, errlen, "'%s': the port must be a number from 0 to 65535", s);
		return -EINVAL;
	}
	n = (size_t)(hend - h);
	if (n >= sizeof(tmp) || n >= hostlen) {
		snprintf(err, errlen, "'%s': the host is too long", s);
		return -EINVAL;
	}
	memcpy(tmp, h, n);
	tmp[n] = '\0';
	if (n == 0)
		strcpy(tmp, *s == '[' ? "::" : "0.0.0.0");
	if (strcmp(tmp, "localhost") != 0 && inet_pton(AF_INET, tmp, &a4) != 1 && inet_pton(AF_INET6, tmp, &a6) != 1) {
		snprintf(err, errlen,
			 "'%s': the host must be a numeric IPv4 address, [IPv6] or localhost (names are not resolved)",
			 s);
		return -EINVAL;
	}
	if (*s == '[' && inet_pton(AF_INET6, tmp, &a6) != 1) {
		snprintf(err, errlen, "'%s': '%s' is not an IPv6 address", s, tmp);
		return -EINVAL;
	}
	strcpy(host, tmp);
	*port = (unsigned)p;
	return 0;
}

/* Parses a bounded integer value of flag `flag`. */
static int parse_range(const char *flag, const char *v, int64_t lo, int64_t hi, int64_t *ret, char *err,
		       size_t errlen)
{
	if (query_parse_int64(v, ret) != 0 || *ret < lo || *ret > hi) {
		snprintf(err, errlen, "%s: '%s' is not valid; expected a whole number from %lld to %lld", flag, v,
			 (long long)lo, (long long)hi);
		return -EINVAL;
	}
	return 0;
}

enum opt_id { OPT_PID, OPT_CHILDREN, OPT_CGROUP, OPT_UNIT, OPT_MAX_PROCESSES, OPT_ADDR, OPT_ALLOW_PUBLIC,
	      OPT_READY_FILE, OPT_LOG_LEVEL, OPT_MAX_CONNECTIONS, OPT_REQUEST_TIMEOUT, OPT_MAX_SECONDS,
	      OPT_STACK_BYTES, OPT_THREAD_DUMP, OPT_CPU_HZ, OPT_CPU_STACK_BYTES, OPT_HEAP, OPT_HEAP_RATE,
	      OPT_HEAP_IDLE, OPT_HEAP_BUDGET, OPT_SNAPSHOT_DIR, OPT_SNAPSHOT_ON, OPT_SNAPSHOT_KEEP,
	      OPT_HISTORY_INTERVAL, OPT_HISTORY_LENGTH, OPT_BLOCK_RATE, OPT_BLOCK_IDLE, OPT_MUTEX_RATE,
	      OPT_MUTEX_IDLE, OPT_GROWTH, OPT_GROWTH_RATE, OPT_GROWTH_IDLE, OPT_FD, OPT_FD_IDLE, OPT_SECONDS,
	      OPT_OUTPUT, OPT__COUNT };

static const struct opt_def {
	const char *longname;
	char shortname;
	const char *env;
	bool has_value;
} opts[OPT__COUNT] = {
	[OPT_PID] = { "--pid", 'p', "PROFD_PID", true },
	[OPT_CHILDREN] = { "--children", 0, "PROFD_CHILDREN", false },
	[OPT_CGROUP] = { "--cgroup", 0, "PROFD_CGROUP", true },
	[OPT_UNIT] = { "--unit", 0, "PROFD_UNIT", true },
	[OPT_MAX_PROCESSES] = { "--max-processes", 0, "PROFD_MAX_PROCESSES", true },
	[OPT_ADDR] = { "--addr", 'a', "PROFD_ADDR", true },
	[OPT_ALLOW_PUBLIC] = { "--allow-public", 0, "PROFD_ALLOW_PUBLIC", false },
	[OPT_READY_FILE] = { "--ready-file", 0, "PROFD_READY_FILE", true },
	[OPT_LOG_LEVEL] = { "--log-level", 0, "PROFD_LOG_LEVEL", true },
	[OPT_MAX_CONNECTIONS] = { "--max-connections", 0, "PROFD_MAX_CONNECTIONS", true },
	[OPT_REQUEST_TIMEOUT] = { "--request-timeout", 0, "PROFD_REQUEST_TIMEOUT", true },
	[OPT_MAX_SECONDS] = { "--max-seconds", 0, "PROFD_MAX_SECONDS", true },
	[OPT_STACK_BYTES] = { "--stack-bytes", 0, "PROFD_STACK_BYTES", true },
	[OPT_THREAD_DUMP] = { "--thread-dump", 0, "PROFD_THREAD_DUMP", true },
	[OPT_CPU_HZ] = { "--cpu-hz", 0, "PROFD_CPU_HZ", true },
	[OPT_CPU_STACK_BYTES] = { "--cpu-stack-bytes", 0, "PROFD_CPU_STACK_BYTES", true },
	[OPT_HEAP] = { "--heap", 0, "PROFD_HEAP", true },
	[OPT_HEAP_RATE] = { "--heap-rate", 0, "PROFD_HEAP_RATE", true },
	[OPT_HEAP_IDLE] = { "--heap-idle", 0, "PROFD_HEAP_IDLE", true },
	[OPT_HEAP_BUDGET] = { "--heap-budget", 0, "PROFD_HEAP_BUDGET", true },
	[OPT_SNAPSHOT_DIR] = { "--snapshot-dir", 0, "PROFD_SNAPSHOT_DIR", true },
	[OPT_SNAPSHOT_ON] = { "--snapshot-on", 0, "PROFD_SNAPSHOT_ON", true },
	[OPT_SNAPSHOT_KEEP] = { "--snapshot-keep", 0, "PROFD_SNAPSHOT_KEEP", true },
	[OPT_HISTORY_INTERVAL] = { "--history-interval", 0, "PROFD_HISTORY_INTERVAL", true },
	[OPT_HISTORY_LENGTH] = { "--history-length", 0, "PROFD_HISTORY_LENGTH", true },
	[OPT_BLOCK_RATE] = { "--block-rate", 0, "PROFD_BLOCK_RATE", true },
	[OPT_BLOCK_IDLE] = { "--block-idle", 0, "PROFD_BLOCK_IDLE", true },
	[OPT_MUTEX_RATE] = { "--mutex-rate", 0, "PROFD_MUTEX_RATE", true },
	[OPT_MUTEX_IDLE] = { "--mutex-idle", 0, "PROFD_MUTEX_IDLE", true },
	[OPT_GROWTH] = { "--growth", 0, "PROFD_GROWTH", true },
	[OPT_GROWTH_RATE] = { "--growth-rate", 0, "PROFD_GROWTH_RATE", true },
	[OPT_GROWTH_IDLE] = { "--growth-idle", 0, "PROFD_GROWTH_IDLE", true },
	[OPT_FD] = { "--fd", 0, "PROFD_FD", true },
	[OPT_FD_IDLE] = { "--fd-idle", 0, "PROFD_FD_IDLE", true },
	/* one-shot only: no environment variable */
	[OPT_SECONDS] = { "--seconds", 0, NULL, true },
	[OPT_OUTPUT] = { "--output", 'o', NULL, true },
};

/* Messages from daemon/sources/heap.c name the flag ("--heap-rate: ..."); name the variable instead
 * when the value came from the environment. */
static void name_source(char *err, size_t errlen, const char *flag, const char *from)
{
	char tmp[512];
	size_t n = strlen(flag);

	if (strcmp(flag, from) == 0 || strncmp(err, flag, n) != 0)
		return;
	snprintf(tmp, sizeof(tmp), "%s%s", from, err + n);
	snprintf(err, errlen, "%s", tmp);
}

/* A switch given as a variable: 1/true/yes or 0/false/no (a flag without a value is "1"). */
static int parse_bool(const char *from, const char *v, bool *ret, char *err, size_t errlen)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
		*ret = true;
	} else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || !*v) {
		*ret = false;
	} else {
		snprintf(err, errlen, "%s: '%s' is not valid; expected 1 or 0", from, v);
		return -EINVAL;
	}
	return 0;
}

/* Applies one value; `from` names where it came from for the error message. */
/* --snapshot-on: a comma-separated list of triggers, oom, pressure and rss-step=SIZE (SIZE 1M to
 * 1024G with K, M or G). Sets every trigger anew: the last flag or variable wins. */
static int snapshot_on_parse(const char *from, const char *v, struct profd_config *cfg, char *err, size_t errlen)
{
	char list[256], *save = NULL, *t;

	cfg->snapshot_rss_step = 0;
	cfg->snapshot_oom = cfg->snapshot_pressure = false;
	if (!*v || strlen(v) >= sizeof(list))
		goto bad;
	strcpy(list, v);
	for (t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const char *size = strncmp(t, "rss-step=", 9) == 0 ? t + 9 : NULL;
		char *end = NULL;
		unsigned long long b = 0, mul = 1;

		if (strcmp(t, "oom") == 0) {
			cfg->snapshot_oom = true;
			continue;
		}
		if (strcmp(t, "pressure") == 0) {
			cfg->snapshot_pressure = true;
			continue;
		}
		if (size && *size >= '0' && *size <= '9') {
			errno = 0;
			b = strtoull(size, &end, 10);
			if (*end == 'K' || *end == 'k')
				mul = 1ull << 10;
			else if (*end == 'M' || *end == 'm')
				mul = 1ull << 20;
			else if (*end == 'G' || *end == 'g')
				mul = 1ull << 30;
			if (mul > 1)
				end++;
		}
		if (!size || !end || *end || errno || b == 0 || b > (1ull << 40) / mul || b * mul < (1ull << 20)) {
			snprintf(err, errlen, "%s: '%s' is not valid; expected a comma-separated list of oom, pressure and "
				 "rss-step=SIZE, SIZE from 1M to 1024G with K, M or G, e.g. oom,rss-step=64M", from, t);
			return -EINVAL;
		}
		cfg->snapshot_rss_step = b * mul;
	}
	if (cfg->snapshot_rss_step || cfg->snapshot_oom || cfg->snapshot_pressure)
		return 0;
bad:
	snprintf(err, errlen, "%s: '%s' is not valid; expected a comma-separated list of oom, pressure and "
		 "rss-step=SIZE, e.g. oom,rss-step=64M", from, v);
	return -EINVAL;
}

static int apply(struct profd_config *cfg, enum opt_id id, const char *v, const char *from, char *err,
		 size_t errlen)
{
	char aerr[256];
	int64_t n;

	switch (id) {
	case OPT_PID:
		if (query_parse_int64(v, &n) != 0 || n <= 0 || n > INT_MAX || v[0] == '+') {
			snprintf(err, errlen, "%s: '%s' is not a process ID; expected a positive whole number", from,
				 v);
			return -EINVAL;
		}
		cfg->pid = (pid_t)n;
		return 0;
	case OPT_CHILDREN:
		return parse_bool(from, v, &cfg->children, err, errlen);
	case OPT_CGROUP:
	case OPT_UNIT:
		if (!*v || strlen(v) >= sizeof(cfg->selector_name) || strchr(v, '\n') ||
		    (id == OPT_UNIT && (strchr(v, '/') || strlen(v) > 255))) {
			snprintf(err, errlen, "%s: '%s' is not valid; expected %s", from, v,
				 id == OPT_CGROUP ? "a cgroup v2 directory, e.g. system.slice/nginx.service"
						  : "a systemd unit name, e.g. nginx or nginx.service");
			return -EINVAL;
		}
		strcpy(cfg->selector_name, v);
		cfg->selector = id == OPT_CGROUP ? SELECT_CGROUP : SELECT_UNIT;
		return 0;
	case OPT_MAX_PROCESSES:
		if (parse_range(from, v, 1, 65536, &n, err, errlen))
			return -EINVAL;
		cfg->max_processes = (int)n;
		return 0;
	case OPT_ADDR:
		if (addr_parse(v, cfg->host, sizeof(cfg->host), &cfg->port, aerr, sizeof(aerr)) != 0) {
			snprintf(err, errlen, "%s: %s", from, aerr);
			return -EINVAL;
		}
		return 0;
	case OPT_ALLOW_PUBLIC:
		return parse_bool(from, v, &cfg->allow_public, err, errlen);
	case OPT_READY_FILE:
		if (!*v || strlen(v) >= sizeof(cfg->ready_file)) {
			snprintf(err, errlen, "%s: expected a file path", from);
			return -EINVAL;
		}
		strcpy(cfg->ready_file, v);
		return 0;
	case OPT_LOG_LEVEL:
		cfg->log_level = log_level_parse(v);
		if (cfg->log_level < 0) {
			snprintf(err, errlen, "%s: '%s' is not a log level; expected error, warn, info or debug", from,
				 v);
			return -EINVAL;
		}
		return 0;
	case OPT_MAX_CONNECTIONS:
		if (parse_range(from, v, 4, 4096, &n, err, errlen))
			return -EINVAL;
		cfg->max_connections = (unsigned)n;
		return 0;
	case OPT_REQUEST_TIMEOUT:
		if (parse_range(from, v, 1, 600, &n, err, errlen))
			return -EINVAL;
		cfg->request_timeout = (unsigned)n;
		return 0;
	case OPT_MAX_SECONDS:
		if (parse_range(from, v, 1, 86400, &n, err, errlen))
			return -EINVAL;
		cfg->max_seconds = (int)n;
		return 0;
	case OPT_STACK_BYTES:
		if (parse_range(from, v, 4096, 1048576, &n, err, errlen))
			return -EINVAL;
		cfg->stack_bytes = (size_t)n;
		return 0;
	case OPT_THREAD_DUMP:
		if (strcmp(v, "auto") == 0) {
			cfg->thread_dump = THREADS_METHOD_AUTO;
		} else if (strcmp(v, "ptrace") == 0) {
			cfg->thread_dump = THREADS_METHOD_PTRACE;
		} else {
			snprintf(err, errlen, "%s: '%s' is not a thread dump mode; expected auto or ptrace", from, v);
			return -EINVAL;
		}
		return 0;
	case OPT_CPU_HZ:
		if (parse_range(from, v, 1, 1000, &n, err, errlen))
			return -EINVAL;
		cfg->cpu_hz = (int)n;
		return 0;
	case OPT_CPU_STACK_BYTES:
		if (parse_range(from, v, 1024, 32768, &n, err, errlen))
			return -EINVAL;
		cfg->cpu_stack_bytes = (unsigned)n;
		return 0;
	case OPT_HEAP: {
		enum heap_mode mode;

		if (heap_mode_parse(v, &mode, err, errlen) != 0) {
			name_source(err, errlen, "--heap", from);
			return -EINVAL;
		}
		cfg->heap_mode = (int)mode;
		return 0;
	}
	case OPT_HEAP_RATE:
		if (heap_rate_parse(v, &cfg->heap_rate, err, errlen) != 0) {
			name_source(err, errlen, "--heap-rate", from);
			return -EINVAL;
		}
		return 0;
	case OPT_HEAP_IDLE:
		if (heap_idle_parse(v, &cfg->heap_idle_ns, err, errlen) != 0) {
			name_source(err, errlen, "--heap-idle", from);
			return -EINVAL;
		}
		return 0;
	case OPT_HEAP_BUDGET:
		if (heap_budget_parse(v, &cfg->heap_budget, err, errlen) != 0) {
			name_source(err, errlen, "--heap-budget", from);
			return -EINVAL;
		}
		return 0;
	case OPT_SNAPSHOT_DIR:
		if (strlen(v) >= sizeof(cfg->snapshot_dir) - 64 ||
		    heap_snapshot_dir_check(v, err, errlen) != 0) {
			if (strlen(v) >= sizeof(cfg->snapshot_dir) - 64)
				snprintf(err, errlen, "%s: the path is too long", from);
			name_source(err, errlen, "--snapshot-dir", from);
			return -EINVAL;
		}
		strcpy(cfg->snapshot_dir, v);
		return 0;
	case OPT_SNAPSHOT_ON:
		return snapshot_on_parse(from, v, cfg, err, errlen);
	case OPT_SNAPSHOT_KEEP:
		if (parse_range(from, v, 1, 10000, &n, err, errlen))
			return -EINVAL;
		cfg->snapshot_keep = (int)n;
		return 0;
	case OPT_HISTORY_INTERVAL:
		if (history_interval_parse(v, &cfg->history_interval_ns, err, errlen) != 0) {
			name_source(err, errlen, "--history-interval", from);
			return -EINVAL;
		}
		return 0;
	case OPT_HISTORY_LENGTH:
		if (parse_range(from, v, 0, HISTORY_MAX_LENGTH, &n, err, errlen))
			return -EINVAL;
		cfg->history_length = (uint32_t)n;
		return 0;
	case OPT_BLOCK_RATE:
		if (block_rate_parse(v, &cfg->block_rate, err, errlen) != 0) {
			name_source(err, errlen, "--block-rate", from);
			return -EINVAL;
		}
		return 0;
	case OPT_BLOCK_IDLE:
		if (block_idle_parse(v, &cfg->block_idle_ns, err, errlen) != 0) {
			name_source(err, errlen, "--block-idle", from);
			return -EINVAL;
		}
		return 0;
	case OPT_MUTEX_RATE:
		if (mutex_rate_parse(v, &cfg->mutex_rate, err, errlen) != 0) {
			name_source(err, errlen, "--mutex-rate", from);
			return -EINVAL;
		}
		return 0;
	case OPT_MUTEX_IDLE:
		if (mutex_idle_parse(v, &cfg->mutex_idle_ns, err, errlen) != 0) {
			name_source(err, errlen, "--mutex-idle", from);
			return -EINVAL;
		}
		return 0;
	case OPT_GROWTH: {
		enum growth_mode mode;

		if (growth_mode_parse(v, &mode, err, errlen) != 0) {
			name_source(err, errlen, "--growth", from);
			return -EINVAL;
		}
		cfg->growth_mode = (int)mode;
		return 0;
	}
	case OPT_GROWTH_RATE:
		/* the same form as --heap-rate; the words are the growth profile's */
		if (heap_rate_parse(v, &cfg->growth_rate, err, errlen) != 0) {
			snprintf(err, errlen, "%s: expected mean bytes faulted in between samples, 1 (every fault) to "
				 "%llu, with an optional K or M suffix, got '%s'", from,
				 (unsigned long long)HEAP_MAX_RATE, v);
			return -EINVAL;
		}
		return 0;
	case OPT_GROWTH_IDLE:
		if (heap_idle_parse(v, &cfg->growth_idle_ns, err, errlen) != 0) {
			snprintf(err, errlen, "%s: expected a duration from 1s to 168h, a whole number with a unit "
				 "s, m or h (e.g. 90s, 10m, 1h), got '%s'", from, v);
			return -EINVAL;
		}
		return 0;
	case OPT_FD: {
		enum fd_mode mode;

		if (fd_mode_parse(v, &mode, err, errlen) != 0) {
			name_source(err, errlen, "--fd", from);
			return -EINVAL;
		}
		cfg->fd_mode = (int)mode;
		return 0;
	}
	case OPT_FD_IDLE:
		if (heap_idle_parse(v, &cfg->fd_idle_ns, err, errlen) != 0) {
			snprintf(err, errlen, "%s: expected a duration from 1s to 168h, a whole number with a unit "
				 "s, m or h (e.g. 90s, 10m, 1h), got '%s'", from, v);
			return -EINVAL;
		}
		return 0;
	case OPT_SECONDS:
		if (parse_range(from, v, 1, 86400, &n, err, errlen))
			return -EINVAL;
		cfg->seconds = (int)n;
		return 0;
	case OPT_OUTPUT:
		if (!*v || strlen(v) >= sizeof(cfg->output)) {
			snprintf(err, errlen, "%s: expected a file path, or - for standard output", from);
			return -EINVAL;
		}
		strcpy(cfg->output, v);
		return 0;
	case OPT__COUNT:
		break;
	}
	return -EINVAL;
}

static void defaults(struct profd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->host, "127.0.0.1");
	cfg->port = 6060;
	cfg->log_level = LOG_INFO;
	cfg->max_connections = 512;
	cfg->request_timeout = 10;
	cfg->max_seconds = 300;
	cfg->stack_bytes = 65536;
	cfg->cpu_hz = 100;
	cfg->cpu_stack_bytes = 16384;
	cfg->heap_mode = HEAP_MODE_DEMAND;
	cfg->heap_rate = HEAP_DEFAULT_RATE;
	cfg->heap_idle_ns = HEAP_DEFAULT_IDLE_NS;
	cfg->heap_budget = HEAP_DEFAULT_BUDGET;
	cfg->snapshot_keep = 10;
	cfg->history_interval_ns = HISTORY_DEFAULT_INTERVAL_NS;
	cfg->history_length = HISTORY_DEFAULT_LENGTH;
	cfg->block_rate = BLOCK_DEFAULT_RATE_NS;
	cfg->block_idle_ns = BLOCK_DEFAULT_IDLE_NS;
	cfg->mutex_rate = MUTEX_DEFAULT_RATE;
	cfg->mutex_idle_ns = MUTEX_DEFAULT_IDLE_NS;
	cfg->growth_mode = GROWTH_MODE_DEMAND;
	cfg->growth_rate = GROWTH_DEFAULT_RATE;
	cfg->growth_idle_ns = GROWTH_DEFAULT_IDLE_NS;
	cfg->fd_mode = FD_MODE_DEMAND;
	cfg->fd_idle_ns = FD_DEFAULT_IDLE_NS;
	cfg->seconds = 30;
}

int options_parse(int argc, char **argv, const char *(*getenv_fn)(const char *), struct profd_config *cfg,
		  char *err, size_t errlen)
{
	const char *values[OPT__COUNT] = { 0 };
	const char *from[OPT__COUNT] = { 0 };
	int i = 1;

	defaults(cfg);
	if (argc > 1 && argv[1][0] != '-') {
		if (strcmp(argv[1], "stacks") == 0) {
			cfg->command = CMD_STACKS;
		} else if (strcmp(argv[1], "cpu") == 0) {
			cfg->command = CMD_CPU;
		} else if (strcmp(argv[1], "heap") == 0) {
			cfg->command = CMD_HEAP;
		} else {
			snprintf(err, errlen,
				 "unknown command '%s'; expected stacks, cpu, heap or flags (see profd --help)", argv[1]);
			return -EINVAL;
		}
		i = 2;
	}
	for (; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		const char *eq = NULL;
		int id = -1;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return OPTIONS_HELP;
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)
			return OPTIONS_VERSION;
		if (strncmp(a, "--", 2) == 0)
			eq = strchr(a, '=');
		for (int k = 0; k < OPT__COUNT; k++) {
			size_t len = strlen(opts[k].longname);

			if ((strncmp(a, opts[k].longname, len) == 0 && (a[len] == '\0' || (eq && a + len == eq))) ||
			    (opts[k].shortname && a[0] == '-' && a[1] == opts[k].shortname && a[2] == '\0')) {
				id = k;
				break;
			}
		}
		if (id < 0) {
			snprintf(err, errlen, "unknown flag '%s' (see profd --help)", a);
			return -EINVAL;
		}
		if (!opts[id].has_value) {
			if (eq) {
				snprintf(err, errlen, "%s takes no value", opts[id].longname);
				return -EINVAL;
			}
			v = "1";
		} else if (eq) {
			v = eq + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			snprintf(err, errlen, "%s needs a value (see profd --help)", opts[id].longname);
			return -EINVAL;
		}
		if (values[id]) {
			/* the last would silently win: with --pid that profiles the wrong process */
			snprintf(err, errlen, "%s given twice ('%s' and '%s'): give it once", opts[id].longname,
				 values[id], v);
			return -EINVAL;
		}
		values[id] = v;
		from[id] = opts[id].longname;
	}
	for (int k = 0; k < OPT__COUNT; k++) {
		if (!values[k] && getenv_fn && opts[k].env) {
			values[k] = getenv_fn(opts[k].env);
			from[k] = opts[k].env;
			if (values[k] && !*values[k]) /* an empty variable counts as unset */
				values[k] = NULL;
		}
		if (values[k] && apply(cfg, (enum opt_id)k, values[k], from[k], err, errlen) != 0)
			return -EINVAL;
	}
	if ((values[OPT_SECONDS] || values[OPT_OUTPUT]) && cfg->command != CMD_CPU && cfg->command != CMD_HEAP) {
		snprintf(err, errlen, "%s is for the cpu and heap commands (profd cpu --pid PID --seconds N -o FILE)",
			 values[OPT_SECONDS] ? "--seconds" : "--output");
		return -EINVAL;
	}
	if ((cfg->command == CMD_CPU || cfg->command == CMD_HEAP) && !cfg->output[0]) {
		snprintf(err, errlen, "profd %s needs -o FILE (or -o - for standard output)",
			 cfg->command == CMD_CPU ? "cpu" : "heap");
		return -EINVAL;
	}
	if (cfg->command == CMD_HEAP && cfg->heap_mode == HEAP_MODE_OFF) {
		snprintf(err, errlen, "profd heap with --heap off has nothing to do; use inuse (or demand) or allocs");
		return -EINVAL;
	}
	if ((cfg->snapshot_rss_step || cfg->snapshot_oom || cfg->snapshot_pressure) && cfg->command == CMD_SERVE) {
		const char *which = cfg->snapshot_oom ? "oom" : cfg->snapshot_pressure ? "pressure" : "rss-step";

		if (!cfg->snapshot_dir[0]) {
			snprintf(err, errlen, "--snapshot-on needs --snapshot-dir DIR: where the snapshots are written");
			return -EINVAL;
		}
		if (cfg->heap_mode == HEAP_MODE_OFF) {
			snprintf(err, errlen, "--snapshot-on %s writes heap profiles, which --heap off does not take; use "
				 "--heap inuse (or demand)", which);
			return -EINVAL;
		}
		/* the pre-mortem and the pressure snapshot are about what is in use */
		if ((cfg->snapshot_oom || cfg->snapshot_pressure) && cfg->heap_mode == HEAP_MODE_ALLOCS) {
			snprintf(err, errlen, "--snapshot-on %s writes the heap in use, which --heap allocs does not track "
				 "(it follows no free); use --heap inuse (or demand)", cfg->snapshot_oom ? "oom" : "pressure");
			return -EINVAL;
		}
		if (cfg->snapshot_rss_step && (cfg->children || cfg->selector != SELECT_PID)) {
			snprintf(err, errlen, "--snapshot-on rss-step follows one process's RSS: use it with --pid alone "
				 "(not with a set; oom and pressure work over a set)");
			return -EINVAL;
		}
	}
	if (values[OPT_CGROUP] && values[OPT_UNIT]) {
		snprintf(err, errlen, "--cgroup and --unit both select processes: give one selector");
		return -EINVAL;
	}
	if (cfg->pid && cfg->selector != SELECT_PID) {
		snprintf(err, errlen, "--pid and %s both select processes: give one selector",
			 cfg->selector == SELECT_CGROUP ? "--cgroup" : "--unit");
		return -EINVAL;
	}
	if (cfg->children && cfg->selector != SELECT_PID) {
		snprintf(err, errlen, "--children follows the descendants of --pid; with %s every process of it is "
			 "followed already", cfg->selector == SELECT_CGROUP ? "--cgroup" : "--unit");
		return -EINVAL;
	}
	if (cfg->children && !cfg->pid) {
		snprintf(err, errlen, "--children needs --pid PID: the process whose descendants to follow");
		return -EINVAL;
	}
	if (cfg->selector == SELECT_PID && cfg->pid == 0) {
		snprintf(err, errlen, "--pid is required: the ID of the process to profile (or set PROFD_PID); or "
			 "select a whole service with --pid PID --children, --cgroup PATH or --unit NAME");
		return -EINVAL;
	}
	if (cfg->children)
		cfg->selector = SELECT_CHILDREN;
	if (cfg->command == CMD_SERVE && !addr_is_loopback(cfg->host) && !cfg->allow_public) {
		snprintf(err, errlen,
			 "--addr %s is not a loopback address: profiles expose the target's memory layout, command "
			 "line and code paths, and long CPU profiles are a denial-of-service lever. Listen on "
			 "127.0.0.1 or [::1], or pass --allow-public (PROFD_ALLOW_PUBLIC=1) to accept the risk",
			 cfg->host);
		return -EINVAL;
	}
	return OPTIONS_RUN;
}
