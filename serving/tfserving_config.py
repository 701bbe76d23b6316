"""Config files for the real tensorflow_model_server (what ``dlsuite tfserving-config`` writes).

From a model repository (``<repo>/<model>/<version>/``) this writes ``models.config`` (a
text-format ``ModelServerConfig`` whose base paths are the paths *inside the container*),
``batching_parameters.txt`` and ``monitoring.config``, one KServe ``InferenceService`` per model;
`docker_run_command` gives the ``docker run tensorflow/serving`` command that uses them.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlsuite.base.files import atomic_write_text
from dlsuite.serving.repository import check_model_name, list_versions
from dlsuite.serving.server.config import (
    BatchingOptions,
    ModelSpec,
    batching_parameters_text,
    model_config_text,
    monitoring_config_text,
)

TFSERVING_IMAGE = "tensorflow/serving:2.18.0"


def find_models(repository: str | os.PathLike[str]) -> list[str]:
    """Model folders of ``repository`` that hold at least one version (sorted)."""
    root = Path(repository)
    if not root.is_dir():
        raise FileNotFoundError(f"model repository not found: {root}")
    names = []
    for child in sorted(root.iterdir()):
        try:
            check_model_name(child.name)
        except ValueError:
            continue
        if child.is_dir() and list_versions(child):
            names.append(child.name)
    return names


def docker_run_command(
    repository: Path, config_dir: Path, image: str = TFSERVING_IMAGE, batching: bool = True
) -> str:
    """``docker run`` for tensorflow/serving
    with the repository at /models and configs at /config.
    """
    lines = [
        "docker run --rm -p 8500:8500 -p 8501:8501",
        f"  -v {repository.resolve()}:/models:ro",
        f"  -v {config_dir.resolve()}:/config:ro",
        f"  {image}",
        "  --model_config_file=/config/models.config",
        "  --model_config_file_poll_wait_seconds=60",
        "  --file_system_poll_wait_seconds=30",
        "  --monitoring_config_file=/config/monitoring.config",
    ]
    if batching:
        lines += [
            "  --enable_batching",
            "  --batching_parameters_file=/config/batching_parameters.txt",
        ]
    return " \\\n".join(lines)


def kserve_inference_service(model: str, storage_uri: str, batching: bool = False) -> str:
    """A KServe ``InferenceService`` using the TensorFlow predictor (it runs tensorflow/serving)."""
    text = f"""apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {model.replace("_", "-").replace(".", "-").lower()}
spec:
  predictor:
    minReplicas: 1
    model:
      modelFormat:
        name: tensorflow
      # a folder holding the numbered versions (<repo>/{model}/), e.g. gs://, s3:// or pvc://
      storageUri: {storage_uri}
      resources:
        requests: {{cpu: "1", memory: 1Gi}}
        limits: {{cpu: "2", memory: 2Gi}}
"""
    if batching:
        text += """    batcher:
      maxBatchSize: 32
      maxLatency: 5000
"""
    return text


def write_tfserving_config(
    repository: str | os.PathLike[str],
    output: str | os.PathLike[str],
    models: list[str] | None = None,
    container_path: str = "/models",
    storage_prefix: str | None = None,
    max_batch_size: int = 32,
    batch_timeout_micros: int = 5000,
    num_batch_threads: int = 4,
) -> dict[str, Path]:
    """Write the files for tensorflow_model_server into ``output``; returns ``{kind: path}``."""
    repository = Path(repository)
    found = find_models(repository)
    names = models or found
    for name in names:
        check_model_name(name)
        if name not in found:
            raise FileNotFoundError(f"no versions of model {name!r} under {repository}")
    if not names:
        raise FileNotFoundError(f"no model with a numbered version folder under {repository}")
    specs = [ModelSpec(n, f"{container_path.rstrip('/')}/{n}") for n in names]
    sizes = tuple(s for s in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if s < max_batch_size) + (
        max_batch_size,
    )
    batching = BatchingOptions(
        max_batch_size=max_batch_size,
        batch_timeout_micros=batch_timeout_micros,
        num_batch_threads=num_batch_threads,
        allowed_batch_sizes=sizes,
    )
    out = Path(output)
    written = {
        "models.config": atomic_write_text(out / "models.config", model_config_text(specs)),
        "batching": atomic_write_text(
            out / "batching_parameters.txt", batching_parameters_text(batching)
        ),
        "monitoring": atomic_write_text(out / "monitoring.config", monitoring_config_text()),
    }
    prefix = storage_prefix or f"pvc://model-repository/{repository.name}"
    for name in names:
        written[f"kserve-{name}"] = atomic_write_text(
            out / f"kserve-{name}.yaml",
            kserve_inference_service(name, f"{prefix.rstrip('/')}/{name}"),
        )
    return written
