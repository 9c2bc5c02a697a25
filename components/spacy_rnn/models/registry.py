"""Rebuilding torch modules from their hyper-parameters (no pickle).

Every module here has an `hparams` dict of plain values (a nested module appears as its own
`net_spec`) and a `from_hparams` classmethod; `build_net(net_spec(net))` builds a module of the
same shape, into which the saved state dict is then loaded.
"""
from typing import Dict, Type

from torch import nn

NETS: Dict[str, Type[nn.Module]] = {}


def register_net(cls: Type[nn.Module]) -> Type[nn.Module]:
    """Class decorator: make the module buildable by `build_net` under its class name."""
    NETS[cls.__name__] = cls
    return cls


def net_spec(net: nn.Module) -> Dict:
    """{"net": class name, "hparams": constructor values}: what `build_net` needs."""
    return {"net": type(net).__name__, "hparams": net.hparams}


def build_net(spec: Dict) -> nn.Module:
    if spec["net"] not in NETS:
        raise ValueError(f"Unknown torch module {spec['net']!r}; expected one of {sorted(NETS)}")
    return NETS[spec["net"]].from_hparams(spec["hparams"])
