"""Batched TV-L1 optical flow in PyTorch: the algorithm of OpenCV's DualTVL1 (Zach-Pock-Bischof
in the form of Sanchez Perez et al., IPOL 2013), step for step, on any torch device.

`tvl1_flow(prev [B, H, W], nxt [B, H, W]) -> [B, H, W, 2]` float32 pixels, (x, y) from `prev` to
`nxt` (prev(y, x) ~ nxt(y + v, x + u)), as `cv2.optflow.DualTVL1OpticalFlow.calc` returns.
What follows OpenCV (opencv_contrib modules/optflow/src/tvl1flow.cpp):
- grey levels 0..255 in float32; pyramid by bilinear resize with factor `scale_step` and no
  pre-smoothing, sizes rounded, stopping before a level under 16 pixels; flow upsampled
  bilinearly to the finer size and divided by `scale_step`; dual variables reset per scale;
- per warp: the second image and its centred gradient (one-sided halves at the borders) sampled
  at x + u bicubically (A = -0.75, zeros outside);
- per outer iteration a 5x5 median of the flow (replicated borders), then inner iterations of
  thresholding, divergence (backward differences), flow update and dual projection (forward
  differences);
- stopping rule, per pair: a pair stops the warp's iterations once the sum of its squared flow
  updates is at most epsilon^2 * H * W (OpenCV's scaled epsilon); converged pairs leave the
  solver (their flow is kept) while the rest continue, and the warp ends when all have stopped.
  Iterations run in place on preallocated buffers; on a CPU, one thread per process is fastest
  (OpenMP threads on these per-iteration ops collapse on a busy machine: see benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

_FLOAT_EPSILON = float(np.finfo(np.float32).eps)  # std::numeric_limits<float>::epsilon()


@dataclass(frozen=True)
class TVL1Options:
    """DualTVL1's parameters, named as OpenCV names them (defaults: OpenCV's defaults)."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    median_filtering: int = 5

    @classmethod
    def from_opencv_params(cls, params: dict) -> TVL1Options:
        """Build from the keyword arguments of `DualTVL1OpticalFlow_create` (gamma must be 0)."""
        if params.get("gamma", 0.0) != 0.0 or params.get("useInitialFlow", False):
            raise ValueError("the torch TV-L1 implements gamma = 0 and no initial flow only")
        if params.get("medianFiltering", 5) not in (0, 1, 5):
            raise ValueError("the torch TV-L1 implements median filtering 5 (or off) only")
        return cls(
            tau=params["tau"],
            lambda_=params["lambda_"],
            theta=params["theta"],
            nscales=params["nscales"],
            warps=params["warps"],
            epsilon=params["epsilon"],
            inner_iterations=params["innnerIterations"],  # sic: OpenCV's spelling
            outer_iterations=params["outerIterations"],
            scale_step=params["scaleStep"],
            median_filtering=params["medianFiltering"],
        )


def _pyramid_sizes(height: int, width: int, opts: TVL1Options) -> list[tuple[int, int]]:
    """(h, w) per level, finest first; cv::resize rounds h * step, w * step (half to even)."""
    sizes = [(height, width)]
    for _ in range(1, opts.nscales):
        h, w = sizes[-1]
        nh, nw = round(h * opts.scale_step), round(w * opts.scale_step)
        if nh < 16 or nw < 16:
            break
        sizes.append((nh, nw))
    return sizes


def _downscale(images: torch.Tensor, size: tuple[int, int], step: float) -> torch.Tensor:
    """cv::resize(src, dst, Size(), step, step, INTER_LINEAR): source x = (x' + 0.5) / step - 0.5,
    clamped to the image (replicated border). images: [B, C, H, W] -> [B, C, h, w]."""
    b, _, in_h, in_w = images.shape
    h, w = size
    dev = images.device
    xs = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) / step - 0.5
    ys = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) / step - 0.5
    gx = (2.0 * xs + 1.0) / in_w - 1.0  # grid_sample's align_corners=False normalisation
    gy = (2.0 * ys + 1.0) / in_h - 1.0
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)  # [h, w, 2]
    grid = grid.unsqueeze(0).expand(b, h, w, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _centred_gradient(image: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] -> [B, 2, H, W] (d/dx, d/dy): central differences, at the borders half the
    one-sided difference -- exactly central differences over a replicated border."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    dx = 0.5 * (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2])
    dy = 0.5 * (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1])
    return torch.cat([dx, dy], dim=1)


def _warp_bicubic(images: torch.Tensor, flow: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """cv::remap(images, x + u, INTER_CUBIC, BORDER_CONSTANT 0). images [B, C, H, W], flow
    [B, 2, H, W] pixels, base [2, H, W] the pixel grid (x, y)."""
    _, _, h, w = images.shape
    coords = base + flow  # [B, 2, H, W]; OpenCV 4's remap uses these unrounded (measured)
    gx = coords[:, 0] * (2.0 / max(w - 1, 1)) - 1.0  # align_corners=True: pixel centres
    gy = coords[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)  # [B, H, W, 2]
    return F.grid_sample(images, grid, mode="bicubic", padding_mode="zeros", align_corners=True)


def _compare_exchange(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.minimum(a, b), torch.maximum(a, b)


def _median5(flow: torch.Tensor) -> torch.Tensor:
    """cv::medianBlur(ksize=5) per channel: [B, C, H, W] with replicated borders.

    Forgetful selection over the 25 shifted views (no [.., 25] copy, no sort): keep 14 taps,
    drop the smallest and largest (neither can be the median), add the next tap, repeat;
    the one value left is the exact median. ~170 elementwise min/max pairs.
    """
    h, w = flow.shape[-2:]
    padded = F.pad(flow, (2, 2, 2, 2), mode="replicate")
    taps = [padded[..., dy : dy + h, dx : dx + w] for dy in range(5) for dx in range(5)]
    work, taken = taps[:14], 14
    while True:
        for i in range(1, len(work)):  # smallest to the front
            work[0], work[i] = _compare_exchange(work[0], work[i])
        for i in range(1, len(work) - 1):  # largest of the rest to the back
            work[i], work[-1] = _compare_exchange(work[i], work[-1])
        work = work[1:-1]
        if taken == len(taps):
            return work[0].contiguous()
        work.append(taps[taken])
        taken += 1


class _Solver:
    """The iterate of the pairs still running in one warp: flow u and dual variables p = (px,
    py), each [B, 2, H, W], the warp's fixed terms, and scratch buffers; steps run in place
    (allocating per op costs more than the arithmetic on a CPU)."""

    def __init__(
        self,
        u: torch.Tensor,
        px: torch.Tensor,
        py: torch.Tensor,
        grad_i: torch.Tensor,  # [B, 2, H, W] warped gradient of the second image
        rho_c: torch.Tensor,  # [B, 1, H, W] constant part of the residual
        inv_grad: torch.Tensor,  # [B, 1, H, W] 1 / max(|grad I|^2, float epsilon)
    ) -> None:
        self.u, self.px, self.py = u.clone(), px.clone(), py.clone()
        self.grad_i, self.rho_c, self.inv_grad = grad_i, rho_c, inv_grad
        self.rho = torch.empty_like(rho_c)
        self.scratch = torch.empty_like(u)
        self.u_next = torch.empty_like(u)
        self.norm = torch.empty_like(u)
        self.ux = torch.zeros_like(u)  # the last column stays 0 (forward difference)
        self.uy = torch.zeros_like(u)  # the last row stays 0

    def select(self, keep: torch.Tensor) -> _Solver:
        """The same solver for the pairs where `keep` [B] is true."""
        return _Solver(
            self.u[keep],
            self.px[keep],
            self.py[keep],
            self.grad_i[keep],
            self.rho_c[keep],
            self.inv_grad[keep],
        )

    def median(self) -> None:
        self.u = _median5(self.u)

    def step(self, opts: TVL1Options) -> torch.Tensor:
        """One inner iteration; returns each pair's sum of squared flow updates [B]."""
        l_t = opts.lambda_ * opts.theta
        taut = opts.tau / opts.theta
        u, nxt, tmp = self.u, self.u_next, self.scratch
        # rho = rho_c + grad I . u; OpenCV's three thresholding cases are one clamp:
        # |rho| >= l_t |grad I|^2 gives -+l_t, otherwise -rho / |grad I|^2 (0 where both vanish).
        torch.mul(self.grad_i, u, out=tmp)
        torch.sum(tmp, dim=1, keepdim=True, out=self.rho)
        self.rho.add_(self.rho_c).mul_(self.inv_grad).neg_().clamp_(-l_t, l_t)
        torch.addcmul(u, self.rho, self.grad_i, out=nxt)  # v = u + step * grad I
        # divergence of p: backward differences, zero before the first row/column
        tmp.copy_(self.px)
        tmp[..., 1:].sub_(self.px[..., :-1])
        tmp.add_(self.py)
        tmp[..., 1:, :].sub_(self.py[..., :-1, :])
        nxt.add_(tmp, alpha=opts.theta)  # u' = v + theta div p
        torch.sub(nxt, u, out=tmp)
        error = tmp.square_().sum(dim=(1, 2, 3))
        torch.sub(nxt[..., 1:], nxt[..., :-1], out=self.ux[..., :-1])
        torch.sub(nxt[..., 1:, :], nxt[..., :-1, :], out=self.uy[..., :-1, :])
        torch.mul(self.ux, self.ux, out=self.norm)
        self.norm.addcmul_(self.uy, self.uy).sqrt_().mul_(taut).add_(1.0)
        self.px.add_(self.ux, alpha=taut).div_(self.norm)
        self.py.add_(self.uy, alpha=taut).div_(self.norm)
        self.u, self.u_next = nxt, u
        return error


@dataclass
class _State:
    """The flow and dual variables of a whole batch at one scale, each [B, 2, H, W]."""

    u: torch.Tensor
    px: torch.Tensor
    py: torch.Tensor

    def store(self, rows: torch.Tensor, solver: _Solver, which: torch.Tensor) -> None:
        """Copy the solver's pairs `which` into batch rows `rows`."""
        self.u[rows] = solver.u[which]
        self.px[rows] = solver.px[which]
        self.py[rows] = solver.py[which]


def _one_warp(
    s: _State, i0: torch.Tensor, i1_and_grad: torch.Tensor, base: torch.Tensor, opts: TVL1Options
) -> None:
    """Warp the second image to the current flow, then iterate until each pair converges.

    Converged pairs leave the solver (their flow is stored), so the batch only pays for the
    pairs still running; one host sync per inner iteration decides that, as OpenCV checks.
    """
    warped = _warp_bicubic(i1_and_grad, s.u, base)  # [B, 3, H, W]: I1w, I1wx, I1wy
    grad_i = warped[:, 1:]
    rho_c = warped[:, :1] - (grad_i * s.u).sum(dim=1, keepdim=True) - i0
    inv_grad = 1.0 / grad_i.square().sum(dim=1, keepdim=True).clamp_min(_FLOAT_EPSILON)
    scaled_epsilon = opts.epsilon**2 * i0.shape[-1] * i0.shape[-2]
    solver = _Solver(s.u, s.px, s.py, grad_i.contiguous(), rho_c, inv_grad)
    rows = torch.arange(i0.shape[0], device=i0.device)  # batch row of each solver pair
    for _ in range(opts.outer_iterations):
        if opts.median_filtering > 1:
            solver.median()
        for _ in range(opts.inner_iterations):
            converged = solver.step(opts) <= scaled_epsilon
            n_converged = int(converged.sum())
            if n_converged:
                s.store(rows[converged], solver, converged)
                if n_converged == len(rows):
                    return
                running = ~converged
                solver, rows = solver.select(running), rows[running]
    s.store(rows, solver, torch.ones_like(rows, dtype=torch.bool))


def _as_grey_float(images: torch.Tensor) -> torch.Tensor:
    """[B, H, W] uint8 (0..255) or float (0..1, scaled to 0..255 as OpenCV does) -> float32."""
    if images.dtype == torch.uint8:
        return images.float()
    return images.float() * 255.0


def tvl1_flow(
    prev: torch.Tensor, nxt: torch.Tensor, opts: TVL1Options | None = None
) -> torch.Tensor:
    """TV-L1 flow for a batch of grey pairs [B, H, W] (uint8, or float in 0..1) on their device.

    Returns float32 [B, H, W, 2] pixels (x, y), the flow that maps `prev` onto `nxt`.
    """
    opts = opts or TVL1Options()
    if prev.ndim != 3 or prev.shape != nxt.shape:
        raise ValueError(f"tvl1_flow needs two [B, H, W] batches, got {prev.shape}, {nxt.shape}")
    if min(prev.shape[1:]) < 3:
        raise ValueError(f"frames of {tuple(prev.shape[1:])} are too small for TV-L1")
    with torch.inference_mode():
        i0 = _as_grey_float(prev).unsqueeze(1)  # [B, 1, H, W] 0..255
        i1 = _as_grey_float(nxt).unsqueeze(1)
        sizes = _pyramid_sizes(prev.shape[1], prev.shape[2], opts)
        levels = [(i0, i1)]
        for size in sizes[1:]:
            both = _downscale(torch.cat(levels[-1], dim=1), size, opts.scale_step)
            levels.append((both[:, :1], both[:, 1:]))
        u = torch.zeros(prev.shape[0], 2, *sizes[-1], device=prev.device)
        for level in range(len(sizes) - 1, -1, -1):
            a, b = levels[level]
            h, w = sizes[level]
            if u.shape[-2:] != (h, w):
                u = F.interpolate(u, size=(h, w), mode="bilinear", align_corners=False)
                u = u / opts.scale_step
            ys, xs = torch.meshgrid(
                torch.arange(h, device=u.device, dtype=torch.float32),
                torch.arange(w, device=u.device, dtype=torch.float32),
                indexing="ij",
            )
            base = torch.stack([xs, ys])  # [2, H, W] pixel (x, y)
            i1_and_grad = torch.cat([b, _centred_gradient(b)], dim=1)  # [B, 3, H, W]
            s = _State(u, torch.zeros_like(u), torch.zeros_like(u))
            for _ in range(opts.warps):
                _one_warp(s, a, i1_and_grad, base, opts)
            u = s.u
        return u.permute(0, 2, 3, 1).contiguous()  # [B, H, W, 2]
