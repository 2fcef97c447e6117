/* SPDX-License-Identifier: MIT */
/* The start-up check that eBPF works here: load (never attach) a tiny CO-RE program; and where
 * libbpf's messages go. */
#ifndef PROFD_BPFCHECK_H
#define PROFD_BPFCHECK_H

#include <stddef.h>

/* Sends libbpf's own messages to profd's log, at debug level (call once, first). */
void bpf_log_route(void);
/* Returns 0 when a CO-RE program loads, else -errno with the reason in err. */
int bpf_check(char *err, size_t errlen);

#endif
