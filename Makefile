# Two entry points do all the set-up on a fresh Debian 12 machine:
#   make plan STACK=pool    what a stack would build, offline
#   make test               every test
STACK ?= onebox
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
DEBIAN_PACKAGES := cloud-init nginx-light shellcheck memcached postgresql-15 \
	systemd-container debootstrap iproute2 nftables curl

.PHONY: plan test system-deps

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

plan: $(VENV)/.installed
	$(PY) -m offline.plan $(STACK)

test: system-deps $(VENV)/.installed
	$(PY) -m pytest
