"""Offline speech synthesis with eSpeak NG
(the ``espeakng-loader`` wheel ships the library and voices).

The library is driven through ctypes in synchronous mode: `espeak_Initialize`, a synth callback that
collects int16 samples, `espeak_SetVoiceByName` (variants such as ``en+f2``), and the rate and
pitch parameters. Output is mono int16 at the library's sample rate (22,050 Hz). The library keeps
global state, so calls are serialized by a lock.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_AUTO = 0
_RATE, _PITCH = 1, 3
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def _library() -> tuple[Any, int]:
    """The initialized library and its sample rate (initialized once per process)."""
    if "lib" not in _STATE:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed with {rate} (data path {data_path!r})")
        chunks: list[np.ndarray] = []

        def collect(wav: Any, count: int, _events: Any) -> int:
            if count > 0 and wav:
                chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        callback = _CALLBACK(collect)
        lib.espeak_SetSynthCallback(callback)
        # Keep the callback alive.
        _STATE.update(lib=lib, rate=rate, chunks=chunks, callback=callback)
    return _STATE["lib"], _STATE["rate"]


def sample_rate() -> int:
    """eSpeak NG's output sample rate in Hz."""
    return _library()[1]


def synthesize(text: str, voice: str = "en", rate: int = 175, pitch: int = 50) -> np.ndarray:
    """Speak ``text``; returns int16 samples at `sample_rate()`.

    Args:
        text: what to say.
        voice: an eSpeak voice name with an optional variant, e.g. ``"en-us"``, ``"en+f2"``.
        rate: words per minute (80-450).
        pitch: base pitch 0-100.
    """
    if not 80 <= rate <= 450:
        raise ValueError(f"rate expected words per minute in [80, 450]. Received: rate={rate}")
    if not 0 <= pitch <= 100:
        raise ValueError(f"pitch expected a value in [0, 100]. Received: pitch={pitch}")
    with _LOCK:
        lib, _ = _library()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        lib.espeak_SetParameter(_RATE, int(rate), 0)
        lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        chunks = _STATE["chunks"]
        chunks.clear()
        data = text.encode() + b"\0"
        status = lib.espeak_Synth(
            data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_AUTO, None, None
        )
        lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        chunks.clear()
    return samples.astype(np.int16)
