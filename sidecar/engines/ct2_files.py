"""Checks a CTranslate2 model directory before CTranslate2 reads it.

CTranslate2 reports a damaged model.bin in words that name neither the file nor what is wrong
with it: "Variable 'decoder/projection/weight' has an invalid payload size" for a truncated
file, "Cannot load the target vocabulary from the model directory" for one overwritten with
zeros, and an IndexError (which reached clients as INTERNAL) for the same file in a translation
model. So every family that loads a CTranslate2 directory (Whisper, translation) checks it here
first: model.bin is walked as CTranslate2 reads it (the header, then each variable's name,
shape, type and payload size, then the aliases) without reading the weights, and the JSON files
beside it must parse. Damage is a ModelUnavailableError that names the file and the check that
failed.

Weights overwritten in place (same size, valid header) pass: only a checksum catches those, and
local model directories carry none (the embedded Whisper models are hashed in whisper_models).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import struct

from sidecar.errors import ModelUnavailableError

MODEL_FILE = "model.bin"
MAX_BINARY_VERSION = 6  # what CTranslate2 4.x writes and reads
MAX_RANK = 8  # CTranslate2's variables have at most 4 dimensions; more is not a model.bin
# CTranslate2's DataType ids (include/ctranslate2/types.h): float32, int8, int16, int32, float16, bfloat16.
_DTYPES = (("float32", 4), ("int8", 1), ("int16", 2), ("int32", 4), ("float16", 2), ("bfloat16", 2))
_OLD_ITEM_SIZES = (1, 2, 4)  # binary versions before 4 store an item size instead of a type


class _Damaged(Exception):
    """What is wrong with the file, in words that follow "FILE is damaged: "."""


class _Reader:
    def __init__(self, file, size: int) -> None:
        self.file = file
        self.size = size

    @property
    def position(self) -> int:
        return self.file.tell()

    def take(self, count: int, what: str) -> bytes:
        at = self.position
        data = self.file.read(count)
        if len(data) < count:
            raise _Damaged(f"it ends at byte {self.size}, inside {what} (byte {at}, {count} bytes): it is truncated")
        return data

    def number(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def text(self, what: str) -> str:
        length = self.number("H", f"the length of {what}")
        raw = self.take(length, what)
        if not raw.endswith(b"\0") or b"\0" in raw[:-1]:
            raise _Damaged(f"{what} at byte {self.position - length} is not a terminated name: the file is garbled")
        try:
            name = raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise _Damaged(f"{what} at byte {self.position - length} is not text: the file is garbled") from None
        if not name.isprintable():
            raise _Damaged(f"{what} at byte {self.position - length} is not a name: the file is garbled")
        return name

    def skip(self, count: int, what: str) -> None:
        at = self.position
        if at + count > self.size:
            raise _Damaged(
                f"it ends at byte {self.size}, inside {what} ({count} bytes from byte {at}): it is truncated"
            )
        self.file.seek(count, os.SEEK_CUR)


def _walk(reader: _Reader) -> None:
    """Reads model.bin's records as CTranslate2's Model::load does, skipping the weights."""
    if reader.size == 0:
        raise _Damaged("it is empty (0 bytes)")
    version = reader.number("I", "the header")
    if not 1 <= version <= MAX_BINARY_VERSION:
        raise _Damaged(
            f"its header says binary version {version}, and CTranslate2 model files are versions 1 to "
            f"{MAX_BINARY_VERSION}: it is not a model file, or its start was overwritten"
        )
    if version >= 2:
        reader.text("the model type")
        reader.number("I", "the specification revision")
    count = reader.number("I", "the variable count")
    for index in range(count):
        name = reader.text(f"the name of variable {index + 1} of {count}")
        rank = reader.number("B", f"the rank of {name!r}")
        if rank > MAX_RANK:
            raise _Damaged(f"variable {name!r} claims {rank} dimensions: the file is garbled")
        shape = [reader.number("I", f"the shape of {name!r}") for _ in range(rank)]
        if version >= 4:
            type_id = reader.number("B", f"the type of {name!r}")
            if type_id >= len(_DTYPES):
                raise _Damaged(f"variable {name!r} has type {type_id}, not a CTranslate2 type: the file is garbled")
            dtype, item_size = _DTYPES[type_id]
            size = reader.number("I", f"the size of {name!r}")
        else:
            item_size = reader.number("B", f"the item size of {name!r}")
            if item_size not in _OLD_ITEM_SIZES:
                raise _Damaged(f"variable {name!r} has items of {item_size} bytes: the file is garbled")
            dtype, size = f"{item_size}-byte items", reader.number("I", f"the size of {name!r}") * item_size
        expected = math.prod(shape) * item_size
        if size != expected:
            raise _Damaged(
                f"variable {name!r} declares {size} bytes, but its shape {tuple(shape)} of {dtype} needs "
                f"{expected}: the file is garbled"
            )
        reader.skip(size, f"the weights of {name!r}")
    if version >= 3:
        aliases = reader.number("I", "the alias count")
        for index in range(aliases):
            reader.text(f"alias {index + 1} of {aliases}")
            reader.text(f"the variable alias {index + 1} of {aliases} names")
    # Bytes after the last record are left alone, as CTranslate2 leaves them: the model is whole.


def check_model_dir(directory: str | os.PathLike, what: str) -> None:
    """Raises ModelUnavailableError naming the damaged file when `directory`'s model.bin is not
    whole or a JSON file beside it does not parse; `what` names the model ("Whisper model 'x'")."""
    directory = pathlib.Path(directory)
    path = directory / MODEL_FILE
    try:
        with open(path, "rb") as file:
            _walk(_Reader(file, os.fstat(file.fileno()).st_size))
        for path in sorted(directory.glob("*.json")):
            try:
                json.loads(path.read_bytes())
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                raise _Damaged(f"it is not valid JSON ({exc})") from None
    except _Damaged as damage:
        raise ModelUnavailableError(f"{what}: {path} is damaged: {damage}; reinstall or re-convert the model") from None
    except OSError as exc:
        raise ModelUnavailableError(f"{what}: {path} cannot be read: {exc.strerror or exc}") from None
