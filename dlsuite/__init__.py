"""dlsuite: train, export, serve and document TensorFlow/Keras models.

Everything the suite ships imports under this one name:

* `dlsuite.core_layers`: the reusable Keras 3 layers (registered under package ``dlsuite``);
* `dlsuite.apps`: the apps (vision, speech, nlp, generative, rl) and their shared machinery;
* `dlsuite.serving`: export, the compliance manifest, TFLite conversion, the model server;
* `dlsuite.base`: the bottom layer (files, versions, argument checks) every other package uses.
* `dlsuite.cli`: the top layer, the `dlsuite` command line (``python -m dlsuite``), parsing only.

On disk, ``apps/``, ``core_layers/`` and ``serving/`` stay at the top of the repository;
``setup.py`` maps them into this package. Importing `dlsuite` is cheap: nothing heavy
(TensorFlow) is imported until a submodule is.
"""

from importlib import metadata

try:
    __version__ = metadata.version("dlsuite")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"
