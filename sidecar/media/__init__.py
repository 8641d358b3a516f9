"""Decoding, resampling and timed-text formats. Knows nothing of gRPC or models."""
