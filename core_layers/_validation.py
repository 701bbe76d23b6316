"""Shape checks and arithmetic shared by the layers of `core_layers` (private).

Argument checks common to every package live in `dlsuite.base.validation`.
"""


def check_batch_norm(momentum, epsilon):
    """Raises `ValueError` unless `momentum` is in [0, 1) and `epsilon` is positive."""
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"`momentum` expected a float in [0, 1). Received: momentum={momentum}")
    if not epsilon > 0:
        raise ValueError(f"`epsilon` expected a positive float. Received: epsilon={epsilon}")


def conv_output_length(length, strides):
    """Length of a "same"-padded convolution's output; `None` (unknown) stays `None`."""
    if length is None:
        return None
    return (length + strides - 1) // strides


def check_4d_input(layer, input_shape):
    """Raises `ValueError` unless `input_shape` is (batch, height, width, channels)."""
    if len(input_shape) != 4:
        raise ValueError(
            f"{layer.__class__.__name__} expected a 4D input (batch, height, width, channels)."
            f" Received: input_shape={input_shape}"
        )
