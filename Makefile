# socklab: the two commands are `make demo` and `make test` (as root, on Debian).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast bench bench-docker lint image docker clean drawings

setup:
	@./scripts/setup.sh

## demo: install, then run the course's labs on the netns backend and print the report
demo: setup
	@./scripts/demo.sh

## test: install everything (apt, venv, Docker engine, image), then the whole suite
test: setup docker
	$(BIN)/pytest -q

## test-fast: unit tests only (no root needed)
test-fast: setup
	$(BIN)/pytest -q tests/unit

docker:
	@./scripts/ensure-docker.sh || echo "socklab: no Docker engine here; docker tests will skip"
	@./scripts/build-image.sh || echo "socklab: agent image not built; docker tests will skip"

image: docker

## bench: the benchmarks, each printing its table (not tests)
bench: setup
	$(BIN)/python bench/topology.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/capture.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/grade.py
	$(BIN)/python bench/impair.py
	$(BIN)/python bench/report.py

bench-docker: setup docker
	$(BIN)/python bench/docker.py
	$(BIN)/python bench/run.py --backend docker

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	$(BIN)/socklab gc --all || true
	rm -rf runs .pytest_cache

## drawings: regenerate each lab's topology.svg (a test keeps them in sync with the lab files)
drawings: setup
	@for d in labs/*/; do $(BIN)/socklab graph "$$d" -o "$$d/topology.svg"; done
