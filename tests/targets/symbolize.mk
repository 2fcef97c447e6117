# SPDX-License-Identifier: MIT
# Symbolization test programs (owned by the symbolizer): C with and without frame pointers, C++,
# Rust (skipped when rustc is absent: the unit test then says so), a stripped binary with a
# .gnu_debuglink debug file, a static binary.
SYM_T := $(O)/tests/targets/sym
CXX ?= g++
RUSTC ?= rustc
SYM_CFLAGS := -O2 -g -Wall

SYM_BINS := $(SYM_T)/sym_c_fp $(SYM_T)/sym_c_nofp $(SYM_T)/sym_cpp $(SYM_T)/sym_c_stripped \
	$(SYM_T)/sym_c_zstripped $(SYM_T)/sym_c_static $(SYM_T)/sym_dlopen
ifneq ($(shell command -v $(RUSTC) 2>/dev/null),)
SYM_BINS += $(SYM_T)/sym_rust
endif
EXTRA_TEST_BINS += $(SYM_BINS)

$(SYM_T)/sym_c_fp: tests/targets/sym/sym_c.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SYM_CFLAGS) -fno-omit-frame-pointer -o $@ $<

$(SYM_T)/sym_c_nofp: tests/targets/sym/sym_c.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SYM_CFLAGS) -fomit-frame-pointer -o $@ $<

$(SYM_T)/sym_dlopen: tests/targets/sym/sym_dlopen.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SYM_CFLAGS) -o $@ $< -ldl

$(SYM_T)/sym_c_static: tests/targets/sym/sym_c.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SYM_CFLAGS) -static -o $@ $<

# Debug info and every symbol moved to sym_c_stripped.debug, found through .gnu_debuglink.
$(SYM_T)/sym_c_stripped: $(SYM_T)/sym_c_nofp
	$(call msg,STRIP,$@)
	$(Q)objcopy --only-keep-debug $< $@.debug
	$(Q)objcopy --strip-all --add-gnu-debuglink=$@.debug $< $@

# The same with the debug file's sections zlib-compressed, as Debian ships them (the symbolizer
# inflates only what it reads: daemon/symbols/dwarfload.c).
$(SYM_T)/sym_c_zstripped: $(SYM_T)/sym_c_nofp
	$(call msg,STRIP,$@)
	$(Q)objcopy --only-keep-debug --compress-debug-sections=zlib $< $@.debug
	$(Q)objcopy --strip-all --add-gnu-debuglink=$@.debug $< $@

# dwz: two programs whose shared DWARF moves to an alternate file (as Debian's -dbgsym
# packages ship it), then stripped, with a compressed debug file found through .gnu_debuglink
# and the alternate file named relative to it. Skipped (the test says so) without dwz.
ifneq ($(shell command -v dwz 2>/dev/null),)
EXTRA_TEST_BINS += $(SYM_T)/sym_dwz_c
endif
$(SYM_T)/sym_dwz_c: $(SYM_T)/sym_c_nofp $(SYM_T)/sym_cpp
	$(call msg,DWZ,$@)
	$(Q)cp $(SYM_T)/sym_c_nofp $@.full && cp $(SYM_T)/sym_cpp $@.other
	$(Q)cd $(SYM_T) && dwz -m sym_dwz.multi -M sym_dwz.multi $(notdir $@).full $(notdir $@).other
	$(Q)objcopy --only-keep-debug --compress-debug-sections=zlib $@.full $@.debug
	$(Q)objcopy --strip-all --add-gnu-debuglink=$@.debug $@.full $@

$(SYM_T)/sym_cpp: tests/targets/sym/sym_cpp.cpp
	$(call msg,CXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(SYM_CFLAGS) -o $@ $<

$(SYM_T)/sym_rust: tests/targets/sym/sym_rust.rs
	$(call msg,RUSTC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(RUSTC) -g -C opt-level=2 --edition 2021 -o $@ $<

# Benchmark driver (tests/bench/bench_symbolize.sh runs it).
$(O)/tests/bench/bench_symbolize: tests/bench/bench_symbolize.c $(O)/libprofd.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libprofd.a $(LIBS)
EXTRA_TEST_BINS += $(O)/tests/bench/bench_symbolize
