"""Argument checks and shape arithmetic shared by the layers of `core_layers` (private)."""


def check_positive_int(**arguments):
    """Raises `ValueError` unless every keyword argument is a positive int (bools rejected)."""
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` expected a positive integer. Received: {name}={value!r}")


def conv_output_length(length, strides):
    """Length of a "same"-padded convolution's output; `None` (unknown) stays `None`."""
    if length is None:
        return None
    return (length + strides - 1) // strides
