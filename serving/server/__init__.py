"""A model server that speaks TF Serving's REST and gRPC APIs over a model repository.

``app`` runs the server, ``config`` turns tensorflow_model_server's flags into options and parses
its text-format config files, ``manager`` loads and unloads versions, ``inference`` runs
Predict/Classify/Regress on a loaded version, ``tensors`` converts JSON and TensorProto to numpy,
``rest`` and ``grpc_service`` are the two front ends, ``batching`` merges concurrent requests and
``metrics`` exports Prometheus metrics. The ``dlsuite serve`` command (`dlsuite.cli.serve`) parses
the flags.
"""
