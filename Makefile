# Two entry points for a fresh clone: `make demo` (build the example report) and `make test`.
# Both create or update .venv and are fast when it is already set up.

PYTHON ?= python3
VENV ?= .venv
# torch is installed on its own first, with the torchvision built against it (timm imports
# torchvision, which must match torch's build exactly: PyPI's torchvision does not import beside
# the CPU-only torch 2.13.0+cpu). This pair is PyPI's CUDA build, which runs on a CPU too.
TORCH ?= torch==2.14.1 torchvision==0.29.1
EXTRAS ?= offline,test,ray,datasets,stats,timm
MODEL ?= auto
EXAMPLE_DATE ?= 2026-11-24
# Show every section on 13 images: faithfulness, and galleries with a page per image (reports
# this small are otherwise a single page, with the explorers inline); in every flavour.
EXAMPLE_OPTIONS ?= --faithfulness --faithfulness-images 8 --gallery-threshold 10 \
	--typical 1 --page-size 6 --format html,jekyll,gfm,distill,hugo,mkdocs --post-date 2026-04-27

BIN := $(VENV)/bin
STAMP := $(VENV)/.reportgen-installed

.PHONY: setup demo docs test lint format system-deps clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11+ or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

# The labelled report's classifier: the offline backbone with a linear head fitted to half of
# the example photos (examples/train_classifier.py says how).
CLASSIFIER ?= build/example-classifier
CLASSIFIER_OPTIONS ?= --gallery-threshold 10 --typical 1 --page-size 6

$(CLASSIFIER)/config.json: examples/train_classifier.py $(STAMP)
	$(BIN)/python examples/train_classifier.py examples/images $(CLASSIFIER)

demo: setup $(CLASSIFIER)/config.json
	$(BIN)/reportgen build examples/images --labels-from-folders --out site --model $(MODEL) \
		--title "Where a Vision Transformer looks: example photos" --slug example \
		--date $(EXAMPLE_DATE) --replace $(EXAMPLE_OPTIONS)
	$(BIN)/reportgen build examples/images --labels-from-folders --out site \
		--model $(CLASSIFIER) --slug example-classifier \
		--title "Correct against wrong: a linear probe on the example photos" \
		--description "The classifier is the offline DINOv2-S backbone with a linear head that \
	examples/train_classifier.py fitted to 7 of these 13 photos (every other photo of each \
	class folder); the other 6 it never saw in training." \
		--date $(EXAMPLE_DATE) --replace $(CLASSIFIER_OPTIONS)
	$(BIN)/reportgen build examples/images --labels-from-folders --out site --model $(MODEL) \
		--artifacts keep --slug example-artifacts-kept --format html,gfm \
		--title "Where a Vision Transformer looks, artifact patches kept" \
		--date $(EXAMPLE_DATE) --replace $(CLASSIFIER_OPTIONS)
	$(BIN)/reportgen compare site/reports/example site/reports/example-artifacts-kept --out site \
		--slug artifacts-masked-vs-kept --date $(EXAMPLE_DATE) \
		--title "Artifact patches masked (the default) against kept"
	@echo "open site/index.html or site/reports/example/index.html"

# The documentation site (docs/, mkdocs.yml) into build/docs/, which opens from disk.
docs: setup
	$(BIN)/mkdocs build --strict
	@echo "open build/docs/index.html"

# Debian's chromium, jekyll and hugo for the browser, Jekyll and Hugo checks (installed when
# missing).
system-deps:
	@bash .ci/system-deps

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup system-deps lint
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
