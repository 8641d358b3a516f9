"""The gRPC layer: servicers translate protobuf <-> domain objects and map errors to codes."""
