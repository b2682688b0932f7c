"""Online half: artifact loading, the ONNX engine, decoding, and the gRPC service."""
