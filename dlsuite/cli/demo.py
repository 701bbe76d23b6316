"""`make demo`: the suite end to end on offline data, with the same commands a user types.

1. ``dlsuite train vision --model lenet5 --data builtin:digits`` (LeNet-5 on real handwritten
   digits; prints the held-out evaluation),
2. ``dlsuite export RUN --name digits --manifest-info docs/manifest_example.yaml`` (versioned
   SavedModel with signatures, warmup requests and the compliance manifest),
3. ``dlsuite convert saved_models/digits/<v> --quantize int8 --min-agreement 0.99`` (self-checked
   TFLite model for phones),
4. ``dlsuite serve`` on the new version, one REST and one gRPC predict request with a held-out
   image, then the server is stopped.
"""

from __future__ import annotations

from pathlib import Path

from dlsuite import cli
from dlsuite.apps.common.runs import splits_for_run
from dlsuite.serving.repository import list_versions
from dlsuite.serving.server.demo import serve_and_query

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str]) -> None:
    print(f"\n$ dlsuite {' '.join(argv)}", flush=True)
    code = cli.main(argv)
    if code:
        raise SystemExit(code)


def newest_run(run_root: Path) -> Path:
    runs = sorted(p for p in (run_root / "vision").iterdir() if (p / "metrics.json").is_file())
    return runs[-1]


def main(run_root: str = "runs", model_base_path: str = "saved_models") -> None:
    root = Path(run_root)
    run(
        [
            "train",
            "vision",
            "--model",
            "lenet5",
            "--data",
            "builtin:digits",
            "--run-root",
            run_root,
            "--verbose",
            "2",
        ]
    )
    run_dir = newest_run(root)
    run(
        [
            "export",
            str(run_dir),
            "--name",
            "digits",
            "--model-base-path",
            model_base_path,
            "--manifest-info",
            str(ROOT / "docs" / "manifest_example.yaml"),
        ]
    )

    version_dir = (
        Path(model_base_path) / "digits" / str(list_versions(Path(model_base_path) / "digits")[-1])
    )
    run(["manifest", "verify", str(version_dir)])
    run(
        [
            "convert",
            str(version_dir),
            "--quantize",
            "int8",
            "--run",
            str(run_dir),
            "--min-agreement",
            "0.99",
        ]
    )

    image, label = next(iter(splits_for_run(run_dir).test))
    model_path = (Path(model_base_path) / "digits").resolve()
    print(
        f"\n$ dlsuite serve --model_name digits --model_base_path {model_path}"
        f"  (then one held-out image, true label {int(label)})",
        flush=True,
    )
    serve_and_query(
        model_path, "digits", instances=[image.numpy().round().tolist()], signature="predict_images"
    )


if __name__ == "__main__":
    main()
