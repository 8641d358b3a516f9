"""Saved voices and enrolled speakers: arrays computed or kept from reference audio, on disk.

A voice is a model's conditioning computed once from reference audio, in the voices directory
(ServerConfig.voices_dir, or `voices/` in the sidecar's cache directory); an enrolled speaker
is a person's reference audio, kept so that diarization can name their turns with any model,
in `speakers/` beside it. Each is one `<id>.npz` holding the arrays and a JSON record. Files
are written to a temporary name and linked into place, so one appears whole or not at all and
two creations of the same id cannot both succeed. Loading never unpickles.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import re
import secrets
import time
import zipfile

import numpy as np

from sidecar.errors import InvalidOptionsError, ModelNotFoundError, ModelUnavailableError
from sidecar.runtime.cache import cache_dir
from sidecar_common import outputs

log = logging.getLogger(__name__)

SUFFIX = ".npz"
_RECORD_KEY = "record"
_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MAX_DISPLAY_NAME_CHARS = 200
MAX_TRANSCRIPT_CHARS = 5000


class VoiceNotFoundError(ModelNotFoundError):
    """No saved voice (or enrolled speaker) has this id (NOT_FOUND, like a missing model)."""


class VoiceExistsError(InvalidOptionsError):
    """A voice (or enrolled speaker) with this id is already saved."""


@dataclasses.dataclass(frozen=True)
class VoiceRecord:
    voice_id: str
    display_name: str
    model: str  # the model name the conditioning belongs to
    model_fingerprint: str  # xtts_models.fingerprint of those weights
    transcript: str
    reference_seconds: float
    created: float  # seconds since the epoch


@dataclasses.dataclass(frozen=True)
class SpeakerRecord:
    speaker_id: str
    name: str  # what labels their turns
    reference_seconds: float
    created: float  # seconds since the epoch


def default_directory() -> pathlib.Path:
    return cache_dir() / "voices"


def new_voice_id() -> str:
    return f"voice-{secrets.token_hex(4)}"


def check_voice_id(voice_id: str, noun: str = "voice") -> str:
    if not _ID_PATTERN.fullmatch(voice_id):
        raise InvalidOptionsError(
            f"{noun} id {voice_id!r} is not valid: use 1 to 63 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    return voice_id


def check_record_text(display_name: str, transcript: str) -> None:
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidOptionsError(f"the display name is longer than {MAX_DISPLAY_NAME_CHARS} characters")
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        raise InvalidOptionsError(f"the transcript is longer than {MAX_TRANSCRIPT_CHARS} characters")


class VoiceStore:
    """Saved voices; SpeakerStore is the same for enrolled speakers."""

    noun = "voice"
    record_type = VoiceRecord

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        """`directory` is the configured one (voices_dir), else default_directory()."""
        self.directory = pathlib.Path(directory).expanduser() if directory else default_directory()

    def _path(self, voice_id: str) -> pathlib.Path:
        return self.directory / f"{check_voice_id(voice_id, self.noun)}{SUFFIX}"

    @staticmethod
    def _id(record) -> str:
        return record.voice_id

    def save(self, record, arrays: dict[str, np.ndarray]):
        """Writes a new record; refuses an id that is taken."""
        target = self._path(self._id(record))
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = outputs.staging_path(target)
        try:
            with open(staging, "wb") as f:
                np.savez(
                    f,
                    **{_RECORD_KEY: np.array(json.dumps(dataclasses.asdict(record)))},
                    **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()},
                )
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        try:
            outputs.commit(staging, target, overwrite=False)
        except outputs.OutputExistsError:
            raise VoiceExistsError(self._taken(self._id(record))) from None
        return record

    def check_free(self, voice_id: str) -> None:
        if self._path(voice_id).exists():
            raise VoiceExistsError(self._taken(voice_id))

    def get(self, voice_id: str) -> tuple:
        """(record, arrays)."""
        try:
            return _read(self._path(voice_id), self.record_type, arrays=True)
        except FileNotFoundError:
            raise VoiceNotFoundError(self._missing(voice_id)) from None

    def list(self, model: str = "") -> list:
        records = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path.name.startswith("."):
                continue
            try:
                record, _ = _read(path, self.record_type, arrays=False)
            except FileNotFoundError:  # deleted while listing
                continue
            except ModelUnavailableError as exc:
                log.warning("%s", exc)
                continue
            if not model or getattr(record, "model", None) == model:
                records.append(record)
        return records

    def delete(self, voice_id: str):
        record, _ = self.get(voice_id)
        try:
            os.unlink(self._path(voice_id))
        except FileNotFoundError:
            raise VoiceNotFoundError(self._missing(voice_id)) from None
        return record

    def _missing(self, voice_id: str) -> str:
        known = [self._id(r) for r in self.list()]
        listed = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "") if known else "none"
        return f"no saved {self.noun} has id {voice_id!r} (saved: {listed})"

    def _taken(self, voice_id: str) -> str:
        return f"a {self.noun} with id {voice_id!r} already exists: delete it first or choose another id"


class SpeakerStore(VoiceStore):
    """Enrolled speakers: each a name and up to MAX_SPEAKER_REFERENCE_SECONDS of their voice."""

    noun = "speaker"
    record_type = SpeakerRecord

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        """`directory` is the configured one (speakers_dir), else `speakers/` in the cache."""
        super().__init__(directory or cache_dir() / "speakers")

    @staticmethod
    def _id(record) -> str:
        return record.speaker_id


def speaker_id_for(name: str) -> str:
    """The id a name is saved under: lower case, runs of other characters as one '-'."""
    if not name.strip() or len(name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidOptionsError(f"a speaker's name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters")
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:63]
    return check_voice_id(slug or f"speaker-{secrets.token_hex(4)}", "speaker")


def _read(path: pathlib.Path, record_type: type, *, arrays: bool) -> tuple:
    try:
        with np.load(path, allow_pickle=False) as data:
            record = record_type(**json.loads(str(data[_RECORD_KEY])))
            return record, {k: data[k] for k in data.files if k != _RECORD_KEY} if arrays else {}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelUnavailableError(f"the voice file {path} is damaged ({exc}): delete it") from None


def make_record(
    voice_id: str, display_name: str, model: str, model_fingerprint: str, transcript: str, reference_seconds: float
) -> VoiceRecord:
    return VoiceRecord(
        voice_id=check_voice_id(voice_id) if voice_id else new_voice_id(),
        display_name=display_name,
        model=model,
        model_fingerprint=model_fingerprint,
        transcript=transcript,
        reference_seconds=reference_seconds,
        created=time.time(),
    )
