"""Native BN-Inception (Ioffe & Szegedy 2015) as TSN released it, named after its Caffe layers.

Every Caffe layer `a/b` with weights is the module `a_b` here (the naming the tsn-pytorch port and
its `bn_inception-9f5701afb96c8044.pth` use), so released weights load by name. Input: BGR,
0..255, Caffe means (normalize.py's `caffe_bgr255`). Output: (N, 1024) pooled features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# name, 1x1, 3x3_reduce, 3x3, double_3x3_reduce, double_3x3, pool, pool_proj, stride.
# A stride-2 block has no 1x1 and no pool_proj; its pool output is concatenated directly.
_BLOCKS = (
    ("inception_3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("inception_3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("inception_3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("inception_4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("inception_4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("inception_4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("inception_4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("inception_4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("inception_5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("inception_5b", 352, 192, 320, 192, 224, "max", 128, 1),
)

FEATURE_DIM = 1024


def caffe_to_module_name(caffe_name: str) -> str:
    """`inception_3a/1x1_bn` -> `inception_3a_1x1_bn` (the module holding that layer's blobs)."""
    return caffe_name.replace("/", "_")


class BNInception(nn.Module):
    """BN-Inception feature extractor: (N, 3, H, W) -> (N, 1024).

    Matches Caffe at sides that are multiples of 32 (224 included). Other sizes also run: where
    Caffe's ceil-mode stride-2 pool would come out one smaller than the stride-2 convs (odd
    stage sizes, where Caffe itself fails), the pool is padded by one instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_bn("conv1/7x7_s2", 3, 64, 7, stride=2, pad=3)
        self._conv_bn("conv2/3x3_reduce", 64, 64, 1)
        self._conv_bn("conv2/3x3", 64, 192, 3, pad=1)
        channels = 192
        for name, c1, r3, c3, rd, cd, _pool, proj, stride in _BLOCKS:
            if c1:
                self._conv_bn(f"{name}/1x1", channels, c1, 1)
            self._conv_bn(f"{name}/3x3_reduce", channels, r3, 1)
            self._conv_bn(f"{name}/3x3", r3, c3, 3, stride=stride, pad=1)
            self._conv_bn(f"{name}/double_3x3_reduce", channels, rd, 1)
            self._conv_bn(f"{name}/double_3x3_1", rd, cd, 3, pad=1)
            self._conv_bn(f"{name}/double_3x3_2", cd, cd, 3, stride=stride, pad=1)
            if proj:
                self._conv_bn(f"{name}/pool_proj", channels, proj, 1)
            channels = c1 + c3 + cd + (proj if proj else channels)
        assert channels == FEATURE_DIM

    def _conv_bn(self, caffe_name: str, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0):
        name = caffe_to_module_name(caffe_name)
        self.add_module(name, nn.Conv2d(cin, cout, k, stride=stride, padding=pad))
        self.add_module(f"{name}_bn", nn.BatchNorm2d(cout, eps=1e-5))

    def _unit(self, x: torch.Tensor, caffe_name: str) -> torch.Tensor:
        """Convolution -> BN -> ReLU, as every Caffe conv here is followed."""
        name = caffe_to_module_name(caffe_name)
        return F.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)), inplace=True)

    def _block(self, x: torch.Tensor, spec: tuple) -> torch.Tensor:
        name, c1, _r3, _c3, _rd, _cd, pool, proj, stride = spec
        branches = []
        if c1:
            branches.append(self._unit(x, f"{name}/1x1"))
        branches.append(self._unit(self._unit(x, f"{name}/3x3_reduce"), f"{name}/3x3"))
        double = self._unit(x, f"{name}/double_3x3_reduce")
        double = self._unit(self._unit(double, f"{name}/double_3x3_1"), f"{name}/double_3x3_2")
        branches.append(double)
        if stride == 2:
            odd = x.shape[-1] % 2 or x.shape[-2] % 2
            pooled = F.max_pool2d(x, 3, 2, padding=1 if odd else 0, ceil_mode=not odd)
        elif pool == "max":
            pooled = F.max_pool2d(x, 3, 1, padding=1, ceil_mode=True)
        else:  # Caffe AVE pooling counts the padding
            pooled = F.avg_pool2d(x, 3, 1, padding=1, ceil_mode=True, count_include_pad=True)
        branches.append(self._unit(pooled, f"{name}/pool_proj") if proj else pooled)
        return torch.cat(branches, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, 1024)
        x = self._unit(x, "conv1/7x7_s2")  # (N, 64, H/2, W/2)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)  # pool1/3x3_s2
        x = self._unit(self._unit(x, "conv2/3x3_reduce"), "conv2/3x3")  # (N, 192, H/4, W/4)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)  # pool2/3x3_s2
        for spec in _BLOCKS:
            x = self._block(x, spec)  # (N, 1024, H/32, W/32) after inception_5b
        return x.mean(dim=(2, 3))  # global_pool (AVE 7x7 at 224)
