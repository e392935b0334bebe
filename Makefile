# The README's two commands: `make run` and `make test`. Both bootstrap first.
.PHONY: bootstrap run test lint db-up db-down

bootstrap:
	@./scripts/bootstrap.sh

run: bootstrap
	.venv/bin/kmzb run

test: bootstrap
	.venv/bin/ruff check plugins tests bench
	.venv/bin/ruff format --check plugins tests bench
	.venv/bin/pytest

lint: bootstrap
	.venv/bin/ruff check plugins tests bench
	.venv/bin/ruff format --check plugins tests bench

db-up: bootstrap
	.venv/bin/kmzb db up

db-down: bootstrap
	.venv/bin/kmzb db down
