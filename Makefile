# intentd: `make run` serves the bundled example model; `make test` runs every test.
# Both start from nothing: they create .venv, install, and build what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXAMPLE := models/artifacts/example
BANKING := models/domains/banking
LISTEN ?= 127.0.0.1:50051

.PHONY: install model run test bench bench-accuracy clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[train,dev]'
	$(BIN)/python -m intentd.protogen
	touch $(STAMP)

# The bundled banking example, trained, exported (FP32 + INT8), calibrated and evaluated.
model: $(EXAMPLE)/manifest.json

$(EXAMPLE)/manifest.json: $(STAMP) $(BANKING)/domain.yaml $(BANKING)/train.jsonl $(BANKING)/valid.jsonl $(BANKING)/test.jsonl
	$(BIN)/intentd train --data $(BANKING) --out $(EXAMPLE)
	$(BIN)/intentd eval --model $(EXAMPLE) --data $(BANKING)/test.jsonl

run: model
	$(BIN)/intentd serve --model $(EXAMPLE) --listen $(LISTEN)

test: $(STAMP)
	$(BIN)/python -m pytest

# The service against its parts (raw onnxruntime, a do-nothing gRPC server) in one run, the
# candidate graphs, CPU per request by stage, the load generator's own cost, and the per-request
# cost of entity resolution + response and OOD scoring (pytest-benchmark). Writes bench-results/.
bench: model
	$(BIN)/python bench/run.py --model $(EXAMPLE) --out bench-results
	$(BIN)/python -m bench.quantization --model $(EXAMPLE) --out bench-results
	$(BIN)/python -m bench.profile --model $(EXAMPLE) --out bench-results
	$(BIN)/python -m bench.loadgen --out bench-results
	$(BIN)/python -m pytest bench/bench_resolve.py bench/bench_ood.py -q -s -p no:cacheprovider

# Accuracy on the public benchmarks in ../shared/datasets (long: trains SNIPS and CLINC150).
bench-accuracy: $(STAMP)
	$(BIN)/python -m bench.accuracy --out bench-results

clean:
	rm -rf $(VENV) $(EXAMPLE) bench-results .pytest_cache

# intentd against PyTriton serving the same ONNX file behind Triton's dynamic batcher, measured by
# the same client (issue 12; ~10 minutes). Not part of make test: PyTriton wants numpy < 2 and
# protobuf < 7, so it gets a venv of its own inside .venv, with intentd's onnxruntime and tokenizers.
PEERS_VENV := $(VENV)/peers
.PHONY: bench-peers

bench-peers: model $(PEERS_VENV)/.installed
	$(BIN)/python bench/peers.py --model $(EXAMPLE) --out bench-results --pytriton-python $(PEERS_VENV)/bin/python

$(PEERS_VENV)/.installed: | $(STAMP)
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check nvidia-pytriton \
		$$($(BIN)/python -c 'import onnxruntime, tokenizers; print(f"onnxruntime=={onnxruntime.__version__} tokenizers=={tokenizers.__version__}")')
	touch $@

# The serving image (deploy/Containerfile) with podman or docker, whichever is installed:
# make image [IMAGE=name:tag] [BASE=base-image] [MODEL=artifact-dir] [GPU=1]. Guide: docs/deploy.md.
IMAGE ?= localhost/intentd:latest
BASE  ?= docker.io/library/python:3.11-slim
MODEL ?= $(EXAMPLE)
GPU   ?= 0
.PHONY: image test-image

image: $(if $(filter $(EXAMPLE),$(MODEL)),model)
	IMAGE='$(IMAGE)' BASE='$(BASE)' MODEL='$(MODEL)' GPU='$(GPU)' sh deploy/build-image.sh

# Builds the image and runs it (read-only root, the sidecar Pod under podman kube play, SIGTERM
# drain under load). Not part of make test; skips with a message without podman or docker.
test-image: $(STAMP) $(if $(filter $(EXAMPLE),$(MODEL)),model)
	sh tests/image/setup_host.sh
	IMAGE='$(IMAGE)' BASE='$(BASE)' MODEL='$(MODEL)' $(BIN)/python -m pytest tests/image/check_image.py -v -s -rs -p no:cacheprovider
