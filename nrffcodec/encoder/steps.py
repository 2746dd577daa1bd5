"""Optimizer steps on the training device: eager on the CPU, one replayed CUDA graph per phase on a GPU."""

from __future__ import annotations

from collections.abc import Callable

import torch

CUDA_GRAPHS = True  # on CUDA, each phase's step is captured once and replayed (benchmarks flip it to compare)
GRAPH_WARMUP_STEPS = 3  # eager steps before the capture: they create Adam's state and the libraries' handles
SAMPLE_CHUNK = 64  # steps of random blocks drawn and copied to a GPU at once


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

    A training step is hundreds of small kernels; launched one by one from Python, the CPU bounds
    a GPU step. Captured once per phase after a few eager steps, a step is one launch. On CUDA
    Adam keeps its step count and learning rate on the device (`capturable`), with or without the
    graph, so CUDA_GRAPHS changes the speed, not the arithmetic.
    """

    def __init__(
        self, params: list[torch.Tensor], lr: float, loss: Callable[[torch.Tensor], torch.Tensor], device: torch.device
    ) -> None:
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
