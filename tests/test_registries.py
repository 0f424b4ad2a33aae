"""Every registry entry is whole: each backbone resolves its builder, convention, weights and
conversion map, and reaches `tsn fetch weights`; each flow algorithm builds per pair and, where
it says so, batched in torch and on the fly; entries missing what they need are refused."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from flow_helpers import shifted_frames

from tsncli.acquire.catalog import (
    entry_names,
    get_entry,
    weight_archs,
    weights_entry_name,
    weights_path,
)
from tsncli.data.snippet_source import check_flow_on_the_fly
from tsncli.errors import DataError, UsageError
from tsncli.flow.algorithms import (
    create_flow_fn,
    require_cached_weights,
    resolve_builder,
    resolve_implementation,
)
from tsncli.flow.backends import TorchBatchFlow
from tsncli.models.backbones import create_backbone, get_backbone
from tsncli.specs.backbones import (
    BACKBONES,
    CONVENTIONS,
    BackboneSpec,
    TorchvisionBackbone,
)
from tsncli.specs.flow_algorithms import (
    FLOW_ALGORITHMS,
    IMPLEMENTATIONS,
    FlowAlgorithm,
    get_flow_algorithm,
)
from tsncli.specs.weights import TorchvisionWeights, UrlWeights

BACKBONE_NAMES = BACKBONES.names()
FLOW_NAMES = FLOW_ALGORITHMS.names()


@pytest.fixture(autouse=True)
def one_raft_iteration(monkeypatch):
    """RAFT with 1 flow update instead of 12: these tests check the wiring, not the flow."""
    from tsncli.flow import raft

    real = raft.raft_flow
    monkeypatch.setattr(raft, "raft_flow", lambda model, a, b: real(model, a, b, iterations=1))


@pytest.fixture
def weights_cache(tmp_path, monkeypatch):
    """A weights cache holding random weights for every flow algorithm that has weights (the
    real ones are a download away; these check the wiring, not the flow). Every such algorithm
    is a torchvision RAFT today; another model needs its own random-weights recipe here."""
    from tsncli.flow.raft import create_raft

    monkeypatch.setenv("TSN_HOME", str(tmp_path))
    for name in FLOW_NAMES:
        if get_flow_algorithm(name).weights is not None:
            path = weights_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(0)
            torch.save(create_raft(name, weights=None).state_dict(), path)
    return tmp_path


# --- backbones ---------------------------------------------------------------------------


@pytest.mark.parametrize("arch", BACKBONE_NAMES)
def test_every_backbone_resolves_its_builder_convention_and_conversion_map(arch):
    spec = get_backbone(arch)
    assert spec.name == arch
    assert callable(resolve_builder(spec.build))
    assert spec.convention in CONVENTIONS
    if spec.conversion is not None:
        assert callable(resolve_builder(spec.conversion))


@pytest.mark.parametrize("arch", BACKBONE_NAMES)
def test_every_backbone_has_weights_in_the_catalog_or_says_it_has_none(arch):
    spec = get_backbone(arch)
    if spec.weights is None:
        assert arch not in weight_archs()
        return
    assert isinstance(spec.weights, TorchvisionWeights | UrlWeights)
    assert arch in weight_archs() and f"weights/{arch}" in entry_names()
    entry = get_entry(f"weights/{arch}")
    assert entry.kind == "weights" and entry.files[0].url.startswith("https://")
    assert arch in entry.description


def test_tsn_fetch_weights_takes_every_backbone_with_weights():
    from tsncli.commands.fetch import complete_names

    class Ctx:  # what completion sees after `tsn fetch weights `
        params = {"names": ["weights"]}

    offered = complete_names(Ctx(), "")
    assert offered == list(weight_archs())
    assert [a for a in BACKBONE_NAMES if get_backbone(a).weights is not None] == [
        a for a in offered if a in BACKBONES
    ]
    assert all(weights_entry_name(a) == f"weights/{a}" for a in offered)


@pytest.mark.parametrize("arch", [a for a in BACKBONE_NAMES if get_backbone(a).min_size <= 8])
def test_small_backbones_build_and_name_their_first_conv_and_bn(arch):
    net = create_backbone(arch)
    spec = get_backbone(arch)
    assert isinstance(net.get_submodule(spec.first_conv), torch.nn.Conv2d)
    assert isinstance(net.get_submodule(spec.first_bn), torch.nn.BatchNorm2d)


def _entry(**kw):
    fields = dict(
        name="resnet9",
        build=TorchvisionBackbone("resnet18", "drop_fc"),
        feature_dim=512,
        first_conv="conv1",
        first_bn="bn1",
        convention="imagenet_rgb01",
    )
    return BackboneSpec(**(fields | kw))


def test_a_backbone_entry_without_weights_is_refused_unless_it_says_none():
    with pytest.raises(TypeError, match="weights"):
        _entry()
    assert _entry(weights=None).weights is None  # explicitly weightless, like `tiny`
    with pytest.raises(ValueError, match="weights must be"):
        _entry(weights="ResNet18_Weights")


def test_a_backbone_entry_with_an_unknown_convention_or_head_is_refused():
    with pytest.raises(ValueError, match="convention"):
        _entry(weights=None, convention="rgb255")
    with pytest.raises(ValueError, match="head"):
        TorchvisionBackbone("resnet18", "drop_everything")
    with pytest.raises(ValueError, match="module:attr"):
        _entry(weights=None, build="tsncli.models.backbones.TinyCNN")


def test_the_backbone_table_imports_neither_torch_nor_torchvision():
    code = (
        "import sys, tsncli.specs.backbones, tsncli.specs.flow_algorithms, tsncli.acquire.weights;"
        "print(sorted(m for m in ('torch', 'torchvision', 'cv2', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- flow algorithms ---------------------------------------------------------------------


@pytest.mark.parametrize("name", FLOW_NAMES)
def test_every_flow_algorithm_builds_per_pair_on_tiny_frames(name, weights_cache):
    try:
        flow_fn = create_flow_fn(name)
    except AttributeError as exc:  # tvl1 and warp_tvl1 need opencv-contrib's cv2.optflow
        if "optflow" not in str(exc):
            raise
        pytest.skip("opencv-contrib (cv2.optflow) is not installed")
    a, b = shifted_frames(2, 64, 48, 2, 1)
    flow = flow_fn(a, b)
    assert flow.shape == (48, 64, 2) and flow.dtype == np.float32
    assert np.isfinite(flow).all()


@pytest.mark.parametrize(
    "name", [n for n in FLOW_NAMES if "torch" in FLOW_ALGORITHMS.get(n).implementations]
)
def test_every_torch_algorithm_builds_a_batch_function(name):
    batch = TorchBatchFlow(name, "cpu", max_batch=2, weights=None)
    a, b = shifted_frames(2, 64, 48, 2, 1)
    prev, nxt = np.stack([a, a]), np.stack([b, b])
    flow = batch(prev, nxt)
    assert flow.shape == (2, 48, 64, 2) and flow.dtype == np.float32


@pytest.mark.parametrize("name", FLOW_NAMES)
def test_every_flow_algorithm_resolves_exactly_its_implementations(name):
    entry = get_flow_algorithm(name)
    assert set(entry.implementations) <= set(IMPLEMENTATIONS)
    assert "cpu" in entry.devices
    for impl in IMPLEMENTATIONS:
        if impl in entry.implementations:
            assert resolve_implementation(name, impl, "cpu") == impl
        else:
            with pytest.raises(UsageError, match="--impl"):
                resolve_implementation(name, impl, "cpu")
    assert resolve_implementation(name, None, "cpu") in entry.implementations
    if "cuda" in entry.devices:
        assert resolve_implementation(name, None, "cuda:0") == "torch"


@pytest.mark.parametrize("name", FLOW_NAMES)
def test_on_the_fly_algorithms_are_exactly_those_the_loaders_accept(name):
    if get_flow_algorithm(name).on_the_fly:
        assert check_flow_on_the_fly(name) == name
    else:
        with pytest.raises(UsageError, match="--flow-on-the-fly"):
            check_flow_on_the_fly(name)


@pytest.mark.parametrize("name", FLOW_NAMES)
def test_flow_weights_are_in_the_catalog_and_required_before_a_run(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TSN_HOME", str(tmp_path))
    if get_flow_algorithm(name).weights is None:
        assert name not in weight_archs()
        assert require_cached_weights(name) is None
        return
    assert name in weight_archs() and get_entry(f"weights/{name}").kind == "weights"
    with pytest.raises(DataError, match=f"tsn fetch weights {name}"):
        require_cached_weights(name)


def test_flow_entries_missing_a_builder_are_refused():
    with pytest.raises(ValueError, match="needs `pair`"):
        FlowAlgorithm(name="x", description="x", implementations=("opencv",))
    with pytest.raises(ValueError, match="needs `batch`"):
        FlowAlgorithm(name="x", description="x", implementations=("torch",))
    with pytest.raises(ValueError, match="implementations"):
        FlowAlgorithm(name="x", description="x", implementations=("cuda",), batch="m:f")
    with pytest.raises(ValueError, match="on the fly"):
        FlowAlgorithm(
            name="x", description="x", implementations=("torch",), batch="m:f", on_the_fly=True
        )


def test_flow_help_lists_every_algorithm(runner, cli):
    result = runner.invoke(cli, ["flow", "--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in FLOW_NAMES)
