# SPDX-License-Identifier: MIT
# The mutex profile's target is C++ (std::mutex beside pthread mutexes, rwlocks and condition
# variables), built like the plain targets: -O2 -g, no frame pointers.
$(O)/tests/targets/mutex_contend: tests/targets/mutex_contend.cc
	$(call msg,CXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(TARGET_CFLAGS) -o $@ $<

EXTRA_TEST_BINS += $(O)/tests/targets/mutex_contend
