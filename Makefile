# The two newcomer commands (see README): `make demo` and `make test`. Both set up .venv first if needed.
VENV ?= .venv

$(VENV)/.installed: pyproject.toml scripts/install.sh
	bash scripts/install.sh $(VENV)
	touch $@

# VLMEvalKit imports torchvision, which needs torch 2.14.1 here: the bridge is tested in its own venv.
VLMEVAL_VENV ?= .venv-vlmeval
$(VLMEVAL_VENV)/.installed: pyproject.toml scripts/install.sh
	TORCH="torch==2.14.1 torchvision==0.29.1" EXTRAS=dev,vlmeval VLMEVALKIT_REPO="$(SGT_EVAL_VLMEVALKIT_REPO)" \
		bash scripts/install.sh $(VLMEVAL_VENV)
	touch $@

.PHONY: install demo test test-slow test-vlmeval
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/sgt-eval demo --out runs/demo

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

test-slow: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -m slow

test-vlmeval: $(VLMEVAL_VENV)/.installed
	$(VLMEVAL_VENV)/bin/python -m pytest -m "slow or not slow" tests/bridge tests/models/test_conformance.py
