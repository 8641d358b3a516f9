"""Text translation: language codes, tiny random NLLB-200, M2M-100 and OPUS-MT checkpoints converted by
CTranslate2's real converter and run by its runtime, and the TranslationService on loopback."""

from __future__ import annotations

import json
import re

import grpc
import pytest

from sidecar.engines import languages, translation, translation_models
from sidecar.engines.catalogue import ModelSettings
from sidecar.errors import InvalidOptionsError, ModelNotFoundError
from sidecar.v1 import models_pb2, translation_pb2
from sidecar_client import SidecarClient, SidecarError
from sidecar_common.limits import MAX_TRANSLATION_TEXT_CHARS, MAX_TRANSLATION_TEXTS
from tests import translation_fixtures

pytest.importorskip("ctranslate2")
pytest.importorskip("sentencepiece")

SETTINGS = ModelSettings(
    device="cpu",
    cpu_threads=1,
    default_whisper_model="tiny.en",
    agree_coqui_license=False,
    demucs_repositories=(),
    models_dirs=(),
    allow_client_model_paths=True,
)
TEXTS = ["He hoped there would be stew for dinner.", "Stuff it into you, his belly counselled him.", "Yes."]
# What a translation must never show: a language token, a made-up word, a control token.
SPECIAL = re.compile(r"__\w+__|madeupword|<\w*>|>>\w+<<|\b[a-z]{3}_[A-Z][a-z]{3}\b")
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The sidecar's cache (converted models go there) in a folder of this module's own."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("sidecar-cache")
        patch.setenv("SIDECAR_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, cache):
    return translation_fixtures.build_all(tmp_path_factory.mktemp("translation-models"))


@pytest.fixture(scope="module")
def server(checkpoints):
    from tests.harness import RunningSidecar

    root = checkpoints["nllb"].parent
    server = RunningSidecar(models_dirs=(str(root),), allow_client_model_paths=False)
    yield server
    server.stop()


@pytest.fixture()
def client(server):
    with SidecarClient(server.address) as c:
        yield c


@pytest.mark.parametrize(
    "code, expected",
    [
        ("es", ("es", "spa_Latn")),
        ("ES", ("es", "spa_Latn")),
        ("pt-BR", ("pt", "por_Latn")),
        ("zh", ("zh", "zho_Hans")),
        ("zh-TW", ("zh-Hant", "zho_Hant")),
        ("spa_Latn", ("es", "spa_Latn")),
        ("spa", ("es", "spa_Latn")),
        ("jw", ("jv", "jav_Latn")),  # Whisper's Javanese
        ("yue", ("yue", "yue_Hant")),
        ("kas_Deva", ("kas-Deva", "kas_Deva")),
        ("la", ("la", None)),  # a language, though not NLLB's
    ],
)
def test_language_codes_in_every_spelling(code, expected):
    language = languages.parse(code, "target")
    assert (language.code, language.nllb) == expected


@pytest.mark.parametrize("code", ["xx", "klingon", "e", "abc_Defg", "es!"])
def test_an_unknown_language_says_what_codes_look_like(code):
    with pytest.raises(InvalidOptionsError, match=r"unknown target language .*ISO 639-1.*spa_Latn"):
        languages.parse(code, "target")


def test_a_rough_guess_of_the_texts_language():
    assert languages.guess(["He hoped there would be stew for dinner, and it was what they had."]) == "en"
    assert languages.guess(["¿Qué hora es? No tengo tiempo para eso, pero es lo que hay."]) == "es"
    assert languages.guess(["Il ne faut pas que je sois en retard pour le dîner."]) == "fr"
    assert languages.guess(["これは日本語の文です。"]) == "ja"
    assert languages.guess(["Привет, как дела? Это не то, что я хотел."]) == "ru"
    assert languages.guess(["ok"]) is None  # too short to tell


@pytest.mark.parametrize("kind", ["nllb", "m2m100", "marian"])
def test_each_family_converts_once_and_translates(kind, checkpoints, cache):
    resolved = translation_models.resolve(str(checkpoints[kind]), SETTINGS)
    converted = cache / "models" / "translation"
    assert resolved.path.startswith(str(converted)) and (converted / resolved.path).joinpath("model.bin").is_file()
    card = json.loads((converted / resolved.path / translation_models.MARKER).read_text())
    assert card["kind"] == kind
    again = translation_models.resolve(str(checkpoints[kind]) + "/", SETTINGS)
    assert again == resolved  # one registry key, and no second conversion
    translator, device, _ = translation.MODEL_FAMILY.load_alone(str(checkpoints[kind]), SETTINGS)
    assert device == "cpu"
    source, target = languages.parse("en", "source"), languages.parse("es", "target")
    out = translator.translate(TEXTS, source, target, translation.TranslationOptions(beam_size=2))
    assert len(out) == len(TEXTS) and all(isinstance(text, str) for text in out)
    assert any(out) and not any(SPECIAL.search(text) for text in out), out


def test_languages_a_model_lacks_are_refused_by_name(checkpoints):
    source = languages.parse("en", "source")
    for kind, target, message in [
        ("nllb", "la", r"cannot translate into la: its 202 languages are"),
        ("m2m100", "yue", r"cannot translate into yue: its 100 languages are"),
        ("marian", "fr", r"translates en to es, not en to fr: name the OPUS-MT model for that pair"),
    ]:
        translator, _, _ = translation.MODEL_FAMILY.load_alone(str(checkpoints[kind]), SETTINGS)
        with pytest.raises(InvalidOptionsError, match=message):
            translator.check_languages(source, languages.parse(target, "target"))
    translator, _, _ = translation.MODEL_FAMILY.load_alone(str(checkpoints["marian"]), SETTINGS)
    with pytest.raises(InvalidOptionsError, match="translates en to es, not de to es"):
        translator.check_languages(languages.parse("de", "source"), languages.parse("es", "target"))


def test_an_opus_mt_pair_resolves_from_the_hugging_face_cache(checkpoints, tmp_path, monkeypatch):
    """ "opus-mt" means the pair's Helsinki-NLP model, found in the hub cache as any alias is."""
    from huggingface_hub import constants

    snapshot = tmp_path / "models--Helsinki-NLP--opus-mt-en-es" / "snapshots" / ("0" * 40)
    snapshot.parent.mkdir(parents=True)
    translation_fixtures.shutil.copytree(checkpoints["marian"], snapshot)
    (tmp_path / "models--Helsinki-NLP--opus-mt-en-es" / "refs").mkdir()
    (tmp_path / "models--Helsinki-NLP--opus-mt-en-es" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    name = translation_models.model_for_pair("opus-mt", "en", "es")
    resolved = translation_models.resolve(name, SETTINGS)
    assert (resolved.name, resolved.source) == ("opus-mt-en-es", "hub-cache")
    assert [m.name for m in translation_models.installed(SETTINGS)] == ["opus-mt-en-es"]
    assert translation_models.installed(SETTINGS)[0] == resolved  # listed as what it loads as
    with pytest.raises(ModelNotFoundError, match=r"opus-mt-en-fr \(Helsinki-NLP/opus-mt-en-fr\) is not in the"):
        translation_models.resolve(translation_models.model_for_pair("opus-mt", "en", "fr"), SETTINGS)


def test_translate_through_the_service(client, checkpoints):
    options = translation_pb2.TranslationOptions(model=str(checkpoints["nllb"]), beam_size=2)
    reply = client.translate(TEXTS, "fr", source_language_code="en", options=options)
    assert len(reply.translations) == len(TEXTS)
    assert (reply.source_language_code, reply.detected_language_code, reply.target_language_code) == ("en", "", "fr")
    assert reply.model == str(checkpoints["nllb"]) and reply.device == "cpu"
    guessed = client.translate(TEXTS, "spa_Latn", options=options)  # no source: guessed from the texts
    assert (guessed.source_language_code, guessed.detected_language_code, guessed.target_language_code) == (
        "en",
        "en",
        "es",
    )
    checked = client.translate([], "de", options=options, validate_only=True)
    assert not checked.translations and checked.target_language_code == "de"
    listed = client.list_models(models_pb2.CAPABILITY_TEXT_TRANSLATION)
    assert any(m.loaded and m.family == "translation" for m in listed)


@pytest.mark.parametrize(
    "texts, target, source, message",
    [
        (["Hello there."], "xx", "en", "unknown target language 'xx'"),
        (["Hello there."], "", "en", "the target language is required"),
        (["Hello there."], "es", "zz", "unknown source language 'zz'"),
        ([], "es", "en", "there is no text to translate"),
        (["Hello.", "  "], "es", "en", "text 1 is empty"),
        (["x" * (MAX_TRANSLATION_TEXT_CHARS + 1)], "es", "en", f"at most {MAX_TRANSLATION_TEXT_CHARS} are allowed"),
        (["Hello."] * (MAX_TRANSLATION_TEXTS + 1), "es", "en", "send them in batches"),
        (["ok"], "es", "", "cannot tell which language the texts are in"),
        (["Hello there."], "la", "en", "cannot translate into la"),
    ],
)
def test_bad_requests_are_invalid_argument_with_the_reason(client, checkpoints, texts, target, source, message):
    options = translation_pb2.TranslationOptions(model=str(checkpoints["nllb"]))
    with pytest.raises(SidecarError) as caught:
        client.translate(texts, target, source_language_code=source, options=options)
    assert caught.value.code == INVALID and message in caught.value.details, caught.value


def test_model_errors_get_their_own_codes(client, checkpoints, tmp_path):
    with pytest.raises(SidecarError) as caught:
        client.translate(
            ["Hello."], "es", source_language_code="en", options=translation_pb2.TranslationOptions(model="nope")
        )
    assert (
        caught.value.code == grpc.StatusCode.NOT_FOUND and "no translation model named 'nope'" in caught.value.details
    )
    outside = translation_pb2.TranslationOptions(model=str(tmp_path))  # not under the server's --models-dir
    with pytest.raises(SidecarError) as caught:
        client.translate(["Hello."], "es", source_language_code="en", options=outside)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    beam = translation_pb2.TranslationOptions(model=str(checkpoints["nllb"]), beam_size=99)
    with pytest.raises(SidecarError) as caught:
        client.translate(["Hello."], "es", source_language_code="en", options=beam)
    assert caught.value.code == INVALID and "the beam size must be 1..16" in caught.value.details
