"""The encoder, as stages over frozen dataclasses (encoder.pipeline runs them in this order):

plan GOPs and networks        plan.plan_encode
code the keyframe chain       keyframes.code_keyframes
choose the GOP length         gop_length.choose_gop_length (a pilot of the two stages above)
train each GOP's fields       train.train_gop, spread over processes by runner.LocalRunner
quantize and pack             pack.pack_file
verify                        verify.verify: decode the bytes written and measure them
hold them to the floor        floor_check.check_against_floor: where they fail, every frame a keyframe
                              (on a clip past the pilot window: once the window's GOPs are trained)
"""
