"""NLP training config (text classification, translation, language modelling) and its named presets.

One config class serves every NLP task, since the CLI app is ``nlp`` with ``--task``: ``task`` picks
the task package (`apps.nlp.classify`, `apps.nlp.translate`, `apps.nlp.lm`) that `apps.nlp.data`,
`apps.nlp.train` and `apps.nlp.export` dispatch to, and ``model`` must be one of that task's models
(`TASK_MODELS`). Options that only one task reads say so in their help text. Each task's own
``config.py`` holds its models and presets (keyword options of `NLPConfig`); `PRESETS` merges them.
No module imported here imports TensorFlow (the CLI imports this module to build its options).
"""

from __future__ import annotations

import dataclasses

from dlsuite.apps.common.config import TrainingConfig, option
from dlsuite.apps.nlp.classify import config as classify_config
from dlsuite.apps.nlp.lm import config as lm_config
from dlsuite.apps.nlp.translate import config as translate_config

APP = "nlp"
# The task packages' configs, in the order of --task's choices; a task is available when it has
# an entry here.
TASK_CONFIGS = {"classify": classify_config, "translate": translate_config, "lm": lm_config}
TASK_MODELS: dict[str, tuple[str, ...]] = {
    task: module.MODELS for task, module in TASK_CONFIGS.items()
}
TASKS = tuple(TASK_MODELS)
TOKENIZERS = ("word", "wordpiece")
POSITION_EMBEDDINGS = ("sinusoidal", "learned")
NORM_POSITIONS = ("pre", "post")
LANGID_LOCALES = ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")


@dataclasses.dataclass(frozen=True)
class NLPConfig(TrainingConfig):
    """What task, which network, which tokenizer
    (trained on the training split, saved in the model).
    """

    # Defaults tuned so `dlsuite train nlp --model transformer --data builtin:langid` meets the
    # quality bar (>= 95% held-out accuracy) on a CPU in well under a minute.
    task: str = option(
        "classify",
        "what the model does: classify (text -> label), lm (language model: "
        "text -> continuation), translate (text -> text in another language)",
        choices=TASKS,
    )
    data: str = option(
        "builtin:langid",
        "data source: builtin:langid (Faker sentences in several languages), "
        "tfds:imdb_reviews|ag_news_subset|glue/sst2, dir:<folder of text-file "
        "folders per class> or file:<.csv|.tsv|.jsonl>; lm: builtin:pydocs (Python "
        "standard-library docstrings), file:<plain text file> or dir:<folder of "
        ".txt files>; translate: builtin:numbers (num2words number words), "
        "tfds:ted_hrlr_translate/pt_to_en or file:<source<TAB>target .tsv>",
    )
    epochs: int = option(2, "number of epochs")
    batch_size: int = option(64, "GLOBAL batch size, split evenly across replicas")
    learning_rate: float = option(1e-3, "initial learning rate")
    model: str = option(
        "transformer",
        "network; classify: bag_of_embeddings, bilstm, transformer; lm: gpt; "
        "translate: transformer_seq2seq",
    )
    tokenizer: str = option(
        "word",
        "tokenizer trained on the training split and saved inside the model: "
        "word (TextVectorization) or wordpiece (subwords)",
        choices=TOKENIZERS,
    )
    vocab_size: int = option(
        8000, "largest vocabulary, including the padding, unknown and special tokens"
    )
    sequence_length: int = option(
        32, "tokens per text; longer texts are truncated, shorter ones padded with 0"
    )
    lowercase: bool = option(True, "lowercase text before tokenizing")
    text_column: str = option(
        "text", "file: sources: the column (CSV/TSV header) or key (JSONL) holding the text"
    )
    label_column: str = option("label", "file: sources: the column or key holding the class label")
    embedding_dim: int = option(64, "token embedding width (the Transformer's model width)")
    position_embedding: str = option(
        "sinusoidal", "position embedding added to the token embedding", choices=POSITION_EMBEDDINGS
    )
    num_layers: int = option(2, "Transformer blocks or stacked LSTM layers")
    num_heads: int = option(4, "attention heads (transformer)")
    intermediate_dim: int = option(128, "feed-forward width of a Transformer block")
    norm_position: str = option(
        "pre",
        "Transformer layer normalization before (pre) or after (post) each sub-layer",
        choices=NORM_POSITIONS,
    )
    lstm_units: int = option(64, "LSTM units per direction (bilstm)")
    dropout: float = option(0.1, "dropout rate")
    langid_locales: tuple[str, ...] = option(
        LANGID_LOCALES, "builtin:langid: Faker locales, one class each"
    )
    langid_sentences: int = option(
        1500, "builtin:langid: distinct sentences generated per language"
    )
    numbers_pair: str = option(
        "en-es",
        "builtin:numbers (translate): source-target languages of the num2words "
        "spellings: en-es, es-en, en-fr, fr-en, en-de or de-en (German numbers "
        "are single compound words: use --tokenizer wordpiece)",
    )
    numbers_count: int = option(
        10000, "builtin:numbers: distinct numbers drawn (then split by number)"
    )
    numbers_max: int = option(9999, "builtin:numbers: numbers are drawn from [0, numbers_max]")
    label_smoothing: float = option(0.1, "translate: label smoothing epsilon of the cross-entropy")
    beam_size: int = option(
        4, "translate: beam width of the evaluation and of the exported translate signature"
    )
    length_penalty: float = option(
        0.6, "translate: beam search length penalty exponent alpha (GNMT)"
    )
    max_decode_length: int | None = option(
        None,
        "translate: longest translation in target tokens; default and upper bound: sequence_length",
    )
    tie_embeddings: bool = option(
        True, "lm: output logits from the token embedding matrix (weight tying, Press & Wolf 2017)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task not in TASK_MODELS:
            raise ValueError(f"task expected one of {TASKS}. Received: task={self.task!r}")
        if self.model not in TASK_MODELS[self.task]:
            raise ValueError(
                f"model for task={self.task!r} expected one of {TASK_MODELS[self.task]}. "
                f"Received: model={self.model!r}"
            )
        choices = (
            ("tokenizer", TOKENIZERS),
            ("position_embedding", POSITION_EMBEDDINGS),
            ("norm_position", NORM_POSITIONS),
        )
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} expected one of {allowed}. Received: {name}={getattr(self, name)!r}"
                )
        self.check_positive_fields(
            "vocab_size",
            "sequence_length",
            "embedding_dim",
            "num_layers",
            "num_heads",
            "intermediate_dim",
            "lstm_units",
            "langid_sentences",
            "numbers_count",
            "numbers_max",
            "beam_size",
        )
        if self.vocab_size < 8:
            raise ValueError(
                f"vocab_size expected at least 8. Received: vocab_size={self.vocab_size}"
            )
        if self.embedding_dim % self.num_heads:
            raise ValueError(
                f"embedding_dim expected a multiple of num_heads={self.num_heads}. "
                f"Received: embedding_dim={self.embedding_dim}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"dropout expected a number in [0, 1). Received: dropout={self.dropout}"
            )
        self._check_translation_options()
        if len(set(self.langid_locales)) < 2:
            raise ValueError(
                f"langid_locales expected at least two different locales. "
                f"Received: langid_locales={self.langid_locales}"
            )

    def _check_translation_options(self) -> None:
        translate_config.parse_pair(self.numbers_pair)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                "label_smoothing expected a number in [0, 1). "
                f"Received: label_smoothing={self.label_smoothing}"
            )
        if self.length_penalty < 0:
            raise ValueError(
                "length_penalty expected a number >= 0. "
                f"Received: length_penalty={self.length_penalty}"
            )
        if self.max_decode_length is not None:
            self.check_positive_fields("max_decode_length")

    def default_lr_schedule(self) -> str:
        """The Transformer warmup schedule of the paper for translation, else cosine decay."""
        return "transformer" if self.task == "translate" else "cosine"


def _merge_presets() -> dict[str, NLPConfig]:
    """Every task's presets as `NLPConfig` of that task; a name must be unique across the tasks."""
    presets: dict[str, NLPConfig] = {}
    for task, module in TASK_CONFIGS.items():
        for name, options in module.PRESETS.items():
            if name in presets:
                raise ValueError(
                    f"preset {name!r} of task={task!r} is also a preset of "
                    f"task={presets[name].task!r}"
                )
            presets[name] = NLPConfig(task=task, **options)
    return presets


PRESETS: dict[str, NLPConfig] = _merge_presets()
CONFIG_CLASS = NLPConfig
