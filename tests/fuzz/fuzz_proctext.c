// SPDX-License-Identifier: MIT
/* Fuzzes the /proc text parsers (proc/proctext.c) with arbitrary text, as a target can shape it:
 * its thread names land in stat unescaped. Every parser sees the same NUL-terminated bytes (a
 * NUL inside ends them early, as it would proc_read_file's buffer), and the cgroup2 mount
 * point reader of /proc/self/mountinfo (procset.c). Checks: a name copied within
 * its buffer and found in the text, a state letter that is in the text, kernel stack lines with
 * no '/' or empty line, each one found in the text. */
#include <errno.h>

#include "fuzz_util.h"
#include "proc/procset.h"
#include "proc/proctext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size), comm[16], mnt[24], state;
	uint64_t start, sp, pc;
	unsigned long flags;
	long nr;
	pid_t tracer;
	char *k;
	int err;

	err = proctext_stat(text, &state, &flags, &start);
	CHECK(err == 0 || err == -EINVAL, "stat: unexpected error");
	if (!err)
		CHECK(state && strchr(text, state), "stat: a state letter not in the text");

	(void)proctext_stat_image(text);

	memset(comm, 'x', sizeof(comm));
	if (proctext_stat_comm(text, comm, sizeof(comm), &state)) {
		CHECK(memchr(comm, '\0', sizeof(comm)), "comm not terminated");
		CHECK(strstr(text, comm), "comm not in the text");
	} else {
		CHECK(comm[0] == 'x', "comm written without parentheses");
	}
	CHECK(state == '?' || strchr(text, state), "comm: a state letter not in the text");

	err = proctext_status_threads(text);
	CHECK(err >= 0 || err == -EINVAL || strstr(text, "\nThreads:"), "threads: negative without the line");
	proctext_status_state(text, &state, &tracer);
	CHECK(state == '?' || state == '\0' || strchr(text, state), "status: a state letter not in the text");
	(void)proctext_status_switches(text);
	CHECK(proctext_status_field(text, "VmRSS") >= -1, "status field: below -1");
	{
		struct proctext_usage u;
		char cg[64];

		if (proctext_stat_usage(text, &u) == 0)
			CHECK(strstr(text, ") ") != NULL, "stat usage: parsed without \") \"");
		if (proctext_cgroup_v2(text, cg, sizeof(cg)) == 0)
			CHECK(strlen(cg) < sizeof(cg) && strstr(text, cg), "cgroup: a path not in the text");
		if (proctext_cgroup_v1(text, "memory", cg, sizeof(cg)) == 0)
			CHECK(strlen(cg) < sizeof(cg) && strstr(text, cg) && strstr(text, "memory"),
			      "cgroup v1: a path not in the text, or no memory controller named");
	}

	k = proctext_kstack(text);
	if (k) {
		size_t len = strlen(k);

		CHECK(len > 0 && k[len - 1] == '\n', "kstack does not end in a newline");
		CHECK(len <= 4096, "kstack past its bound");
		for (char *line = k, *nl; *line; line = nl + 1) {
			nl = strchr(line, '\n');
			CHECK(nl && nl > line, "empty kstack line");
			*nl = '\0';
			CHECK(!strchr(line, '/'), "a '/' left in a kstack line");
			CHECK(strstr(text, line), "a kstack line not in the text");
		}
		free(k);
	}

	/* mountinfo: where cgroup2 is mounted (a mount point may hold anything, escaped) */
	memset(mnt, 'x', sizeof(mnt));
	if (procset_cgroup2_mount(text, mnt, sizeof(mnt)) == 0)
		CHECK(memchr(mnt, '\0', sizeof(mnt)) && mnt[0], "cgroup2 mount point");

	nr = proctext_syscall_nr(text);
	CHECK(nr >= 0 || nr == -1 || text[0] == '-', "syscall number");
	if (proctext_syscall(text, &nr, &sp, &pc) == 0)
		(void)(sp + pc);
	free(text);
	return 0;
}
