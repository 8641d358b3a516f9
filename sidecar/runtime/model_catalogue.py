"""The models the sidecar can download by name: what each is, how big, under which licence,
and where on the Hugging Face hub (the repositories come from the families' own tables)."""

from __future__ import annotations

import dataclasses

from sidecar.engines import audio_events, demucs_models, musicgen, translation_models, whisper_models, xtts_models
from sidecar.errors import ModelNotFoundError


@dataclasses.dataclass(frozen=True)
class KnownModel:
    name: str  # what `sidecar models pull` and requests call it
    family: str
    repo_id: str
    about_size: str  # approximate download, for the listing; a pull measures it exactly
    licence: str
    extra: str  # the install extra that runs it
    agreement: str = ""  # the URL of a licence to accept before downloading, else ""
    gated: bool = False  # the hub asks for a token of an account that accepted its terms
    allow_patterns: tuple[str, ...] | None = None
    ignore_patterns: tuple[str, ...] | None = None


# What faster-whisper's own download takes from Systran's repositories.
WHISPER_FILES = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")
WHISPER_SIZES = {"tiny": "75 MB", "base": "145 MB", "small": "484 MB", "medium": "1.5 GB", "large": "3.1 GB"}
# The sums of the published .th files (dl.fbaipublicfiles.com/demucs); mdx_q's is mdx's scaled
# by what quantizing took off mdx_extra, its own files' sizes not being known here.
DEMUCS_SIZES = {
    "htdemucs": "84 MB",
    "htdemucs_ft": "336 MB",
    "htdemucs_6s": "55 MB",
    "hdemucs_mmi": "167 MB",
    "mdx": "691 MB",
    "mdx_extra": "670 MB",
    "mdx_q": "170 MB",
    "mdx_extra_q": "168 MB",
}
MUSICGEN_SIZES = {
    "musicgen-small": "2.4 GB",
    "musicgen-medium": "8 GB",
    "musicgen-large": "13 GB",
    "musicgen-melody": "6 GB",
}
TRANSLATION_SIZES = {
    "nllb-200-distilled-600M": "2.5 GB",
    "nllb-200-distilled-1.3B": "5.5 GB",
    "nllb-200-1.3B": "5.5 GB",
    "nllb-200-3.3B": "18 GB",
    "m2m100_418M": "1.9 GB",
    "m2m100_1.2B": "5 GB",
}


def _catalogue() -> dict[str, KnownModel]:
    models = [
        *(
            KnownModel(
                name,
                whisper_models.FAMILY,
                repo,
                "1.6 GB" if "turbo" in name else WHISPER_SIZES[name.split(".")[0].split("-")[0]],
                "MIT",
                "base",
                allow_patterns=WHISPER_FILES,
            )
            for name, repo in whisper_models.HUB_REPOS.items()
            if name != "turbo"  # the same repository as large-v3-turbo
        ),
        *(
            KnownModel(name, demucs_models.FAMILY, repo, DEMUCS_SIZES[name], "MIT", "stems")
            for name, repo in demucs_models.HUB_REPOS.items()
        ),
        KnownModel(
            xtts_models.DEFAULT_MODEL,
            xtts_models.FAMILY,
            xtts_models.HUB_REPO,
            "1.9 GB",
            "CPML (non-commercial)",
            "voice",
            agreement=xtts_models.LICENSE_URL,
            ignore_patterns=xtts_models.HUB_IGNORE_PATTERNS,
        ),
        *(
            KnownModel(name, musicgen.FAMILY, repo, MUSICGEN_SIZES[name], "CC-BY-NC-4.0", musicgen.EXTRA)
            for name, repo in musicgen.MODELS.items()
        ),
        KnownModel(
            "ast-audioset",
            audio_events.FAMILY,
            audio_events.MODELS["ast-audioset"],
            "350 MB",
            "BSD-3-Clause",
            audio_events.EXTRA,
        ),
        KnownModel(
            "clap", audio_events.FAMILY, audio_events.MODELS["clap"], "620 MB", "Apache-2.0", audio_events.EXTRA
        ),
        *(
            KnownModel(
                name,
                translation_models.FAMILY,
                repo,
                TRANSLATION_SIZES[name],
                "CC-BY-NC-4.0" if name.startswith("nllb") else "MIT",
                translation_models.EXTRA,
                allow_patterns=tuple(translation_models.DOWNLOAD_PATTERNS),
            )
            for name, repo in translation_models.MODELS.items()
        ),
    ]
    return {m.name: m for m in models}


CATALOGUE = _catalogue()


def known(name: str) -> KnownModel:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ModelNotFoundError(
            f"no model named {name!r} in the catalogue: `sidecar models list` shows the {len(CATALOGUE)} it has"
        ) from None
