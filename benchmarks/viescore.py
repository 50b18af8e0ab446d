"""VIEScore for image editing, as GEdit-Bench scores it: judge requests, reply parsing, SC/PQ/O, statistics.

Upstream (Step1X-Edit ``GEdit-Bench/test_gedit_score.py``, ``viescore/``, ``calculate_statistics.py``):

- SC: one judge call shown the source image (``<key>_SRCIMG.png``) and the edited image resized to
  the source's size, asked for ``[editing success, over-editing]``; SC = min of the two.
- PQ: one call shown the edited image (at that size) alone, asked for ``[naturalness, artifacts]``;
  PQ = min of the two. O = sqrt(SC * PQ). Images go to the judge as JPEG (PIL's default quality, as
  upstream's ``encode_pil_image``), after the prompt text.
- Replies are read as upstream ``mllm_output_to_dict`` does: the text between two ``||V^=^V||``
  delimiters, else from the first ``{`` to the last ``}`` as JSON with a ``score`` list, else a bare
  ``[a, b]``, else a bare integer. Where that fails, upstream asks both questions once more and
  then guesses ``random.randint(0, 10)`` for a reply without ``{...}`` (or repairs broken JSON
  with a regex, asking again until it parses); we ask once (the judge client retries transport
  faults only; with its cache a second ask would return the same reply) and record the sample
  unparsed instead: no number is invented. Scores outside 0..10 or not numbers are unparsed too.
- Statistics per language (``en``, ``cn``; upstream's ``--language zh`` matched nothing) and per
  set (``fullset``; ``intersection``: rows with ``Intersection_exist``): per task group the means of
  SC, PQ and of the per-sample O; the official average is the unweighted mean over the groups
  (macro); the mean over samples (micro, as lmms-eval reports) is given beside it, labelled.

The prompt texts: the official ones when ``<data>/gedit/viescore_prompts.json`` exists (written by
``sgt-eval data fetch --bench gedit``, never stored in this repository), else :data:`OWN_PROMPTS`,
this project's own wording; the version is recorded in the grader string.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

from benchmarks.headline import HeadlineParts, tally
from sgt_eval.data.viescore_prompt import PLACEHOLDER
from sgt_eval.judges import JudgeRequest
from sgt_eval.records import Parsed, ParseMethod, Prediction, Sample, graded

LANGUAGES = ("en", "cn")
SETS = ("fullset", "intersection")
HEADLINE = "en_fullset_O"
SCALE = (0, 10)
DELIMITER = "||V^=^V||"
_BARE_PAIR = re.compile(r"^\[\d+, ?\d+\]$")

OWN_PROMPTS = {
    "version": "sgt-eval-own-v1",
    "sc": (
        "You are grading an image edit made by an AI system. The first image is the original; the second is "
        "the result of applying this instruction to it:\n\n" + PLACEHOLDER + "\n\n"
        "Give two whole-number scores from 0 to 10. The first says how well the instruction was carried out "
        "(0: not at all, 10: exactly as asked). The second says how little else changed (0: the result no longer "
        "resembles the original, 10: only what the instruction asked for was changed). If the two images look "
        "the same, the edit failed.\n"
        'Reply with JSON only: {"score": [first, second], "reasoning": "one short sentence"}'
    ),
    "pq": (
        "You are grading the visual quality of an AI-generated image. Give two whole-number scores from 0 to 10. "
        "The first says how natural the image looks: lighting, shadows, proportions and perspective (0: clearly "
        "wrong, 10: fully natural). The second says how free it is of artifacts such as distortions, smears, "
        "broken shapes, watermarks or noise (0: heavily damaged, 10: none).\n"
        'Reply with JSON only: {"score": [naturalness, artifacts], "reasoning": "one short sentence"}'
    ),
}


def jpeg(image: Image.Image) -> bytes:
    """The image as upstream sends it: RGB JPEG at PIL's default quality (75)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def judge_requests(instruction: str, source: Image.Image, edited: Image.Image,
                   prompts: dict[str, Any]) -> tuple[JudgeRequest, JudgeRequest]:
    """The SC and PQ requests for one edit.

    Parameters
    ----------
    instruction
        The edit instruction, put in place of ``<instruction>`` in the SC prompt.
    source
        The ``_SRCIMG`` image (RGB).
    edited
        The model's image (RGB); it is resized to the source's size (PIL's default filter, as upstream).
    prompts
        ``{"version", "sc", "pq"}``: :data:`OWN_PROMPTS` or a loaded ``viescore_prompts.json``.
    """
    shown = jpeg(edited.resize(source.size))
    version = prompts["version"]
    sc = JudgeRequest(prompts["sc"].replace(PLACEHOLDER, instruction), (jpeg(source), shown), version)
    return sc, JudgeRequest(prompts["pq"], (shown,), version)


def parse_scores(reply: str) -> list[float] | None:
    """The score list in a judge reply, read as upstream does; ``None`` when upstream would guess.

    Examples
    --------
    >>> parse_scores('Sure. {"score": [7, 9], "reasoning": "ok"}')
    [7, 9]
    >>> parse_scores("[3, 4]"), parse_scores("8"), parse_scores("great edit"), parse_scores('{"score": [11, 2]}')
    ([3, 4], [8], None, None)
    """
    if reply.count(DELIMITER) == 2:
        return _json_scores(reply[reply.find(DELIMITER) + len(DELIMITER):reply.rfind(DELIMITER)])
    start, end = reply.find("{"), reply.rfind("}") + 1
    if start != -1 and end != 0:
        return _json_scores(reply[start:end])
    bracket = reply[reply.find("["):reply.rfind("]") + 1]
    if _BARE_PAIR.match(bracket):
        return _checked(json.loads(bracket))
    try:
        return _checked([int(reply)])
    except ValueError:
        return None


def _json_scores(text: str) -> list[float] | None:
    try:
        doc = json.loads(text.strip().replace("\n", ""))
    except json.JSONDecodeError:
        return None  # upstream repairs it with a regex (fix_json); a malformed reply is unparsed here
    score = doc.get("score") if isinstance(doc, dict) else None
    return _checked(score if isinstance(score, list) else [score])


def _checked(scores: list[Any]) -> list[float] | None:
    """The scores if all are numbers in 0..10 (and there is at least one), else ``None``."""
    ok = scores and all(isinstance(s, (int, float)) and not isinstance(s, bool) and SCALE[0] <= s <= SCALE[1]
                        for s in scores)
    return scores if ok else None


def viescore_values(sc: Sequence[float], pq: Sequence[float]) -> dict[str, float]:
    """``{"SC": min(sc), "PQ": min(pq), "O": sqrt(SC * PQ)}``."""
    semantics, quality = float(min(sc)), float(min(pq))
    return {"SC": semantics, "PQ": quality, "O": math.sqrt(semantics * quality)}


def scored(sample: Sample, output: str, sc: Sequence[float] | None, pq: Sequence[float] | None,
           method: ParseMethod, judge_reply: str | None = None) -> Prediction:
    """The record of one edit: SC/PQ/O in ``values`` when both score lists were read, else unparsed."""
    if sc is None or pq is None:
        return graded(sample, output, Parsed(None, "none", judge_reply), None)
    parsed = Parsed(json.dumps({"SC": list(sc), "PQ": list(pq)}), method, judge_reply)
    return graded(sample, output, parsed, None, viescore_values(sc, pq))


def judged(sample: Sample, output: str, sc_reply: str, pq_reply: str) -> Prediction:
    """The record of one edit from the two judge replies (both kept, JSON-joined, in ``judge_reply``)."""
    replies = json.dumps({"SC": sc_reply, "PQ": pq_reply}, ensure_ascii=False)
    return scored(sample, output, parse_scores(sc_reply), parse_scores(pq_reply), "judge", replies)


# -- statistics ---------------------------------------------------------------------------------
def statistics(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """The GEdit-Bench metrics: ``scores[language][set]`` blocks and the headline ``en_fullset_O``.

    Each block holds the macro averages ``SC``, ``PQ``, ``O`` (unweighted over the task groups
    that have a scored sample), ``micro`` (over samples), counts (``n`` scored, ``n_unparsed``,
    ``n_errors``, ``n_groups``) and ``groups`` (per task group: means and counts). Unparsed and
    failed samples are left out of every mean and counted. Means use :func:`math.fsum`, so the
    result does not depend on the order of ``predictions``. ``warnings`` (only when there are any)
    name each block whose macro average leaves out a task group (upstream's would be NaN).
    """
    languages = [*LANGUAGES, *sorted({str(p.meta["language"]) for p in predictions} - set(LANGUAGES))]
    scores: dict[str, Any] = {}
    for language in languages:
        rows = [p for p in predictions if p.meta["language"] == language]
        scores[language] = {"fullset": _block(rows), "intersection": _block([p for p in rows if p.meta["intersection"]])}
    language, subset, metric = HEADLINE.split("_")
    notes = ["SC, PQ, O: unweighted mean over the task groups present (the official average; 11 groups in the "
             "real data); micro: mean over samples", "unparsed judge replies are excluded from every mean and "
             "counted in n_unparsed"]
    body = {"headline": {"metric": HEADLINE, "value": scores[language][subset][metric]}, "scores": scores,
            "notes": notes}
    warnings = _missing_groups(scores, {str(p.meta["task_type"]) for p in predictions})
    return body | {"warnings": warnings} if warnings else body


def headline_parts(predictions: Sequence[Prediction]) -> HeadlineParts:
    """The headline block's macro average (``HEADLINE``: English, full set, O) as ratios of sums: one
    component per task group with a scored sample, each sample a unit, task groups the strata."""
    language, subset, metric = HEADLINE.split("_")
    rows = [p for p in predictions if p.meta["language"] == language and (subset == "fullset" or p.meta["intersection"])]
    scored_ = [p for p in rows if _valid(p)]
    groups = sorted({str(p.meta["task_type"]) for p in scored_})
    return tally(((p.id, str(p.meta["task_type"]), str(p.meta["task_type"]),
                   float(p.values[metric]) if _valid(p) else 0.0, float(_valid(p))) for p in rows),
                 dict.fromkeys(groups, 1 / len(groups)) if groups else {})


def _valid(p: Prediction) -> bool:
    return p.error is None and p.method != "none"


def _missing_groups(scores: dict[str, Any], tasks: set[str]) -> list[str]:
    """Blocks whose macro average leaves out a task group: one of ``tasks`` (every group in the
    records) without a scored sample in a language's full set, or an intersection group whose rows
    all failed. Upstream's mean would be NaN there; ours averages the groups that remain."""
    warnings = []
    for language, sets in scores.items():
        for subset, block in sets.items():
            expected = tasks if subset == "fullset" else set(block["groups"])
            missing = sorted(t for t in expected if not block["groups"].get(t, {}).get("n"))
            if missing and block["n"]:
                warnings.append(f"{language} {subset}: SC/PQ/O average {len(expected) - len(missing)} of "
                                f"{len(expected)} task groups; no scored sample in {', '.join(missing)}")
    return warnings


def _block(rows: Sequence[Prediction]) -> dict[str, Any]:
    valid = [p for p in rows if _valid(p)]
    groups = {}
    for task in sorted({str(p.meta["task_type"]) for p in rows}):
        members = [p for p in rows if p.meta["task_type"] == task]
        groups[task] = {**_means([p for p in valid if p.meta["task_type"] == task]), **_counts(members)}
    present = [g for g in groups.values() if g["n"]]
    macro = {k: math.fsum(g[k] for g in present) / len(present) if present else None for k in ("SC", "PQ", "O")}
    return {**macro, "micro": _means(valid), **_counts(rows), "n_groups": len(present), "groups": groups}


def _means(valid: Sequence[Prediction]) -> dict[str, float | None]:
    return {k: math.fsum(p.values[k] for p in valid) / len(valid) if valid else None for k in ("SC", "PQ", "O")}


def _counts(rows: Sequence[Prediction]) -> dict[str, int]:
    return {"n": sum(map(_valid, rows)),
            "n_unparsed": sum(p.unparsed for p in rows), "n_errors": sum(p.error is not None for p in rows)}
