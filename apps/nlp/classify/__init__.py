"""Text classification (``--task classify``): text in, class label out, tokenizer inside the model.

``config.py`` (models, presets), ``data.py`` (``builtin:langid``, tfds, ``dir:`` and ``file:``
sources; ``langid.py`` generates the built-in one), ``models/``, ``train.py``, ``export.py``.
"""
