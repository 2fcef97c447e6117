// SPDX-License-Identifier: MIT
/* Loads bpf/probe.bpf.c once: the verifier and BTF relocation against this kernel are what the
 * heap and CPU sources need, so a failure here is reported once, at start-up. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "base/bpfcheck.h"
#include "probe.skel.h"

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int bpf_check(char *err, size_t errlen)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet_print);
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
	libbpf_set_print(old);
	return ret;
}
