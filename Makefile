# The two commands of the README: `make demo` (FULL=1: a better policy, longer; VISION=1: one that sees
# through the cameras) and `make test`.
# Both set the workspace up first (idempotent).
.PHONY: setup demo test lint format clean

setup:
	@bash scripts/setup.sh

demo: setup
	@FULL=$(FULL) VISION=$(VISION) bash scripts/demo.sh

test: setup
	@bash scripts/test.sh

lint: setup
	@. .venv/bin/activate && ruff check . && ruff format --check .

format: setup
	@. .venv/bin/activate && ruff check --fix . && ruff format .

clean:
	rm -rf build install log output
