"""Stage 4, training: overfit one GOP's two networks (Adam with warm-up and cosine decay), then
quantization-aware fine-tuning on a fixed step grid.

Seeding is per GOP, so a result does not depend on how many workers run or in which order.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from bitstream import FieldArch, QuantizedTensor, encoded_networks_size

from ..core.colour import yuv_to_rgb_torch
from ..core.device import CUDA_OOM
from ..core.fields import CoordinateField
from ..core.gop import Gop
from ..core.quant import fake_quantize, quant_config_for, quantize, steps_for
from ..core.render import GopRenderer, planes_to_yuv444
from ..core.video import Planes
from ..errors import ResourceError
from ..settings import PRESETS, QuantConfig, Schedule
from .pilot_measure import GiveUp
from .progress import StepTicker
from .steps import BlockFeed, OptimizerSteps

CUDA_BATCH_FACTOR = 16  # on CUDA the same steps see this many times more pixels
MIN_BATCH_BLOCKS = 64  # CUDA out of memory halves the batch down to this, then gives up
VALIDATION_BLOCKS = 4096
VALIDATE_EVERY = 25
SCORE_CHUNK_BLOCKS = 1 << 16  # the final score renders every block of the GOP, this many at a time


def schedule_for(preset: str, device: str, iterations: int | None = None) -> Schedule:
    """The preset's schedule; on CUDA the same steps see CUDA_BATCH_FACTOR times more pixels."""
    schedule = PRESETS[preset]
    if iterations is not None:
        schedule = dataclasses.replace(schedule, fixed_steps=iterations)
    if device.startswith("cuda"):
        schedule = dataclasses.replace(schedule, batch_blocks=schedule.batch_blocks * CUDA_BATCH_FACTOR)
    return schedule


@dataclasses.dataclass(frozen=True)
class GopTask:
    """One GOP's training job: plain arrays and dataclasses, so that it can go to another process."""

    gop: Gop
    targets: Planes  # uint8 planes of gop.predicted, stacked on axis 0
    ref_previous: Planes
    ref_own: Planes
    ref_next: Planes
    flow_arch: FieldArch
    residual_arch: FieldArch
    flow_scale: float
    matrix: int
    full_range: bool
    schedule: Schedule
    quant: QuantConfig
    seed: int
    device: str = "cpu"
    # The pilot prices a GOP length by train_psnr, so it scores every block (docs/decisions/0050); an
    # encode's GOPs are measured on the decoded file instead and keep the validation sample's score.
    score_every_block: bool = True
    give_up: GiveUp | None = None  # the pilot's stops, for a length that cannot reach the floor's curve


@dataclasses.dataclass(frozen=True)
class GopResult:
    """A trained GOP: its quantized networks, as the file will store them."""

    index: int
    flow: list[QuantizedTensor]
    residual: list[QuantizedTensor]
    seconds: float
    train_psnr: float  # RGB PSNR of the quantized networks on the predicted frames (GopTask.score_every_block)
    given_up: bool = False  # stopped at one of GopTask.give_up, with no networks (train_psnr: the float PSNR there)
    stopped_after: float = 0.0  # given up: the share of the float steps it had taken
    needed_psnr: float = math.nan  # given up: the PSNR the floor's curve asked of its networks' bytes there


def task_steps(task: GopTask) -> int:
    """Optimizer steps train_gop takes for `task` (both phases), for progress counts."""
    frames, height, width = task.targets[0].shape
    return sum(task.schedule.steps(frames, height * width))


def _lr_factor(step: int, total: int, warmup: float) -> float:
    warm = max(1, int(total * warmup))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_renderer(task: GopTask, device: torch.device) -> GopRenderer:
    torch.manual_seed(task.seed)
    return GopRenderer(
        gop=task.gop,
        height=task.targets[0].shape[1],
        width=task.targets[0].shape[2],
        flow_scale=task.flow_scale,
        flow_net=CoordinateField(task.flow_arch, device=device),
        residual_net=CoordinateField(task.residual_arch, device=device),
        ref_previous=planes_to_yuv444(*task.ref_previous, device),
        ref_own=planes_to_yuv444(*task.ref_own, device),
        ref_next=planes_to_yuv444(*task.ref_next, device),
        autocast=device.type == "cuda",
    )


def train_gop(task: GopTask, on_steps: Callable[[int], None] | None = None) -> GopResult:
    """Fit, fake-quantize and fine-tune, quantize. Deterministic for a given task on a given device.

    `on_steps` hears how many steps were done since it last heard (encoder.progress.StepTicker).
    """
    started = time.perf_counter()
    tick = StepTicker(on_steps)
    device = torch.device(task.device)
    renderer = build_renderer(task, device)
    gop = task.gop
    y_t, u_t, v_t = (torch.from_numpy(p.astype(np.float32) / 255.0).to(device) for p in task.targets)
    n_frames, height, width = y_t.shape
    ch, cw = u_t.shape[1:]
    frame_ids = torch.tensor(gop.predicted, device=device)
    generator = torch.Generator().manual_seed(task.seed)
    offsets_y = torch.tensor([0, 0, 1, 1], device=device)
    offsets_x = torch.tensor([0, 1, 0, 1], device=device)
    flow_net, residual_net = renderer.flow_net, renderer.residual_net
    params = list(flow_net.ordered_parameters()) + list(residual_net.ordered_parameters())
    n_flow = len(list(flow_net.ordered_parameters()))
    schedule = task.schedule
    batch = schedule.batch_blocks

    def draw_blocks(count: int, gen: torch.Generator) -> torch.Tensor:
        """[3, count] random (frame, block row, block column), drawn on the CPU: the same on every device."""
        return torch.stack(
            [
                torch.randint(n_frames, (count,), generator=gen),
                torch.randint(ch, (count,), generator=gen),
                torch.randint(cw, (count,), generator=gen),
            ]
        )

    def blocks_loss(blocks: torch.Tensor, weights: list[torch.Tensor] | None) -> torch.Tensor:
        """RGB MSE of the 4:2:0 reconstruction of 2x2 blocks ([3, N]: frame, block row, block column)."""
        f, by, bx = blocks.unbind(0)
        ys = (2 * by[:, None] + offsets_y).clamp(max=height - 1)
        xs = (2 * bx[:, None] + offsets_x).clamp(max=width - 1)
        ff = f[:, None].expand(-1, 4)
        flow_p, res_p = (None, None) if weights is None else (weights[:n_flow], weights[n_flow:])
        yuv = renderer.points(frame_ids[ff].reshape(-1), ys.reshape(-1), xs.reshape(-1), flow_p, res_p)
        yuv = yuv.reshape(-1, 4, 3)
        pred = torch.cat([yuv[:, :, :1], yuv[:, :, 1:].mean(dim=1, keepdim=True).expand(-1, 4, -1)], dim=2)
        target = torch.stack(
            [y_t[ff, ys, xs], u_t[f, by, bx][:, None].expand(-1, 4), v_t[f, by, bx][:, None].expand(-1, 4)], dim=2
        )
        diff = to_rgb(pred) - to_rgb(target)
        return (diff * diff).mean()

    outputs = (flow_net.last.weight, residual_net.last.weight)
    configs = [quant_config_for(p, task.quant, output_layer=any(p is o for o in outputs)) for p in params]
    to_rgb = yuv_to_rgb_torch(task.matrix, task.full_range, device)
    validation = draw_blocks(VALIDATION_BLOCKS, torch.Generator().manual_seed(task.seed + 1)).to(device)
    float_steps, qat_steps = schedule.steps(n_frames, height * width)
    steps: list[torch.Tensor] = []
    best: tuple[float, list[torch.Tensor]] = (math.inf, [])

    def quantized_weights() -> list[torch.Tensor]:
        return [fake_quantize(p, c, s) for p, c, s in zip(params, configs, steps)]

    def step_loss(blocks: torch.Tensor, quantized: bool) -> torch.Tensor:
        return blocks_loss(blocks, quantized_weights() if quantized else None)

    def keep_if_best() -> None:
        """Quantization-aware training is noisy: remember the quantized state that validates best."""
        nonlocal best
        with torch.no_grad():
            loss = float(blocks_loss(validation, quantized_weights()))
        if loss < best[0]:
            best = (loss, [p.detach().clone() for p in params])

    for phase, total, lr in (("float", float_steps, schedule.lr), ("qat", qat_steps, schedule.qat_lr)):
        quantized = phase == "qat"
        if quantized:  # the grid is fixed from here on, so weights settle on it instead of chasing it
            steps = [steps_for(p, c) for p, c in zip(params, configs)]
            keep_if_best()
        stepper = OptimizerSteps(params, lr, functools.partial(step_loss, quantized=quantized), device)
        blocks = BlockFeed(lambda: draw_blocks(batch, generator), total, device)
        give_up = None if quantized else task.give_up
        stops = give_up.stop_steps(total) if give_up else {}
        for step in range(total):
            stepper(blocks.next(), lr * _lr_factor(step, total, schedule.warmup if phase == "float" else 0.0))
            if quantized and ((step + 1) % VALIDATE_EVERY == 0 or step + 1 == total):
                keep_if_best()
            tick()
            if give_up and step in stops:
                with torch.no_grad():
                    reached = _psnr(float(blocks_loss(validation, None)))
                    now = [quantize(p, c) for p, c in zip(params, configs)]  # their bytes as they stand
                needed = give_up.least_psnr(encoded_networks_size([now]))
                if reached < needed - stops[step]:
                    tick.flush()
                    seconds = time.perf_counter() - started
                    return GopResult(gop.index, [], [], seconds, reached, True, (step + 1) / total, needed)
        tick.flush()
        del stepper  # frees a captured graph's memory before the next phase captures its own
    with torch.no_grad():
        for p, kept in zip(params, best[1]):
            p.copy_(kept)
        mse = best[0]
        if task.score_every_block:
            # not the validation sample the state was picked by: that score ran 0.9 dB above the
            # rendered frames on a static camera (docs/decisions/0050)
            every_block = torch.cartesian_prod(torch.arange(n_frames), torch.arange(ch), torch.arange(cw)).T
            weights = quantized_weights()
            sse = sum(
                float(blocks_loss(chunk, weights)) * chunk.shape[1]
                for chunk in every_block.to(device).split(SCORE_CHUNK_BLOCKS, dim=1)
            )
            mse = sse / every_block.shape[1]
    tensors = [quantize(p, c, s) for p, c, s in zip(params, configs, steps)]
    return GopResult(gop.index, tensors[:n_flow], tensors[n_flow:], time.perf_counter() - started, _psnr(mse))


def _psnr(mse: float) -> float:
    """PSNR of an MSE of values in [0, 1]."""
    return 10 * math.log10(1.0 / mse) if mse > 0 else float("inf")


def train_with_fallback(task: GopTask, train: Callable[[GopTask], GopResult], log: Callable[[str], None]) -> GopResult:
    """Train one GOP; on CUDA out-of-memory halve the pixels per step and retry, saying so.

    Below MIN_BATCH_BLOCKS the networks or the GOP themselves do not fit: the error names the
    settings that shrink them.
    """
    while True:
        try:
            return train(task)
        except CUDA_OOM:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            blocks = task.schedule.batch_blocks
            if blocks <= MIN_BATCH_BLOCKS:
                raise ResourceError(
                    f"CUDA ran out of memory training GOP {task.gop.index} even at {blocks} pixel blocks "
                    f"per step: lower --gop (fewer frames on the GPU) or --quality (narrower networks), "
                    f"or use --device cpu"
                ) from None
            smaller = max(MIN_BATCH_BLOCKS, blocks // 2)
            log(
                f"CUDA out of memory training GOP {task.gop.index} at {blocks} pixel blocks per step: "
                f"retrying with {smaller} (the result differs from a run with more GPU memory)"
            )
            task = dataclasses.replace(task, schedule=dataclasses.replace(task.schedule, batch_blocks=smaller))
