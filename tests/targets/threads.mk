# SPDX-License-Identifier: MIT
# The thread-dump benchmark driver (run by tests/bench/bench_threads.sh); it links libprofd.a
# like a unit test but is no test, so it needs its own rule.
$(O)/tests/bench/bench_threads: tests/bench/bench_threads.c $(O)/libprofd.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libprofd.a $(LIBS)

EXTRA_TEST_BINS += $(O)/tests/bench/bench_threads
