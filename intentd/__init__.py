"""intentd: a real-time intent and entity service built around one fine-tuned small encoder."""

__version__ = "0.1.0"
