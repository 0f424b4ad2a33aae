"""tsn: Temporal Segment Networks as one command-line toolkit, and a small library face.

    import tsncli
    tsncli.list_models()                       # every backbone name
    model = tsncli.create_model("resnet50", num_classes=101, modality="flow")
    model, meta = tsncli.load_checkpoint("runs/ucf101_rgb/best.pt")  # eval mode, on the CPU

The three load on first use (PEP 562 `__getattr__`), so `import tsncli` and `tsn --version`
import neither torch nor the models.
"""

from __future__ import annotations

import importlib
from typing import Any  # loaded by typer anyway: `tsn --version` pays nothing more

__version__ = "0.1.0"

# public name -> (defining module, attribute). Named as strings, not imported under
# TYPE_CHECKING: import-linter would see the package root import models/ and every module that
# imports `tsncli.__version__` would then import upward through it.
_LIBRARY = {
    "create_model": ("tsncli.models.tsn", "create_tsn"),
    "load_checkpoint": ("tsncli.models.checkpoint", "create_model_from_checkpoint"),
    "list_models": ("tsncli.specs.backbones", "list_backbones"),
}

__all__ = ["__version__", "create_model", "list_models", "load_checkpoint"]


def __getattr__(name: str) -> Any:
    if name not in _LIBRARY:
        raise AttributeError(f"module 'tsncli' has no attribute {name!r}")
    module, attr = _LIBRARY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LIBRARY})
