"""Language modelling (``--task lm``): a GPT-style model that continues text, tokenizer inside.

``config.py`` (model, presets), ``data.py`` (corpora: ``builtin:pydocs``, ``file:``, ``dir:``),
``models/``, ``train.py``, ``generation.py`` (cached sampling), ``fewshot.py`` (in-context tasks),
``scaling_study.py`` (the ``dlsuite study scaling`` study; its fits in ``scaling_fits.py``, its
files in ``scaling_report.py``), ``export.py``.
"""
