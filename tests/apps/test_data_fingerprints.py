"""Training-data fingerprints of every source kind (`apps.common.data.source_fingerprint`) in
``Splits.info``, the manifest's training data section, and ``dlsuite manifest verify --data``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from dlsuite.apps.common.data import source_fingerprint
from dlsuite.apps.common.fingerprint import (
    FILES_METHOD,
    TFDS_METHOD,
    arrays_fingerprint,
    files_differences,
)
from dlsuite.apps.speech.config import SpeechConfig

RATE = 16000


def _wav_folder(root: Path) -> Path:
    """``root/<word>/<speaker>_<i>.wav``: 2 words x 3 speakers x 2 clips of 0.1 s constants."""
    from dlsuite.apps.speech.audio import encode_wav

    n = 0
    for word in ("no", "yes"):
        for speaker in ("alice", "bob", "carol"):
            for i in range(2):
                n += 1
                path = root / word / f"{speaker}_{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(encode_wav(np.full(RATE // 10, n / 64), RATE))
    return root


def _flip_last_byte(path: Path) -> None:
    """Change one byte of ``path`` in place (same size)."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_dir_source_records_files_classes_split_rule_and_groups(tmp_path):
    from dlsuite.apps.speech.data import load_splits

    root = _wav_folder(tmp_path / "words")
    splits = load_splits(
        SpeechConfig(data=f"dir:{root}", clip_ms=100, group_by="^(?P<group>[a-z]+)_")
    )
    fingerprint = splits.describe()["fingerprint"]
    assert fingerprint["method"] == FILES_METHOD
    assert fingerprint["value"].startswith("sha256:") and len(fingerprint["value"]) == 71
    assert fingerprint["files"] == 12
    assert fingerprint["bytes"] == sum(p.stat().st_size for p in root.rglob("*.wav"))
    assert sorted(fingerprint["classes"]) == ["no", "yes"]
    assert [c["files"] for c in fingerprint["classes"].values()] == [6, 6]
    assert fingerprint["split_rule"].startswith("whole groups of --group-by")
    assert fingerprint["split_rule"] in splits.info["preprocessing"]
    assert fingerprint["groups"] == splits.info["groups"]
    assert sorted(g for names in fingerprint["groups"].values() for g in names) == [
        "alice",
        "bob",
        "carol",
    ]


def test_train_and_test_folders_fingerprint_each_class_folder_of_each_split(tmp_path):
    _wav_folder(tmp_path / "d" / "train")
    _wav_folder(tmp_path / "d" / "test")
    fingerprint = source_fingerprint("dir", str(tmp_path / "d"))
    assert sorted(fingerprint["classes"]) == ["test/no", "test/yes", "train/no", "train/yes"]
    assert fingerprint["files"] == 24


def test_fingerprint_changes_with_one_file_and_not_with_the_folder_location(tmp_path):
    root = _wav_folder(tmp_path / "a" / "words")
    before = source_fingerprint("dir", str(root))

    copy = tmp_path / "elsewhere" / "deeper" / "words2"
    shutil.copytree(root, copy)
    assert source_fingerprint("dir", str(copy)) == before  # relative paths only

    changed = root / "yes" / "bob_1.wav"
    size = changed.stat().st_size
    _flip_last_byte(changed)
    assert changed.stat().st_size == size
    after = source_fingerprint("dir", str(root))
    assert after["value"] != before["value"]
    assert (after["files"], after["bytes"]) == (before["files"], before["bytes"])
    assert after["classes"]["no"] == before["classes"]["no"]
    assert files_differences(before, after)[1:] == [
        "class folder 'yes': same 6 files count, but names or contents changed"
    ]

    (copy / "no" / "alice_0.wav").rename(copy / "no" / "alice_9.wav")
    renamed = source_fingerprint("dir", str(copy))
    assert renamed["value"] != before["value"]
    assert renamed["bytes"] == before["bytes"]


def test_files_differences_names_changed_counts_per_class(tmp_path):
    root = _wav_folder(tmp_path / "words")
    before = source_fingerprint("dir", str(root))
    (root / "no" / "alice_0.wav").unlink()
    shutil.copytree(root / "yes", root / "maybe")
    lines = files_differences(before, source_fingerprint("dir", str(root)))
    assert lines[0].startswith("digest sha256:")
    assert "files: 17, recorded 12" in lines
    assert "class folder 'maybe': not recorded (6 files)" in lines
    assert "class folder 'no': 5 files, recorded 6" in lines
    assert not files_differences(before, before)


def test_file_source_fingerprints_the_file_by_its_name(tmp_path):
    from dlsuite.apps.nlp.config import NLPConfig
    from dlsuite.apps.nlp.translate.data import load_splits

    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{i}\tnumber {i}\n" for i in range(30)), encoding="utf-8")
    info = load_splits(
        NLPConfig(task="translate", model="transformer_seq2seq", data=f"file:{tsv}", split_seed=5)
    ).info
    fingerprint = info["fingerprint"]
    assert (fingerprint["files"], fingerprint["bytes"]) == (1, tsv.stat().st_size)
    assert fingerprint["split_rule"] == "seeded split (split_seed=5)"
    assert "classes" not in fingerprint


def test_builtin_sources_record_generator_version_seed_and_arrays():
    import sklearn
    from sklearn.datasets import load_digits

    from dlsuite.apps.nlp.config import NLPConfig
    from dlsuite.apps.nlp.translate.data import load_splits as load_translation
    from dlsuite.apps.vision.config import VisionConfig
    from dlsuite.apps.vision.data import load_splits as load_images

    vision = load_images(VisionConfig(data="builtin:digits", image_size=8)).info["fingerprint"]
    digits = load_digits()
    assert vision["generator"] == "scikit-learn load_digits"
    assert vision["generator_version"] == sklearn.__version__
    assert vision["value"] == arrays_fingerprint(digits.images, digits.target)["value"]

    config = NLPConfig(
        task="translate",
        model="transformer_seq2seq",
        data="builtin:numbers",
        numbers_count=40,
        split_seed=3,
    )
    numbers = load_translation(config).info["fingerprint"]
    assert numbers["generator"] == "numbers"
    assert numbers["generator_version"].startswith("num2words ")
    assert numbers["seed"] == 3
    again = load_translation(config).info["fingerprint"]
    assert again == numbers
    other = NLPConfig(
        task="translate",
        model="transformer_seq2seq",
        data="builtin:numbers",
        numbers_count=40,
        split_seed=4,
    )
    assert load_translation(other).info["fingerprint"]["value"] != numbers["value"]


def test_tfds_source_records_name_version_and_checksums(tmp_path):
    import tensorflow_datasets as tfds

    from dlsuite.apps.vision.config import VisionConfig
    from dlsuite.apps.vision.data import load_splits

    with tfds.testing.mock_data(num_examples=8, data_dir=str(tmp_path)):
        info = load_splits(VisionConfig(data="tfds:mnist", data_dir=str(tmp_path))).info
    fingerprint = info["fingerprint"]
    assert fingerprint["method"] == TFDS_METHOD
    assert fingerprint["name"] == "mnist/3.0.1" and fingerprint["version"] == "3.0.1"
    assert fingerprint["file_format"] == "tfrecord"
    # mock data is not prepared: no download checksums or split files to record
    assert fingerprint["download_checksums"] == {} and fingerprint["split_files"] == {}
    assert fingerprint["value"].startswith("sha256:")


def _digit_folders(root: Path, per_class: int = 10) -> Path:
    """Real handwritten digits 0-2 (scikit-learn) as PNG files, one folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts: dict[int, int] = {}
    for image, label in zip(digits.images, digits.target, strict=True):
        if counts.get(label, 0) >= per_class or label > 2:
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{counts[label]}.png")
    return root


def test_manifest_verify_data_says_whether_a_folder_is_the_training_data(tmp_path, capsys):
    from dlsuite.apps.common.export import export_run
    from dlsuite.cli import main
    from dlsuite.serving.manifest.integrity import MANIFEST_RELPATH, load_manifest
    from dlsuite.serving.manifest.schema import validate_manifest
    from tests.apps.conftest import MANIFEST_INFO, train_tiny

    data = _digit_folders(tmp_path / "digits")
    result = train_tiny(tmp_path / "runs", data=f"dir:{data}", epochs=1)
    version = export_run(
        result.run.path, model_base_path=tmp_path / "models", name="d", manifest_info=MANIFEST_INFO
    )
    manifest = load_manifest(version)
    assert validate_manifest(manifest) == []
    (source,) = manifest["training"]["data"]["sources"]
    assert source["fingerprint"]["value"] == source_fingerprint("dir", str(data))["value"]
    assert source["fingerprint"]["classes"]["class_1"]["files"] == 10

    copy = shutil.copytree(data, tmp_path / "copy")
    capsys.readouterr()
    assert main(["manifest", "verify", str(version), "--data", str(copy)]) == 0
    out = capsys.readouterr().out
    assert f"same data as {version} was trained on: 30 files" in out

    _flip_last_byte(copy / "class_2" / "3.png")
    assert main(["manifest", "verify", str(version), "--data", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "not the data" in err
    assert "class folder 'class_2': same 10 files count, but names or contents changed" in err
    assert "class_0" not in err

    # a version trained on builtin data: no folder to compare with
    builtin = tmp_path / "builtin-version"
    (builtin / MANIFEST_RELPATH).parent.mkdir(parents=True)
    source.pop("fingerprint")
    source.update(kind="builtin", name="digits", source="builtin:digits")
    (builtin / MANIFEST_RELPATH).write_text(json.dumps(manifest), encoding="utf-8")
    assert main(["manifest", "verify", str(builtin), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "trained on builtin:digits" in err and "nothing to compare" in err
