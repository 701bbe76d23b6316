"""Speaker-disjoint (group-disjoint) splits of ``dir:`` sources: ``--group-by``, ``--test-groups``
and Speech Commands' ``validation_list.txt`` / ``testing_list.txt`` (`class_folder_splits`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlsuite.apps.speech.config import SpeechConfig

RATE = 16000
SPEAKERS = ("alice", "bob", "carol", "dave", "erin", "frank")
NAMED = "_(?P<group>[a-z]+)_"  # 7_alice_12.wav -> alice


class Folder:
    """Writes tiny WAV class folders; clip ``i`` is the constant ``(i + 1) / 64`` (0.1 s), so an
    example's file is known from its waveform."""

    def __init__(self) -> None:
        self.files: list[Path] = []

    def write(self, path: Path) -> None:
        from dlsuite.apps.speech.audio import encode_wav

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_wav(np.full(RATE // 10, (len(self.files) + 1) / 64), RATE))
        self.files.append(path)

    def members(self, dataset) -> list[str]:
        """Sorted file names of a split's examples."""
        return sorted(
            self.files[int(round(float(wave[0]) * 64)) - 1].name
            for wave, _ in dataset.as_numpy_iterator()
        )


def _speakers(root: Path, folder: Folder, speakers=SPEAKERS, clips: int = 2) -> None:
    """``root/<word>/<n>_<speaker>_<i>.wav``, ``clips`` per speaker and word."""
    for word in ("no", "yes"):
        for n, speaker in enumerate(speakers):
            for i in range(clips):
                folder.write(root / word / f"{n}_{speaker}_{i}.wav")


def _load(root: Path, **options):
    from dlsuite.apps.speech.data import load_splits

    return load_splits(SpeechConfig(data=f"dir:{root}", clip_ms=100, **options))


def _speaker_of(name: str) -> str:
    return name.split("_")[1]


def test_group_by_keeps_every_speaker_in_one_split(tmp_path):
    folder = Folder()
    _speakers(tmp_path, folder)
    splits = _load(tmp_path, group_by=NAMED)
    groups = splits.info["groups"]
    assert {k: len(v) for k, v in groups.items()} == {"train": 4, "validation": 1, "test": 1}
    assert sorted(sum(groups.values(), [])) == sorted(SPEAKERS)
    assert splits.sizes == {"train": 16, "validation": 4, "test": 4}
    for name in ("train", "validation", "test"):
        members = folder.members(getattr(splits, name))
        assert {_speaker_of(m) for m in members} == set(groups[name])
        assert len(members) == splits.sizes[name]
    assert "groups: train 4, validation 1, test 1" in splits.info["preprocessing"]
    assert splits.describe()["groups"] == groups  # what metrics.json records
    # The same seed holds out the same speakers; without a named group the whole match counts.
    assert _load(tmp_path, group_by="[a-z]+").info["groups"] == groups


def test_test_groups_are_the_test_split(tmp_path):
    folder = Folder()
    _speakers(tmp_path, folder)
    splits = _load(tmp_path, group_by=NAMED, test_groups=("bob", "erin"))
    assert splits.info["groups"]["test"] == ["bob", "erin"]
    assert {_speaker_of(m) for m in folder.members(splits.test)} == {"bob", "erin"}
    assert splits.sizes["test"] == 8 and len(splits.info["groups"]["validation"]) == 1
    with pytest.raises(ValueError, match=r"\['zoe'\] are not groups .*known groups: \['alice'"):
        _load(tmp_path, group_by=NAMED, test_groups=("zoe",))
    with pytest.raises(ValueError, match="give --group-by"):
        _load(tmp_path, test_groups=("bob",))


def test_bad_patterns_and_too_few_groups_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="group_by is not a valid regular expression"):
        SpeechConfig(group_by="(?P<group>[a-z")
    with pytest.raises(ValueError, match="non-empty"):
        SpeechConfig(group_by="")
    folder = Folder()
    _speakers(tmp_path / "two", folder, speakers=("alice", "bob"))
    with pytest.raises(ValueError, match=r"2 groups \['alice', 'bob'\] are too few"):
        _load(tmp_path / "two", group_by=NAMED)
    folder.write(tmp_path / "two" / "yes" / "unnamed.wav")
    with pytest.raises(ValueError, match=r"finds no group in .*yes/unnamed\.wav"):
        _load(tmp_path / "two", group_by=NAMED)


def test_split_by_group_partitions_a_dataset():
    import tensorflow as tf

    from dlsuite.apps.common.data import split_by_group

    groups = [f"s{i % 5}" for i in range(20)]
    config = SpeechConfig(validation_fraction=0.4)
    parts, chosen = split_by_group(tf.data.Dataset.range(20), groups, config, test=False)
    assert list(parts) == ["train", "validation"] and len(chosen["validation"]) == 2
    for name, (dataset, size) in parts.items():
        indices = [int(i) for i in dataset.as_numpy_iterator()]
        assert len(indices) == size and {groups[i] for i in indices} == set(chosen[name])
    with pytest.raises(ValueError, match="one group per example: 19 groups for 20"):
        split_by_group(tf.data.Dataset.range(20), groups[:19], config)


def _speech_commands(root: Path, folder: Folder) -> None:
    """Speech Commands layout: ``<word>/<speaker>_nohash_<n>.wav``, background noise, lists."""
    for word in ("left", "right"):
        for speaker in ("0a7c2a8d", "1b2c3d4e", "2c3d4e5f", "3d4e5f60"):
            for n in range(2):
                folder.write(root / word / f"{speaker}_nohash_{n}.wav")
    folder.write(root / "_background_noise_" / "white_noise.wav")
    (root / "validation_list.txt").write_text(
        "left/1b2c3d4e_nohash_0.wav\nleft/1b2c3d4e_nohash_1.wav\nright/1b2c3d4e_nohash_0.wav\n"
    )
    (root / "testing_list.txt").write_text(
        "left/2c3d4e5f_nohash_0.wav\nright/2c3d4e5f_nohash_1.wav\nup/9f9f9f9f_nohash_0.wav\n"
    )


def test_speech_commands_lists_are_the_held_out_splits(tmp_path):
    folder = Folder()
    _speech_commands(tmp_path, folder)
    splits = _load(tmp_path, group_by="^(?P<group>[0-9a-f]+)_nohash")
    assert splits.class_names == ["left", "right"]  # _background_noise_ is not a class
    assert splits.sizes == {"train": 11, "validation": 3, "test": 2}
    assert folder.members(splits.validation) == sorted(
        ["1b2c3d4e_nohash_0.wav", "1b2c3d4e_nohash_1.wav", "1b2c3d4e_nohash_0.wav"]
    )
    assert folder.members(splits.test) == ["2c3d4e5f_nohash_0.wav", "2c3d4e5f_nohash_1.wav"]
    assert "white_noise.wav" not in folder.members(splits.train)
    how = splits.info["preprocessing"]
    assert "Speech Commands validation_list.txt and testing_list.txt" in how
    # The lists are per file, so a speaker can be in two splits: the description says so.
    assert splits.info["groups"]["test"] == ["2c3d4e5f"]
    assert "WARNING: groups in more than one split: ['1b2c3d4e', '2c3d4e5f']" in how


def test_testing_list_alone_carves_validation_by_group(tmp_path):
    folder = Folder()
    _speech_commands(tmp_path, folder)
    (tmp_path / "validation_list.txt").unlink()
    (tmp_path / "testing_list.txt").write_text(
        "".join(f"{w}/3d4e5f60_nohash_{n}.wav\n" for w in ("left", "right") for n in range(2))
    )
    splits = _load(tmp_path, group_by="^[0-9a-f]+")
    groups = splits.info["groups"]
    assert list(groups) == ["train", "validation", "test"] and groups["test"] == ["3d4e5f60"]
    assert len(groups["validation"]) == 1 and "WARNING" not in splits.info["preprocessing"]
    assert sorted(groups["train"] + groups["validation"]) == ["0a7c2a8d", "1b2c3d4e", "2c3d4e5f"]
    assert splits.sizes == {"train": 8, "validation": 4, "test": 4}
    with pytest.raises(ValueError, match="both choose the test split"):
        _load(tmp_path, group_by="^[0-9a-f]+", test_groups=("3d4e5f60",))
    (tmp_path / "testing_list.txt").write_text("left/3d4e5f60_nohash_7.wav\n")
    with pytest.raises(ValueError, match="names left/3d4e5f60_nohash_7.wav, which is not"):
        _load(tmp_path)
    (tmp_path / "testing_list.txt").unlink()
    (tmp_path / "validation_list.txt").write_text("left/3d4e5f60_nohash_0.wav\n")
    with pytest.raises(ValueError, match="needs testing_list.txt beside it"):
        _load(tmp_path)


def test_train_and_test_folders_with_group_by(tmp_path):
    folder = Folder()
    _speakers(tmp_path / "train", folder, speakers=("alice", "bob", "carol", "dave"))
    _speakers(tmp_path / "test", folder, speakers=("dave", "erin"), clips=1)
    splits = _load(tmp_path, group_by=NAMED)
    groups = splits.info["groups"]
    assert groups["test"] == ["dave", "erin"] and splits.sizes["test"] == 4
    assert len(groups["validation"]) == 1 and len(groups["train"]) == 3
    assert not set(groups["train"]) & set(groups["validation"])
    assert {_speaker_of(m) for m in folder.members(splits.validation)} == set(groups["validation"])
    assert "WARNING: groups in more than one split: ['dave']" in splits.info["preprocessing"]
    with pytest.raises(ValueError, match="has its own test split"):
        _load(tmp_path, group_by=NAMED, test_groups=("alice",))


def test_cli_flags_parse():
    from dlsuite.cli.runs import train_config

    app, config = train_config(
        ["train", "speech", "--group-by", NAMED, "--test-groups", "alice, bob", "--data", "dir:x"]
    )
    assert app == "speech" and config.group_by == NAMED and config.test_groups == ("alice", "bob")
    _, default = train_config(["train", "vision"])
    assert default.group_by is None and default.test_groups == ()
