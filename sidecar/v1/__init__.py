"""Generated protocol stubs for sidecar.v1 (see protos/generate.py). Do not edit the *_pb2 files."""
