"""One rank's model and data for training: the batch plan, the model with its initial weights
(`--pretrained`: an ImageNet backbone or a released TSN's such as Kinetics-400's; or `--init` from
another TSN checkpoint), the training and validation sets and their loaders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from tsncli.data.dataset import TSNDataset, create_loader, default_workers
from tsncli.data.device_decode import EncodedClips, collate_encoded
from tsncli.engine.distributed import DistContext
from tsncli.engine.train.plan import RunPlan
from tsncli.errors import UsageError
from tsncli.models.checkpoint import load_checkpoint
from tsncli.models.pretrained import load_backbone_from_checkpoint, load_pretrained_weights
from tsncli.models.tsn import TSN, create_tsn, unwrap_model

log = logging.getLogger("tsncli.train")


class _Indexed(Dataset):
    """(clip, label, index) over a subset of a dataset, so validation shards merge in order."""

    def __init__(self, dataset: Dataset, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        clip, label = self.dataset[self.indices[i]]
        return clip, label, self.indices[i]


def batch_plan(batch_size: int, micro_batch: int | None, world_size: int) -> tuple[int, int]:
    """(clips per forward per rank, accumulation steps) so the effective batch is `batch_size`."""
    if batch_size % world_size:
        raise UsageError(
            f"batch size {batch_size} does not split over {world_size} processes; "
            f"use a multiple of {world_size}"
        )
    per_rank = batch_size // world_size
    micro = min(micro_batch or per_rank, per_rank)
    if per_rank % micro:
        raise UsageError(
            f"micro batch {micro} does not divide the {per_rank} clips per process; "
            "pick a divisor of batch_size / processes"
        )
    return micro, per_rank // micro


def build_model(plan: RunPlan, device: str) -> TSN:
    """The TSN of the plan with pretrained or --init weights, on `device`."""
    cfg = plan.config
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = create_tsn(
        cfg.arch,
        len(plan.class_names),
        modality=cfg.modality,
        num_segments=cfg.segments,
        new_length=cfg.new_length,
        consensus=cfg.consensus,
        dropout=cfg.dropout,
        partial_bn=cfg.bn != "full",
    )
    if plan.pretrained_path:
        load_backbone_weights(model, plan.pretrained_path)
    if cfg.init:
        load_init_checkpoint(model, cfg.init)
    if cfg.bn == "frozen":
        freeze_all_bn(model)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def load_backbone_weights(model: TSN, path: str | Path) -> None:
    """Load `--pretrained`'s file: ImageNet (or other backbone) weights, or a TSN checkpoint's
    backbone (a released Kinetics TSN) with a new fc; flow/RGB-diff conv1 from RGB weights gets
    the cross-modality init."""
    report = load_pretrained_weights(model, path)
    log.info(
        "loaded %d backbone tensors from %s (adapted: %s)", report.loaded, path, report.adapted
    )


def load_init_checkpoint(model: TSN, path: str | Path) -> None:
    """`--init CKPT`: the backbone of another TSN checkpoint (e.g. Kinetics); a new fc."""
    report = load_backbone_from_checkpoint(model, load_checkpoint(path), name=str(path))
    log.info("initialised the backbone from %s (%d tensors)", path, report.loaded)


def freeze_all_bn(model: nn.Module) -> None:
    """For bn=frozen: also stop training the first BN layer (partial BN froze the rest)."""
    for param in unwrap_model(model).first_bn.parameters():
        param.requires_grad_(False)


@dataclass(frozen=True)
class TrainData:
    """The training and validation sets of one rank, their loaders and the batch plan."""

    train_set: TSNDataset
    sampler: DistributedSampler
    loader: Any
    val_set: TSNDataset
    val_loader: Any
    steps: int  # optimizer steps per epoch
    accumulation: int


def create_train_data(plan: RunPlan, ctx: DistContext) -> TrainData:
    """This rank's shard of the training set (shuffled per epoch) and of the validation set."""
    cfg = plan.config
    cuda = ctx.device.startswith("cuda")
    micro, accumulation = batch_plan(cfg.batch_size, cfg.micro_batch, ctx.world_size)
    workers = default_workers(ctx.world_size) if cfg.workers is None else cfg.workers

    def dataset(records: Any, mode: str, source: Any) -> TSNDataset:
        return TSNDataset(
            records,
            cfg.modality,
            cfg.segments,
            cfg.new_length,
            mode,
            cfg.crop_size,
            cfg.seed,
            source=source,
            flip=cfg.flip is not False,  # the dataset's flip policy (off for sthv2)
        )

    train_set = dataset(plan.train_records, "train", plan.train_source)
    # --decode-device cuda: workers hand over JPEG bytes and sampling; the loop decodes
    encoded = cfg.decode_device != "cpu"
    collate = collate_encoded if encoded else None
    sampler = DistributedSampler(
        train_set, ctx.world_size, ctx.rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    steps = len(sampler) // (micro * accumulation)
    if steps == 0:
        raise UsageError(
            f"batch size {cfg.batch_size} is larger than the {len(train_set)} training videos; "
            "lower --batch-size"
        )
    loader = create_loader(
        EncodedClips(train_set) if encoded else train_set,
        micro,
        sampler=sampler,
        workers=workers,
        pin_memory=cuda,
        drop_last=True,
        seed=cfg.seed,
        collate_fn=collate,
    )
    val_set = dataset(plan.val_records, "val", plan.val_source)
    val_items = EncodedClips(val_set) if encoded else val_set
    val_shard = _Indexed(val_items, list(range(ctx.rank, len(val_set), ctx.world_size)))
    val_loader = create_loader(
        val_shard, micro, workers=workers, pin_memory=cuda, collate_fn=collate
    )
    return TrainData(train_set, sampler, loader, val_set, val_loader, steps, accumulation)
