#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-timeout: 900
# Debian 12's stock kernel (6.1), which most Debian 12 users run: `make test-kernel`
# (tests/kernel/run) boots it under qemu with this machine's root read-only over 9p and runs the
# smoke test inside (daemon start, thread dump, 5 s CPU profile, 5 s heap window through classic
# uretprobes, every profile on the index, no verifier log). KVM when it boots the kernel, software
# emulation otherwise: 2 to 4 minutes. Skipped only when qemu, busybox-static or the kernel
# package is absent (make deps brings all three).
exec "${PROFD_TEST_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/kernel/run"
