"""Where each benchmark's official files come from, pinned, with what they must contain.

One table per benchmark. GitHub sources are pinned to full commit SHAs and every file has a
known sha256 (computed from unmodified copies of the files at those commits), so a download that
differs in a single byte is refused. Hugging Face sources cannot be pinned from here: we have no
way to look up a dataset's commit SHA when writing this table, so the default revision is
``"main"``; ``sgt-eval data fetch`` records the commit the hub reports (``X-Repo-Commit``) in the
lock file, downloads every later file of the same fetch at that commit, and ``--version <sha>``
pins one. Row counts are checked for every source.

GEdit-Bench is a hub dataset whose data files are not named here: ``fetch`` lists the revision
through the hub API (as ``huggingface_hub`` does) and takes every ``.parquet``/``.arrow`` file,
verified against the LFS hashes the listing gives; its VIEScore prompts come from Step1X-Edit,
pinned like the GitHub sources. GenEval's prompt files come from two GitHub repositories (the
long prompts from BAGEL), so a :class:`File` may name its own repository and commit.

Base URLs can be overridden with environment variables (``SGT_EVAL_GITHUB_RAW``, ``HF_ENDPOINT``,
``SGT_EVAL_COCO_IMAGES``, ``SGT_EVAL_GDRIVE``) to use a mirror, and so the tests can run the real
fetch code against a local server.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote

from sgt_eval.errors import UserError
from sgt_eval.registry import unknown_name_message

# name -> (environment variable, default base URL)
BASES = {
    "github": ("SGT_EVAL_GITHUB_RAW", "https://raw.githubusercontent.com"),
    "hf": ("HF_ENDPOINT", "https://huggingface.co"),
    "coco": ("SGT_EVAL_COCO_IMAGES", "http://images.cocodataset.org"),
    "gdrive": ("SGT_EVAL_GDRIVE", "https://drive.usercontent.google.com"),
}

# HallusionBench images exist only as one Google Drive zip (upstream README, "Dataset Download").
HALLUSION_ZIP_ID = "1eeO1i0G9BSZTE1yd5XeFwmrbe1hwyf_0"
HALLUSION_ZIP_PAGE = f"https://drive.google.com/file/d/{HALLUSION_ZIP_ID}/view"
# upstream utils.py at the pinned commit: the official judge prompt is read out of it at fetch time
HALLUSION_UTILS = ("utils.py", "535734ad70c8ea14253131ea59e4d2df6af4fae5341f044d226a8e78eaeb9c30")
# GEdit-Bench: 606 rows per language (en, cn); the VIEScore prompt texts are read out of
# Step1X-Edit's vie_prompts.py at this commit (the one notes/benchmarks.md section 7 was read at)
GEDIT_ROWS = 1212
GEDIT_DATA_SUFFIXES = (".parquet", ".arrow")
VIESCORE_SOURCE = ("stepfun-ai/Step1X-Edit", "570eba6ebda0c45c013983a483afbf2fd12bfcbc",
                   "GEdit-Bench/viescore/vie_prompts.py",
                   "010234af186eb0a70fcb99047cd32ad1da01bed59ca1a95a01335426417cf838")

_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def base_url(name: str) -> str:
    """The base URL of a host, from its environment variable or the official default."""
    env, default = BASES[name]
    return (os.environ.get(env) or default).rstrip("/")


@dataclass(frozen=True)
class File:
    """One metadata file of a release.

    Attributes
    ----------
    remote
        Path inside the upstream repository.
    local
        Path under ``<root>/<bench>/`` (the layout of ``docs/data.md``).
    rows
        Records the file must hold.
    sha256
        Known hash (GitHub pins); ``None`` for hub files, whose hash is recorded at fetch time.
    repo, revision
        Another GitHub repository and full commit SHA than the release's (GenEval's long prompts
        live in BAGEL's repository).
    """

    remote: str
    local: str
    rows: int
    sha256: str | None = None
    repo: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Release:
    """A pinned set of metadata files of one benchmark."""

    bench: str
    version: str  # what --version names and the lock records
    host: str  # "github" or "hf"
    repo: str
    revision: str  # full commit SHA for GitHub; a revision for the hub
    files: tuple[File, ...]

    @property
    def source(self) -> str:
        return f"{self.host}:{self.repo}"

    def label(self, commit: str | None = None) -> str:
        """Short name for messages: ``head@3df3ba1``, ``b27a0af``, ``main@<resolved commit>``."""
        name = self.version if self.host == "github" else _short(self.revision)
        rev = _short(commit or self.revision)
        return name if name == rev else f"{name}@{rev}"


def _short(revision: str) -> str:
    return revision[:7] if re.fullmatch(r"[0-9a-f]{40}", revision) else revision


def file_url(rel: Release, path: str, revision: str | None = None, repo: str | None = None) -> str:
    """Download URL of ``path`` in the release's repository (or ``repo``) at ``revision`` (default the pinned one).

    GitHub files come from the raw host, hub files from the resolve scheme
    ``<endpoint>/datasets/<repo>/resolve/<revision>/<path>`` that ``huggingface_hub`` uses too.
    """
    if rel.host == "github":
        return github_url(repo or rel.repo, revision or rel.revision, path)
    rev = quote(revision or rel.revision, safe="")
    return f"{base_url('hf')}/datasets/{repo or rel.repo}/resolve/{rev}/{quote(path)}"


def github_url(repo: str, revision: str, path: str) -> str:
    """Raw URL of ``path`` in a GitHub repository at ``revision``."""
    return f"{base_url('github')}/{repo}/{quote(revision, safe='')}/{quote(path)}"


def hub_listing_url(rel: Release, revision: str) -> str:
    """The hub API URL listing a dataset revision's files with their LFS hashes (``huggingface_hub``'s
    ``dataset_info(files_metadata=True)``); its ``sha`` field is the commit the revision resolves to."""
    return f"{base_url('hf')}/api/datasets/{rel.repo}/revision/{quote(revision, safe='')}?blobs=true"


def _pope(version: str, revision: str, rows_hashes: dict[str, tuple[int, str]]) -> Release:
    files = tuple(File(f"output/coco/coco_pope_{s}.json", f"coco_pope_{s}.json", n, h)
                  for s, (n, h) in rows_hashes.items())
    return Release("pope", version, "github", "RUCAIBox/POPE", revision, files)


def _vsr_split(remote: str, rows: int, sha256: str) -> File:
    return File(f"data/splits/{remote}", f"splits/{remote}", rows, sha256)


_GITHUB: dict[str, dict[str, Release]] = {
    "pope": {
        # HEAD: 3,000 rows per split, random regenerated and typos fixed after LLaVA-1.5 was evaluated
        "head": _pope("head", "3df3ba1b110ecce25696989577fad583b67d4239", {
            "random": (3000, "ac25245170b975a5bdf9080b23fd431dfe6be458bc038259c1f4f09a6bef7994"),
            "popular": (3000, "72c1a8ad45d0c13514f5f22598261df41d3b533854d29682e924db50ed8aa753"),
            "adversarial": (3000, "420b3407db1fa9f1187a805dca41cb7b97fd91504e6c2179706188c107fb8ef8"),
        }),
        # the labels LLaVA-1.5 evaluated against (its docs/Evaluation.md); random has 2,910 rows
        "llava15": _pope("llava15", "e3e39262c85a6a83f26cf5094022a782cb0df58d", {
            "random": (2910, "c16b65d2df6d70bb0814c8a4375833d39cdb09928fd936d3fc546491efa37f35"),
            "popular": (3000, "5b16653023bf4f64d57eb0d168259de6627f5cde7538b85ebed3cc33034aa6cc"),
            "adversarial": (3000, "1d8f0906a9b50c05640f6f23abfac97523be2a1bed28f7eadc63b811699b2d26"),
        }),
    },
    "vsr": {
        "b27a0af": Release("vsr", "b27a0af", "github", "cambridgeltl/visual-spatial-reasoning",
                           "b27a0af0ee1462d2b6b92c8c83e869d9254a241a", (
            _vsr_split("zeroshot/train.jsonl", 3489, "62daf2c5d573667038f88feaf1d26a1154c892083a72d83ed5c7551666ed3066"),
            _vsr_split("zeroshot/dev.jsonl", 340, "0abda42fe9333ab6a8671b32886738b5cfa6d37a8c277b56d8368c339c8dffce"),
            _vsr_split("zeroshot/test.jsonl", 1222, "914d9156723b912d8f794b179248af865a68c5f81c9d8e3a21d007778cacaad4"),
            _vsr_split("random/train.jsonl", 7680, "8b725a8621f2d0f94745f1fefdcf3ff8a7eb96fd358676296ff9c9a4ff463c6e"),
            _vsr_split("random/dev.jsonl", 1097, "90de24b811597a913310d043758f1119a1ba9ebf1b1ca8f1e27c4907f01980d4"),
            _vsr_split("random/test.jsonl", 2195, "8ade82a0b93ac9dc1e53f6cf1f11e9d5536776a3715102b6b4d27d4f81d551cc"),
            File("analysis_scripts/rel_meta_category_dict.txt", "rel_meta_category_dict.txt", 7,
                 "49fbbefdb5377b866ece4e539cf2ec02967129e8a911d6dc9b126b3e2a3d3da5"),
        )),
    },
    "geneval": {
        # flat files, as benchmarks/geneval.py reads them; the long prompts are BAGEL's rewrite
        "af4902f": Release("geneval", "af4902f", "github", "djghosh13/geneval",
                           "af4902f24d3ca90ebbb446dd9891a59e0f82725f", (
            File("prompts/evaluation_metadata.jsonl", "evaluation_metadata.jsonl", 553,
                 "5c48e0813e812e3c373fa5c8ed07a8f0a483be30272b4427b0559c8048e67c13"),
            File("eval/gen/geneval/prompts/evaluation_metadata_long.jsonl", "evaluation_metadata_long.jsonl", 553,
                 "09472cc9c24e225417b1d5df27e688e5f2a0fcac9ec772f33d9debe4e5d49f27",
                 repo="ByteDance-Seed/Bagel", revision="056b5fd51a88c1eb4547318609e25d40080fcf87"),
            File("prompts/object_names.txt", "object_names.txt", 80,
                 "608f6a0e5c8ca1c7a92b818430141fe268c85b7930b50f4160f1d65893b5bacd"),
            File("prompts/generation_prompts.txt", "generation_prompts.txt", 553,
                 "55b6e3650e980c13daf30569eb666e000faf19bfc2b7b4cbe999fcdb7aa9d680"),
        )),
    },
    "hallusionbench": {
        "744007c": Release("hallusionbench", "744007c", "github", "tianyi-lab/HallusionBench",
                           "744007c232c292942c7f80eb61edb2465482da31", (
            File("HallusionBench.json", "HallusionBench.json", 1129,
                 "ca6e0fb677dd56e5fb0e2700d06c58d01f8a6ae66e0f1773b2ac48c0a095d051"),
        )),
    },
}

# Hugging Face datasets: file -> expected rows; the revision comes from --version (default main).
_HUB: dict[str, tuple[str, tuple[File, ...]]] = {
    "cvbench": ("nyu-visionx/CV-Bench", (File("test_2d.jsonl", "test_2d.jsonl", 1438),
                                         File("test_3d.jsonl", "test_3d.jsonl", 1200))),
    "mmvp": ("MMVP/MMVP", (File("Questions.csv", "Questions.csv", 300),)),
    "gedit": ("stepfun-ai/GEdit-Bench", ()),  # data files come from the hub listing (module docstring)
}

DEFAULT_VERSION = {"cvbench": "main", "mmvp": "main", "vsr": "b27a0af", "pope": "head", "hallusionbench": "744007c",
                   "geneval": "af4902f", "gedit": "main"}
BENCHES = tuple(DEFAULT_VERSION)


def check_bench(bench: str) -> None:
    """Raise a did-you-mean :class:`UserError` unless ``bench`` has a data source."""
    if bench not in BENCHES:
        raise UserError(unknown_name_message("data source", bench, [*BENCHES, "understanding"]))


def release(bench: str, version: str | None = None) -> Release:
    """The pinned release of ``bench`` named by ``version`` (``None``: the default).

    Raises
    ------
    UserError
        For an unknown benchmark or a version the source does not have.
    """
    check_bench(bench)
    version = version or DEFAULT_VERSION[bench]
    if bench in _GITHUB:
        known = _GITHUB[bench]
        if version not in known:
            raise UserError(f"--version {version!r} is not a known {bench} release (choose from: {', '.join(known)})")
        return known[version]
    if not _REVISION.fullmatch(version) or ".." in version:
        raise UserError(f"--version {version!r} is not a usable Hugging Face revision (a commit SHA, branch or tag)")
    repo, files = _HUB[bench]
    return Release(bench, version, "hf", repo, version, files)


def github_releases(bench: str) -> list[Release]:
    """Every pinned GitHub release of ``bench`` (empty for hub datasets)."""
    return list(_GITHUB.get(bench, {}).values())
