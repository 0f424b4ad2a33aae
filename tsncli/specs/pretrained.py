"""The table of released whole-TSN checkpoints that `--pretrained SOURCE` fine-tunes from (e.g.
MMAction2's Kinetics-400 TSNs): per fetch name, the source, arch and modality it serves, its URL
and hash, and the `tsn convert` kind that turns it into a tsn checkpoint on arrival. Adding one is
one `add_pretrained` here; `tsn fetch weights`, `tsn fetch --list`/`--check`, `tsn train
--pretrained` and its help read this table. Plain data: importing it loads no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from tsncli.modality import Modality, check_modality
from tsncli.registry import Registry
from tsncli.specs.weights import UrlWeights

CONVERTERS = ("mmaction", "tsn-pytorch")  # the `tsn convert` kinds that read a released file


@dataclass(frozen=True, kw_only=True)
class PretrainedTSN:
    """One released TSN checkpoint. `--pretrained <source>` with a run's arch and modality picks
    it; training loads its backbone and starts a new classifier for the run's classes (as
    MMAction2's `load_from` fine-tuning does)."""

    name: str  # `tsn fetch weights <name>`, e.g. "tsn_r50_kinetics400_rgb"
    source: str  # what `--pretrained` takes, e.g. "kinetics400"
    arch: str  # a backbone name in `tsncli.specs.backbones`
    modality: Modality  # the run modality it initialises (a name is coerced to its member)
    weights: UrlWeights  # the released file, its mirrors and sha256 prefix
    converter: str  # `tsn convert <converter>` turns the file into a tsn checkpoint
    release: str  # the releasing project's config name, for messages and the record

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", check_modality(self.modality))
        if self.converter not in CONVERTERS:
            raise ValueError(
                f"{self.name}: converter {self.converter!r} is not one of {CONVERTERS}"
            )
        if self.source in ("imagenet", "none"):
            raise ValueError(f"{self.name}: source {self.source!r} is taken by --pretrained")


PRETRAINED: Registry[PretrainedTSN] = Registry("pretrained TSN")


def add_pretrained(spec: PretrainedTSN) -> None:
    """Register `spec` under its fetch name (one entry per source, arch and modality)."""
    if find_pretrained(spec.source, spec.arch, spec.modality) is not None:
        raise ValueError(f"{spec.source} {spec.arch} {spec.modality} is registered twice")
    PRETRAINED.add(spec.name, spec)


def pretrained_sources() -> list[str]:
    """Every `--pretrained` source name in the table, in registration order."""
    return list(dict.fromkeys(PRETRAINED.get(name).source for name in PRETRAINED))


def pretrained_for(source: str) -> list[PretrainedTSN]:
    """Every entry of `source` (empty when no entry has that source)."""
    return [spec for spec in map(PRETRAINED.get, PRETRAINED) if spec.source == source]


def find_pretrained(source: str, arch: str, modality: str) -> PretrainedTSN | None:
    """The entry for `source` that initialises an `arch` `modality` run, or None."""
    wanted = check_modality(modality)
    return next(
        (s for s in pretrained_for(source) if s.arch == arch and s.modality is wanted), None
    )


# MMAction2 0.x model zoo (configs/recognition/tsn/README.md and metafile.yml): the two ResNet-50
# TSNs its ActivityNet configs load (`load_from` in tsn_r50_320p_1x1x8_50e_activitynet_video_rgb.py
# and tsn_r50_320p_1x1x8_150e_activitynet_video_flow.py), which the presets activitynet_rgb/flow
# follow: 8 segments, short side 320, Kinetics-400 top-1 72.41 (RGB) and 57.76 (flow, 5 stacked
# TV-L1 pairs, input (x - 128) / 128). The file names end in the first 8 hex digits of the
# file's sha256 (MMAction2's publish_model.py). download.openmmlab.com fronts the same bucket that
# MMAction2's README linked as openmmlab.oss-accelerate.aliyuncs.com from July to September 2020
# (commits 80e35f34 to 1e77b0ba); the hash check makes the second URL safe to try.
_MMACTION_HOSTS = (
    "https://download.openmmlab.com/mmaction/recognition/tsn",
    "https://openmmlab.oss-accelerate.aliyuncs.com/mmaction/recognition/tsn",
)
_R50_BYTES = 97_800_000  # 24.3 M parameters (metafile) in float32, plus BN statistics


def _mmaction_weights(config: str, stamp: str, sha256_prefix: str) -> UrlWeights:
    file = f"{config}/{config}_{stamp}-{sha256_prefix}.pth"
    primary, *mirrors = (f"{host}/{file}" for host in _MMACTION_HOSTS)
    return UrlWeights(
        primary,
        approx_bytes=_R50_BYTES,
        sha256_prefix=sha256_prefix,
        what="Kinetics-400 TSN",
        mirrors=tuple(mirrors),
    )


add_pretrained(
    PretrainedTSN(
        name="tsn_r50_kinetics400_rgb",
        source="kinetics400",
        arch="resnet50",
        modality=Modality.RGB,
        weights=_mmaction_weights(
            "tsn_r50_320p_1x1x8_100e_kinetics400_rgb", "20200702", "ef80e3d7"
        ),
        converter="mmaction",
        release="MMAction2 tsn_r50_320p_1x1x8_100e_kinetics400_rgb",
    )
)
add_pretrained(
    PretrainedTSN(
        name="tsn_r50_kinetics400_flow",
        source="kinetics400",
        arch="resnet50",
        modality=Modality.FLOW,
        weights=_mmaction_weights(
            "tsn_r50_320p_1x1x8_110e_kinetics400_flow", "20200705", "1f39486b"
        ),
        converter="mmaction",
        release="MMAction2 tsn_r50_320p_1x1x8_110e_kinetics400_flow",
    )
)
