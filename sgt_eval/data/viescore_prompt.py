"""The official VIEScore prompts of GEdit-Bench, read out of Step1X-Edit's ``vie_prompts.py`` at fetch time.

The prompt texts belong to their authors, so this repository never holds them: ``data fetch``
downloads ``GEdit-Bench/viescore/vie_prompts.py`` at a pinned commit and this module takes the
module-level string constants that ``VIEScore(task="tie")`` joins with newlines (its
``__init__.py`` at the same commit), reading the file with :mod:`ast` (nothing upstream is
executed). The result, ``<root>/gedit/viescore_prompts.json``, holds two templates: ``sc`` (shown
with the source and the edited image; ``<instruction>`` is replaced by the edit instruction) and
``pq`` (shown with the edited image alone).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from sgt_eval.data.lock import read_fetched_json
from sgt_eval.errors import UserError

PROMPTS_FILE = "viescore_prompts.json"  # written into <root>/gedit/
PLACEHOLDER = "<instruction>"
# The pieces of the "tie" (text-guided image editing) prompts, in the order VIEScore joins them.
SC_PARTS = ("_context_no_delimit", "_prompts_0shot_two_image_edit_rule", "_prompts_0shot_tie_rule_SC")
PQ_PARTS = ("_context_no_delimit", "_prompts_0shot_rule_PQ")


def extract_prompts(source: str, where: str = "vie_prompts.py") -> tuple[str, str]:
    """The SC and PQ prompt templates that VIEScore builds for editing from ``vie_prompts.py``.

    Parameters
    ----------
    source
        Text of upstream ``vie_prompts.py``.
    where
        Name used in error messages.

    Returns
    -------
    tuple of str
        ``(sc, pq)``: each the named constants joined with ``"\\n"``; ``sc`` holds ``<instruction>``.

    Raises
    ------
    UserError
        When a constant is missing, assigned twice or not a plain string, or the SC text lacks
        the ``<instruction>`` placeholder (the upstream file changed shape).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise UserError(f"{where} is not Python source ({err.msg}, line {err.lineno}); re-fetch it") from None
    wanted = set(SC_PARTS) | set(PQ_PARTS)
    texts: dict[str, str] = {}
    for node in tree.body:  # module level only, as `import vie_prompts` exposes them
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name not in wanted:
            continue
        if name in texts:
            raise UserError(f"{where}:{node.lineno}: {name} is assigned twice; the upstream file changed")
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            raise UserError(f"{where}:{node.lineno}: {name} is not a plain string; the upstream file changed shape")
        texts[name] = node.value.value
    missing = sorted(wanted - set(texts))
    if missing:
        raise UserError(f"{where}: no {', '.join(missing)}; the upstream file changed")
    sc, pq = ("\n".join(texts[n] for n in parts) for parts in (SC_PARTS, PQ_PARTS))
    if PLACEHOLDER not in sc:
        raise UserError(f"{where}: the SC prompt never uses {PLACEHOLDER}; the upstream file changed")
    return sc, pq


def prompts_document(source: str, repo: str, commit: str, path: str) -> dict[str, str]:
    """The ``viescore_prompts.json`` object for ``path`` of ``repo`` at ``commit`` (a full SHA)."""
    sc, pq = extract_prompts(source, f"{repo}@{commit[:7]}:{path}")
    return {"version": f"official@{commit[:7]}", "source": f"{repo}@{commit}:{path}", "sc": sc, "pq": pq}


def load_prompts(path: Path) -> dict[str, Any]:
    """Read and validate a ``viescore_prompts.json`` written by ``sgt-eval data fetch``.

    Raises
    ------
    UserError
        When the file is missing, not JSON, lacks a field, or its SC template lacks the placeholder.
    """
    fix = f"re-run `sgt-eval data fetch --bench gedit --root {path.parent.parent}`"
    doc = read_fetched_json(path, fix)
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in ("version", "source", "sc", "pq")):
        raise UserError(f"{path}: needs string fields version, source, sc and pq; {fix}")
    if PLACEHOLDER not in doc["sc"]:
        raise UserError(f"{path}: field 'sc' lacks {PLACEHOLDER}; {fix}")
    return doc
