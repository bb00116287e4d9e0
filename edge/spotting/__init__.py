"""Micro-expression spotting: alignment, AU estimates, adaptive baseline, streaming spotter, emotion."""
