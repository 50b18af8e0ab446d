"""Training configs: typed overrides, helpful errors, and the shipped files' launch commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sgt_eval.errors import UserError
from sgt_train.config import Config, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "sgt_train" / "configs"


def test_overrides_are_read_by_the_fields_type(tmp_path: Path):
    config = load_config(None, ["--train.steps", "17", "--data.ratio", "3:1", "--optim.betas", "0.8,0.9",
                                "--data.skip_bad_samples", "true", "--data.seg_list", "none",
                                "--model.size.hidden", "64", "--optim.lr", "2e-4"])
    assert config.train.steps == 17 and config.data.ratio == "3:1" and config.optim.betas == (0.8, 0.9)
    assert config.data.skip_bad_samples is True and config.data.seg_list is None
    assert config.model.size.hidden == 64 and config.optim.lr == 2e-4
    assert load_config(None, []) == Config()


@pytest.mark.parametrize("overrides, message", [
    (["--train.stepz", "3"], r"unknown key train\.stepz; did you mean 'steps'\?"),
    (["--train.steps", "many"], r"--train\.steps 'many' is not a valid int"),
    (["--trian.steps", "3"], r"'trian' is not a config section"),
    (["--train.steps"], r"has no value"),
    (["--model.size.hidden", "100"], r"model\.hidden 100 / model\.heads 4 must be a multiple of 8"),
])
def test_bad_overrides_are_one_clear_line(overrides, message):
    with pytest.raises(UserError, match=message):
        load_config(None, overrides)


def test_yaml_errors_name_the_file_and_field(tmp_path: Path):
    sexagesimal = tmp_path / "c.yaml"
    sexagesimal.write_text("data:\n  ratio: 2:1\n")  # YAML 1.1 reads this as 121
    with pytest.raises(UserError, match=r'c\.yaml: data\.ratio was read as the number 121 .* quote it'):
        load_config(sexagesimal)
    typo = tmp_path / "t.yaml"
    typo.write_text("optim:\n  learning_rate: 1e-3\n")
    with pytest.raises(UserError, match=r"t\.yaml: unknown key optim\.learning_rate"):
        load_config(typo)
    broken = tmp_path / "b.yaml"
    broken.write_text("train:\n  steps: [1,\n")
    with pytest.raises(UserError, match=r"b\.yaml:\d+: not valid YAML"):
        load_config(broken)


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_opens_with_its_launch_command(path: Path):
    first = path.read_text().splitlines()[0]
    assert re.match(r"# (sgt-train|torchrun|deepspeed) .*" + re.escape(f"sgt_train/configs/{path.name}"), first), first
    if "sweep" in path.name:
        from sgt_train.sweep import load_sweep

        assert load_sweep(path).runs
    else:
        load_config(path)
