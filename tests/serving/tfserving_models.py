"""TF Serving's own test models, recreated at test time the way TF Serving makes them.

TF Serving's ``tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two.py``
writes its golden SavedModels with TF1 APIs: a graph and a session, reference variables, a
``tf_example`` placeholder of serialized ``tf.Example``s parsed by ``ParseExample``, and a
``SavedModelBuilder``. Its repository lays them out as ``saved_model_half_plus_two_2_versions/
{00000123,00000124}`` and ``saved_model_half_plus_three/00000123``: zero-padded version folders.

`write_half_plus_tf1(export_dir, b, c)` writes the same graph (y = a*x + b, y2 = a*x + c,
y3 = a2*x2 + c2 with a = a2 = 0.5, c2 = 3) with the same signatures:

* ``serving_default`` (predict): ``x`` float32 [-1, 1] (the parsed feature, fed directly) -> ``y``
* ``classify_x_to_y`` (classify): ``inputs`` = ``tf_example`` string [-1] -> ``scores`` = y
* ``regress_x_to_y``, ``regress_x_to_y2`` (regress): ``inputs`` = ``tf_example`` -> ``outputs``
* ``regress_x2_to_y3`` (regress): ``inputs`` = ``x2`` float32 [-1, 1] -> ``outputs`` = y3
* ``classify_x2_to_y3`` (classify): ``inputs`` = ``x2`` float32 [-1, 1] -> ``scores`` = y3

and an asset file (``assets/foo.txt``) assigned by the main op, as TF Serving's script does.
`write_repository` lays out the two repositories with their zero-padded names.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def write_half_plus_tf1(export_dir: str | Path, b: float = 2.0, c: float = 3.0) -> Path:
    """Write TF Serving's ``half_plus_two`` graph (with ``b`` and ``c``) as a TF1 SavedModel."""
    import tensorflow as tf

    v1 = tf.compat.v1
    export_dir = Path(export_dir)
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        a = v1.Variable(0.5, name="a", use_resource=False)
        b_var = v1.Variable(float(b), name="b", use_resource=False)
        c_var = v1.Variable(float(c), name="c", use_resource=False)
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")  # (N,)
        features = v1.parse_example(
            serialized,
            {
                "x": v1.FixedLenFeature([1], dtype=tf.float32),
                "x2": v1.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0]),
            },
        )
        x = tf.identity(features["x"], name="x")  # (N, 1)
        y = tf.identity(tf.add(tf.multiply(a, x), b_var), name="y")
        y2 = tf.identity(tf.add(tf.multiply(a, x), c_var), name="y2")
        x2 = tf.identity(features["x2"], name="x2")
        a2 = v1.Variable(0.5, name="a2", use_resource=False)
        c2 = v1.Variable(3.0, name="c2", use_resource=False)
        y3 = tf.identity(tf.add(tf.multiply(a2, x2), c2), name="y3")

        # An asset, as TF Serving's script writes one, assigned to a variable by the main op.
        asset_source = Path(tempfile.mkdtemp(prefix="half_plus_assets-")) / "foo.txt"
        asset_source.write_text("asset-file-contents")
        asset_path = tf.constant(str(asset_source))
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, asset_path)
        filename = v1.Variable(
            "foo.txt", name="filename_tensor", trainable=False, collections=[], use_resource=False
        )
        assign_filename = filename.assign("foo.txt")

        info = v1.saved_model.utils.build_tensor_info
        consts = v1.saved_model.signature_constants

        def signature(inputs: dict, outputs: dict, method: str):
            return v1.saved_model.signature_def_utils.build_signature_def(
                {k: info(t) for k, t in inputs.items()},
                {k: info(t) for k, t in outputs.items()},
                method,
            )

        signatures = {
            consts.DEFAULT_SERVING_SIGNATURE_DEF_KEY: signature(
                {"x": x}, {"y": y}, consts.PREDICT_METHOD_NAME
            ),
            "classify_x_to_y": signature(
                {consts.CLASSIFY_INPUTS: serialized},
                {consts.CLASSIFY_OUTPUT_SCORES: y},
                consts.CLASSIFY_METHOD_NAME,
            ),
            "regress_x_to_y": signature(
                {consts.REGRESS_INPUTS: serialized},
                {consts.REGRESS_OUTPUTS: y},
                consts.REGRESS_METHOD_NAME,
            ),
            "regress_x_to_y2": signature(
                {consts.REGRESS_INPUTS: serialized},
                {consts.REGRESS_OUTPUTS: y2},
                consts.REGRESS_METHOD_NAME,
            ),
            "regress_x2_to_y3": signature(
                {consts.REGRESS_INPUTS: x2},
                {consts.REGRESS_OUTPUTS: y3},
                consts.REGRESS_METHOD_NAME,
            ),
            "classify_x2_to_y3": signature(
                {consts.CLASSIFY_INPUTS: x2},
                {consts.CLASSIFY_OUTPUT_SCORES: y3},
                consts.CLASSIFY_METHOD_NAME,
            ),
        }
        sess.run(v1.global_variables_initializer())
        builder = v1.saved_model.builder.SavedModelBuilder(str(export_dir))
        builder.add_meta_graph_and_variables(
            sess,
            [v1.saved_model.tag_constants.SERVING],
            signature_def_map=signatures,
            assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
            main_op=tf.group(assign_filename),
        )
        builder.save()
    shutil.rmtree(asset_source.parent, ignore_errors=True)
    return export_dir


def write_repository(root: str | Path) -> dict[str, Path]:
    """TF Serving's two test repositories under ``root``, with their zero-padded version folders.

    Returns ``{"half_plus_two": root/saved_model_half_plus_two_2_versions,
    "half_plus_three": root/saved_model_half_plus_three}``; the first holds versions 123 and
    124 (both y = x/2 + 2), the second version 123 (y = x/2 + 3, y2 = x/2 + 4).
    """
    root = Path(root)
    two = root / "saved_model_half_plus_two_2_versions"
    three = root / "saved_model_half_plus_three"
    for version in ("00000123", "00000124"):
        write_half_plus_tf1(two / version, b=2.0, c=3.0)
    write_half_plus_tf1(three / "00000123", b=3.0, c=4.0)
    return {"half_plus_two": two, "half_plus_three": three}
