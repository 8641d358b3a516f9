"""Jobs as sequences of typed events (sidecar.runtime.events): decode, load, run one engine or
chain several (transcribe -> diarize -> label), with progress. No gRPC here: servicers call a
pipeline through sidecar.server.jobs.respond and turn its events into their responses."""
