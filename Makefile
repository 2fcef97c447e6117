# SPDX-License-Identifier: MIT
# profd build. Outputs go under $(O); `make V=1` prints full commands;
# `make SAN=address,undefined` builds everything with sanitizers; `make WERROR=1` turns warnings into errors.
#
# Pipeline: bpf/x.bpf.c -> $(O)/bpf/x.bpf.o -> $(O)/bpf/x.skel.h (bpftool gen skeleton) -> daemon objects.
#           daemon/pprof/profile.proto -> $(O)/gen/profile.pb-c.[ch] (protoc-c).
# Every daemon/SUBSYSTEM/*.c goes into $(O)/libprofd.a, which the profd binary and every unit test
# link; sources are found by folder (daemon/*/README.md says what each folder owns).
# Test programs and extra rules live in tests/*/*.mk fragments included below.

O ?= build
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config
PROTOC_C ?= protoc-c
prefix ?= /usr/local
# where make install puts the systemd units (the Debian package sets /lib/systemd/system)
unitdir ?= $(prefix)/lib/systemd/system
DESTDIR ?=
SAN ?=
WERROR ?=
EXTRA_CFLAGS ?=
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' '$(1)' '$(2)';
endif

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

ifeq ($(origin CC),default)
CC = gcc
endif

PKGS := libbpf libdw libelf libmicrohttpd libprotobuf-c zlib libdeflate
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
SANFLAGS := $(if $(SAN),-fsanitize=$(SAN) -fno-omit-frame-pointer,)

CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(WARN) $(SANFLAGS) -D_GNU_SOURCE -DPROFD_VERSION='"$(VERSION)"' \
	-I. -Idaemon -I$(O)/gen -I$(O)/bpf $(PKG_CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
LIBS := $(PKG_LIBS) -lpthread -lm -lstdc++

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(O)/bpf -Ibpf -Wall -Wno-unused-function

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.skel.h,$(BPF_SRCS))

GEN_SRCS := $(O)/gen/profile.pb-c.c
DAEMON_SRCS := $(wildcard daemon/*/*.c)
DAEMON_OBJS := $(patsubst %.c,$(O)/%.o,$(DAEMON_SRCS)) $(O)/gen/profile.pb-c.o
CLI_SRCS := $(wildcard cli/*.c)
CLI_OBJS := $(patsubst %.c,$(O)/%.o,$(CLI_SRCS))
# cli/ minus main(): linked into unit tests too, so option parsing is tested as built.
CLI_LIB_OBJS := $(filter-out $(O)/cli/main.o,$(CLI_OBJS))

# tests/unit/ has the folders of daemon/ (and cli/): tests/unit/symbols/test_symmod.c tests daemon/symbols/.
UNIT_SRCS := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRCS))
# Plain test targets: built -O2 -g without frame pointers, like distribution code.
TARGET_SRCS := $(wildcard tests/targets/*.c)
TARGET_BINS := $(patsubst tests/targets/%.c,$(O)/tests/targets/%,$(TARGET_SRCS))
TARGET_CFLAGS := -O2 -g -fomit-frame-pointer -pthread -Wall
# Fragments append to EXTRA_TEST_BINS (C++, Rust, static, stripped variants, fuzz replay: tests/fuzz/fuzz.mk).
EXTRA_TEST_BINS :=

# systemd units in packaging/ that make install (and so the Debian package) ships
UNITS := profd.service profd@.service

.PHONY: all test test-bins install uninstall clean deps deps-bench bench demo deb
all: $(O)/profd

-include $(sort $(wildcard tests/*/*.mk))

$(O)/profd: $(O)/cli/main.o $(O)/libprofd-cli.a $(O)/libprofd.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(O)/cli/main.o $(O)/libprofd-cli.a $(O)/libprofd.a $(LIBS)

$(O)/libprofd-cli.a: $(CLI_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/libprofd.a: $(DAEMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# Every object may include any skeleton or the generated proto header.
$(DAEMON_OBJS) $(CLI_OBJS): $(BPF_SKELS) $(O)/gen/profile.pb-c.h

$(O)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(O)/gen/%.pb-c.c $(O)/gen/%.pb-c.h: daemon/pprof/%.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(O)/gen
	$(Q)$(PROTOC_C) --proto_path=daemon/pprof --c_out=$(O)/gen $<

$(O)/gen/profile.pb-c.o: $(O)/gen/profile.pb-c.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(O)/bpf/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(O)/bpf/%.bpf.o: bpf/%.bpf.c $(O)/bpf/vmlinux.h $(wildcard bpf/*.h)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# mutex.bpf.c uses the values atomic adds return (ids, ring slots): BPF ISA v3 (kernel 5.12+)
$(O)/bpf/mutex.bpf.o: BPF_CFLAGS += -mcpu=v3

$(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .,_,$*)_bpf > $@

$(O)/tests/unit/%: tests/unit/%.c $(O)/libprofd-cli.a $(O)/libprofd.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -Icli -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(O)/libprofd-cli.a $(O)/libprofd.a $(LIBS) -lcmocka

$(O)/tests/targets/%: tests/targets/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_CFLAGS) -o $@ $< -lm

test-bins: $(O)/profd $(UNIT_BINS) $(TARGET_BINS) $(EXTRA_TEST_BINS)

# The one test command: unit tests, fuzz corpus replay, integration tests against real targets.
test: test-bins
	$(Q)O=$(O) tests/run

# Runs profd against the built-in demo target and shows what it serves.
demo: $(O)/profd $(O)/tests/targets/demo_target
	$(Q)O=$(O) cli/demo.sh

bench: test-bins
	$(Q)O=$(O) tests/bench/run

# Install the Debian packages the build and the tests need (idempotent).
deps:
	$(Q)packaging/install-deps

# Extra packages for the side-by-side benchmarks (bcc, heaptrack, gdb, perf, llvm-symbolizer).
deps-bench:
	$(Q)packaging/install-deps --bench

install: $(O)/profd
	install -D -m 0755 $(O)/profd $(DESTDIR)$(prefix)/sbin/profd
	install -D -m 0644 packaging/profd.8 $(DESTDIR)$(prefix)/share/man/man8/profd.8
	mkdir -p $(DESTDIR)$(unitdir)
	for u in $(UNITS); do \
		sed 's|@SBINDIR@|$(prefix)/sbin|' packaging/$$u > $(DESTDIR)$(unitdir)/$$u && \
		chmod 0644 $(DESTDIR)$(unitdir)/$$u || exit 1; \
	done
	test -e $(DESTDIR)/etc/default/profd || install -D -m 0644 packaging/profd.env $(DESTDIR)/etc/default/profd

uninstall:
	rm -f $(DESTDIR)$(prefix)/sbin/profd $(DESTDIR)$(prefix)/share/man/man8/profd.8 \
	      $(addprefix $(DESTDIR)$(unitdir)/,$(UNITS))

# The Debian package, built by dpkg-buildpackage from a staged copy of the tracked sources with
# packaging/debian as debian/: leaves $(O)/profd_VERSION_ARCH.deb (needs make deps).
deb:
	$(Q)packaging/build-deb $(O)

clean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
