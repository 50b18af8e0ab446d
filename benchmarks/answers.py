"""Answer-extraction rules shared by several benchmarks, each matching a named reference script.

Every function is deterministic and returns ``None`` when the rule cannot read an answer; the
caller then records the prediction as unparsed. Nothing here ever guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# -- POPE (RUCAIBox/POPE evaluate.py, LLaVA eval_pope.py) ------------------------------------
_POPE_NEGATIONS = ("No", "not", "no")  # case-sensitive in the official script: "NO" is not one


def pope_official(text: str) -> str | None:
    """The official POPE rule: first sentence, commas removed, split on spaces; any of
    ``No``/``not``/``no`` as a word means "no", anything else means "yes".

    The one departure: when the first sentence has no word in it (an empty output, only
    punctuation, or text that starts with a period such as ". No") this returns None
    (unparsed) where the official script would silently count it as "yes".
    """
    if text.find(".") != -1:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    if any(neg in words for neg in _POPE_NEGATIONS):
        return "no"
    if not re.search(r"\w", text):
        return None
    return "yes"


# -- VQA-style punctuation handling and yes/no extraction (VLMEvalKit YOrN_Extraction) -------
_PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
# A period not touching a digit on either side, as vlmeval/smp/misc.py:process_punctuation has it
# since VLMEvalKit 928a95b0 (2025-05). Older releases wrote "(?!<=\d)", a look-ahead for the
# literal "<=", which also stripped "1." and so spent the count below on list numbers.
_PERIOD_STRIP = re.compile(r"(?<!\d)\.(?!\d)")
# The reference passes re.UNICODE as the positional ``count`` argument of ``sub``: at most
# re.UNICODE (= 32) periods are removed. Reproduced on purpose.
_PERIOD_STRIP_COUNT = int(re.UNICODE)


def vqa_punctuation(text: str) -> str:
    """Punctuation normalisation of the VQA evaluation code, as VLMEvalKit uses it."""
    out = text
    for p in _PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_STRIP_COUNT)


def yes_or_no(text: str) -> str | None:
    """"yes" if the word yes appears without no, "no" if no appears without yes, else None."""
    words = vqa_punctuation(text.lower()).split()
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes and not has_no:
        return "yes"
    if has_no and not has_yes:
        return "no"
    return None


# -- Multiple choice (Cambrian *_test.py extract_mcq_answer) ---------------------------------
_ANSWER_KEYWORDS = ("answer is", "answer is:", "answer:")


def cambrian_extract(text: str, rstrip: str = ".") -> str:
    """Cambrian's extraction: lower-case, keep what follows "answer is"/"answer:", then strip
    ``rstrip`` characters and brackets.

    Returns the extracted (possibly empty) string; the caller decides whether it is a valid
    option (CV-Bench scripts then keep only its first character, MMVP's does not).
    ``rstrip`` is ``"."`` for the ADE20K/COCO scripts and ``".:,"`` for Omni3D and MMVP.
    """
    text = text.lower().strip()
    for keyword in _ANSWER_KEYWORDS:
        if keyword in text:
            text = text.split(keyword)[-1]
    return text.strip().rstrip(rstrip).lstrip("(").rstrip(")")


LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."  # Cambrian, BAGEL, InternVL-style MCQ prompts


def option_letters(n: int) -> tuple[str, ...]:
    """("A", "B", ...) for ``n`` options."""
    return tuple(chr(ord("A") + i) for i in range(n))


# -- VLMEvalKit can_infer (vlmeval/utils/matching_util.py @ e8e78f05) -----------------------------
_VLM_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_VLM_SEPARATORS = ".()[],:;!*#{}"
_VLM_VERBOSE = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def vlmevalkit_can_infer(answer: str, choices: Mapping[str, str]) -> str | None:
    """VLMEvalKit's rule-based option matching, without its LLM and random fallbacks.

    Parameters
    ----------
    answer
        Raw model output.
    choices
        Option letter -> option text, in option order.

    Returns
    -------
    str or None
        The option letter, or None where VLMEvalKit would reach for its LLM extractor. Its
        refusal marker ``"Z"`` (never a correct answer) is returned as None too.
    """
    letter = _vlm_option(answer, choices)
    if letter is None:
        letter = _vlm_text(answer, choices)
    return letter if letter in choices else None


def _vlm_option(answer: str, choices: Mapping[str, str]) -> str | None:
    if "Failed to obtain answer via API" in answer:
        return None
    if any(refusal in answer for refusal in _VLM_REFUSALS):
        return "Z"
    spaced = answer
    for char in _VLM_SEPARATORS:
        spaced = spaced.replace(char, " ")
    words = spaced.split()
    present = [c for c in choices if c in words]
    if len(present) == 1:
        # Only a letter among the last four words counts (VLMEvalKit looks at the first occurrence).
        if words.index(present[0]) > len(words) - 5:
            return present[0]
    elif not present and "Z" in words:
        return "Z"
    match = _VLM_VERBOSE.search(answer)
    if match and match.group(1).upper() in choices:
        return match.group(1).upper()
    return None


def _vlm_text(answer: str, choices: Mapping[str, str]) -> str | None:
    lowered = answer.lower()
    if len(lowered) > 2 * sum(len(str(v)) for v in choices.values()):
        return None
    hits = [k for k, v in choices.items() if str(v).lower() in lowered]
    return hits[0] if len(hits) == 1 else None
