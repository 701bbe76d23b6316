"""A model server that speaks TF Serving's REST and gRPC APIs over a model repository.

``config`` parses tensorflow_model_server's flags and text-format config files, ``manager`` loads
and unloads versions, ``inference`` runs Predict/Classify/Regress on a loaded version,
``tensors`` converts JSON and TensorProto to numpy, ``rest`` and ``grpc_service`` are the two
front ends, ``batching`` merges concurrent requests and ``metrics`` exports Prometheus metrics.
"""
