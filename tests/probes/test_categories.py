"""Word categories and their alignment to real tokenizers' offsets (probes.categories)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from probes.categories import CATEGORIES, COCO_OBJECTS, Lexicon, canonical_category
from sgt_eval.errors import UserError
from sgt_eval.models.tiny import _train_tokenizer
from sgt_eval.world.scene import COLORS, KINDS

LEX = Lexicon.default()


def words(text: str, lexicon: Lexicon = LEX) -> list[tuple[str, str]]:
    return [(text[s:e], category) for s, e, category in lexicon.word_spans(text)]


def test_categories_order_and_colour_alias():
    assert CATEGORIES == ("object", "colour", "position", "other")
    assert canonical_category("Color") == "colour"
    assert canonical_category("position") == "position"
    assert LEX.phrases("color") == LEX.phrases("colour")
    with pytest.raises(ValueError, match="unknown word category 'size'"):
        canonical_category("size")
    with pytest.raises(ValueError, match="no phrases"):
        LEX.phrases("other")


def test_default_lexicon_holds_the_documented_sources(shared_data: Path):
    geneval = (shared_data / "geneval" / "prompts" / "object_names.txt").read_text().split("\n")
    assert COCO_OBJECTS == tuple(name for name in geneval if name)
    assert len(COCO_OBJECTS) == 80
    assert set(COCO_OBJECTS) | set(KINDS) | {"object", "shape", "thing", "grand piano", "piano"} <= LEX.object
    assert set(COLORS) | {"gray", "grey", "colour", "color", "coloured", "colored"} <= LEX.colour
    assert {"in front of", "left of", "next to", "on top of", "on", "far from", "touching"} <= LEX.position
    assert not {"in", "to", "at", "with", "contains"} & LEX.position  # VSR function words left out


def test_spans_are_exact_character_ranges():
    text = "A red traffic light, in front of it."
    assert LEX.word_spans(text) == [
        (0, 1, "other"), (2, 5, "colour"), (6, 19, "object"), (21, 32, "position"), (33, 35, "other"),
    ]


def test_multi_word_phrases_win_over_their_words():
    assert words("A red traffic light is in front of two fire hydrants.") == [
        ("A", "other"), ("red", "colour"), ("traffic light", "object"), ("is", "other"),
        ("in front of", "position"), ("two", "other"), ("fire hydrants", "object"),
    ]
    assert words("the light in front") == [("the", "other"), ("light", "other"), ("in", "other"),
                                           ("front", "position")]
    assert words("at the back of a hot dog") == [("at the back of", "position"), ("a", "other"),
                                                 ("hot dog", "object")]


def test_plurals_regular_and_irregular():
    assert words("Three people, two mice, knives, sheep and skis; a ski near the buses and cherries.",
                 LEX.extended(object=["cherry"])) == [
        ("Three", "other"), ("people", "object"), ("two", "other"), ("mice", "object"), ("knives", "object"),
        ("sheep", "object"), ("and", "other"), ("skis", "object"), ("a", "other"), ("ski", "object"),
        ("near", "position"), ("the", "other"), ("buses", "object"), ("and", "other"), ("cherries", "object"),
    ]
    assert words("teddy bears, wine glasses, crosses") == [
        ("teddy bears", "object"), ("wine glasses", "object"), ("crosses", "object")]
    # endings are for objects only: "ones" is not a plural of the position word "on"
    assert words("the red ones") == [("the", "other"), ("red", "colour"), ("ones", "other")]


def test_case_punctuation_and_word_boundaries():
    assert words("LEFT of the Grand Piano!!!") == [("LEFT of", "position"), ("the", "other"),
                                                   ("Grand Piano", "object")]
    assert words("Redness is not red; the left-most square.") == [
        ("Redness", "other"), ("is", "other"), ("not", "other"), ("red", "colour"), ("the", "other"),
        ("left", "position"), ("most", "other"), ("square", "object"),
    ]
    assert words("The person's tie.") == [("The", "other"), ("person's", "object"), ("tie", "object")]
    assert words("  ...?! ") == []


def test_orange_is_a_colour_only_before_a_noun():
    assert words("an orange orange") == [("an", "other"), ("orange", "colour"), ("orange", "object")]
    assert words("a carrot left of an orange") == [
        ("a", "other"), ("carrot", "object"), ("left of", "position"), ("an", "other"), ("orange", "object")]
    assert words("an orange computer mouse") == [("an", "other"), ("orange", "colour"),
                                                 ("computer mouse", "object")]
    assert words("an orange. Car") == [("an", "other"), ("orange", "object"), ("Car", "object")]
    assert words("three oranges") == [("three", "other"), ("oranges", "object")]


def test_lookup_of_a_phrase_alone():
    assert LEX.lookup("Traffic Lights") == "object"
    assert LEX.lookup("in front of") == "position"
    assert LEX.lookup("Grey") == "colour"
    assert LEX.lookup("redness") == "other"
    assert LEX.lookup("red car") == "other"  # two matches, not one phrase


def test_extended_adds_phrases_and_leaves_the_original():
    lex = LEX.extended(object=["Fire Truck"], color=["teal"], position=["upstairs"])
    assert words("two teal fire trucks upstairs", lex) == [
        ("two", "other"), ("teal", "colour"), ("fire trucks", "object"), ("upstairs", "position")]
    assert words("two teal fire trucks upstairs") == [
        ("two", "other"), ("teal", "other"), ("fire", "other"), ("trucks", "object"), ("upstairs", "other")]
    assert "fire truck" in lex.object and "fire truck" not in LEX.object
    with pytest.raises(TypeError, match="not the string"):
        LEX.extended(object="fire truck")


def test_from_file_yaml_and_json(tmp_path: Path):
    yml = tmp_path / "lex.yaml"
    yml.write_text("object: [fire truck]\ncolor: [teal]\nposition:\n  - upstairs\n")
    jsn = tmp_path / "lex.json"
    jsn.write_text(json.dumps({"colour": ["teal"], "position": ["upstairs"], "object": ["fire truck"]}))
    for path in (yml, jsn):
        lex = Lexicon.from_file(path)
        assert lex == LEX.extended(object=["fire truck"], colour=["teal"], position=["upstairs"])
        assert words("a teal fire truck upstairs", lex) == [
            ("a", "other"), ("teal", "colour"), ("fire truck", "object"), ("upstairs", "position")]


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("bad.yaml", "- red\n- blue\n", "expected a mapping of category to phrases, got list"),
    ("bad.yaml", "size: [big]\n", "field 'size' is not a lexicon category; use object, colour (or color) or position"),
    ("bad.yaml", "object: fire truck\n", "field 'object' must be a list of phrases"),
    ("bad.json", '{"colour": ["teal", 3]}', "field 'colour' must be a list of phrases"),
    ("bad.json", '{"colour": ["teal",', "not valid JSON"),
    ("bad.yaml", "object: [fire truck\n", "not valid YAML"),
])
def test_bad_files_raise_one_line_user_errors(tmp_path: Path, name: str, content: str, needle: str):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UserError) as caught:
        Lexicon.from_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and needle in message and "\n" not in message


def test_missing_file_names_the_path(tmp_path: Path):
    with pytest.raises(UserError, match="cannot read the lexicon file"):
        Lexicon.from_file(tmp_path / "nope.yaml")


def test_token_categories_on_hand_offsets():
    text = "the red  cube, ok"
    offsets = [(0, 0), (0, 3), (3, 7), (7, 9), (6, 10), (13, 14), (14, 17), (17, 17)]
    # " red" keeps its leading space; (7, 9) is only spaces; "d  c" overlaps red and cube by one
    # character each (tie -> first); "," is punctuation; " ok" is a word the lexicon lacks.
    assert LEX.token_categories(text, offsets) == [None, "other", "colour", None, "colour", None, "other", None]
    assert LEX.token_categories(text, offsets, special=[False, True] + [False] * 6)[:2] == [None, None]
    with pytest.raises(ValueError, match="2 flags for 8 tokens"):
        LEX.token_categories(text, offsets, special=[False, False])


def test_token_categories_with_a_byte_level_bpe():
    tokenizer = _train_tokenizer()
    text = "<|im_start|>user\nIs the red hexagon in front of the traffic lights? Redness, left-most."
    encoding = tokenizer(text, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    special = [tokenizer.added_tokens_decoder.get(i) is not None and tokenizer.added_tokens_decoder[i].special
               for i in encoding["input_ids"]]
    got = list(zip(tokens, LEX.token_categories(text, encoding["offset_mapping"], special)))
    assert got == [
        ("<|im_start|>", None), ("u", "other"), ("ser", "other"), ("Ċ", None), ("I", "other"), ("s", "other"),
        ("Ġthe", "other"), ("Ġred", "colour"), ("Ġhexagon", "object"),
        ("Ġin", "position"), ("Ġfront", "position"), ("Ġof", "position"), ("Ġthe", "other"),
        ("Ġt", "object"), ("r", "object"), ("a", "object"), ("f", "object"), ("f", "object"), ("ic", "object"),
        ("Ġ", None), ("l", "object"), ("i", "object"), ("gh", "object"), ("t", "object"), ("s", "object"),
        ("?", None), ("Ġ", None), ("R", "other"), ("e", "other"), ("d", "other"), ("n", "other"), ("es", "other"),
        ("s", "other"), (",", None), ("Ġleft", "position"), ("-", None), ("m", "other"), ("o", "other"),
        ("st", "other"), (".", None),
    ]


def test_token_categories_with_wordpiece_pieces():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "red", "hex", "##ag", "##on", "left", "of", "the", "traf",
             "##fic", "li", "##ght", "##s", ",", ".", "-", "most", "in", "front"]
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                           special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", cls_token="[CLS]",
                                                     sep_token="[SEP]", pad_token="[PAD]")
    text = "A red hexagon, left of the traffic lights in front-most."
    encoding = tokenizer(text, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    assert list(zip(tokens, LEX.token_categories(text, encoding["offset_mapping"]))) == [
        ("[CLS]", None), ("a", "other"), ("red", "colour"),
        ("hex", "object"), ("##ag", "object"), ("##on", "object"),  # every piece of "hexagon"
        (",", None), ("left", "position"), ("of", "position"), ("the", "other"),
        ("traf", "object"), ("##fic", "object"), ("li", "object"), ("##ght", "object"), ("##s", "object"),
        ("in", "other"), ("front", "position"), ("-", None), ("most", "other"), (".", None), ("[SEP]", None),
    ]
