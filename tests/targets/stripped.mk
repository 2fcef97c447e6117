# SPDX-License-Identifier: MIT
# tests/targets/cpu_split without symbols, as distributions ship binaries: strip --strip-all
# (only .dynsym and .eh_frame left), and the same with MiniDebugInfo as Fedora's
# find-debuginfo adds it (.gnu_debugdata: an xz-compressed ELF holding .symtab's function
# symbols that .dynsym lacks). tests/integration/test_stripped.sh runs them.
STRIPPED_T := $(O)/tests/targets
EXTRA_TEST_BINS += $(STRIPPED_T)/cpu_split_stripped
ifneq ($(shell command -v xz 2>/dev/null),)
EXTRA_TEST_BINS += $(STRIPPED_T)/cpu_split_minidebug
endif

$(STRIPPED_T)/cpu_split_stripped: $(STRIPPED_T)/cpu_split
	$(call msg,STRIP,$@)
	$(Q)strip --strip-all -o $@ $<

$(STRIPPED_T)/cpu_split_minidebug: $(STRIPPED_T)/cpu_split
	$(call msg,STRIP,$@)
	$(Q)rm -f $@.mini $@.mini.xz
	$(Q)nm --format=posix --defined-only $< | awk '$$2 == "t" || $$2 == "T" { print $$1 }' | sort >$@.funcs
	$(Q)nm -D --format=posix --defined-only $< | awk '{ print $$1 }' | sort >$@.dyn
	$(Q)comm -23 $@.funcs $@.dyn >$@.keep
	$(Q)objcopy --only-keep-debug $< $@.mini.full
	$(Q)objcopy --strip-debug --remove-section=.comment --remove-section=.gnu_debuglink --keep-symbols=$@.keep $@.mini.full $@.mini
	$(Q)xz -q $@.mini
	$(Q)objcopy --strip-all --add-section .gnu_debugdata=$@.mini.xz $< $@
	$(Q)rm -f $@.mini.full $@.mini.xz $@.funcs $@.dyn $@.keep
