# SPDX-License-Identifier: MIT
# Heap profiling test programs that need more than the default target rule: the driver (links
# libprofd.a), the leak target linked with jemalloc, statically linked, C++ targets, and a Rust
# target when rustc is available (PATH or ~/.cargo/bin).
HEAP_TARGET_FLAGS := -O2 -g -fomit-frame-pointer -pthread -Wall

$(O)/tests/targets/heap_driver: tests/targets/heap_driver.c $(O)/libprofd.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libprofd.a $(LIBS)

$(O)/tests/targets/heap_leak_jemalloc: tests/targets/heap_leak.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(HEAP_TARGET_FLAGS) -o $@ $< -ljemalloc

$(O)/tests/targets/heap_leak_static: tests/targets/heap_leak.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(HEAP_TARGET_FLAGS) -static -o $@ $<

$(O)/tests/targets/heap_cxx: tests/targets/heap_cxx.cc
	$(call msg,CXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(HEAP_TARGET_FLAGS) -o $@ $<

$(O)/tests/targets/heap_cxx_jemalloc: tests/targets/heap_cxx.cc
	$(call msg,CXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(HEAP_TARGET_FLAGS) -o $@ $< -ljemalloc

EXTRA_TEST_BINS += $(O)/tests/targets/heap_leak_jemalloc $(O)/tests/targets/heap_leak_static \
	$(O)/tests/targets/heap_cxx $(O)/tests/targets/heap_cxx_jemalloc

HEAP_RUSTC := $(or $(shell command -v rustc 2>/dev/null),$(wildcard $(HOME)/.cargo/bin/rustc))
ifneq ($(HEAP_RUSTC),)
$(O)/tests/targets/heap_rust: tests/targets/heap_rust.rs
	$(call msg,RUSTC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)MAKEFLAGS= $(HEAP_RUSTC) -O -g -C force-frame-pointers=no -o $@ $<

EXTRA_TEST_BINS += $(O)/tests/targets/heap_rust
endif
