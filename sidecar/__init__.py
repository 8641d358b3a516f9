"""audio-sidecar: a local gRPC server that hosts audio AI models for media editors.

Kept import-free on purpose: the plugins import the generated stubs in `sidecar.v1`
and must not pull in numpy, the server or any model library.
"""

__version__ = "0.1.0"
