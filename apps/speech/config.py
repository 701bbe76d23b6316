"""Speech (keyword spotting and CTC speech recognition) training config and its named presets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dlsuite.apps.common.config import FineTuningOptions, TrainingConfig, option

MODEL_NAMES = ("dnn", "cnn", "ds_cnn", "bilstm_attention", "ctc")
# Models that output transcripts (their data are transcribed clips, not classes).
RECOGNIZERS = ("ctc",)
FEATURES = ("log_mel", "mfcc", "pcen")
# Waveform augmentations (apps.speech.augment), then SpecAugment (a layer inside the model).
AUGMENTATIONS = ("shift", "noise", "speed", "vtlp", "gain", "bandlimit", "reverb", "specaugment")


@dataclasses.dataclass(frozen=True)
class SpeechConfig(FineTuningOptions, TrainingConfig):
    """Keyword spotting or speech recognition: which network,
    which front end (inside the model), which augmentation.

    ``--model ctc`` makes it a recogniser: the data are then transcribed clips (``builtin:phrases``,
    ``builtin:digits`` with each word as its transcript, or ``dir:`` with a transcript file).
    """

    # Defaults tuned so `dlsuite train speech --model ds_cnn --data builtin:digits` meets the
    # quality bar (>= 95% accuracy on held-out voices) on a CPU in about a minute.
    data: str = option(
        "builtin:digits",
        "data source: builtin:digits (eSpeak NG spoken digits), builtin:speakers (digits by "
        "eight synthetic speakers, whole speakers held out: --test-groups NAME), "
        "tfds:speech_commands or dir:<folder of WAV folders per class>; "
        "for --model ctc: builtin:phrases (eSpeak NG phrases with transcripts), "
        "builtin:digits or dir:<folder of WAVs with transcripts.tsv or metadata.csv>",
    )
    epochs: int = option(20, "number of epochs")
    batch_size: int = option(32, "GLOBAL batch size, split evenly across replicas")
    learning_rate: float = option(3e-3, "initial learning rate")
    model: str = option(
        "ds_cnn",
        "network: keyword spotters dnn, cnn, ds_cnn, bilstm_attention; "
        "ctc = speech recogniser (characters, CTC loss; see --preset ctc-phrases)",
        choices=MODEL_NAMES,
    )
    sample_rate: int = option(
        16000, "sample rate in Hz of the model input; every source is resampled to it"
    )
    clip_ms: int = option(1000, "clip length in milliseconds; audio is padded or cropped to it")
    features: str = option(
        "pcen",
        "front end inside the model: PCEN (trainable per-channel energy normalisation of the mel "
        "energies; the default: best for speakers never heard, docs/speech.md), log-mel or MFCCs",
        choices=FEATURES,
    )
    window_ms: float = option(40.0, "analysis window in milliseconds")
    hop_ms: float = option(20.0, "hop between windows in milliseconds")
    num_mel_bins: int = option(40, "mel filters")
    num_mfcc: int = option(10, "cepstral coefficients kept (features=mfcc)")
    fmin: float = option(20.0, "lowest mel filter edge in Hz")
    fmax: float | None = option(None, "highest mel filter edge in Hz; default: sample_rate / 2")
    augment: tuple[str, ...] = option(
        ("shift", "specaugment"),
        f"training augmentations (comma list of {', '.join(AUGMENTATIONS)}; "
        "see apps/speech/augment.py); builtin:digits already has background noise",
    )
    time_shift_ms: int = option(100, "largest random time shift in milliseconds (augment=shift)")
    noise_snr_db: float = option(
        10.0,
        "lowest SNR in dB of the added noise (augment=noise); "
        "SNRs are drawn from [this, this + 20]",
    )
    dropout: float = option(0.1, "dropout rate before the classifier")
    beam_width: int = option(
        16, "beams of the CTC beam-search decoder in the evaluation (model=ctc)"
    )
    cache_dir: str | None = option(
        None, "where builtin: audio is generated once and cached; default: ~/.cache/dlsuite/speech"
    )
    backbone: str | None = option(
        None,
        "fine-tune a pretrained audio embedding network instead of training --model: a .keras "
        "file, or a SavedModel folder (kept frozen: only the head trains), taking the front "
        "end's features (B, frames, channels) or the raw waveform (B, samples); its output is "
        "pooled to (B, D) and a new classifier head trained (keyword spotting only; "
        "docs/speech.md, Transfer learning)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model expected one of {MODEL_NAMES}. Received: model={self.model!r}")
        if self.features not in FEATURES:
            raise ValueError(
                f"features expected one of {FEATURES}. Received: features={self.features!r}"
            )
        unknown = [a for a in self.augment if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(
                f"augment expected a list of {AUGMENTATIONS}. Received: augment={unknown}"
            )
        if self.sample_rate < 4000:
            raise ValueError(
                f"sample_rate expected at least 4000. Received: sample_rate={self.sample_rate}"
            )
        if not self.window_ms < self.clip_ms or not 0 < self.hop_ms <= self.window_ms:
            raise ValueError(
                "expected 0 < hop_ms <= window_ms < clip_ms. "
                f"Received: hop_ms={self.hop_ms}, "
                f"window_ms={self.window_ms}, clip_ms={self.clip_ms}"
            )
        if self.num_mfcc > self.num_mel_bins:
            raise ValueError(
                f"num_mfcc expected at most num_mel_bins={self.num_mel_bins}. "
                f"Received: num_mfcc={self.num_mfcc}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"dropout expected a number in [0, 1). Received: dropout={self.dropout}"
            )
        self.check_positive_fields("beam_width")
        self.check_fine_tuning()
        if self.recognizer and self.class_weight != "none":
            raise ValueError(
                "--class-weight weighs a keyword spotter's classes; --model ctc emits "
                "transcripts. Drop --class-weight or train a keyword spotter"
            )
        self._check_backbone()

    def _check_backbone(self) -> None:
        if self.backbone is None:
            return
        if self.recognizer:
            raise ValueError(
                f"--backbone fine-tunes a keyword spotter (a classifier head on the backbone's "
                f"pooled embedding); --model {self.model} is a CTC recogniser, which it cannot "
                "fine-tune. Drop --model ctc (or --backbone)"
            )
        if self.saved_model_backbone:
            if self.freeze_epochs is not None and self.freeze_epochs < self.epochs:
                raise ValueError(
                    f"--backbone {self.backbone} is a folder (a SavedModel): it is a frozen "
                    "feature extractor, only the head trains. Held in keras.layers.TFSMLayer "
                    "its weights do not train with Adam (their names end in ':0', which Adam's "
                    "slot names reject), so --freeze-epochs must be unset or at least --epochs "
                    f"(or give a .keras file of the network to fine-tune it). Received: "
                    f"freeze_epochs={self.freeze_epochs}, epochs={self.epochs}"
                )
            return
        if Path(self.backbone).suffix != ".keras":
            raise ValueError(
                f"--backbone expected a .keras file (keras.Model.save('net.keras')) or a "
                f"SavedModel folder of an audio embedding network. Received: "
                f"backbone={self.backbone!r}"
            )

    @property
    def saved_model_backbone(self) -> bool:
        """Whether ``backbone`` is a folder (a SavedModel): a frozen feature extractor."""
        return self.backbone is not None and Path(self.backbone).expanduser().is_dir()

    @property
    def effective_freeze_epochs(self) -> int:
        """`FineTuningOptions.effective_freeze_epochs`, and every epoch for a SavedModel
        backbone when ``freeze_epochs`` is unset."""
        if self.saved_model_backbone and self.freeze_epochs is None:
            return self.epochs
        return super().effective_freeze_epochs

    def default_lr_schedule(self) -> str:
        """Cosine decay to 0 over the run, for the keyword spotters and the recogniser."""
        return "cosine"

    @property
    def clip_samples(self) -> int:
        return self.sample_rate * self.clip_ms // 1000

    @property
    def recognizer(self) -> bool:
        """Whether the model transcribes speech (CTC) rather than classifying clips."""
        return self.model in RECOGNIZERS


PRESETS: dict[str, SpeechConfig] = {
    # The quality-bar run: DS-CNN on eSpeak NG spoken digits, >= 95% on held-out voices.
    "ds_cnn-digits": SpeechConfig(model="ds_cnn", data="builtin:digits"),
    "cnn-digits": SpeechConfig(model="cnn", data="builtin:digits", features="log_mel"),
    "dnn-digits": SpeechConfig(model="dnn", data="builtin:digits", features="mfcc"),
    "bilstm_attention-digits": SpeechConfig(
        model="bilstm_attention", data="builtin:digits", features="log_mel"
    ),
    "ds_cnn-speech_commands": SpeechConfig(
        model="ds_cnn", data="tfds:speech_commands", epochs=30, batch_size=100
    ),
    # The recognition quality-bar run: CTC on eSpeak NG phrases, CER <= 15% on held-out voices.
    "ctc-phrases": SpeechConfig(
        model="ctc",
        data="builtin:phrases",
        clip_ms=2000,
        features="log_mel",
        epochs=15,
        learning_rate=5e-3,
        augment=("specaugment",),
        dropout=0.0,
    ),
}
CONFIG_CLASS = SpeechConfig
