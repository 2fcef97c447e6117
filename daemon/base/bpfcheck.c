// SPDX-License-Identifier: MIT
/* Loads bpf/probe.bpf.c once: the verifier and BTF relocation against this kernel are what the
 * heap and CPU sources need, so a failure here is reported once, at start-up. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "base/bpfcheck.h"
#include "base/log.h"
#include "probe.skel.h"

/* libbpf's messages (verifier logs of speculative loads among them) go to profd's log at debug
 * level: a failure the user must know of is said by the caller that decides, naming what failed. */
static int libbpf_to_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg = NULL, *line, *next;
	int n;

	if (log_get_level() < LOG_DEBUG)
		return 0;
	/* a verifier log is one message of many kilobytes whose reason comes last: every line of
	 * it is logged, none cut */
	n = vasprintf(&msg, fmt, ap);
	if (n <= 0) {
		free(n == 0 ? msg : NULL);
		return 0;
	}
	for (line = msg; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line || next)
			log_debug("%s", line); /* libbpf's own lines start with "libbpf: " */
	}
	free(msg);
	return 0;
}

void bpf_log_route(void)
{
	libbpf_set_print(libbpf_to_log);
}

int bpf_check(char *err, size_t errlen)
{
	struct probe_bpf *skel = probe_bpf__open();
	int ret = 0;

	if (!skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the BPF probe: %s", strerror(errno));
		goto cleanup;
	}
	ret = probe_bpf__load(skel);
	if (ret) {
		snprintf(err, errlen, "the kernel refused a CO-RE BPF program: %s (needs a kernel with BTF, "
			 "/sys/kernel/btf/vmlinux, and CAP_BPF + CAP_PERFMON)", strerror(-ret));
	}
cleanup:
	probe_bpf__destroy(skel);
	return ret;
}
