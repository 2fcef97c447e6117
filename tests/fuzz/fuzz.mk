# SPDX-License-Identifier: MIT
# Fuzz targets: tests/fuzz/fuzz_NAME.c, each with its committed corpus tests/fuzz/corpus/NAME/.
# One source, three builds (the only place fuzz build rules live):
#  - replay, part of test-bins: gcc, replay_main.c feeds every corpus file through the target
#    once; `make test` runs it as fuzz/NAME.
#  - libFuzzer: $(O)/libfuzzer/fuzz_NAME, clang -fsanitize=fuzzer,address,undefined, linked with
#    a coverage-instrumented, sanitized copy of libprofd ($(O)/libfuzzer/libprofd.a).
#      make fuzz FUZZ_SECONDS=N [FUZZ='x86 query']   every (or the named) target for N s each
#      make fuzz-merge [FUZZ=...]                     minimize each corpus (libFuzzer -merge=1)
#    New inputs go to $(O)/fuzz/NAME/, crashes to $(O)/fuzz/artifacts/ (tests/fuzz/fuzz.sh).
#  - sanitizer replay: `make fuzz-replay-asan` builds the replay binaries with
#    SAN=address,undefined under $(O)/asan and replays every corpus (CI runs it: .ci/run).

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_BINS := $(patsubst %,$(O)/tests/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
EXTRA_TEST_BINS += $(FUZZ_BINS)

# Harness headers shared with the unit tests.
FUZZ_DEPS := tests/unit/pprof_check.h tests/fuzz/fuzz_util.h tests/fuzz/fuzz_elf.h
# fuzz_symbolz looks up addresses in its own executable: without PIE they are the same in every
# run, so the corpus can name real functions.
FUZZ_LDFLAGS_symbolz := -no-pie

$(O)/tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(FUZZ_DEPS) $(O)/libprofd.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/fuzz $(ALL_LDFLAGS) $(FUZZ_LDFLAGS_$*) -o $@ tests/fuzz/replay_main.c $< \
		$(O)/libprofd.a $(LIBS)

# libFuzzer builds. The daemon is compiled again with clang, instrumented for coverage
# (fuzzer-no-link) and sanitized; UBSan aborts (no recovery) so that libFuzzer records the input.
LF := $(O)/libfuzzer
LF_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LF_CFLAGS := -std=gnu11 -O1 -g $(LF_SAN) -D_GNU_SOURCE -DPROFD_VERSION='"$(VERSION)"' \
	-I. -Idaemon -Itests/fuzz -I$(O)/gen -I$(O)/bpf $(PKG_CFLAGS)
LF_OBJS := $(patsubst %.c,$(LF)/obj/%.o,$(DAEMON_SRCS)) $(LF)/obj/gen/profile.pb-c.o
LF_BINS := $(patsubst %,$(LF)/fuzz_%,$(FUZZ))

$(LF_OBJS): $(BPF_SKELS) $(O)/gen/profile.pb-c.h

$(LF)/obj/%.o: %.c
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(LF_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(LF)/obj/gen/profile.pb-c.o: $(O)/gen/profile.pb-c.c
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(LF_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(LF)/libprofd.a: $(LF_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LF)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) $(LF)/libprofd.a
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(LF_CFLAGS) -fsanitize=fuzzer $(FUZZ_LDFLAGS_$*) -o $@ $< $(LF)/libprofd.a $(LIBS)

.PHONY: fuzz fuzz-bins fuzz-merge fuzz-replay-bins fuzz-replay-asan
fuzz-bins: $(LF_BINS)

fuzz: fuzz-bins
	$(Q)O=$(O) CLANG=$(CLANG) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/fuzz.sh run $(FUZZ)

fuzz-merge: fuzz-bins
	$(Q)O=$(O) CLANG=$(CLANG) tests/fuzz/fuzz.sh merge $(FUZZ)

fuzz-replay-bins: $(FUZZ_BINS)

# The committed corpora under ASan and UBSan (gcc's, as the daemon ships): a separate build dir.
fuzz-replay-asan:
	$(Q)$(MAKE) --no-print-directory O=$(O)/asan SAN=address,undefined fuzz-replay-bins
	$(Q)O=$(O)/asan tests/fuzz/fuzz.sh replay $(FUZZ)
