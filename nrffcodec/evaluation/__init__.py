"""The evaluation: rate-distortion sweeps against classical codecs, BD-rate, plots, metrics and machine facts.

The codec never imports this package."""
