"""The services' limits and defaults that clients check or show before they call: one place for
each number, read by the engines that enforce them and by the plugins and the CLI."""

# Transcription (Whisper), files and live: faster-whisper's and openai/whisper's own default.
BEAM_SIZE = 5

# Trailing metadata of a RESOURCE_EXHAUSTED answer: milliseconds to wait before trying again.
RETRY_DELAY_METADATA = "retry-delay-ms"
# Request metadata: who goes first among file jobs ("interactive", the default, or "batch": a
# folder of files); and trailing metadata of a failed call: the id its server log lines carry.
PRIORITY_METADATA = "sidecar-priority"
REQUEST_ID_METADATA = "sidecar-request-id"
# Whisper reads about 224 tokens of prompt (initial prompt, hotwords); longer text is cut anyway.
MAX_WHISPER_PROMPT_CHARS = 1000

# Synthesis (XTTS v2).
MAX_TEXT_CHARS = 5000  # per Synthesize request; the text is spoken sentence by sentence
MIN_REFERENCE_SECONDS = 6.0  # of reference audio: XTTS clones a voice from 6 s or more of one speaker

# Translation (NLLB-200, M2M-100, OPUS-MT): per Translate request. These models were trained on
# sentences; the subtitle command sends a file's sentences in batches of this many.
MAX_TRANSLATION_TEXTS = 128
MAX_TRANSLATION_TEXT_CHARS = 2000

# Cues (MusicGen).
MAX_CUE_SECONDS = 30.0  # MusicGen was trained on 30 s clips
DEFAULT_CUE_SECONDS = 8.0
