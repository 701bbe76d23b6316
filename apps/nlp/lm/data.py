"""Language-model data (``--task lm``): plain-text corpora, split by document and cut into
training windows; ``load_splits(config)`` and `load_language_model_data`.

Sources (``--data``):

* ``builtin:pydocs`` — English prose that ships with Python: the documentation strings of a fixed
  list of standard-library modules (`PYDOCS_MODULES`) and of their public classes, functions and
  methods, read from the module sources with `ast` (C modules: their built-ins' ``__doc__``), in
  a fixed order. Each distinct docstring of at least `MIN_WORDS` words is one document (exact
  duplicates are kept once).
* ``file:<path>`` — one UTF-8 text file; paragraphs (separated by blank lines) are the documents.
* ``dir:<path>`` — every ``.txt`` file under a folder (sorted, recursive) is one document.

Documents go to train/validation/test by a seeded hash of their text (`split_documents`), so a
held-out document never shares text with a training document, and adding documents to a corpus
does not move the others. The tokenizer (`apps.nlp.tokenizers`) is trained on the training
documents only. Each split becomes one token stream ``[START] doc [END] [START] doc [END] ...``
cut into non-overlapping windows of ``sequence_length + 1`` tokens: inputs are the first
``sequence_length`` tokens, targets the same shifted by one, so every token of a split is
predicted exactly once per pass.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from dlsuite.apps.common.data import Splits, source_fingerprint
from dlsuite.apps.nlp.config import NLPConfig
from dlsuite.apps.nlp.sources import parse_text_source

BUILTIN = ("pydocs",)
MIN_WORDS = 8
# Fixed, ordered list: the corpus depends only on the Python version. Not `sys`: tools replace its
# hooks at run time (pytest sets sys.unraisablehook), which would change the corpus.
PYDOCS_MODULES: tuple[str, ...] = (
    "abc",
    "argparse",
    "array",
    "ast",
    "asyncio",
    "base64",
    "bisect",
    "builtins",
    "bz2",
    "calendar",
    "cmath",
    "codecs",
    "collections",
    "collections.abc",
    "colorsys",
    "concurrent.futures",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "dis",
    "doctest",
    "email",
    "email.message",
    "email.utils",
    "enum",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "html.parser",
    "http",
    "http.client",
    "http.cookies",
    "http.server",
    "imaplib",
    "importlib",
    "importlib.metadata",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "linecache",
    "locale",
    "logging",
    "logging.handlers",
    "lzma",
    "mailbox",
    "math",
    "mimetypes",
    "multiprocessing",
    "netrc",
    "numbers",
    "operator",
    "optparse",
    "os",
    "os.path",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "pprint",
    "profile",
    "pstats",
    "py_compile",
    "queue",
    "quopri",
    "random",
    "re",
    "reprlib",
    "sched",
    "secrets",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "smtplib",
    "socket",
    "socketserver",
    "sqlite3",
    "ssl",
    "stat",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "symtable",
    "sysconfig",
    "tabnanny",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "unittest.mock",
    "urllib.parse",
    "urllib.request",
    "uuid",
    "warnings",
    "wave",
    "weakref",
    "xml.dom.minidom",
    "xml.etree.ElementTree",
    "xml.sax",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
)


@dataclasses.dataclass
class LanguageModelData:
    """The LM splits (windows of token ids) plus what training, evaluation and export need."""

    splits: Splits  # (inputs int32 (T,), targets int32 (T,)) windows
    tokenizer: Any  # apps.nlp.tokenizers.Tokenizer trained on the training documents
    documents: dict[str, list[str]]  # split -> document texts
    unigram_counts: Any  # int64 (V,) token counts of the training stream


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _source_docstrings(path: Path) -> list[str | None]:
    """Docstrings of a module's source: the module, its public classes and functions,
    their public methods.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = [ast.get_docstring(tree)]
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in tree.body:
        if isinstance(node, definitions) and not node.name.startswith("_"):
            docs.append(ast.get_docstring(node))
            if isinstance(node, ast.ClassDef):
                docs += [
                    ast.get_docstring(item)
                    for item in node.body
                    if isinstance(item, definitions[:2]) and _public(item.name)
                ]
    return docs


def _compiled_docstrings(module: Any) -> list[str | None]:
    """Docstrings of a C module: the module, its public classes and functions,
    their public members.
    """
    docs = [module.__doc__]
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isbuiltin(obj):
            docs.append(obj.__doc__)
        if inspect.isclass(obj):
            docs += [
                member.__doc__
                for member_name, member in sorted(vars(obj).items())
                if _public(member_name) and callable(member)
            ]
    return docs


def pydocs_documents() -> list[str]:
    """The distinct docstrings of `PYDOCS_MODULES` and their public members, in a fixed order.

    Modules written in Python are read from their source files (`ast`), so the text does not
    depend on what else the process imported (a library may rewrite a stdlib function's
    ``__doc__`` at import time); C modules give the read-only docstrings of their built-ins.
    """
    seen: dict[str, None] = {}
    for module_name in PYDOCS_MODULES:
        module = importlib.import_module(module_name)
        origin = getattr(module.__spec__, "origin", None) or ""
        docs = (
            _source_docstrings(Path(origin))
            if origin.endswith(".py")
            else _compiled_docstrings(module)
        )
        for doc in docs:
            if isinstance(doc, str) and len(doc.split()) >= MIN_WORDS:
                seen.setdefault(inspect.cleandoc(doc).strip(), None)
    return list(seen)


def read_documents(kind: str, name: str) -> tuple[list[str], str | None]:
    """``(documents, version)`` of a ``builtin:``, ``file:`` or ``dir:`` text source
    (version: builtin only).
    """
    if kind == "builtin":
        if name not in BUILTIN:
            raise ValueError(f"unknown builtin text corpus {name!r}; known: {BUILTIN}")
        version = (
            f"Python {sys.version.split()[0]} standard-library docstrings "
            f"({len(PYDOCS_MODULES)} modules)"
        )
        return pydocs_documents(), version
    path = Path(name)
    if kind == "file":
        if not path.is_file():
            raise FileNotFoundError(f"text file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        documents = [" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n")]
    elif kind == "dir":
        if not path.is_dir():
            raise FileNotFoundError(f"text folder {path} does not exist")
        documents = [p.read_text(encoding="utf-8") for p in sorted(path.rglob("*.txt"))]
    else:
        raise ValueError(
            f"the language model reads builtin:pydocs, file:<text file> or dir:<folder of .txt>. "
            f"Received: {kind}:{name}"
        )
    documents = list(dict.fromkeys(d.strip() for d in documents if d.strip()))
    if not documents:
        raise ValueError(f"{kind}:{name} contains no text")
    return documents, None


def split_documents(
    documents: list[str], validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Distinct documents -> train/validation/test by a seeded SHA-256 of each text (order kept)."""
    parts: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    for document in dict.fromkeys(documents):
        digest = hashlib.sha256(f"{seed}\0{document}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2.0**64  # uniform in [0, 1)
        split = (
            "test"
            if u < test_fraction
            else "validation"
            if u < test_fraction + validation_fraction
            else "train"
        )
        parts[split].append(document)
    for split in ("validation", "test"):  # a tiny corpus still gets one held-out document per split
        if not parts[split] and len(parts["train"]) > 2:
            parts[split].append(parts["train"].pop())
    empty = [k for k, v in parts.items() if not v]
    if empty:
        raise ValueError(
            f"{len(documents)} documents are too few to split into train/validation/test "
            f"(empty: {empty})"
        )
    return parts


def token_stream(tokenizer: Any, documents: list[str], batch_size: int = 512) -> Any:
    """int32 ``[START] doc [END]`` ids of every document, concatenated."""
    import numpy as np
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import END_ID, START_ID

    pieces = []
    for start in range(0, len(documents), batch_size):
        ids = tokenizer.tokenize(
            tf.constant(documents[start : start + batch_size])
        )  # (B, None) ragged
        for row in ids.to_list():
            pieces.append(np.asarray([START_ID, *row, END_ID], np.int32))
    return np.concatenate(pieces) if pieces else np.zeros([0], np.int32)


def windows(stream: Any, sequence_length: int) -> tuple[Any, Any]:
    """Non-overlapping ``(inputs, targets)`` int32 ``(W, T)`` windows;
    the incomplete tail is dropped.
    """
    count = (len(stream) - 1) // sequence_length
    if count < 1:
        raise ValueError(
            f"a split of {len(stream)} tokens is shorter than one window of "
            f"sequence_length + 1 = {sequence_length + 1} tokens"
        )
    inputs = stream[: count * sequence_length].reshape(count, sequence_length)
    targets = stream[1 : count * sequence_length + 1].reshape(count, sequence_length)
    return inputs, targets


def load_language_model_data(config: NLPConfig, tokenizer: Any = None) -> LanguageModelData:
    """Documents of ``config.data``, split, tokenized
    (a new tokenizer unless given) and windowed.
    """
    import numpy as np
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import train_tokenizer

    spec = parse_text_source(config.data)
    documents, version = read_documents(spec.kind, spec.name)
    parts = split_documents(
        documents, config.validation_fraction, config.test_fraction, config.split_seed
    )
    if tokenizer is None:
        tokenizer = train_tokenizer(
            config.tokenizer, parts["train"], config.vocab_size, None, config.lowercase
        )
    how = f"documents split by a seeded SHA-256 of their text (split_seed={config.split_seed})"
    if spec.kind == "builtin":
        fingerprint = source_fingerprint(
            "builtin",
            spec.name,
            generator_version=version,
            arrays=(np.array(documents, dtype=str),),
        )
    else:
        fingerprint = source_fingerprint(spec.kind, spec.name, how=how)
    data, sizes, tokens = {}, {}, {}
    counts = None
    for split, texts in parts.items():
        stream = token_stream(tokenizer, texts)
        if split == "train":
            counts = np.bincount(stream, minlength=tokenizer.vocabulary_size()).astype(np.int64)
        inputs, targets = windows(stream, config.sequence_length)
        data[split] = tf.data.Dataset.from_tensor_slices((inputs, targets))
        sizes[split], tokens[split] = len(inputs), int(inputs.size)
    info = {
        "source": config.data,
        "kind": spec.kind,
        "name": spec.name,
        "version": version,
        "documents": {k: len(v) for k, v in parts.items()},
        "tokens": tokens,
        "vocabulary_size": tokenizer.vocabulary_size(),
        "fingerprint": fingerprint,
        "preprocessing": (
            f"{how}; "
            f"{config.tokenizer} tokenizer trained on the training documents "
            f"(lowercase={config.lowercase}); "
            "[START] doc [END] streams cut into non-overlapping "
            f"windows of {config.sequence_length} + 1 tokens"
        ),
    }
    splits = Splits(
        train=data["train"],
        validation=data["validation"],
        test=data["test"],
        class_names=[],
        input_shape=(config.sequence_length,),
        input_dtype="int32",
        sizes=sizes,
        info=info,
    )
    return LanguageModelData(
        splits=splits, tokenizer=tokenizer, documents=parts, unigram_counts=counts
    )


def load_splits(config: NLPConfig) -> Splits:
    """Train/validation/test ``(inputs, targets)`` windows of ``config.data``
    (a new tokenizer learned on the training documents).
    """
    return load_language_model_data(config).splits
