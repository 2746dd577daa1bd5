"""Overfitting one GOP's two networks: Adam with warm-up + cosine, then quantization-aware fine-tuning.

A GopTask holds only numpy arrays and dataclasses so it can be shipped to a worker process;
seeding is per GOP, so the result does not depend on how many workers run or in which order.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Callable

import numpy as np
import torch

from bitstream import FieldArch, QuantizedTensor

from .colour import yuv_to_rgb_torch
from .fields import CoordinateField
from .gop import Gop
from .quant import QuantConfig, fake_quantize, quant_config_for, quantize, steps_for
from .render import GopRenderer, planes_to_yuv444

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


REFERENCE_PIXELS = 176 * 144
MAX_PIXEL_SCALE = 16.0


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Steps and batch of the two training phases.

    Float steps are `base_steps + steps_per_frame * frames`: a network needs a minimum number of
    steps to converge whatever its GOP's length (GOPs of 16 trained for 40 steps a frame lost
    ~1 dB to GOPs of 32 on carphone), and longer GOPs need more samples to cover their frames.
    """

    base_steps: int
    steps_per_frame: int
    batch_blocks: int = 1024  # 2x2 pixel blocks per step (4 network evaluations each)
    qat_fraction: float = 0.2  # quantization-aware steps, as a fraction of the float steps
    lr: float = 1e-2
    qat_lr: float = 1e-3
    warmup: float = 0.1
    fixed_steps: int | None = None  # overrides steps_per_frame (tests, experiments)

    def steps(self, frames: int, pixels: int = REFERENCE_PIXELS) -> tuple[int, int]:
        """(float steps, quantization-aware steps) for a GOP predicting `frames` frames of `pixels` each.

        Frames larger than 176x144 get proportionally more steps (up to 16x), so every pixel is
        sampled about as often as in a QCIF frame: vtest at 384x288 gained ~1 dB from 4x the steps.
        """
        if self.fixed_steps is not None:
            total = self.fixed_steps
        else:
            scale = min(MAX_PIXEL_SCALE, max(1.0, pixels / REFERENCE_PIXELS))
            total = round((self.base_steps + self.steps_per_frame * frames) * scale)
        return total, max(1, round(total * self.qat_fraction))


# Measured on carphone (docs/results.md): lr 1e-2 beat 5e-3 and 2e-3; 1024-block batches gave the
# most quality per CPU second (512 and 256 needed more time for the same PSNR).
PRESETS: dict[str, Schedule] = {
    "fast": Schedule(base_steps=600, steps_per_frame=25),
    "medium": Schedule(base_steps=3000, steps_per_frame=100),
    "slow": Schedule(base_steps=8000, steps_per_frame=250),
}
CUDA_BATCH_FACTOR = 16
CUDA_GRAPHS = True  # on CUDA, each phase's step is captured once and replayed (benchmarks flip it to compare)
GRAPH_WARMUP_STEPS = 3  # eager steps before the capture: they create Adam's state and the libraries' handles
SAMPLE_CHUNK = 64  # steps of random blocks drawn and copied to a GPU at once
# GOPs trained side by side on one GPU, a process each (api._default_jobs). With the step captured as a
# graph one process keeps an H200 busy: 572 GOP-iterations/s, 499 with 2 or 4 processes (docs/results.md).
CUDA_JOBS = 1
VALIDATION_BLOCKS = 4096
VALIDATE_EVERY = 25


def schedule_for(preset: str, device: str, iterations: int | None = None) -> Schedule:
    """The preset's schedule; on CUDA the same steps see CUDA_BATCH_FACTOR times more pixels."""
    schedule = PRESETS[preset]
    if iterations is not None:
        schedule = dataclasses.replace(schedule, fixed_steps=iterations)
    if device.startswith("cuda"):
        schedule = dataclasses.replace(schedule, batch_blocks=schedule.batch_blocks * CUDA_BATCH_FACTOR)
    return schedule


@dataclasses.dataclass
class GopTask:
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


@dataclasses.dataclass
class GopResult:
    index: int
    flow: list[QuantizedTensor]
    residual: list[QuantizedTensor]
    seconds: float
    train_psnr: float  # RGB PSNR of the quantized networks on the validation blocks (diagnostic)


def _lr_factor(step: int, total: int, warmup: float) -> float:
    warm = max(1, int(total * warmup))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class BlockFeed:
    """Each step's random blocks on the training device, in the order they are drawn.

    On a GPU they are drawn SAMPLE_CHUNK steps at a time and copied in one asynchronous transfer,
    so the CPU never waits for the GPU between steps; the values are those of one draw per step.
    """

    def __init__(self, draw: Callable[[], torch.Tensor], total: int, device: torch.device) -> None:
        self.draw, self.left, self.device = draw, total, device
        self.chunk: list[torch.Tensor] = []

    def next(self) -> torch.Tensor:
        if self.device.type == "cpu":
            return self.draw()
        if not self.chunk:
            count = min(SAMPLE_CHUNK, self.left)
            drawn = torch.stack([self.draw() for _ in range(count)]).pin_memory()
            self.chunk = list(drawn.to(self.device, non_blocking=True).unbind(0))[::-1]
            self.left -= count
        return self.chunk.pop()


class OptimizerSteps:
    """Adam steps on a loss of one [3, batch] block tensor: eager on the CPU, a replayed CUDA graph on a GPU.

    A training step is ~630 small kernels; launching them one by one from Python bounds a GPU step
    by the CPU (docs/results.md). Captured once per phase after a few eager steps, a step is one
    launch. On CUDA Adam keeps its step count and learning rate on the device (`capturable`), with
    or without the graph, so CUDA_GRAPHS changes the speed, not the arithmetic.
    """

    def __init__(self, params: list[torch.Tensor], lr: float, loss: Callable[[torch.Tensor], torch.Tensor],
                 device: torch.device) -> None:
        self.loss, self.device = loss, device
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.optimizer = torch.optim.Adam(params, lr=torch.tensor(lr, device=device), capturable=True)
        else:
            self.optimizer = torch.optim.Adam(params, lr=lr)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.blocks: torch.Tensor | None = None  # what the captured graph reads; later steps copy theirs in
        self.eager_steps = 0

    def _eager(self, blocks: torch.Tensor) -> None:
        loss = self.loss(blocks)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def __call__(self, blocks: torch.Tensor, lr: float) -> None:
        group = self.optimizer.param_groups[0]
        if not self.cuda:
            group["lr"] = lr
            self._eager(blocks)
            return
        group["lr"].fill_(lr)
        if not CUDA_GRAPHS:
            self._eager(blocks)
            return
        if self.graph is None and self.eager_steps < GRAPH_WARMUP_STEPS:
            side = torch.cuda.Stream(self.device)  # as torch.cuda.graph's documentation warms up: off the main stream
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._eager(blocks)
            torch.cuda.current_stream(self.device).wait_stream(side)
            self.eager_steps += 1
            return
        if self.graph is None:
            self.blocks = blocks.clone()
            self.optimizer.zero_grad(set_to_none=True)  # the captured backward allocates the gradients it replays into
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self._graph_body()
        else:
            self.blocks.copy_(blocks)
        self.graph.replay()

    def _graph_body(self) -> None:
        loss = self.loss(self.blocks)
        loss.backward()
        self.optimizer.step()


def build_renderer(task: GopTask, device: torch.device) -> GopRenderer:
    torch.manual_seed(task.seed)
    return GopRenderer(
        gop=task.gop, height=task.targets[0].shape[1], width=task.targets[0].shape[2],
        flow_scale=task.flow_scale,
        flow_net=CoordinateField(task.flow_arch, device=device),
        residual_net=CoordinateField(task.residual_arch, device=device),
        ref_previous=planes_to_yuv444(*task.ref_previous, device),
        ref_own=planes_to_yuv444(*task.ref_own, device),
        ref_next=planes_to_yuv444(*task.ref_next, device),
        autocast=device.type == "cuda",
    )


def train_gop(task: GopTask) -> GopResult:
    """Fit, fake-quantize and fine-tune, quantize. Deterministic for a given task on a given device."""
    started = time.perf_counter()
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
        return torch.stack([torch.randint(n_frames, (count,), generator=gen),
                            torch.randint(ch, (count,), generator=gen), torch.randint(cw, (count,), generator=gen)])

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
        target = torch.stack([y_t[ff, ys, xs], u_t[f, by, bx][:, None].expand(-1, 4),
                              v_t[f, by, bx][:, None].expand(-1, 4)], dim=2)
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
        for step in range(total):
            stepper(blocks.next(), lr * _lr_factor(step, total, schedule.warmup if phase == "float" else 0.0))
            if quantized and ((step + 1) % VALIDATE_EVERY == 0 or step + 1 == total):
                keep_if_best()
        del stepper  # frees a captured graph's memory before the next phase captures its own
    with torch.no_grad():
        for p, kept in zip(params, best[1]):
            p.copy_(kept)
    tensors = [quantize(p, c, s) for p, c, s in zip(params, configs, steps)]
    psnr = 10 * math.log10(1.0 / best[0]) if best[0] > 0 else float("inf")
    return GopResult(gop.index, tensors[:n_flow], tensors[n_flow:], time.perf_counter() - started, psnr)
