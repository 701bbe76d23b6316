"""Reinforcement learning with TF-Agents: DQN / Double DQN / REINFORCE on CartPole and Atari.

The app has the suite's shape: ``config.py``, ``data.py`` (the environments: an agent collects its
own experience), ``models/`` (the agents and their networks), ``train.py`` and ``export.py``.
Run directory, export and serving follow the suite's contracts (docs/rl.md).
"""

from dlsuite.apps.rl.legacy_keras import use_legacy_keras

# TF-Agents 0.19 builds its networks with ``tf.keras``, which must be tf-keras (Keras 2). Every
# module of the app is imported through this package, so this runs before any of them imports
# TF-Agents (or TensorFlow). It imports nothing itself: with TensorFlow not yet imported (the CLI
# building its parser from `apps.rl.config`) it only sets ``TF_USE_LEGACY_KERAS=1``, which
# TensorFlow reads when it is imported; in a process that imported TensorFlow already (pytest), it
# puts tf-keras first on ``tensorflow.__path__`` as TensorFlow's import would have. ``import keras``
# stays Keras 3 for every other app (apps/rl/legacy_keras.py, docs/rl.md).
use_legacy_keras()
