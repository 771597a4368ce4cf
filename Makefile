# The README's quick start is exactly `make demo` and `make test`; both
# bootstrap what they need (apt packages, .venv, editable install).
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: bootstrap test lint typecheck unit demo bench clean

bootstrap:
	@scripts/bootstrap.sh

lint: bootstrap
	$(BIN)/ruff check firmware_payloads gateway emulator lab tests bench

# The whole code base is held to mypy --strict (CONTRIBUTING.md).
typecheck: bootstrap
	$(BIN)/mypy --strict firmware_payloads gateway emulator lab

# The real-QEMU tests (private libvirtd, TCG guests) need the packages bootstrap
# installed, so here a missing piece fails them instead of skipping them.
test: lint typecheck
	FLEETFLASH_REQUIRE_QEMU=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The main job: a whole emulated data centre (lab/topologies/demo.yaml) updated by the
# gateway with nobody touching anything; exits non-zero if any invariant fails.
demo: bootstrap
	$(BIN)/fleetflash lab demo

# Each benchmark prints its figures, the last line as one JSON object; record
# them in docs/performance.md. rollout at 1000 nodes: `bench/rollout.py --nodes 1000`.
BENCHES := bundle emulator_scale intake media rollout
bench: bootstrap
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf build *.egg-info .pytest_cache .mypy_cache .ruff_cache
