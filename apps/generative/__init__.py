"""The generative app: conditional DCGAN and WGAN-GP with marked synthetic output."""
