"""The per-frame analysis loop, serial or pipelined over the cores (frames.py), on ordered stages (stages.py)."""
