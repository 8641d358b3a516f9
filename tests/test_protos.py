"""The committed stubs match the protos, and the protos keep the style the contract promises."""

import filecmp
import pathlib
import re

import pytest

from protos import generate

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_stubs_match_protos(tmp_path):
    written = generate.generate(tmp_path)
    assert written, "protoc wrote nothing"
    generated = {p.name for p in written}
    committed = {p.name for p in (ROOT / "sidecar" / "v1").glob("*_pb2*.py*")}
    assert generated == committed, "stub files differ: run `make protos`"
    for name in sorted(generated):
        assert filecmp.cmp(tmp_path / "sidecar" / "v1" / name, ROOT / "sidecar" / "v1" / name, shallow=False), (
            f"sidecar/v1/{name} is stale: run `make protos`"
        )


PROTOS = sorted((ROOT / "protos" / "sidecar" / "v1").glob("*.proto"))


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_proto_style(proto):
    text = proto.read_text()
    assert "package sidecar.v1;" in text
    for enum_name, body in re.findall(r"enum (\w+) \{(.*?)\n\}", text, re.S):
        first = re.search(r"^\s*(\w+) = 0;", body, re.M)
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum_name).upper()
        assert first and first.group(1) == f"{prefix}_UNSPECIFIED", f"{enum_name}: zero value"
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*(rpc |\w[\w.]* \w+ = \d+;|optional |repeated |\w+ = \d+;)", line):
            above = lines[i - 1].strip()
            assert above.startswith("//"), f"{proto.name}:{i + 1} has no comment: {line.strip()}"
