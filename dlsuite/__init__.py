"""dlsuite: train, export, serve and document TensorFlow/Keras models.

Everything the suite ships imports under this one name:

* `dlsuite.core_layers`: the reusable Keras 3 layers (registered under package ``dlsuite``);
* `dlsuite.apps`: the apps (vision, speech, nlp, generative, rl) and their shared machinery;
* `dlsuite.serving`: export, the compliance manifest, TFLite conversion, the model server;
* `dlsuite.base`: the bottom layer (files, versions, argument checks) every other package uses.
* `dlsuite.cli`: the top layer, the `dlsuite` command line (``python -m dlsuite``), parsing only.

On disk, ``apps/``, ``core_layers/`` and ``serving/`` stay at the top of the repository;
``setup.py`` maps them into this package. Importing `dlsuite` is cheap: nothing heavy
(TensorFlow) is imported until a submodule is, or one of the public names below is used:

* `dlsuite.RunRecorder`: a Keras callback (and custom-loop recorder) that writes the suite's run
  directory for your own ``model.fit`` (`dlsuite.apps.common.recorder`);
* `dlsuite.export`: any Keras 3 model as the next version of ``<model_base_path>/<name>/``, with
  warmup and manifest (`dlsuite.serving.keras_export.export`);
* `dlsuite.layers`: the public Keras layers (``dlsuite.layers.TransformerEncoderBlock``, ...);
* `dlsuite.models`: the app models by name (``dlsuite.models.get("resnet20", num_classes=10)``,
  ``dlsuite.models.names()``).
"""

from importlib import import_module, metadata
from typing import Any

# public name -> the module defining it, imported on first use (so `import dlsuite` stays cheap)
_LAZY = {"RunRecorder": "dlsuite.apps.common.recorder", "export": "dlsuite.serving.keras_export"}
# public submodules, imported on first attribute access (``dlsuite.layers.MFCC``)
_LAZY_MODULES = frozenset({"layers", "models"})

try:
    __version__ = metadata.version("dlsuite")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"


def __getattr__(name: str) -> Any:
    """Import a public name of `_LAZY` or a module of `_LAZY_MODULES` on first access."""
    if name in _LAZY_MODULES:
        value = import_module(f"dlsuite.{name}")
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'dlsuite' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, *_LAZY_MODULES])
