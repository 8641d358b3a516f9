"""Tiny random NLLB-200, M2M-100 and OPUS-MT (Marian) checkpoints, built offline from configs.

Each is a 1-layer encoder and decoder with d_model 16 and a tokenizer made here: a SentencePiece
word model trained on WORDS for M2M-100 (sentencepiece.bpe.model beside a fairseq vocab.json) and
Marian (source.spm, target.spm), and for NLLB a BPE over letters whose merges spell WORDS, with
NLLB's 202 language tokens added by NllbTokenizer itself. They are saved as transformers
checkpoints, so the sidecar converts them with CTranslate2's TransformersConverter like real ones.
Their translations are random words, about as long as the real thing would be.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import warnings

SEED = 1234
WORDS = """the a of to and in is it that was he for on are with as his they be at one have this from or had by
word but what some we can out other were all there when up use your how said an each she which do their time if
will way about many then them write would like so these her long make thing see him two has look more day could
go come did number sound no most people my over know water than call first who may down side been now find""".split()


def _small(config_class, **fields):
    return config_class(
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=256,
        **fields,
    )


def _word_model(directory: pathlib.Path, name: str):
    """A SentencePiece word model over WORDS saved as directory/name; returns its processor."""
    import sentencepiece

    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(" ".join(WORDS[i : i + 8]) for i in range(0, len(WORDS), 3)))
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(directory / "spm"),
        vocab_size=len(WORDS) + 2,
        hard_vocab_limit=False,
        model_type="word",
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    corpus.unlink()
    (directory / "spm.vocab").unlink()
    (directory / "spm.model").rename(directory / name)
    return sentencepiece.SentencePieceProcessor(model_file=str(directory / name))


def build_m2m100(directory: pathlib.Path) -> pathlib.Path:
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    directory.mkdir(parents=True)
    spm = _word_model(directory, "sentencepiece.bpe.model")
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(spm.get_piece_size()):
        vocab.setdefault(spm.id_to_piece(i), len(vocab))
    (directory / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = M2M100Tokenizer(
        vocab_file=str(directory / "vocab.json"), spm_file=str(directory / "sentencepiece.bpe.model")
    )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(SEED)
    languages = len(tokenizer.lang_token_to_id)
    config = _small(
        M2M100Config,
        vocab_size=len(vocab) + languages + tokenizer.num_madeup_words,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    )
    M2M100ForConditionalGeneration(config).save_pretrained(directory)
    return directory


def build_marian(directory: pathlib.Path, source: str = "en", target: str = "es") -> pathlib.Path:
    """An OPUS-MT-like model of one pair, named as Helsinki-NLP names theirs."""
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    directory.mkdir(parents=True)
    spm = _word_model(directory, "source.spm")
    shutil.copyfile(directory / "source.spm", directory / "target.spm")
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(spm.get_piece_size()):
        vocab.setdefault(spm.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    with warnings.catch_warnings():  # it normalizes punctuation with sacremoses when installed
        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        tokenizer = MarianTokenizer(
            source_spm=str(directory / "source.spm"),
            target_spm=str(directory / "target.spm"),
            vocab=str(directory / "vocab.json"),
            source_lang=source,
            target_lang=target,
        )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(SEED)
    pad = vocab["<pad>"]
    config = _small(MarianConfig, vocab_size=len(vocab), pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=0)
    MarianMTModel(config).save_pretrained(directory)
    return directory


def build_nllb(directory: pathlib.Path) -> pathlib.Path:
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    directory.mkdir(parents=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    merges = []
    for char in "\u2581abcdefghijklmnopqrstuvwxyz.,?!'":
        vocab.setdefault(char, len(vocab))
    for word in WORDS:
        piece = "\u2581"
        for char in word:
            if piece + char not in vocab:
                merges.append((piece, char))
                vocab[piece + char] = len(vocab)
            piece += char
    tokenizer = NllbTokenizer(vocab=vocab, merges=merges)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(SEED)
    config = _small(
        M2M100Config,
        vocab_size=len(tokenizer),
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        tokenizer_class="NllbTokenizer",
    )
    M2M100ForConditionalGeneration(config).save_pretrained(directory)
    return directory


BUILDERS = {"nllb": build_nllb, "m2m100": build_m2m100, "marian": build_marian}


def build_all(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Every family's checkpoint under root: {"nllb": ..., "m2m100": ..., "marian": .../opus-mt-en-es}."""
    return {
        kind: build(root / ("opus-mt-en-es" if kind == "marian" else f"tiny-{kind}"))
        for kind, build in BUILDERS.items()
    }
