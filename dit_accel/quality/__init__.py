"""The synthetic attention quality bench (`dit-accel bench --quality`): video-like attention heads
(`synthetic`) and each method's error against exact attention, next to an oracle (`bench`)."""
