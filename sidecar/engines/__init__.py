"""One module per model family. Engines take numpy audio and option dataclasses and know
nothing of gRPC; each imports its model library lazily so the base install stays light."""
