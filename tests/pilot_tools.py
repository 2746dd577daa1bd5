"""Pilot measures for the tests of the GOP-length search and the floor check."""

from __future__ import annotations

from nrffcodec.core.gop import plan_gops
from nrffcodec.encoder.pilot_measure import PilotMeasure

PIXELS = 100


def measure(length: int, frames: int, key_bytes: int, key_mse: float, net_bytes: int, net_mse: float) -> PilotMeasure:
    gops = plan_gops(frames, length)
    return PilotMeasure(length, gops, key_bytes, key_mse * PIXELS * len(gops), net_bytes, net_mse)
