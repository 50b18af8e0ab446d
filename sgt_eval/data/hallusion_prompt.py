"""The official HallusionBench judge prompt, read out of upstream ``utils.py`` at fetch time.

The prompt text belongs to the HallusionBench authors, so this repository never holds it: ``data
fetch`` downloads ``utils.py`` at the pinned commit, and this module rebuilds the prompt from the
statements of ``evaluate_by_chatgpt`` with :mod:`ast` (nothing upstream is executed). The result
is a ``str.format`` template with the fields ``{question}``, ``{reference}`` (the row's
``gt_answer_details``) and ``{prediction}`` (the model output); literal braces are doubled.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from sgt_eval.data.lock import read_fetched_json
from sgt_eval.errors import UserError

JUDGE_PROMPT = "judge_prompt.json"  # written into <root>/hallusionbench/
FUNCTION = "evaluate_by_chatgpt"
VARIABLE = "prompt"
FIELDS = ("question", "reference", "prediction")
# sample[<key>] -> template field; the model output is read with a variable key (output_entry)
_ROW_KEYS = {"question": "{question}", "gt_answer_details": "{reference}"}
_OUTPUT_KEY_VARIABLE = "output_entry"


def extract_judge_template(source: str, where: str = "utils.py") -> str:
    """Rebuild the judge prompt that ``evaluate_by_chatgpt`` assembles, as a format template.

    Parameters
    ----------
    source
        Text of upstream ``utils.py``.
    where
        Name used in error messages.

    Returns
    -------
    str
        The template: string constants verbatim, row fields as ``{question}``, ``{reference}``
        and ``{prediction}``.

    Raises
    ------
    UserError
        When the function or its ``prompt = ...`` / ``prompt += ...`` sequence is not found, or
        holds an expression this reading does not understand (the upstream file changed shape).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise UserError(f"{where} is not Python source ({err.msg}, line {err.lineno}); re-fetch it") from None
    funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == FUNCTION]
    if len(funcs) != 1:
        raise UserError(f"{where}: expected one function {FUNCTION}(), found {len(funcs)}; the upstream file changed")
    statements = sorted((n for n in ast.walk(funcs[0]) if _targets_prompt(n)), key=lambda n: (n.lineno, n.col_offset))
    if not statements or not isinstance(statements[0], ast.Assign):
        raise UserError(f"{where}: {FUNCTION}() does not start its prompt with `{VARIABLE} = ...`")
    if sum(isinstance(n, ast.Assign) for n in statements) > 1:
        raise UserError(f"{where}: {FUNCTION}() assigns `{VARIABLE}` more than once; the upstream file changed")
    template = "".join(_text(n.value, where) for n in statements)
    missing = [f for f in FIELDS if "{" + f + "}" not in template]
    if missing:
        raise UserError(f"{where}: the judge prompt of {FUNCTION}() never uses {', '.join(missing)}; "
                        f"the upstream file changed")
    return template


def judge_prompt_document(source: str, repo: str, commit: str) -> dict[str, str]:
    """The ``judge_prompt.json`` object for ``utils.py`` of ``repo`` at ``commit`` (a full SHA)."""
    return {
        "version": f"official@{commit[:7]}",
        "source": f"{repo}@{commit}:utils.py",
        "template": extract_judge_template(source, f"{repo}@{commit[:7]}:utils.py"),
    }


def load_judge_prompt(path: Path) -> dict[str, Any]:
    """Read and validate a ``judge_prompt.json`` written by ``sgt-eval data fetch``.

    Raises
    ------
    UserError
        When the file is missing, not JSON, or its template lacks a field.
    """
    fix = f"re-run `sgt-eval data fetch --bench hallusionbench --root {path.parent.parent}`"
    doc = read_fetched_json(path, fix)
    template = doc.get("template") if isinstance(doc, dict) else None
    if not isinstance(template, str) or not all(isinstance(doc.get(k), str) for k in ("version", "source")):
        raise UserError(f"{path}: needs string fields version, source and template; {fix}")
    missing = [f for f in FIELDS if "{" + f + "}" not in template]
    if missing:
        raise UserError(f"{path}: field 'template' lacks {', '.join('{' + f + '}' for f in missing)}; {fix}")
    return doc


def _targets_prompt(node: ast.AST) -> bool:
    if isinstance(node, ast.Assign):
        return len(node.targets) == 1 and _is_name(node.targets[0], VARIABLE)
    return isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and _is_name(node.target, VARIABLE)


def _text(node: ast.expr, where: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left, where) + _text(node.right, where)
    if isinstance(node, ast.Subscript) and _is_name(node.value, "sample"):
        key = node.slice
        if isinstance(key, ast.Constant) and key.value in _ROW_KEYS:
            return _ROW_KEYS[key.value]
        if _is_name(key, _OUTPUT_KEY_VARIABLE):
            return "{prediction}"
    raise UserError(f"{where}:{node.lineno}: the judge prompt uses an expression this reader does not know; "
                    f"the upstream file changed shape")


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name
