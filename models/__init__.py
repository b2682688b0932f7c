"""Offline half: data import, fine-tuning, export, calibration and evaluation."""
