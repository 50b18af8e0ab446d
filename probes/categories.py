"""Word categories of prompt text (object / colour / position / other), aligned to tokenizer offsets.

The attention probes split the attention that text tokens pay to the prompt's words by category, as
the SGT work's bar charts do. This module holds the documented lexicon and maps words to tokens.

Sources of the default lexicon (:meth:`Lexicon.default`)
-------------------------------------------------------
object
    The 80 COCO class names exactly as GenEval's ``object_names.txt`` spells them (``"tv remote"``,
    ``"hair drier"``, ``"skis"`` ...), the ShapesWorld kinds (:data:`sgt_eval.world.scene.KINDS`), the
    generic nouns "object", "shape", "thing", the SGT t-SNE example classes "grand piano",
    "upright piano", "piano", and aliases: COCO's own names of the classes GenEval renamed (mouse,
    remote, keyboard) and the spellings "hair dryer", "doughnut", "television".
colour
    GenEval's ten colour words (:data:`sgt_eval.world.scene.COLORS`) plus "gray"/"grey" and the words
    colour/color, colours/colors, coloured/colored.
position
    The relations of VSR (``rel_meta_category_dict.txt`` of cambridgeltl/visual-spatial-reasoning) and
    the spatial words of GenEval, CV-Bench and ShapesWorld questions (left, right, top, closer, nearest,
    corner, ...). VSR relations that are plain function words or part-whole relations are left out,
    because they mostly carry no position in prompts and would swamp the category: from, to, in, at,
    with, by, after, has as a part, part of, contains, consists of. Multi-word relations built on them
    are kept ("in front of", "next to", "at the back of").

Rules of :meth:`Lexicon.word_spans`
-----------------------------------
- A word is a run of letters and digits, with inner apostrophes ("don't"); everything else
  (whitespace, punctuation, hyphens, underscores) separates words and gets no span. So "redness"
  is one word and not "red", while "left-most" is two words: "left" (position) and "most" (other).
- Matching is case-insensitive; a trailing possessive "'s" is ignored ("person's" is an object).
- Leftmost-longest: at each word the longest lexicon phrase starting there wins, so "in front of"
  is one position span and "traffic light" one object span, never "front" or "light" alone.
- Object phrases also match in the plural: their last word with an s, es or y -> ies ending, or
  from a small irregular table (people, mice, knives, sheep, ski/skis, men, ...). Colour and position
  words match as written (their useful plurals are listed), since endings would make "on" match "ones".
- A word in two categories takes the first in :data:`CATEGORIES` order, except colour-or-object words
  ("orange"): colour when the next word, after only spaces or a hyphen, starts an object or colour
  phrase ("an orange cup", "an orange orange"), else object ("a carrot left of an orange").
- Words not in the lexicon are "other", one span each.

Tokens (:meth:`Lexicon.token_categories`) take the category of the word span they overlap most, so
a byte-level BPE token " red" (leading space included) is colour and every WordPiece piece of
"hexagon" is object. Tokens with no letter or digit (spaces, punctuation, empty offsets) get None.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import yaml

from sgt_eval.errors import UserError
from sgt_eval.world.scene import COLORS, KINDS

CATEGORIES: tuple[str, ...] = ("object", "colour", "position", "other")
_FIELDS = CATEGORIES[:3]  # the categories a lexicon lists; "other" is everything else
_ALIASES = {"color": "colour"}

# GenEval's object_names.txt, in its order (COCO's 80 classes; GenEval renames mouse/remote/keyboard).
COCO_OBJECTS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "computer mouse", "tv remote",
    "computer keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock",
    "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)
GENERIC_OBJECTS: tuple[str, ...] = ("object", "shape", "thing", "grand piano", "upright piano", "piano")
# COCO's own names for the classes GenEval renamed, and common spellings of GenEval's names.
OBJECT_ALIASES: tuple[str, ...] = ("mouse", "remote", "keyboard", "hair dryer", "doughnut", "television")
COLOUR_WORDS: tuple[str, ...] = (
    *COLORS, "gray", "grey", "colour", "color", "colours", "colors", "coloured", "colored",
)
# VSR relations kept (see the module docstring for the ones left out).
VSR_RELATIONS: tuple[str, ...] = (
    "adjacent to", "alongside", "at the side of", "at the right side of", "at the left side of", "attached to",
    "at the back of", "ahead of", "against", "at the edge of", "off", "past", "toward", "down", "deep down", "up",
    "away from", "along", "around", "into", "across", "across from", "through", "down from", "facing",
    "facing away from", "parallel to", "perpendicular to", "on top of", "beneath", "beside", "behind", "left of",
    "right of", "under", "in front of", "below", "above", "over", "in the middle of", "close to", "near",
    "far from", "far away from", "connected to", "detached from", "within", "on", "surrounding", "among",
    "out of", "between", "inside", "outside", "touching", "beyond", "next to", "opposite to", "enclosed by",
)
SPATIAL_WORDS: tuple[str, ...] = (
    "left", "right", "front", "back", "top", "bottom", "upper", "lower", "far", "next", "towards",
    "underneath", "leftmost", "rightmost", "topmost", "uppermost", "bottommost", "lowermost",
    "closer", "closest", "nearer", "nearest", "farther", "farthest", "further", "furthest",
    "distance", "distances", "centre", "center", "central", "middle", "corner", "corners", "edge", "edges",
    "side", "sides", "position", "positions",
)
# Plurals the s/es/ies endings miss, and singulars of names GenEval writes in the plural.
IRREGULAR_PLURALS: dict[str, tuple[str, ...]] = {
    "person": ("people", "persons"), "mouse": ("mice",), "knife": ("knives",), "sheep": ("sheep",),
    "skis": ("ski",), "man": ("men",), "woman": ("women",), "child": ("children",), "foot": ("feet",),
    "tooth": ("teeth",), "goose": ("geese",), "leaf": ("leaves",), "shelf": ("shelves",), "wolf": ("wolves",),
    "bus": ("busses",), "fish": ("fish",), "deer": ("deer",),
}

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_WORD_CHAR = re.compile(r"[^\W_]")
_JOINERS = " \t\n\r-"  # what may sit between a colour-or-object word and the noun it modifies


def canonical_category(name: str) -> str:
    """The canonical spelling of a category name (``"color"`` -> ``"colour"``).

    Parameters
    ----------
    name
        A category name, any case; ``"color"`` is accepted for ``"colour"``.

    Returns
    -------
    str
        One of :data:`CATEGORIES`.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in CATEGORIES:
        raise ValueError(f"unknown word category {name!r}; choose from {', '.join(CATEGORIES)} (or color)")
    return key


def _word_key(word: str) -> str:
    word = word.lower().replace("\u2019", "'")
    return word[:-2] if word.endswith("'s") and len(word) > 2 else word


def _normalise(phrase: str) -> str:
    words = [_word_key(m.group()) for m in _WORD.finditer(phrase)]
    if not words:
        raise ValueError(f"lexicon phrase {phrase!r} has no word in it")
    return " ".join(words)


def _plural_forms(word: str) -> set[str]:
    forms = {word, word + "s", word + "es", *IRREGULAR_PLURALS.get(word, ())}
    if word.endswith("y"):
        forms.add(word[:-1] + "ies")
    return forms


@dataclass(frozen=True)
class Lexicon:
    """Phrases per word category; every text word not listed is ``"other"``.

    Phrases are stored normalised (lower case, words joined by one space). Build the documented
    default with :meth:`default`, add phrases with :meth:`extended` or :meth:`from_file`.
    """

    object: frozenset[str] = frozenset()
    colour: frozenset[str] = frozenset()
    position: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in _FIELDS:
            phrases = getattr(self, name)
            if isinstance(phrases, str):  # a bare string would become a set of letters
                raise TypeError(f"Lexicon.{name} takes a collection of phrases, not the string {phrases!r}")
            object.__setattr__(self, name, frozenset(_normalise(p) for p in phrases))

    def describe(self) -> dict[str, object]:
        """Phrase counts and a digest of every phrase, for a capture's plan (another lexicon, another capture)."""
        import hashlib

        listing = json.dumps({name: sorted(getattr(self, name)) for name in _FIELDS}, sort_keys=True)
        return {**{name: len(getattr(self, name)) for name in _FIELDS},
                "sha256": hashlib.sha256(listing.encode()).hexdigest()}

    @classmethod
    def default(cls) -> Lexicon:
        """The documented default lexicon (see the module docstring for its sources).

        Returns
        -------
        Lexicon
            Shared instance; it is immutable.
        """
        return _default()

    def extended(self, *, object: Iterable[str] = (), colour: Iterable[str] = (),
                 position: Iterable[str] = (), color: Iterable[str] = ()) -> Lexicon:
        """A new lexicon with extra phrases added to this one's.

        Parameters
        ----------
        object, colour, position
            Phrases to add to each category (any case; multi-word phrases allowed).
        color
            Alias of ``colour``.

        Returns
        -------
        Lexicon
            This lexicon is left unchanged.
        """
        extra = {"object": object, "colour": [*_phrases(colour, "colour"), *_phrases(color, "color")],
                 "position": position}
        return Lexicon(**{name: getattr(self, name) | frozenset(_phrases(extra[name], name)) for name in _FIELDS})

    @classmethod
    def from_file(cls, path: str | Path) -> Lexicon:
        """The default lexicon extended with the phrases of a YAML or JSON file.

        Parameters
        ----------
        path
            A mapping ``{object: [...], colour: [...], position: [...]}`` (any subset of the keys;
            ``color`` is accepted). ``.json`` files are read as JSON, others as YAML.

        Returns
        -------
        Lexicon
            ``Lexicon.default()`` plus the file's phrases.

        Raises
        ------
        UserError
            When the file is missing, unparsable, or a field is unknown or not a list of phrases.
        """
        path = Path(path)
        example = '{object: ["fire truck"], colour: ["teal"], position: ["upstairs"]}'
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise UserError(f"{path}: cannot read the lexicon file ({reason}); pass a YAML or JSON file "
                            f"like {example}") from None
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        try:
            data = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as err:
            detail = " ".join(str(err).split())[:160]
            raise UserError(f"{path}: not valid {kind} ({detail}); fix the syntax") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a mapping of category to phrases, got {type(data).__name__}; "
                            f"write it like {example}")
        extra: dict[str, list[str]] = {name: [] for name in _FIELDS}
        for key, value in data.items():
            name = _ALIASES.get(str(key).strip().lower(), str(key).strip().lower())
            if name not in _FIELDS:
                raise UserError(f"{path}: field {key!r} is not a lexicon category; use object, colour "
                                "(or color) or position")
            if not isinstance(value, list) or not all(isinstance(v, str) and _WORD.search(v) for v in value):
                shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
                raise UserError(f"{path}: field {key!r} must be a list of phrases (strings with at least one word), "
                                f'not {shown}; write it like {key}: ["fire truck"]')
            extra[name] += value
        return cls.default().extended(**extra)

    def phrases(self, category: str) -> frozenset[str]:
        """The normalised phrases of one category (``"color"`` accepted; ``"other"`` has none)."""
        name = canonical_category(category)
        if name == "other":
            raise ValueError('"other" has no phrases: it is every word the lexicon does not list')
        return getattr(self, name)

    def lookup(self, phrase: str) -> str:
        """The category of a word or phrase on its own, e.g. ``"Traffic Lights"`` -> ``"object"``.

        Returns ``"other"`` unless the whole phrase is one lexicon match.
        """
        spans = self.word_spans(phrase)
        words = list(_WORD.finditer(phrase))
        if len(spans) == 1 and words and spans[0][:2] == (words[0].start(), words[-1].end()):
            return spans[0][2]
        return "other"

    def word_spans(self, text: str) -> list[tuple[int, int, str]]:
        """Character spans of every word or lexicon phrase of ``text`` with its category.

        Parameters
        ----------
        text
            Any text; see the module docstring for the matching rules.

        Returns
        -------
        list of (start, end, category)
            Sorted, non-overlapping; ``text[start:end]`` is the word or phrase (inner spaces of a
            phrase included). Whitespace and punctuation get no span.
        """
        words = [(m.start(), m.end(), _word_key(m.group())) for m in _WORD.finditer(text)]
        spans: list[tuple[int, int, str]] = []
        i = 0
        while i < len(words):
            length, categories = self._match(words, i)
            if not length:
                spans.append((words[i][0], words[i][1], "other"))
                i += 1
                continue
            category = categories[0]
            if "colour" in categories and "object" in categories:
                category = "object"
                after = i + length
                if after < len(words) and not text[words[after - 1][1]:words[after][0]].strip(_JOINERS):
                    following = self._match(words, after)[1]
                    if "object" in following or "colour" in following:
                        category = "colour"
            spans.append((words[i][0], words[i + length - 1][1], category))
            i += length
        return spans

    def token_categories(self, text: str, offsets: Sequence[Sequence[int]],
                         special: Sequence[bool] | None = None) -> list[str | None]:
        """The word category of each token of ``text``, from the tokenizer's offset mapping.

        Parameters
        ----------
        text
            The text the tokenizer encoded (offsets index into it).
        offsets
            One ``(start, end)`` character range per token, as ``return_offsets_mapping=True`` gives;
            ``start == end`` (e.g. ``(0, 0)``) marks a special or empty token. Ranges may include a
            leading space (byte-level BPE's ``" red"``).
        special
            Optional per-token flags forcing None, for special tokens written in the text itself
            (``"<|im_start|>"`` has real offsets and would otherwise read as words).

        Returns
        -------
        list of str or None
            Per token, the category of the word span it overlaps most (ties: the first such span);
            None when the token holds no letter or digit of ``text`` (whitespace, punctuation, empty or
            special tokens), also for the space inside a phrase like "traffic light".
        """
        if special is not None and len(special) != len(offsets):
            raise ValueError(f"special has {len(special)} flags for {len(offsets)} tokens")
        spans = self.word_spans(text)
        ends = [end for _, end, _ in spans]
        categories: list[str | None] = []
        for k, (first, last) in enumerate(offsets):
            start, end = int(first), int(last)
            best, best_overlap = None, 0
            skip = special is not None and bool(special[k])
            # a token of only spaces or punctuation gets None, even the space inside "traffic light"
            if end > start and not skip and _WORD_CHAR.search(text, max(start, 0), end):
                # spans are sorted and disjoint: start at the first one ending after the token starts
                j = bisect.bisect_right(ends, start)
                while j < len(spans) and spans[j][0] < end:
                    s, e, category = spans[j]
                    overlap = min(end, e) - max(start, s)
                    if overlap > best_overlap:
                        best, best_overlap = category, overlap
                    j += 1
            categories.append(best)
        return categories

    @cached_property
    def _index(self) -> tuple[dict[tuple[str, ...], tuple[str, ...]], int]:
        """Every surface form (as a word tuple) -> its categories in CATEGORIES order; the longest form."""
        found: dict[tuple[str, ...], set[str]] = {}
        for name in _FIELDS:
            for phrase in getattr(self, name):
                words = tuple(phrase.split())
                lasts = _plural_forms(words[-1]) if name == "object" else {words[-1]}
                for last in lasts:
                    found.setdefault((*words[:-1], last), set()).add(name)
        index = {form: tuple(c for c in CATEGORIES if c in names) for form, names in found.items()}
        return index, max((len(form) for form in index), default=0)

    def _match(self, words: list[tuple[int, int, str]], i: int) -> tuple[int, tuple[str, ...]]:
        """Length (in words) and categories of the longest lexicon form starting at word ``i``; 0 if none."""
        index, longest = self._index
        for length in range(min(longest, len(words) - i), 0, -1):
            categories = index.get(tuple(word for _, _, word in words[i:i + length]))
            if categories:
                return length, categories
        return 0, ()


def _phrases(phrases: Iterable[str], name: str) -> list[str]:
    if isinstance(phrases, str):  # extended(object="fire truck") would otherwise add single letters
        raise TypeError(f"{name} takes a list of phrases, not the string {phrases!r}")
    return list(phrases)


@cache
def _default() -> Lexicon:
    return Lexicon(object=frozenset((*COCO_OBJECTS, *OBJECT_ALIASES, *KINDS, *GENERIC_OBJECTS)),
                   colour=frozenset(COLOUR_WORDS), position=frozenset((*VSR_RELATIONS, *SPATIAL_WORDS)))
