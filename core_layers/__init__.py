"""Reusable, serializable Keras 3 layers, registered under the package name "dlsuite"."""
