"""Language model (task "lm"): `apps.nlp.lm.models.gpt.GPTLanguageModel`,
built by `apps.nlp.lm.train.build_language_model`.
"""
