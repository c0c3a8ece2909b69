"""`python -m demo.space OUT [--hardware cpu|zerogpu]`: the folder a Hugging Face Space runs, built from this tree.

    python -m demo.space build/space                     # for CPU hardware (a paid plan since July 2026)
    python -m demo.space build/space --hardware zerogpu  # for ZeroGPU (free accounts may host two)

It lives with the app because it packages the app: gan_core is the library and knows nothing of Spaces. Only the
current files go in, never the repository's history (whose old binaries the Hub would refuse): the app (demo/), the
library (gan_core/), the default checkpoints (the files the app reads, with their cards), the MNIST test digits the
app compares with (and data/README.md, their licence), requirements.txt for the hardware, README.md with the
Space's configuration, .gitattributes sending every binary file to LFS/Xet, and LICENSE. Every file is checked
against the Hub's limits, and the commands that publish the folder are printed. docs/deploy.md says which route
costs what.
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import SpaceCard

from demo.startup_cache import CACHE_FILE
from gan_core.classifier import WEIGHTS_FILE
from gan_core.hub import CHECKPOINT_PATTERNS
from gan_core.layout import DEFAULT_CHECKPOINT, DEFAULT_CLASSIFIER

APP_ROOT = Path(__file__).resolve().parent.parent
CODE_FOLDERS = ("demo", "gan_core")
LEFT_OUT = ("demo/space.py", "demo/serving.py")  # this builder; the server helper of the tests and benchmarks
CHECKPOINT_FILES = (*CHECKPOINT_PATTERNS, WEIGHTS_FILE, CACHE_FILE)
# the test digits (real digits beside the generated one, real or fake), the training digits and their index (nearest)
DATA_FILES = ("data/README.md", "data/nearest.safetensors",
              *(f"data/MNIST/raw/{part}-{kind}-idx{dims}-ubyte.gz" for part in ("t10k", "train")
                for kind, dims in (("images", 3), ("labels", 1))))
LFS_ATTRIBUTES = "filter=lfs diff=lfs merge=lfs -text"
# The Hub's limits (huggingface.co/docs/hub: repositories-getting-started, storage-limits): a file over 10 MB must
# go through LFS/Xet (so must any binary file pushed with git), under 10,000 entries a folder, 100,000 files a repo.
HUB_PLAIN_FILE_BYTES = 10 * 2**20
HUB_FOLDER_ENTRIES = 10_000
HUB_FILES = 100_000
SPACE_BUDGET_BYTES = 100 * 2**20  # this project's own: the Space is ~30 MB; more means something slipped in
NOT_FOR_THE_APP = ("matplotlib",)  # requirements only `python -m gan_core.evaluate` imports (lazily)
CPU_WHEELS = "--extra-index-url https://download.pytorch.org/whl/cpu"  # ~0.2 GB of torch instead of several GB


@dataclass(frozen=True)
class Hardware:
    front_matter: dict[str, str]  # over the repository README's Space configuration
    pip_options: tuple[str, ...]  # lines before requirements.txt's
    packages: tuple[str, ...]  # lines after them
    flavor: str  # what `hf repos create --flavor` calls it


HARDWARE = {
    "cpu": Hardware({"python_version": "3.11", "suggested_hardware": "cpu-basic"}, (CPU_WHEELS,), (), "cpu-basic"),
    # ZeroGPU runs Python 3.12.12 or 3.10.13 only; its `spaces` package decorates the model calls (zerogpu.py)
    "zerogpu": Hardware({"python_version": "3.12.12"}, (), ("spaces>=0.51,<1",), "zero-a10g"),
}


class SpaceError(Exception):
    """The folder cannot be built, or a file in it would be refused by the Hub."""


def build_space(out: Path, hardware: str = "cpu") -> list[Path]:
    """Write the Space's folder to out (which must not exist or be empty); returns its files, checked."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SpaceError(f"{out} exists and is not an empty folder; name a new one (nothing was written)")
    chosen = HARDWARE[hardware]
    for source in _sources():
        target = out / source.relative_to(APP_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    requirements = [line for line in (APP_ROOT / "requirements.txt").read_text().splitlines()
                    if not line.startswith(NOT_FOR_THE_APP)]
    (out / "requirements.txt").write_text("\n".join([*chosen.pip_options, *requirements, *chosen.packages]) + "\n")
    (out / "README.md").write_text(_card(chosen.front_matter))
    (out / ".gitattributes").write_text(_lfs_attributes())
    files = sorted(p for p in out.rglob("*") if p.is_file())
    problems = hub_problems(out, files)
    if problems:
        raise SpaceError("the Hub would refuse this folder:\n  " + "\n  ".join(problems))
    return files


def _sources() -> list[Path]:
    """Every file of the repository the Space needs."""
    sources = [APP_ROOT / "LICENSE", *(APP_ROOT / name for name in DATA_FILES)]
    for folder in CODE_FOLDERS:
        sources += [p for p in (APP_ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                    and p.relative_to(APP_ROOT).as_posix() not in LEFT_OUT]
    for checkpoint in (DEFAULT_CHECKPOINT, DEFAULT_CLASSIFIER):
        sources += [p for pattern in CHECKPOINT_FILES for p in checkpoint.glob(pattern) if p.is_file()]
    missing = [str(p.relative_to(APP_ROOT)) for p in sources if not p.is_file()]
    if missing:
        raise SpaceError(f"missing from this tree: {', '.join(missing)}")
    return sorted(set(sources))


def _card(front_matter: dict[str, str]) -> str:
    """README.md: the repository's Space configuration for this hardware, then what a visitor of the Space reads."""
    card = SpaceCard.load(APP_ROOT / "README.md")
    card.data.pop("suggested_hardware", None)  # each hardware says its own
    for key, value in {**front_matter, "license": "mit"}.items():
        card.data[key] = value
    title, first_paragraph = card.text.strip().split("\n\n")[:2]  # "# GAN Explorer" and what the app is for
    card.text = (f"\n{title}\n\n{first_paragraph}\n\nLicences: the code is MIT (LICENSE); the MNIST digits are "
                 "CC BY-SA 3.0 (data/README.md); each checkpoint's card states both.\n")
    return str(card)


def _lfs_attributes() -> str:
    """.gitattributes that sends every file type the repository marks binary to LFS/Xet."""
    patterns = [line.split()[0] for line in (APP_ROOT / ".gitattributes").read_text().splitlines()
                if line.strip() and not line.startswith("#") and "binary" in line.split()[1:]]
    lines = [f"{pattern} {LFS_ATTRIBUTES}" for pattern in patterns]
    return "# Binary files go through LFS/Xet: the Hub refuses them in plain git.\n" + "\n".join(lines) + "\n"


def hub_problems(out: Path, files: list[Path]) -> list[str]:
    """What the Hub would refuse in out: plain (non-LFS) files over 10 MB or binary, crowded folders, size."""
    lfs = [line.split()[0] for line in (out / ".gitattributes").read_text().splitlines()
           if line.strip() and not line.startswith("#") and "filter=lfs" in line]
    problems = []
    for path in files:
        name = path.relative_to(out).as_posix()
        if any(fnmatch.fnmatch(path.name, pattern) or fnmatch.fnmatch(name, pattern) for pattern in lfs):
            continue
        if path.stat().st_size > HUB_PLAIN_FILE_BYTES:
            problems.append(f"{name}: {path.stat().st_size:,} bytes, over 10 MB, and not sent to LFS/Xet")
        elif _is_binary(path):
            problems.append(f"{name}: a binary file not sent to LFS/Xet (add its type to .gitattributes)")
    for folder in {p.parent for p in files} | {out}:
        if sum(1 for _ in folder.iterdir()) > HUB_FOLDER_ENTRIES:
            problems.append(f"{folder.relative_to(out)}: more than {HUB_FOLDER_ENTRIES:,} entries")
    total = sum(p.stat().st_size for p in files)
    if len(files) > HUB_FILES or total > SPACE_BUDGET_BYTES:
        problems.append(f"{len(files):,} files, {total / 2**20:.0f} MB: more than this Space should hold")
    return problems


def _is_binary(path: Path) -> bool:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\0" in data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.space", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the Space into (new or empty)")
    parser.add_argument("--hardware", choices=sorted(HARDWARE), default="cpu",
                        help="cpu: CPU Basic, needs a paid plan; zerogpu: free accounts may host two (docs/deploy.md)")
    args = parser.parse_args(argv)
    try:
        files = build_space(args.out, args.hardware)
    except SpaceError as exc:
        print(f"Cannot build the Space: {exc}", file=sys.stderr)
        return 1
    total = sum(p.stat().st_size for p in files)
    print(f"{args.out}: {len(files)} files, {total / 2**20:.1f} MB, within the Hub's limits. Publish it with:")
    flavor = HARDWARE[args.hardware].flavor
    print(f"  hf repos create OWNER/NAME --type space --sdk gradio --flavor {flavor} --exist-ok")
    print(f'  hf upload OWNER/NAME {args.out} . --repo-type space --delete "*" --commit-message "GAN Explorer"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
