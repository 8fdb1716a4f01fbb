# The commands a new user types. `make demo` sets everything up and runs the main job.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch, installed before anything asks for `torch` (a bare requirement
# could pull a multi-gigabyte CUDA build).
TORCH ?= torch==2.13.0
PACKAGES := -e "./simshop_core[dask]" -e ./simshop_users -e "./simshop_recommenders[ppo,wandb]" \
            -e ./simshop_lab -e ./simshop_cli -e ./simshop_ui

.PHONY: install demo test lint browser benchmark clean

install: $(BIN)/simshop

$(BIN)/simshop: pyproject.toml */pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet $(PACKAGES) --group dev
	touch $(BIN)/simshop

demo: install
	$(BIN)/simshop list-plugins
	$(BIN)/simshop train --recommender ppo --users all --timesteps 1000000 --seed 0 \
	    --output models/ppo.zip

# Chromium for the browser test, and an emoji font for the product cards (Debian packages;
# needs root or sudo).
browser:
	command -v chromium >/dev/null && fc-list | grep -qi "noto color emoji" || \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The browser test needs Chromium: `make test` sees to it, so it passes on a fresh machine.
test: lint browser
	$(BIN)/pytest -n 2

benchmark: install
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/ppo_quality.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
