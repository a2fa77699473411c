# Gongwen: `make run` starts the suite locally, `make test` runs every suite.
# Both install what is missing first (Debian packages as root, the virtualenv, pinned packages).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := common contracts services/registry services/identity services/seal services/exchange \
            services/notify services/archive gateway deploy/local deploy/fake_twilio cli
STAMP := $(VENV)/.installed

.PHONY: run test bench lint install system-packages clean

run: install
	$(PY) -m gongwen_local run $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/rpc_roundtrip.py
	$(PY) bench/gateway_request.py
	$(PY) bench/seal.py
	$(PY) bench/exchange.py
	$(PY) bench/notify.py
	$(PY) bench/archive.py
	$(PY) bench/scaling.py

lint: install
	$(PY) -m ruff check .

install: system-packages $(STAMP)

# RabbitMQ, PostgreSQL, SoftHSM2 (a PKCS#11 U_Key for tests) and a CJK font (the seal image names the
# unit in Chinese; the supervision report's PDF too) and Chromium (tests open the report's HTML headless)
# come from Debian; servers are started by the project, never by apt.
system-packages:
	@missing=""; \
	command -v rabbitmq-server >/dev/null 2>&1 || missing="$$missing rabbitmq-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v softhsm2-util >/dev/null 2>&1 || missing="$$missing softhsm2"; \
	test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || missing="$$missing fonts-wqy-microhei"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install$$missing yourself)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

# What `make run` keeps: every database, the demo accounts and keks.json, the key-encryption keys
# without which a copy of those databases opens no seal and signs no token. Never deleted by accident.
VAR := $(or $(GONGWEN_VAR),var)

clean:
	@echo "make clean deletes $(VENV)/ (the virtualenv) and $(VAR)/: every database, the demo accounts and"
	@echo "$(VAR)/keks.json, the keys without which any copy of those databases is unreadable."
	@if [ "$(FORCE)" != 1 ]; then \
	  echo "Nothing was deleted. Back up $(VAR)/keks.json apart from the databases, then run: make clean FORCE=1"; \
	  exit 1; \
	fi
	rm -rf $(VENV) $(VAR)

# make backup [TO=DIR]: every service database of the local stack (var/db; PostgreSQL or another place
# with ARGS="--url SERVICE=URL …") into DIR with a manifest of SHA-256 digests, while it runs. Never
# $(VAR)/keks.json: back the KEKs up apart (docs/operations.md). make restore FROM=DIR: into empty
# databases only (make run stopped, $(VAR)/db wiped), refused if a digest does not match.
.PHONY: backup restore
TO ?= backups/$(shell date -u +%Y%m%dT%H%M%SZ)

backup: install
	$(PY) -m gongwen_local backup --to "$(TO)" --var "$(VAR)" $(ARGS)

restore: install
	@if [ -z "$(FROM)" ]; then echo "make restore FROM=DIR (a directory made by make backup)"; exit 1; fi
	$(PY) -m gongwen_local restore --from "$(FROM)" --var "$(VAR)" $(ARGS)
