"""JSON documents and values as TF Serving (``json_tensor.cc``, rapidjson) reads and prints them.

`parse_json` parses a request body the way ``tensorflow_model_server`` does (NaN/Infinity tokens,
numbers past the double range refused, rapidjson's error messages): orjson (C) parses every
ordinary body; what it refuses or could read differently (NaN/Infinity, invalid UTF-8, integers of
19 digits or more, deep nesting, syntax errors) goes to Python's json with the exact handling
below. Before any parser sees a body, `check_json_text` refuses one nested deeper than
``--max_json_depth`` or holding a number literal longer than ``--max_number_chars`` (so neither
parser recurses without bound nor converts a 5,000-digit integer). `may_hold_literals` tells
whether a body can hold ``true``/``false``/``null`` values (which the numeric fast path of
`serving.server.json_tensor` cannot see). `signature_name` reads its
optional ``signature_name``; `json_type` and `value_to_string` name and print a value as TF
Serving's error messages do; `to_bytes` and the ``{"b64": ...}`` helpers turn strings back into
bytes. Tensors are read in `serving.server.json_tensor`, Examples in `serving.server.json_examples`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import numpy as np
import orjson

from dlsuite.serving.server.config import RequestLimits
from dlsuite.serving.server.errors import invalid

FLOAT_MAX = float(np.finfo(np.float32).max)

# Python's json messages -> rapidjson's GetParseError_En (what TF Serving answers).
_PARSE_ERRORS = (
    ("Expecting property name enclosed in double quotes", "Missing a name for object member."),
    ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
    ("Extra data", "The document root must not be followed by other values."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Invalid control character", "Invalid encoding in string."),
)


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"0" * 9)
_LONG_RUN = b"0" * 19
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'[]{}"')  # translate(None, this) keeps those
_NUMBER_AS_ZERO = bytes.maketrans(b"123456789.eE+-", b"0" * 14)


def scan_text(raw: bytes) -> bytes:
    """``raw`` with every digit as ``0``: one C-speed translate that `may_hold_long_integer` and
    `may_hold_long_number` share."""
    return raw.translate(_DIGITS_AS_ZERO)


def may_hold_long_integer(scanned: bytes) -> bool:
    """Whether a body (its `scan_text`) may hold an integer of 19 or more digits, which may not fit
    64 bits and which orjson would make a float. Runs of digits after a ``.`` or before a
    ``.``/``e``/``E`` belong to decimals (a float32 printed in full has such runs) and are not
    counted. A look at each long run; a regular expression took 20x longer."""
    text = scanned
    at = text.find(_LONG_RUN)
    while at >= 0:
        start, end = at, at + len(_LONG_RUN)
        while start and text[start - 1] == 0x30:  # "0": back to the first digit of the run
            start -= 1
        while text[end : end + 1] == b"0":
            end += 1
        if text[start - 1 : start] != b"." and text[end : end + 1] not in (b".", b"e", b"E"):
            return True
        at = text.find(_LONG_RUN, end)
    return False


def may_hold_long_number(scanned: bytes, limits: RequestLimits) -> bool:
    """Whether a body (its `scan_text`) may hold a number literal longer than
    ``--max_number_chars``: such a literal has at most four other characters (``-``, ``.``, ``e``,
    a sign) around at most three runs of digits, so one run is at least a third of the rest long.
    One C-speed search; only a body with such a run pays for `check_json_text`'s exact look."""
    return b"0" * max(1, -(-(limits.max_number_chars - 3) // 3)) in scanned


def _outside_strings(text: bytes) -> bytes:
    """``text`` (a JSON text whose escaped backslashes and quotes are removed, so every ``"``
    opens or closes a string) without what is inside its strings. Two quotes in a row go first
    (one C-speed replace; either side of them stays in or out of a string): of the brackets and
    quotes of a body, most strings (keys) leave only those."""
    text = text.replace(b'""', b"")
    return b"".join(text.split(b'"')[::2]) if b'"' in text else text


def _depth(brackets: bytes) -> int:
    """The deepest nesting of a sequence of brackets and braces (``[`` ``{`` open, ``]`` ``}``
    close): the running sum of +1/-1 steps, in numpy."""
    if not brackets:
        return 0
    steps = (np.frombuffer(brackets, np.uint8) & 2).astype(np.int32) - 1  # [ { -> 1, ] } -> -1
    return int(steps.cumsum().max())


def check_json_text(raw: bytes, limits: RequestLimits, scanned: bytes | None = None) -> None:
    """Refuse a JSON text, before it is parsed, that is nested more than ``--max_json_depth``
    arrays and objects deep or holds a number literal of more than ``--max_number_chars``
    characters (INVALID_ARGUMENT naming the flag). ``scanned`` is ``raw``'s `scan_text` when the
    caller has it.

    Cost: one C-speed translate keeping the brackets and quotes (then, only when there are more
    than the depth limit, the strings' brackets cut out and the running depth summed in numpy:
    about 30 us for 25 KB of nested arrays) and a search for a long run of digits in ``scanned``
    (only a body with such a run has its number literals measured).
    """
    if b"\\" in raw:  # escaped backslashes and quotes out, so every quote left delimits a string
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = raw.translate(None, _NOT_STRUCTURE)
    if len(structure) > limits.max_json_depth:
        depth = _depth(_outside_strings(structure))
        if depth > limits.max_json_depth:
            raise invalid(
                f"JSON Parse error: the body is nested {depth} arrays and objects deep, more "
                f"than --max_json_depth={limits.max_json_depth}"
            )
    if may_hold_long_number(scan_text(raw) if scanned is None else scanned, limits):
        outside = _outside_strings(raw)
        numbers = outside.translate(_NUMBER_AS_ZERO)
        at = numbers.find(b"0" * (limits.max_number_chars + 1))
        if at >= 0:
            end = at
            while numbers[end : end + 1] == b"0":
                end += 1
            raise invalid(
                f"JSON Parse error: a number of {end - at} characters "
                f"({outside[at : at + 20].decode('ascii', 'replace')}...), more than "
                f"--max_number_chars={limits.max_number_chars}"
            )


def may_hold_literals(raw: bytes) -> bool:
    """Whether ``raw`` may hold a ``true``, ``false`` or ``null`` (it has one of the words)."""
    return b"true" in raw or b"false" in raw or b"null" in raw


def parse_json(raw: bytes, limits: RequestLimits) -> dict:
    """``ParseJson``: the body as a JSON object, or TF Serving's INVALID_ARGUMENT.

    `check_json_text` first: the body's depth and number literals within ``limits``.
    Invalid UTF-8 inside strings is kept byte for byte (rapidjson does not validate encodings):
    such strings carry surrogate escapes that `to_bytes` turns back into the original bytes.
    """
    scanned = scan_text(raw)
    check_json_text(raw, limits, scanned)
    if raw and not may_hold_long_integer(scanned):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # read again below, for the exact answer
        else:
            if isinstance(doc, dict):
                return doc
    if not raw:
        raise invalid("JSON Parse error: The document is empty")
    text = raw.decode("utf-8", "surrogateescape")
    if not text.strip(" \t\r\n"):
        raise invalid(f"JSON Parse error: The document is empty. at offset: {len(raw)}")
    try:
        doc = json.loads(text, parse_float=_parse_float)
    except json.JSONDecodeError as err:
        offset = len(text[: err.pos].encode("utf-8", "surrogateescape"))
        raise invalid(
            f"JSON Parse error: {_rapidjson_message(err, text)} at offset: {offset}"
        ) from None
    except _NumberTooBig as err:
        offset = len(text[: max(text.find(err.literal), 0)].encode("utf-8", "surrogateescape"))
        raise invalid(
            f"JSON Parse error: Number too big to be stored in double. at offset: {offset}"
        ) from None
    except RecursionError:  # only with a --max_json_depth above Python's recursion limit
        raise invalid(
            "JSON Parse error: Terminate parsing due to Handler error. at offset: 0"
        ) from None
    except ValueError:  # an integer past Python's digit limit (a --max_number_chars above it)
        raise invalid("JSON Parse error: Number too big to be stored in double.") from None
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {value_to_string(doc)} Is not object")
    return doc


class _NumberTooBig(Exception):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def _parse_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):  # 1e999: rapidjson refuses it, Python would make it inf
        raise _NumberTooBig(literal)
    return value


def _rapidjson_message(err: json.JSONDecodeError, text: str) -> str:
    for python, rapidjson in _PARSE_ERRORS:
        if err.msg.startswith(python):
            return rapidjson
    if err.msg.startswith("Expecting ',' delimiter"):
        return (
            "Missing a comma or '}' after an object member."
            if _innermost_open(text, err.pos) == "{"
            else "Missing a comma or ']' after an array element."
        )
    return "Invalid value."


def _innermost_open(text: str, pos: int) -> str:
    """``{`` or ``[``: the innermost container still open at ``pos`` (strings skipped)."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else "["


def json_type(value: Any) -> str:
    """rapidjson's type name of a decoded value (``JsonTypeString``)."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def as_double(value: int | float) -> float:
    """A JSON number as the double rapidjson reads it; an integer past a double's range is
    rapidjson's parse error (Python's parser reads any integer)."""
    try:
        return float(value)
    except OverflowError:
        raise invalid("JSON Parse error: Number too big to be stored in double.") from None


def value_to_string(value: Any) -> str:
    """``JsonValueToString``: a value as TF Serving prints it in error messages.

    Decimals go through ``WriteDecimal`` (as float when they fit one, as rapidjson's ``IsFloat``);
    everything else is pretty-printed with 4-space indents like rapidjson's ``PrettyWriter``.
    """
    from dlsuite.serving.server.tensors import format_decimals

    if isinstance(value, float) or (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not -(1 << 63) <= value < (1 << 64)
    ):
        value = as_double(value)
        as_float = -FLOAT_MAX <= value <= FLOAT_MAX
        return format_decimals(np.array([value], np.float32 if as_float else np.float64))[0]
    return json.dumps(value, indent=4, ensure_ascii=False)


def to_bytes(text: str) -> bytes:
    """A JSON string (request value or response body) as its bytes: UTF-8, with bytes that were not
    UTF-8 when they came in (kept as surrogates) written back unchanged. A lone surrogate escape
    (``"\\ud800"``) has no bytes: refused as rapidjson refuses it."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise invalid("JSON Parse error: The surrogate pair in string is invalid.") from None


def is_b64(value: Any) -> bool:
    """``IsValBase64Object``: ``{"b64": <string>}`` and nothing else."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def decode_b64(value: Any) -> bytes:
    """``JsonDecodeBase64Object`` (padding optional, as in ``absl::Base64Unescape``)."""
    if not is_b64(value):
        raise invalid(
            f"JSON Value: {value_to_string(value)} not formatted correctly for base64 data"
        )
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Unable to base64 decode") from None


def nonempty_list(doc: dict, key: str, not_a_list: str, empty: str) -> list:
    """``doc[key]`` when it is a non-empty list; else INVALID_ARGUMENT ``JSON Value: <doc> ...``
    with TF Serving's message for that key, ``not_a_list`` or ``empty``."""
    value = doc[key]
    if not isinstance(value, list):
        raise invalid(f"JSON Value: {value_to_string(doc)} {not_a_list}")
    if not value:
        raise invalid(f"JSON Value: {value_to_string(doc)} {empty}")
    return value


def signature_name(doc: dict) -> str:
    """``FillSignature``: the optional ``signature_name`` ('' when absent)."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid(
            f"JSON Value: {value_to_string(doc)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name
