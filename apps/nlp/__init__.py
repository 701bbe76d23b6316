"""NLP app: text classification (and the other tasks of `apps.nlp.config.TASK_MODELS`),
tokenizer inside the model.
"""
