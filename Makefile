# The two commands at the top of the README: `make demo` (the main job) and `make test` (every check; CI runs it).
SHELL := /bin/bash
BIN := .venv/bin
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: demo test lab export starter install install-dev

demo: install  ## install, prepare the bundled sample, run the end-to-end workflow
	$(BIN)/dronemlops demo

test: install-dev  ## install with test-only needs, then every check
	tools/check.sh

starter: install  ## remake the shipped starter detector (dronemlops/weights) with its recipe notebook: 30-50 min on 2 CPU cores
	$(BIN)/dronemlops workflow train_starter --param "out_dir=$(CURDIR)/dronemlops/weights"

lab: install-dev  ## JupyterLab on nbs/
	$(BIN)/jupyter lab --notebook-dir=nbs $(ROOT_FLAG)

export: install-dev  ## after editing notebooks: export the package, clean notebooks, regenerate README.md
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean && $(BIN)/python tools/make_readme.py

install:
	tools/bootstrap.sh

install-dev:
	tools/bootstrap.sh dev
