# Two entry points do all the set-up on a fresh Debian 12 machine (as root):
#   make local STACK=pool   the stack's site running on this machine
#   make test               every test
# and also:
#   make local-down STACK=pool [PURGE=1]   tear the local site down (root; PURGE drops its data)
#   make manage STACK=pool ARGS="createsuperuser"   a Django management command on the local stack's first app node
#   make plan STACK=pool    what a stack would build, offline (no root, no cloud), and its diagram;
#                           STACK="staging production" plans them side by side in one account
#   make diagrams           draw every stack file's diagram anew
#   make diff BASE=main     what `pulumi up` would do to each stack, from BASE to this tree, as Markdown
#                           cut to fit a pull request comment (WHOLE=1: all of it)
#   make mutants            the standing deliberate bugs, each caught by its tests (also part of make test)
#   make mutation           mutmut over the pure floors (slow; not part of make test)
#   make bench STACK=onebox the article's claims measured on the local cloud (root; not part of make test);
#                           STACK=split adds the app tier at 1-3 nodes, STACK=layout onebox against split
#   make cycles [COUNT=20] [LOG=build/cycles.log] [LOCK=file]
#                           COUNT up/down cycles of the example stacks in turn on the local cloud,
#                           each checked through its public entry, logged as JSON lines (root; slow)
STACK ?= onebox
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
# Tools the tests check rendered files with, the real services the step
# scripts run against, what draws the diagrams (in a fixed font), and what
# the local cloud boots machines with.
DEBIAN_PACKAGES := cloud-init nginx-light shellcheck systemd memcached postgresql-15 \
	python3-venv curl util-linux tar gzip git graphviz fonts-dejavu-core \
	systemd-container debootstrap dpkg-dev iproute2 nftables haproxy openssh-client \
	wrk slowhttptest pgbouncer pgbackrest

.PHONY: plan diagrams diff local local-down manage test system-deps mutants mutation bench cycles

$(VENV)/.installed: requirements.txt requirements-dev.txt demo/requirements.txt policy/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

plan: $(VENV)/.installed
	$(PY) -m sim.plan $(STACK)

diagrams: $(VENV)/.installed
	$(PY) -m sim.diagram

diff: $(VENV)/.installed
	$(if $(BASE),,$(error BASE is required: make diff BASE=<git ref>, for example BASE=main))
	$(PY) -m sim.diff $(BASE) $(if $(WHOLE),--whole)

local: system-deps $(VENV)/.installed
	$(PY) -m localcloud up $(STACK)

cycles: system-deps $(VENV)/.installed
	$(PY) -m localcloud cycles --count $(or $(COUNT),20) $(if $(LOG),--log $(LOG)) $(if $(LOCK),--lock $(LOCK))

local-down: $(VENV)/.installed
	$(PY) -m localcloud down $(STACK) $(if $(PURGE),--purge)

# A terminal when make has one (createsuperuser asks for a password); the command's exit status is make's.
manage: $(VENV)/.installed
	$(if $(ARGS),,$(error ARGS is required: make manage STACK=<stack> ARGS="migrate --check"))
	$(PY) -m localcloud manage $(STACK) -- $(ARGS)

# The local cloud shares host state (bridges, namespaces), so its tests run
# on their own after the rest, which run two at a time.
test: system-deps $(VENV)/.installed
	$(PY) -m pytest -n 2 -m "not localcloud"
	$(PY) -m pytest -m localcloud

mutants: system-deps $(VENV)/.installed
	$(PY) -m pytest -n 2 tests/mutants

mutation: system-deps $(VENV)/.installed
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

# The local cloud's lock: the bench's stacks share host state with the local-cloud tests.
bench: system-deps $(VENV)/.installed
	flock /tmp/django-tiers-localcloud.lock $(PY) -m bench $(STACK)
