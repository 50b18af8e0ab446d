"""The VLMEvalKit bridge tests run in a venv with the vlmeval extra (`make test-vlmeval`); elsewhere they skip."""

from __future__ import annotations

import pytest

pytest.importorskip("vlmeval", reason="needs the vlmeval extra (VLMEvalKit + torch 2.14.1 + torchvision 0.29.1): "
                                      "run `make test-vlmeval`")
