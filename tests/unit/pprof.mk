# SPDX-License-Identifier: MIT
# pprof output side (owned by the pprof builder):
#  - pprof_selfprof: writes a profile of its own stacks with the real symbolizer, for
#    tests/integration/test_pprof_accept.sh.
#  - libFuzzer builds of tests/fuzz/fuzz_{pprof,procmaps}.c (not part of test-bins):
#      make O=... fuzz-libfuzzer-pprof
#      $(O)/libfuzzer/fuzz_pprof -max_total_time=120 tests/fuzz/corpus/pprof
#    The modules under test are compiled by clang with coverage; the rest comes from libprofd.a.

EXTRA_TEST_BINS += $(O)/tests/unit/pprof_selfprof

$(O)/tests/unit/pprof_selfprof: tests/unit/pprof_selfprof.c tests/unit/pprof_check.h $(O)/libprofd.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -fno-optimize-sibling-calls $(ALL_LDFLAGS) -o $@ $< $(O)/libprofd.a $(LIBS)

LIBFUZZER_CFLAGS := -std=gnu11 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -I. -Idaemon -I$(O)/gen $(PKG_CFLAGS)
LIBFUZZER_SRCS := daemon/pprof/pprof.c daemon/stacks/samples.c daemon/base/buf.c daemon/proc/procmaps.c $(O)/gen/profile.pb-c.c

.PHONY: fuzz-libfuzzer-pprof
fuzz-libfuzzer-pprof: $(O)/libfuzzer/fuzz_pprof $(O)/libfuzzer/fuzz_procmaps

$(O)/libfuzzer/fuzz_%: tests/fuzz/fuzz_%.c $(LIBFUZZER_SRCS) tests/unit/pprof_check.h $(O)/libprofd.a
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(LIBFUZZER_CFLAGS) -o $@ $< $(LIBFUZZER_SRCS) $(O)/libprofd.a $(LIBS)
