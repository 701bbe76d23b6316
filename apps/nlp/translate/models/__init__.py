"""Translation model (task "translate"): `apps.nlp.translate.models.seq2seq.TransformerSeq2Seq`,
built by `apps.nlp.translate.train.build_translator`.
"""
