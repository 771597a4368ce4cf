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

typecheck: bootstrap
	$(BIN)/mypy --strict firmware_payloads gateway/domain

test: lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Until the lab demo lands: build, inspect and verify the signed sample bundle.
DEMO_DIR := var/demo
demo: bootstrap
	@mkdir -p $(DEMO_DIR)
	@test -f $(DEMO_DIR)/bundle-signing.key || $(BIN)/fleetflash bundle keygen --out $(DEMO_DIR)
	$(BIN)/fleetflash bundle build firmware_payloads/samples/quarterly-2026q4.yaml --key $(DEMO_DIR)/bundle-signing.key -o $(DEMO_DIR)/bundle.iso
	$(BIN)/fleetflash bundle inspect $(DEMO_DIR)/bundle.iso
	$(BIN)/fleetflash bundle verify $(DEMO_DIR)/bundle.iso --trusted-key $(DEMO_DIR)/bundle-signing.pub

bench: bootstrap
	$(BIN)/python bench/bundle.py

clean:
	rm -rf build *.egg-info .pytest_cache .mypy_cache .ruff_cache
