# sealgate - GNU make build.
#
#   make            build bin/sealgated and bin/sealctl
#   make run        install what is missing, build, start the demo gateway
#   make test       install what is missing, build, run every test
#   make check-asan the whole suite on an ASan+UBSan build
#   make test-crash the long crash suite (kill -9 under load, 10,000 in flight)
#   make test-cluster-long  the cluster's database down for a minute under load
#   make fuzz       libFuzzer targets (FUZZ_SECONDS each, default 60)
#   make fuzz-smoke every libFuzzer target briefly (FUZZ_SMOKE_SECONDS, part of make test)
#   make test-valgrind  a short end-to-end run of every role under valgrind memcheck (in make test)
#   make bench      benchmarks against Postfix (QUICK=1: short)
#   make deps       install the Debian packages (root, apt-get)
#   make man        the manuals in build/man (sealgate.conf.5 from the config table)
#   make install    binaries, manuals, unit, example config (DESTDIR, PREFIX)
#   make deb        build/sealgate_VERSION_ARCH.deb from a staged install
#
# Each component folder becomes a static library; every .c file in it is
# part of it, so adding a file needs no change here.

CC      ?= cc
BUILD   ?= build
BINDIR  ?= bin
SANITIZE ?=
PYTHON  := /usr/bin/python3

PKGS    := nss lmdb libuv libconfig libcares libcurl zlib libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -I. $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lpthread

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
CFLAGS  += -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer
endif

.DEFAULT_GOAL := all

# Link order: dependents before what they depend on.
COMPONENTS := smtpd worker delivery metrics cluster queue certs common
LIBS := $(foreach c,$(COMPONENTS),$(BUILD)/lib$(c).a)

define component
$(c)_OBJS := $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard $(c)/*.c))
$(BUILD)/lib$(c).a: $$($(c)_OBJS)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(foreach c,$(COMPONENTS),$(eval $(component)))

SEALGATED_SRCS := cmd/sealgated.c cmd/master.c cmd/conf.c cmd/status.c $(wildcard cmd/role*.c)
SEALCTL_SRCS   := $(wildcard cmd/sealctl*.c) cmd/conf.c cmd/status.c $(wildcard cmd/role_*.c)
SEALGATED_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(SEALGATED_SRCS))
SEALCTL_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(SEALCTL_SRCS))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

.PHONY: all deps run test test-run lint unit integration check-asan fuzz fuzz-build bench clean \
	test-crash man install uninstall deb fuzz-smoke test-valgrind memcheck test-cluster-long

all: $(BINDIR)/sealgated $(BINDIR)/sealctl

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BINDIR)/sealgated: $(SEALGATED_OBJS) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(SEALGATED_OBJS) $(LIBS) $(LDLIBS)

$(BINDIR)/sealctl: $(SEALCTL_OBJS) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(SEALCTL_OBJS) $(LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS) -lcmocka

# Tests of cmd/ code link the one cmd/ file they test.
$(BUILD)/tests/test_status: tests/unit/test_status.c $(BUILD)/cmd/status.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/cmd/status.o $(LIBS) $(LDLIBS) -lcmocka

$(BUILD)/tests/test_json: tests/unit/test_json.c $(BUILD)/cmd/sealctl_json.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/cmd/sealctl_json.o $(LIBS) $(LDLIBS) -lcmocka

deps:
	@sh .ci/deps

run: deps
	@$(MAKE) --no-print-directory all
	@sh cmd/demo.sh

# test: everything, after set-up. test-run: the suites on what is built.
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@$(MAKE) --no-print-directory test-run
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory memcheck

test-run: lint unit integration

lint:
	@sh tests/lint.sh

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do $$t || fail=1; done; \
	if [ $$fail = 0 ]; then echo "unit: all passed"; else echo "unit: FAILED"; exit 1; fi

integration: all
	SEALGATE_BIN=$(abspath $(BINDIR)) $(PYTHON) -m pytest -q -ra tests/integration $(PYTEST_ARGS)

# The long crash suite; the short one is part of integration (test_crash.py).
test-crash: deps
	@$(MAKE) --no-print-directory all
	SEALGATE_BIN=$(abspath $(BINDIR)) SEALGATE_CRASH_LONG=1 $(PYTHON) -m pytest -q -ra \
		tests/integration/test_crash.py tests/integration/test_power_cut.py $(PYTEST_ARGS)

# The cluster's outage test with the acceptance's minute (6 s in make test).
test-cluster-long: deps
	@$(MAKE) --no-print-directory all
	SEALGATE_BIN=$(abspath $(BINDIR)) SEALGATE_CLUSTER_LONG=1 $(PYTHON) -m pytest -q -ra \
		tests/integration/test_cluster.py -k down_under_load $(PYTEST_ARGS)

# valgrind memcheck over a short end-to-end run (sign, encrypt, decrypt,
# verify, bounce): every role, the master and sealctl; about a minute, part
# of make test (memcheck: on what is built, never on the ASan build).
test-valgrind: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory memcheck

memcheck:
	SEALGATE_BIN=$(abspath $(BINDIR)) SEALGATE_VALGRIND=1 $(PYTHON) -m pytest -q -ra \
		tests/integration/test_memcheck.py $(PYTEST_ARGS)

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0

check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan BINDIR=build/asan/bin SANITIZE=1 \
		CC=clang all $(patsubst $(BUILD)/%,build/asan/%,$(UNIT_BINS))
	$(ASAN_ENV) $(MAKE) --no-print-directory BUILD=build/asan BINDIR=build/asan/bin \
		SANITIZE=1 CC=clang test-run

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/fuzz/fuzz_status: tests/fuzz/fuzz_status.c $(BUILD)/cmd/status.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/cmd/status.o $(LIBS) $(LDLIBS)

# the whole configuration loader lives in cmd/
$(BUILD)/fuzz/fuzz_conf: tests/fuzz/fuzz_conf.c $(BUILD)/cmd/conf.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/cmd/conf.o $(LIBS) $(LDLIBS)

FUZZ_SECONDS ?= 60
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz FUZZ=1 CC=clang fuzz-build
	@sh tests/fuzz/run.sh build/fuzz/fuzz/fuzz $(FUZZ_SECONDS)

fuzz-build: $(FUZZ_BINS)

# make test's share: each target for a few seconds, two at a time, on the
# clang build in build/fuzz (kept between runs: only what changed is rebuilt;
# its corpus in build/fuzz/corpus grows from run to run). The seeds and every
# input that ever crashed a target (tests/fuzz/corpus/NAME/) are replayed first.
FUZZ_SMOKE_SECONDS ?= 5
fuzz-smoke:
	@$(MAKE) --no-print-directory -s -j2 BUILD=build/fuzz FUZZ=1 CC=clang fuzz-build >/dev/null
	@sh tests/fuzz/run.sh build/fuzz/fuzz/fuzz $(FUZZ_SMOKE_SECONDS) 2

bench: deps
	@$(MAKE) --no-print-directory all
	@SEALGATE_BIN=$(abspath $(BINDIR)) QUICK=$(QUICK) sh tests/bench/run.sh

# ------------------------------------------------------------ install

VERSION    := $(shell sed -n 's/^\#define SG_VERSION "\(.*\)"/\1/p' common/sg.h)
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/sealgate
SYSCONFDIR ?= /etc
# Debian puts package units in /lib/systemd/system; /usr/local/lib/systemd/system
# is on systemd's search path for installs from source.
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
MANDATE    := $(shell git log -1 --format=%cs -- sealgate.conf.example 2>/dev/null || date +%F)
MANPAGES   := $(BUILD)/man/sealgated.8 $(BUILD)/man/sealctl.8 $(BUILD)/man/sealgate.conf.5

man: $(MANPAGES)

$(BUILD)/man/%.8: dist/man/%.8 common/sg.h
	@mkdir -p $(dir $@)
	sed 's/@VERSION@/$(VERSION)/g' $< > $@

# From the table the config engine uses and the example's comments; fails
# (and names the key) when the two disagree.
$(BUILD)/man/sealgate.conf.5: $(BINDIR)/sealgated sealgate.conf.example dist/man/conf-man.py
	@mkdir -p $(dir $@)
	$(BINDIR)/sealgated --keys | $(PYTHON) dist/man/conf-man.py --example sealgate.conf.example \
		--version $(VERSION) --date $(MANDATE) > $@.tmp
	mv $@.tmp $@

# The configuration is installed once and never overwritten: it is the
# example with the roles' users and group set (the package creates them)
# and smtpd's own TLS database.
install: all $(MANPAGES)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/sealgate $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BINDIR)/sealgated $(BINDIR)/sealctl $(DESTDIR)$(SBINDIR)/
	for m in $(MANPAGES); do \
		s=$${m##*.}; gzip -9n < $$m > $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$m).gz; \
	done
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		dist/sealgate.service.in > $(DESTDIR)$(UNITDIR)/sealgate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sealgate.service
	install -m 0644 sealgate.conf.example README.md $(DESTDIR)$(DOCDIR)/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/sealgate/sealgate.conf ]; then \
		echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/sealgate/sealgate.conf"; \
	else \
		sed -e 's/^# user = "sealgate";/user = "sealgate";/' \
		    -e 's/^# group = "sealgate";/group = "sealgate";/' \
		    -e 's/^# worker_user = "sealgate-crypto";/worker_user = "sealgate-crypto";/' \
		    -e 's|^\ttls_db_dir = "";|\ttls_db_dir = "/var/lib/sealgate/tlsdb";|' \
		    sealgate.conf.example \
			> $(DESTDIR)$(SYSCONFDIR)/sealgate/sealgate.conf; \
		chmod 0644 $(DESTDIR)$(SYSCONFDIR)/sealgate/sealgate.conf; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/sealgated $(DESTDIR)$(SBINDIR)/sealctl \
		$(DESTDIR)$(MANDIR)/man8/sealgated.8.gz $(DESTDIR)$(MANDIR)/man8/sealctl.8.gz \
		$(DESTDIR)$(MANDIR)/man5/sealgate.conf.5.gz $(DESTDIR)$(UNITDIR)/sealgate.service
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/sealgate/sealgate.conf and the state directory stay"

# A binary package from a staged install, with dpkg-deb (no debian/ tree
# needed): PREFIX=/usr, shared library dependencies from dpkg-shlibdeps.
DEBARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB     := $(BUILD)/sealgate_$(VERSION)_$(DEBARCH).deb

deb: all
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(BUILD)/deb/root) PREFIX=/usr
	sh dist/deb/build.sh $(BUILD)/deb $(VERSION) $(DEBARCH) $(DEB)

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
