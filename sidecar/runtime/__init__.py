"""Model loading, devices, the job queue and cancellation. Knows nothing of gRPC."""
