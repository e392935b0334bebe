# The README's two commands: `make run` and `make test`. Both bootstrap first.
.PHONY: bootstrap run test lint typecheck unit db-up db-down

LINTED = plugins tests bench scripts

bootstrap:
	@./scripts/bootstrap.sh

run: bootstrap
	.venv/bin/kmzb run

# Cheapest first: lint, types, the fast unit tier (tests/unit: no database, no server,
# tests/conftest.py out of reach), then the real-stack suite (everything else, once).
test: bootstrap
	.venv/bin/ruff check $(LINTED)
	.venv/bin/ruff format --check $(LINTED)
	.venv/bin/mypy
	.venv/bin/pytest -q --confcutdir=tests/unit tests/unit
	.venv/bin/pytest --ignore=tests/unit

lint: bootstrap
	.venv/bin/ruff check $(LINTED)
	.venv/bin/ruff format --check $(LINTED)

typecheck: bootstrap
	.venv/bin/mypy

unit: bootstrap
	.venv/bin/pytest -q --confcutdir=tests/unit tests/unit

db-up: bootstrap
	.venv/bin/kmzb db up

db-down: bootstrap
	.venv/bin/kmzb db down
