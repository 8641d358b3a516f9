"""Language codes as containers tag streams: Whisper's ISO 639-1 codes to ISO 639-2.

Matroska and WebM tag tracks with the bibliographic form ("ger"), MP4 and QuickTime with the
terminological one ("deu"); the two differ for the 20 languages in BIBLIOGRAPHIC. Standard
library only.
"""

from __future__ import annotations

UNDETERMINED = "und"

# Every language Whisper detects, as ISO 639-2/T. Cantonese ("yue") has no ISO 639-2 code of
# its own: Chinese. Whisper writes Javanese "jw" (ISO 639-1 "jv").
ISO_639_2 = {
    "af": "afr", "am": "amh", "ar": "ara", "as": "asm", "az": "aze", "ba": "bak", "be": "bel", "bg": "bul",
    "bn": "ben", "bo": "bod", "br": "bre", "bs": "bos", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan",
    "de": "deu", "el": "ell", "en": "eng", "es": "spa", "et": "est", "eu": "eus", "fa": "fas", "fi": "fin",
    "fo": "fao", "fr": "fra", "gl": "glg", "gu": "guj", "ha": "hau", "haw": "haw", "he": "heb", "hi": "hin",
    "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "hye", "id": "ind", "is": "isl", "it": "ita", "ja": "jpn",
    "jv": "jav", "jw": "jav", "ka": "kat", "kk": "kaz", "km": "khm", "kn": "kan", "ko": "kor", "la": "lat",
    "lb": "ltz", "ln": "lin", "lo": "lao", "lt": "lit", "lv": "lav", "mg": "mlg", "mi": "mri", "mk": "mkd",
    "ml": "mal", "mn": "mon", "mr": "mar", "ms": "msa", "mt": "mlt", "my": "mya", "ne": "nep", "nl": "nld",
    "nn": "nno", "no": "nor", "oc": "oci", "pa": "pan", "pl": "pol", "ps": "pus", "pt": "por", "ro": "ron",
    "ru": "rus", "sa": "san", "sd": "snd", "si": "sin", "sk": "slk", "sl": "slv", "sn": "sna", "so": "som",
    "sq": "sqi", "sr": "srp", "su": "sun", "sv": "swe", "sw": "swa", "ta": "tam", "te": "tel", "tg": "tgk",
    "th": "tha", "tk": "tuk", "tl": "tgl", "tr": "tur", "tt": "tat", "uk": "ukr", "ur": "urd", "uz": "uzb",
    "vi": "vie", "yi": "yid", "yo": "yor", "yue": "zho", "zh": "zho",
}  # fmt: skip

# ISO 639-2/T -> ISO 639-2/B where they differ.
BIBLIOGRAPHIC = {
    "bod": "tib", "ces": "cze", "cym": "wel", "deu": "ger", "ell": "gre", "eus": "baq", "fas": "per",
    "fra": "fre", "hye": "arm", "isl": "ice", "kat": "geo", "mkd": "mac", "mri": "mao", "msa": "may",
    "mya": "bur", "nld": "dut", "ron": "rum", "slk": "slo", "sqi": "alb", "zho": "chi",
}  # fmt: skip


def iso_639_2(code: str, *, bibliographic: bool = False) -> str:
    """The three-letter code for a Whisper language code ("en", "pt-BR" or already "eng");
    "und" (undetermined) for an empty or unknown one."""
    code = code.strip().lower().replace("_", "-").split("-")[0]
    if code in BIBLIOGRAPHIC.values():  # already the bibliographic form
        terminological = next(t for t, b in BIBLIOGRAPHIC.items() if b == code)
    elif code in ISO_639_2.values():
        terminological = code
    else:
        terminological = ISO_639_2.get(code, UNDETERMINED)
    return BIBLIOGRAPHIC.get(terminological, terminological) if bibliographic else terminological
