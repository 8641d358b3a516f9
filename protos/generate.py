"""Generates the Python stubs in sidecar/v1/ from protos/sidecar/v1/*.proto.

Run `python protos/generate.py` (or `make protos`) after editing a .proto file;
tests/test_protos.py fails when the committed stubs and the protos drift apart.
The output depends on the grpcio-tools version, which the dev extra pins exactly.
"""

from __future__ import annotations

import pathlib
import sys

PROTO_ROOT = pathlib.Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent


def proto_files() -> list[pathlib.Path]:
    return sorted((PROTO_ROOT / "sidecar" / "v1").glob("*.proto"))


def generate(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Writes *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto under out_dir/sidecar/v1."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    (out_dir / "sidecar" / "v1").mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed: see the messages above")
    return sorted((out_dir / "sidecar" / "v1").glob("*_pb2*.py*"))


if __name__ == "__main__":
    written = generate(REPO_ROOT)
    print("\n".join(str(p.relative_to(REPO_ROOT)) for p in written))
    sys.exit(0)
