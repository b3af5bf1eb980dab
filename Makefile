# BarberPro build. `make` builds every binary into build/bin; `make run`
# starts the suite on an embedded PostgreSQL and Redis; `make test` runs every
# test (unit and integration) under AddressSanitizer and UBSan.
#
# Sources are found by folder, so a new file in common/, gateway/,
# services/<name>/ or tests/unit/ needs no edit here.

SHELL := /bin/bash
CC ?= gcc
BUILD := build
GEN := $(BUILD)/gen
SERVICES := auth booking payment notification backup

PKG_ALL := libprotobuf-c jansson libpq hiredis libmicrohttpd libcurl libjwt libsystemd uuid libxcrypt openssl zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG_ALL) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wno-unused-parameter
CFLAGS_BASE := -std=c17 -D_GNU_SOURCE -g $(WARN) -Icommon -I$(GEN) -Itests/support $(PKG_CFLAGS) -MMD -MP
OPT_CFLAGS := -O2
SAN_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

# Link sets: the gateway must not link libpq (it has no database access).
LIBS_COMMON := -lnng -lpthread -lm $(shell pkg-config --libs libprotobuf-c jansson uuid openssl 2>/dev/null)
LIBS_GATEWAY := $(LIBS_COMMON) $(shell pkg-config --libs libmicrohttpd libsystemd hiredis 2>/dev/null)
LIBS_DAEMON := $(LIBS_COMMON) $(shell pkg-config --libs libpq hiredis libcurl libjwt libsystemd libxcrypt zlib 2>/dev/null)
LIBS_TEST := $(LIBS_DAEMON) $(shell pkg-config --libs libmicrohttpd criterion 2>/dev/null)

PROTOS := $(wildcard proto/*.proto)
TEST_PROTOS := $(wildcard tests/unit/*.proto)
PB_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
TEST_PB_C := $(patsubst tests/unit/%.proto,$(GEN)/%.pb-c.c,$(TEST_PROTOS))
PB_H := $(PB_C:.c=.h) $(TEST_PB_C:.c=.h)
MIG_C := $(foreach s,$(SERVICES),$(GEN)/$(s)_migrations.c)
COMMON_SRC := $(wildcard common/*.c)
GATEWAY_SRC := $(wildcard gateway/*.c)
UNIT_TESTS := $(wildcard tests/unit/*_test.c)
INTEG_TESTS := $(wildcard tests/integration/*_test.c)


# Objects of a variant: $(call objs,<variant>,<sources>)
objs = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(patsubst $(GEN)/%,gen/%,$(2)))

BINS := $(BUILD)/bin/barberpro-gateway $(foreach s,$(SERVICES),$(BUILD)/bin/barberpro-$(s))
TEST_BINS := $(patsubst %,$(BUILD)/test/bin/barberpro-%,gateway $(SERVICES))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/test/unit/%,$(UNIT_TESTS))
INTEG_BINS := $(patsubst tests/integration/%.c,$(BUILD)/test/integration/%,$(INTEG_TESTS))
FAKE_BINS := $(patsubst tests/fakes/%.c,$(BUILD)/bin/fake-%,$(wildcard tests/fakes/*.c))

.PHONY: all deps run test test-unit test-integration bench lint openapi-lint format migrate clean
.SECONDARY:

all: $(BINS) $(FAKE_BINS) $(BUILD)/bin/http-ceiling $(BUILD)/bin/availability-bench

# ---- generated code ------------------------------------------------------
$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto $(PROTOS)
	@mkdir -p $(GEN)
	@protoc-c --c_out=$(GEN) -Iproto $<

# The OpenAPI description, served by the gateway as JSON.
PYTHON ?= /usr/bin/python3
$(GEN)/openapi_json.c: gateway/openapi.yaml scripts/openapi-json.py
	@mkdir -p $(GEN)
	@$(PYTHON) scripts/openapi-json.py $< $@

# Messages used only by unit tests (tests/unit/*.proto).
$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: tests/unit/%.proto $(PROTOS)
	@mkdir -p $(GEN)
	@protoc-c --c_out=$(GEN) -Iproto -Itests/unit $<

# A migration added or changed regenerates its service's table.
.SECONDEXPANSION:
$(GEN)/%_migrations.c: scripts/embed-migrations.sh $$(wildcard migrations/$$*/*.sql)
	@mkdir -p $(GEN)
	@scripts/embed-migrations.sh $* $@ $(sort $(wildcard migrations/$*/*.sql))

# Every object waits for the generated headers.
$(BUILD)/rel/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_BASE) $(OPT_CFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/rel/gen/%.o: $(GEN)/%.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_BASE) $(OPT_CFLAGS) -c $< -o $@
$(BUILD)/san/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_BASE) $(SAN_CFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/san/gen/%.o: $(GEN)/%.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_BASE) $(SAN_CFLAGS) -c $< -o $@

# ---- libraries and binaries, per variant (rel: optimised, san: sanitizers)
# Each service's sources except main.c form an archive, so unit tests link
# exactly the code they exercise.
svc_src = $(filter-out services/$(1)/main.c,$(wildcard services/$(1)/*.c)) $(GEN)/$(1)_migrations.c

# $(call lib,<archive>,<objects>)
define lib
$(1): $(2)
	@mkdir -p $$(dir $$@)
	@rm -f $$@ && ar rcs $$@ $$^

endef

# $(call variant,<variant>,<bindir>,<extra link flags>)
define variant
$(call lib,$(BUILD)/$(1)/libbp.a,$(call objs,$(1),$(COMMON_SRC) $(PB_C)))
$(call lib,$(BUILD)/$(1)/libgw.a,$(call objs,$(1),$(filter-out gateway/main.c,$(GATEWAY_SRC)) $(GEN)/openapi_json.c))
$(foreach s,$(SERVICES),$(call lib,$(BUILD)/$(1)/libsvc-$(s).a,$(call objs,$(1),$(call svc_src,$(s)))))

$(2)/barberpro-gateway: $(BUILD)/$(1)/gateway/main.o $(BUILD)/$(1)/libgw.a $(BUILD)/$(1)/libbp.a
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	@$$(CC) $(3) -o $$@ $$^ $$(LIBS_GATEWAY)

$(foreach s,$(SERVICES),$(call daemon,$(1),$(2),$(3),$(s)))
endef

define daemon
$(2)/barberpro-$(4): $(BUILD)/$(1)/services/$(4)/main.o $(BUILD)/$(1)/libsvc-$(4).a $(BUILD)/$(1)/libbp.a
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	@$$(CC) $(3) -o $$@ $$^ $$(LIBS_DAEMON)

endef

$(eval $(call variant,rel,$(BUILD)/bin,))
$(eval $(call variant,san,$(BUILD)/test/bin,$(SAN_CFLAGS)))

# A fake links what the fakes share (tests/support/, but starting fakes).
FAKE_SUPPORT := $(call objs,rel,$(filter-out tests/support/fake_launch.c,$(wildcard tests/support/*.c)))
$(BUILD)/bin/fake-%: $(BUILD)/rel/tests/fakes/%.o $(FAKE_SUPPORT) $(BUILD)/rel/libbp.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) -o $@ $^ $(LIBS_TEST)

$(BUILD)/bin/http-ceiling: $(BUILD)/rel/tests/bench/http_ceiling.o
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) -o $@ $^ $(shell pkg-config --libs libmicrohttpd)

$(BUILD)/bin/availability-bench: $(BUILD)/rel/tests/bench/availability_bench.o $(BUILD)/rel/libsvc-booking.a $(BUILD)/rel/libbp.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) -o $@ $^ $(LIBS_DAEMON)

SAN_ARCHIVES := $(BUILD)/san/libgw.a $(foreach s,$(SERVICES),$(BUILD)/san/libsvc-$(s).a) $(BUILD)/san/libbp.a
# What unit tests share beyond the archives (tests/support/: starting fakes).
TEST_SUPPORT := $(call objs,san,$(wildcard tests/support/*.c))
$(BUILD)/test/unit/%: $(BUILD)/san/tests/unit/%.o $(call objs,san,$(TEST_PB_C)) $(TEST_SUPPORT) $(SAN_ARCHIVES)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(SAN_CFLAGS) -o $@ $^ $(LIBS_TEST)

$(BUILD)/test/integration/%: $(BUILD)/san/tests/integration/%.o $(BUILD)/san/tests/integration/harness.o $(BUILD)/san/libbp.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(SAN_CFLAGS) -o $@ $^ $(LIBS_TEST)

# ---- the two commands ----------------------------------------------------
deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BINS) $(UNIT_BINS) $(INTEG_BINS)
	@BUILD=$(BUILD) scripts/test.sh

migrate: deps all
	@scripts/run.sh migrate

bench: deps all
	@tests/bench/bench.sh

# ---- style ---------------------------------------------------------------
C_FILES = $(shell git ls-files --cached --others --exclude-standard -- '*.c' '*.h' | grep -v '^build')
lint: deps
	@scripts/lint.sh

# gateway/openapi.yaml against Redocly CLI's recommended rules (also a step
# of `make test`); the pinned CLI is installed into tools/node_modules once.
openapi-lint: deps
	@scripts/openapi-lint.sh

format:
	clang-format -i $(C_FILES)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
