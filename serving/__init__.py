"""Everything that happens to a trained model after training: export, manifest, TFLite, serving."""
