"""Reinforcement learning with TF-Agents: DQN / Double DQN / REINFORCE on CartPole and Atari.

TF-Agents 0.19 builds its networks with ``tf.keras``; `apps.rl.legacy_keras.use_legacy_keras`
routes ``tf.keras`` to the tf-keras package (``TF_USE_LEGACY_KERAS=1``) before any of this app's
TensorFlow work. ``import keras`` stays Keras 3 for every other app. Run directory, export and
serving follow the suite's contracts (docs/rl.md).
"""
