"""Overfitting one GOP's two networks: Adam with warm-up + cosine, then quantization-aware fine-tuning.

A GopTask holds only numpy arrays and dataclasses so it can be shipped to a worker process;
seeding is per GOP, so the result does not depend on how many workers run or in which order.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch

from bitstream import FieldArch, QuantizedTensor

from .colour import yuv_to_rgb_torch
from .fields import CoordinateField
from .gop import Gop
from .quant import fake_quantize, quantize
from .render import GopRenderer, planes_to_yuv444

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Iterations and batch of the two training phases."""

    iterations: int
    qat_iterations: int
    batch_blocks: int  # 2x2 pixel blocks per step (4 network evaluations each)
    lr: float = 5e-3
    qat_lr: float = 5e-4
    warmup: float = 0.1


PRESETS: dict[str, Schedule] = {
    "fast": Schedule(iterations=600, qat_iterations=150, batch_blocks=1024),
    "medium": Schedule(iterations=3000, qat_iterations=600, batch_blocks=2048),
    "slow": Schedule(iterations=9000, qat_iterations=1500, batch_blocks=2048),
}
CUDA_BATCH_FACTOR = 16


def schedule_for(preset: str, device: str, iterations: int | None = None) -> Schedule:
    """The preset's schedule; on CUDA the same steps see CUDA_BATCH_FACTOR times more pixels."""
    schedule = PRESETS[preset]
    if iterations is not None:
        schedule = dataclasses.replace(schedule, iterations=iterations,
                                       qat_iterations=max(1, iterations // 5))
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
    weight_bits: int
    per_channel: bool
    seed: int
    device: str = "cpu"


@dataclasses.dataclass
class GopResult:
    index: int
    flow: list[QuantizedTensor]
    residual: list[QuantizedTensor]
    seconds: float
    train_psnr: float  # RGB PSNR of the quantized networks on the last batches (diagnostic)


def _lr_factor(step: int, total: int, warmup: float) -> float:
    warm = max(1, int(total * warmup))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


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
    recent: list[float] = []

    def step_loss(quantized: bool) -> torch.Tensor:
        f = torch.randint(n_frames, (batch,), generator=generator).to(device)
        by = torch.randint(ch, (batch,), generator=generator).to(device)
        bx = torch.randint(cw, (batch,), generator=generator).to(device)
        ys = (2 * by[:, None] + offsets_y).clamp(max=height - 1)
        xs = (2 * bx[:, None] + offsets_x).clamp(max=width - 1)
        ff = f[:, None].expand(-1, 4)
        if quantized:
            qp = [fake_quantize(p, task.weight_bits, task.per_channel) for p in params]
            flow_p, res_p = qp[:n_flow], qp[n_flow:]
        else:
            flow_p = res_p = None
        yuv = renderer.points(frame_ids[ff].reshape(-1), ys.reshape(-1), xs.reshape(-1), flow_p, res_p)
        yuv = yuv.reshape(batch, 4, 3)
        pred = torch.cat([yuv[:, :, :1], yuv[:, :, 1:].mean(dim=1, keepdim=True).expand(-1, 4, -1)], dim=2)
        target = torch.stack([y_t[ff, ys, xs], u_t[f, by, bx][:, None].expand(-1, 4),
                              v_t[f, by, bx][:, None].expand(-1, 4)], dim=2)
        diff = yuv_to_rgb_torch(pred, task.matrix, task.full_range) - yuv_to_rgb_torch(target, task.matrix,
                                                                                        task.full_range)
        return (diff * diff).mean()

    for phase, total, lr, quantized in (("float", schedule.iterations, schedule.lr, False),
                                        ("qat", schedule.qat_iterations, schedule.qat_lr, True)):
        optimizer = torch.optim.Adam(params, lr=lr)
        for step in range(total):
            for group in optimizer.param_groups:
                group["lr"] = lr * _lr_factor(step, total, schedule.warmup if phase == "float" else 0.0)
            loss = step_loss(quantized)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if quantized and step >= total - 20:
                recent.append(float(loss.detach()))
    flow = [quantize(p, task.weight_bits, task.per_channel) for p in flow_net.ordered_parameters()]
    residual = [quantize(p, task.weight_bits, task.per_channel) for p in residual_net.ordered_parameters()]
    mse = float(np.mean(recent)) if recent else float("nan")
    psnr = 10 * math.log10(1.0 / mse) if mse > 0 else float("inf")
    return GopResult(gop.index, flow, residual, time.perf_counter() - started, psnr)
