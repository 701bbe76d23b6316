"""Route ``tf.keras`` to the tf-keras package (Keras 2), which TF-Agents 0.19 needs.

TensorFlow reads ``TF_USE_LEGACY_KERAS`` in two places: when ``tensorflow`` is first imported (it
then searches ``tensorflow.keras`` in tf-keras) and when ``tf.keras`` is first touched (its lazy
loader). `use_legacy_keras` sets the variable; if TensorFlow was already imported without it (the
test process imports TensorFlow before any app), it redoes the import-time step the way
``tensorflow/__init__.py`` does, which is only possible while nothing has touched ``tf.keras`` yet.
``import keras`` is Keras 3 either way, so the other apps are unaffected.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "TF_USE_LEGACY_KERAS"
_TRUE = ("true", "True", "1")


def use_legacy_keras() -> None:
    """Make ``tf.keras`` mean tf-keras in this process; raise if that can no longer be arranged."""
    if os.environ.get(VARIABLE) not in _TRUE:
        if os.environ.get(VARIABLE) is not None:
            raise RuntimeError(
                f"the RL app needs {VARIABLE}=1 (TF-Agents builds tf.keras networks); "
                f"it is set to {os.environ[VARIABLE]!r}"
            )
        os.environ[VARIABLE] = "1"
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return  # TensorFlow will read the variable when it is imported
    from tensorflow.python.tools import module_util

    legacy_dir = module_util.get_parent_dir_for_name("tf_keras.api._v2.keras")
    keras_module = sys.modules.get("tensorflow.keras")
    if keras_module is not None and "tf_keras" not in (getattr(keras_module, "__file__", "") or ""):
        raise RuntimeError(
            "tf.keras was already imported as Keras 3 in this process; "
            f"set {VARIABLE}=1 before TensorFlow is first imported to use the RL app here"
        )
    loader = tf.__dict__.get("keras")
    if type(loader).__name__ == "KerasLazyLoader" and object.__getattribute__(
        loader, "_tfll_initialized"
    ):
        if object.__getattribute__(loader, "_tfll_keras_version") != "tf_keras":
            raise RuntimeError(
                "tf.keras was already resolved to Keras 3 in this process; "
                f"set {VARIABLE}=1 before TensorFlow is first imported to use the RL app here"
            )
    if legacy_dir not in tf.__path__:
        # What tensorflow/__init__.py does when the variable is set.
        tf.__path__.insert(0, legacy_dir)


def check_legacy_keras() -> None:
    """Fail early, naming the cause, unless ``tf.keras`` is tf-keras."""
    import tensorflow as tf

    module = tf.keras.layers.Dense.__module__
    if not module.startswith("tf_keras"):
        raise RuntimeError(
            f"tf.keras resolves to {module}, not tf-keras; TF-Agents needs {VARIABLE}=1 "
            "set before TensorFlow is first imported"
        )
