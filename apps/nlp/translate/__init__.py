"""Translation (``--task translate``): text in, text in another language out, both tokenizers and
the decoding inside the model.

``config.py`` (model, presets), ``data.py`` (``builtin:numbers``, tfds and ``file:`` pairs;
``numbers.py`` generates the built-in one), ``models/``, ``train.py``, ``decoding.py`` (greedy and
beam search), ``translation_metrics.py`` (BLEU, chrF), ``export.py``.
"""
