"""Published numbers shown beside a report's own (``--reference FILE``), e.g. a paper's table.

The file is YAML or JSON::

    source: SGT paper, Table 1        # shown as the column group's title
    models:                           # one column per model, in this order
      BAGEL-7B-MoT: {cvbench: 73.21}
      SGT-BAGEL: {cvbench: 79.23, geneval: 90.0, gedit: 6.94}

Numbers are written as the report prints them: accuracy-type headlines in percent (GenEval's 0.90
is 90.0), GEdit-Bench on its 0-10 scale. They are compared with the headline metric of each benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks import BENCHMARKS
from sgt_eval.errors import UserError
from sgt_eval.registry import unknown_name_message


@dataclass(frozen=True)
class References:
    source: str
    models: dict[str, dict[str, float]]  # model -> benchmark -> value in display units

    def for_benchmark(self, bench: str) -> dict[str, float]:
        return {model: scores[bench] for model, scores in self.models.items() if bench in scores}


def load_references(path: Path) -> References:
    """Read and check a references file; every problem is one line naming the file and field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--reference {path}: file not found") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML/JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), dict) or not document["models"]:
        raise UserError(f"{path}: expected a mapping with a non-empty 'models' mapping: "
                        "{models: {MODEL: {BENCHMARK: number}}}")
    models: dict[str, dict[str, float]] = {}
    for model, scores in document["models"].items():
        if not isinstance(scores, dict):
            raise UserError(f"{path}: field 'models.{model}' must map benchmark names to numbers")
        models[str(model)] = {}
        for bench, value in scores.items():
            if bench not in BENCHMARKS.names():
                raise UserError(f"{path}: field 'models.{model}.{bench}': "
                                f"{unknown_name_message('benchmark', str(bench), BENCHMARKS.names())}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{path}: field 'models.{model}.{bench}' must be a number, not {value!r}")
            limit = 100 if BENCHMARKS.load(bench).unit == "fraction" else 10
            if not 0 <= value <= limit:
                raise UserError(f"{path}: field 'models.{model}.{bench}' is {value}, outside 0-{limit} "
                                f"({'percent' if limit == 100 else 'the 0-10 scale'}, as the report prints it)")
            models[str(model)][str(bench)] = float(value)
    return References(str(document.get("source", path.name)), models)
