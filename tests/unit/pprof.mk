# SPDX-License-Identifier: MIT
# pprof output side (owned by the pprof builder):
#  - pprof_selfprof: writes a profile of its own stacks with the real symbolizer, for
#    tests/integration/test_pprof_accept.sh.
#  (its fuzz target, tests/fuzz/fuzz_pprof.c, is built by tests/fuzz/fuzz.mk: make fuzz FUZZ=pprof)

EXTRA_TEST_BINS += $(O)/tests/unit/pprof_selfprof

$(O)/tests/unit/pprof_selfprof: tests/unit/pprof_selfprof.c tests/unit/pprof_check.h $(O)/libprofd.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -fno-optimize-sibling-calls $(ALL_LDFLAGS) -o $@ $< $(O)/libprofd.a $(LIBS)
