# The two commands: `make run` and `make test`. Everything else is for developers.
# Needs only Python 3.11+ and make: uv and the locked dependencies go into backend/.venv.

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
UV_VERSION ?= 0.13.9

BACKEND := backend
UV_HOME := $(BACKEND)/.uv
UV := $(UV_HOME)/bin/uv
BIN := .venv/bin
SYNCED := $(BACKEND)/.venv/.synced
# Node tools for the TypeScript client check.
NODE_TOOLS := $(BACKEND)/tests/typescript
NODE_SYNCED := $(NODE_TOOLS)/node_modules/.synced
NPM := $(shell command -v npm 2>/dev/null)
# Use the machine's Python; never download one.
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install node-tools run migrate token test test-pgbouncer openapi lint format clean bench

help:
	@echo "make run     install, migrate, serve on http://$(HOST):$(PORT) (Swagger UI at /docs)"
	@echo "make test    the whole suite (embedded PostgreSQL; also TEST_DATABASE_URL's when set)"
	@echo "make token USER=alice   print a token for user 'alice'"
	@echo "make lint    ruff format --check, ruff check, mypy --strict"
	@echo "make test-pgbouncer   the suite through PgBouncer (transaction pooling), as behind Neon"
	@echo "make bench   load test on a throwaway PostgreSQL database (see backend/bench/config.py)"
	@echo "make openapi rewrite specs/001-backend-auth-tasks/contracts/task-endpoints.yaml from the app"

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(SYNCED): $(BACKEND)/pyproject.toml $(BACKEND)/uv.lock | $(UV)
	cd $(BACKEND) && ../$(UV) sync --locked --python "$(PYTHON)"
	@touch $@

install: $(SYNCED)

$(NODE_SYNCED): $(NODE_TOOLS)/package.json $(NODE_TOOLS)/package-lock.json
	cd $(NODE_TOOLS) && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# Without npm the tests that need these skip locally (CI has npm and fails instead of skipping).
node-tools: $(if $(NPM),$(NODE_SYNCED))

# Development only: a first run gets a .env with a freshly generated secret. The notice goes to
# stderr so that TOKEN=$(make -s token USER=alice) captures the token alone, even on a first run.
.env:
	@if [ -z "$$BETTER_AUTH_SECRET" ] && [ "$${ENVIRONMENT:-development}" = development ]; then \
		$(PYTHON) -c 'import secrets, sys; src = open(".env.example").read(); \
		sys.stdout.write(src.replace("replace-me-with-at-least-32-random-bytes", secrets.token_urlsafe(48)))' > .env; \
		echo "Created .env with a new BETTER_AUTH_SECRET (give the same value to the frontend)." >&2; \
	fi

migrate: install .env
	cd $(BACKEND) && $(BIN)/alembic upgrade head

run: migrate
	cd $(BACKEND) && $(BIN)/python -m src.server --host "$(HOST)" --port "$(PORT)"

token: install .env
	@cd $(BACKEND) && $(BIN)/python -m src.tokens "$(USER)"

# A throwaway secret: importing src.main builds the app, and tests must never need a real one.
test: install node-tools
	cd $(BACKEND) && BETTER_AUTH_SECRET=test-only-secret-not-for-production-0123456789 \
		$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

# The contract is generated, never edited: a test fails until this has been run after an API change.
openapi: install
	cd $(BACKEND) && $(BIN)/python -m scripts.export_openapi

# PostgreSQL through PgBouncer in transaction-pooling mode, as behind Neon's pooled endpoint.
# Installs the pgbouncer package when missing (root with apt-get); see .ci/test-pgbouncer.
test-pgbouncer: install
	.ci/test-pgbouncer

lint: install
	cd $(BACKEND) && $(BIN)/ruff format --check . && $(BIN)/ruff check . && $(BIN)/mypy

# Needs PostgreSQL (BENCH_ADMIN_URL, default the local server) and wrk (installed when missing).
# WORKERS=2 CONCURRENCY="100 1000" DURATION=20 SCENARIO="mixed large" BENCH_USERS=1000 BENCH_TASKS=20
# BENCH_BASELINE=<git ref> (e.g. 0e6ec53) also measures the Task API at that ref in the same run:
# a git worktree with its own venv and throwaway database, removed at the end.
# BENCH_SKIP_API=1 leaves out this tree's Task API (floor, bare route and any baseline only).
bench: install
	cd $(BACKEND) && $(BIN)/python -m bench.run

format: install
	cd $(BACKEND) && $(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(BACKEND)/.venv $(UV_HOME) $(NODE_TOOLS)/node_modules $(BACKEND)/.pytest_cache $(BACKEND)/.mypy_cache $(BACKEND)/.ruff_cache
