# SPDX-License-Identifier: MIT
# make test-kernel: profd on Debian 12's own kernel (6.1) under qemu (tests/kernel/run); make test
# runs it too, as integration/test_kernel61.
.PHONY: test-kernel
test-kernel: test-bins
	$(Q)O=$(O) tests/kernel/run
