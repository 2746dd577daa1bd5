"""The codec's core: GOP plans, the coordinate networks, warping, rendering, quantization, colour,
keyframe codecs and PSNR. Shared by the encoder and the decoder; imports neither."""
