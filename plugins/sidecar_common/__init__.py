"""What the server, the CLI, the client library and the plugins share: caption cues and subtitle
formats, live captions' roll-up layout, RTTM and label tracks, and Duration <-> seconds.
Standard library only (and duck-typed protobuf Durations), so that every plugin can import it
beside the generated stubs.
"""
