"""Language codes for translation, and a rough guess of a text's language.

Requests name languages as Whisper reports them (ISO 639-1: "es"), as BCP-47 tags ("pt-BR",
"zh-Hant") or as NLLB's FLORES-200 codes ("spa_Latn"). `parse` turns any of them into one
`Language`; each model family then asks for its own token: NLLB's "spa_Latn", M2M-100's
"__es__", a multilingual OPUS-MT model's ">>spa<<". An unknown code is an InvalidOptionsError
that says what codes look like.

`guess` tells the common languages apart from their script and their most frequent words. It is
for a request that names no source language; the subtitle command passes Whisper's detection,
which is far better.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from sidecar.errors import InvalidOptionsError

# NLLB-200's 202 FLORES-200 codes (transformers' NllbTokenizer.FAIRSEQ_LANGUAGE_CODES).
NLLB_CODES = tuple(
    """ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn amh_Ethi apc_Arab arb_Arab
    ars_Arab ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn bak_Cyrl bam_Latn ban_Latn
    bel_Cyrl bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt bos_Latn bug_Latn bul_Cyrl cat_Latn ceb_Latn
    ces_Latn cjk_Latn ckb_Arab crh_Latn cym_Latn dan_Latn deu_Latn dik_Latn dyu_Latn dzo_Tibt ell_Grek eng_Latn
    epo_Latn est_Latn eus_Latn ewe_Latn fao_Latn pes_Arab fij_Latn fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn
    gla_Latn gle_Latn glg_Latn grn_Latn guj_Gujr hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn hun_Latn
    hye_Armn ibo_Latn ilo_Latn ind_Latn isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn kac_Latn kam_Latn kan_Knda
    kas_Arab kas_Deva kat_Geor knc_Arab knc_Latn kaz_Cyrl kbp_Latn kea_Latn khm_Khmr kik_Latn kin_Latn kir_Cyrl
    kmb_Latn kon_Latn kor_Hang kmr_Latn lao_Laoo lvs_Latn lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn ltg_Latn
    ltz_Latn lua_Latn lug_Latn luo_Latn lus_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Latn mkd_Cyrl plt_Latn
    mlt_Latn mni_Beng khk_Cyrl mos_Latn mri_Latn zsm_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva nso_Latn
    nus_Latn nya_Latn oci_Latn gaz_Latn ory_Orya pag_Latn pan_Guru pap_Latn pol_Latn por_Latn prs_Arab pbt_Arab
    quy_Latn ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Beng scn_Latn shn_Mymr sin_Sinh slk_Latn slv_Latn
    smo_Latn sna_Latn snd_Arab som_Latn sot_Latn spa_Latn als_Latn srd_Latn srp_Cyrl ssw_Latn sun_Latn swe_Latn
    swh_Latn szl_Latn tam_Taml tat_Cyrl tel_Telu tgk_Cyrl tgl_Latn tha_Thai tir_Ethi taq_Latn taq_Tfng tpi_Latn
    tsn_Latn tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab uzn_Latn
    vec_Latn vie_Latn war_Latn wol_Latn xho_Latn ydd_Hebr yor_Latn yue_Hant zho_Hans zho_Hant zul_Latn""".split()
)
# ISO 639-1 code -> the FLORES-200 code NLLB-200 uses for it (its standard variety and script).
NLLB_BY_ISO = dict(
    pair.split(":")
    for pair in """af:afr_Latn ak:aka_Latn am:amh_Ethi ar:arb_Arab as:asm_Beng ay:ayr_Latn az:azj_Latn ba:bak_Cyrl
    be:bel_Cyrl bg:bul_Cyrl bm:bam_Latn bn:ben_Beng bo:bod_Tibt bs:bos_Latn ca:cat_Latn cs:ces_Latn cy:cym_Latn
    da:dan_Latn de:deu_Latn dz:dzo_Tibt ee:ewe_Latn el:ell_Grek en:eng_Latn eo:epo_Latn es:spa_Latn et:est_Latn
    eu:eus_Latn fa:pes_Arab ff:fuv_Latn fi:fin_Latn fj:fij_Latn fo:fao_Latn fr:fra_Latn ga:gle_Latn gd:gla_Latn
    gl:glg_Latn gn:grn_Latn gu:guj_Gujr ha:hau_Latn he:heb_Hebr hi:hin_Deva hr:hrv_Latn ht:hat_Latn hu:hun_Latn
    hy:hye_Armn id:ind_Latn ig:ibo_Latn is:isl_Latn it:ita_Latn ja:jpn_Jpan jv:jav_Latn ka:kat_Geor kg:kon_Latn
    ki:kik_Latn kk:kaz_Cyrl km:khm_Khmr kn:kan_Knda ko:kor_Hang ks:kas_Arab ku:kmr_Latn ky:kir_Cyrl lb:ltz_Latn
    lg:lug_Latn li:lim_Latn ln:lin_Latn lo:lao_Laoo lt:lit_Latn lv:lvs_Latn mg:plt_Latn mi:mri_Latn mk:mkd_Cyrl
    ml:mal_Mlym mn:khk_Cyrl mr:mar_Deva ms:zsm_Latn mt:mlt_Latn my:mya_Mymr ne:npi_Deva nl:nld_Latn nn:nno_Latn
    no:nob_Latn ny:nya_Latn oc:oci_Latn om:gaz_Latn or:ory_Orya pa:pan_Guru pl:pol_Latn ps:pbt_Arab pt:por_Latn
    qu:quy_Latn rn:run_Latn ro:ron_Latn ru:rus_Cyrl rw:kin_Latn sa:san_Deva sc:srd_Latn sd:snd_Arab sg:sag_Latn
    si:sin_Sinh sk:slk_Latn sl:slv_Latn sm:smo_Latn sn:sna_Latn so:som_Latn sq:als_Latn sr:srp_Cyrl ss:ssw_Latn
    st:sot_Latn su:sun_Latn sv:swe_Latn sw:swh_Latn ta:tam_Taml te:tel_Telu tg:tgk_Cyrl th:tha_Thai ti:tir_Ethi
    tk:tuk_Latn tl:tgl_Latn tn:tsn_Latn tr:tur_Latn ts:tso_Latn tt:tat_Cyrl tw:twi_Latn ug:uig_Arab uk:ukr_Cyrl
    ur:urd_Arab uz:uzn_Latn vi:vie_Latn wo:wol_Latn xh:xho_Latn yi:ydd_Hebr yo:yor_Latn zh:zho_Hans zu:zul_Latn
    zh-Hant:zho_Hant""".split()
)
# Every ISO 639-1 code: a language NLLB lacks ("la") is still a language another model may have.
ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz
    ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is
    it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt
    my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl
    sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo
    za zh zu""".split()
)
# Whisper's languages that have neither a two-letter code nor an NLLB code.
OTHER_CODES = frozenset({"haw"})
# Old or non-standard spellings ("jw": Whisper's Javanese), and Bokmål, the Norwegian NLLB writes.
ALIASES = {"jw": "jv", "iw": "he", "in": "id", "ji": "yi", "nb": "no", "fil": "tl"}
# Chinese regions written in traditional characters.
TRADITIONAL_CHINESE = frozenset({"hant", "tw", "hk", "mo"})
_ISO_BY_NLLB = {flores: iso for iso, flores in NLLB_BY_ISO.items()}
_NLLB_BY_PREFIX: dict[str, str] = {}
for _flores in NLLB_CODES:
    _NLLB_BY_PREFIX.setdefault(_flores.split("_")[0], _flores)  # the first script listed is the usual one
_FLORES = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


@dataclasses.dataclass(frozen=True)
class Language:
    """One language as the sidecar reports it, with the codes models know it by."""

    code: str  # BCP-47 as responses carry it: "es", "zh-Hant", "yue", "kas-Deva"
    nllb: str | None  # FLORES-200 code, None where NLLB-200 lacks the language

    @property
    def base(self) -> str:
        """The primary subtag: "zh" for "zh-Hant"."""
        return self.code.split("-")[0]

    @property
    def iso3(self) -> str:
        """A three-letter code (from NLLB's), else the primary subtag."""
        return self.nllb.split("_")[0] if self.nllb else self.base


def parse(code: str, what: str) -> Language:
    """The Language a request's code means; `what` names the field in errors ("target")."""
    text = code.strip()
    if _FLORES.match(text):
        if text not in NLLB_CODES:
            raise _unknown(code, what)
        return from_nllb(text)
    if not _TAG.match(text):
        raise _unknown(code, what)
    primary, *rest = text.replace("_", "-").split("-")
    primary = ALIASES.get(primary.lower(), primary.lower())
    subtags = {s.lower() for s in rest}
    if primary == "zh" and subtags & TRADITIONAL_CHINESE:
        return Language("zh-Hant", NLLB_BY_ISO["zh-Hant"])
    if primary in NLLB_BY_ISO:
        return Language(primary, NLLB_BY_ISO[primary])
    if primary in ISO_639_1 or primary in OTHER_CODES:
        return Language(primary, None)
    if primary in _NLLB_BY_PREFIX:
        scripts = [f for f in NLLB_CODES if f.startswith(primary + "_") and f.split("_")[1].lower() in subtags]
        return from_nllb(scripts[0] if scripts else _NLLB_BY_PREFIX[primary])
    raise _unknown(code, what)


def from_nllb(flores: str) -> Language:
    if flores in _ISO_BY_NLLB:
        return Language(_ISO_BY_NLLB[flores], flores)
    prefix, script = flores.split("_")
    # A language NLLB writes in two scripts is named with its script unless it is the usual one.
    return Language(prefix if _NLLB_BY_PREFIX[prefix] == flores else f"{prefix}-{script}", flores)


def _unknown(code: str, what: str) -> InvalidOptionsError:
    return InvalidOptionsError(
        f"unknown {what} language {code!r}: use an ISO 639-1 code such as es, fr or de, a BCP-47 tag such as "
        "pt-BR or zh-Hant, or an NLLB code such as spa_Latn"
    )


# --- guessing a text's language ---------------------------------------------------------------

# Scripts that, seen in most letters, name the language.
SCRIPT_LANGUAGES = {
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "HANGUL": "ko",
    "CJK": "zh",
    "THAI": "th",
    "GREEK": "el",
    "HEBREW": "he",
    "ARMENIAN": "hy",
    "GEORGIAN": "ka",
    "DEVANAGARI": "hi",
    "BENGALI": "bn",
    "TAMIL": "ta",
    "TELUGU": "te",
    "KANNADA": "kn",
    "MALAYALAM": "ml",
    "GUJARATI": "gu",
    "GURMUKHI": "pa",
    "SINHALA": "si",
    "KHMER": "km",
    "LAO": "lo",
    "MYANMAR": "my",
    "ETHIOPIC": "am",
    "TIBETAN": "bo",
}
# The most frequent short words of languages written in the Latin, Cyrillic and Arabic scripts.
COMMON_WORDS = {
    "en": "the and of to is that it in you was for on are with this have be not but what",
    "es": "el la de que y en los se del las un por con no una para es lo como pero",
    "fr": "le la les de et des est que une un pas je du il vous en pour qui dans ce",
    "de": "der die und das ist nicht ich zu den mit sie es ein auf sich dem eine auch",
    "it": "il di che e la non un per è una sono mi ho lo gli della le ma come",
    "pt": "de que não o e do da em um para é com uma os se no na mas você",
    "nl": "de het een van en is dat niet ik je op te zijn met die voor maar",
    "sv": "och det att är som en på jag inte med för har den av till om",
    "da": "og det er at en jeg til på ikke med som har den for af de",
    "no": "og det er at en jeg til på ikke som har med for av de vi",
    "pl": "nie się i w to na że jest z do jak co tak ale jestem mnie",
    "cs": "a se na je to že v s jsem ale jak do o tak není by",
    "ro": "și de în nu la că este o cu pe un să mai ce din sunt",
    "tr": "bir ve bu da ne için çok ben de mi değil ama var gibi olarak",
    "fi": "ja on ei se että hän oli en mutta ole kun niin ovat tämä",
    "hu": "a az és hogy nem is egy van de meg csak ez már azt",
    "id": "yang dan di itu tidak ini ke dengan saya untuk ada dari akan",
    "vi": "và của là có không được cho một những người này với tôi",
    "ru": "и в не на что я с он как это по но к его она все",
    "uk": "і в не на що я з він як це та але до його вона від",
    "bg": "и на да в не се е за от че с това как са",
    "ar": "في من على أن إلى هذا ما لا هو التي عن مع",
    "fa": "و در به از که این را با است برای آن یک",
}
_WORD_SETS = {language: frozenset(words.split()) for language, words in COMMON_WORDS.items()}
_WORD = re.compile(r"\w+")
MIN_WORD_HITS = 2  # common words a guess needs, and ahead of the runner-up by half as many again
SCRIPT_SHARE = 0.3  # of the letters, for a script to name the language


def guess(texts: Iterable[str]) -> str | None:
    """The ISO 639-1 code of the language most of the text is in, or None when unsure."""
    scripts: Counter[str] = Counter()
    letters = 0
    words: list[str] = []
    for text in texts:
        words += _WORD.findall(text.lower())
        for char in text:
            if char.isalpha():
                letters += 1
                scripts[_script(char)] += 1
    if not letters:
        return None
    if scripts["HIRAGANA"] + scripts["KATAKANA"] >= letters * SCRIPT_SHARE / 3:
        return "ja"  # Japanese mixes kana with Chinese characters
    for script, count in scripts.most_common():
        if script in SCRIPT_LANGUAGES and count >= letters * SCRIPT_SHARE:
            return SCRIPT_LANGUAGES[script]
    hits = Counter({language: sum(w in known for w in words) for language, known in _WORD_SETS.items()})
    (best, best_hits), (_, second_hits) = hits.most_common(2)
    return best if best_hits >= MIN_WORD_HITS and best_hits >= 1.5 * second_hits else None


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    return name.split(" ")[0] if name else ""
