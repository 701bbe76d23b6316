"""NLP app: text classification, translation and language modelling, tokenizer inside the model.

One task package per ``--task`` (`apps.nlp.classify`, `apps.nlp.translate`, `apps.nlp.lm`), each
shaped like an app (``config.py``, ``data.py``, ``models/``, ``train.py``, ``export.py``). Shared by
them: ``config.py`` (the one `NLPConfig`, every task's presets), ``sources.py``, ``tokenizers.py``,
``wordpiece_vocab.py`` and ``losses.py``. The app-level ``data.py``, ``train.py`` and ``export.py``
dispatch on the task; nothing else here imports a task package except ``config.py`` its configs.
"""
