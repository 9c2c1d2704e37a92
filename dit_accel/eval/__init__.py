"""Evaluation: attention quality harness on synthetic video attention, kernel speed, metrics."""
