# SPDX-License-Identifier: MIT
# The unwinder's benchmark driver (run by tests/bench/bench_unwind.sh); it links libprofd.a
# like a unit test but is no test, so it needs its own rule.
$(O)/tests/bench/bench_unwind: tests/bench/bench_unwind.c $(O)/libprofd.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libprofd.a $(LIBS)

EXTRA_TEST_BINS += $(O)/tests/bench/bench_unwind

# CFI libdw must not be handed (tests/unit/stacks/test_unwind_image.c).
$(O)/tests/targets/unwind_badcfi: tests/targets/unwind_badcfi.S
	$(call msg,AS,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -nostdlib -static -Wl,--build-id -o $@ $<

EXTRA_TEST_BINS += $(O)/tests/targets/unwind_badcfi
