"""What the components' `add_label` share: append a label and, on a built model, grow its net and
give the model what the labels now give (`TorchPipe.model_attrs`, what `check_model` compares)."""
from typing import Callable, List

from torch import nn

from ..layers import get_torch_net, set_inference_net


def missing_label_advice(pipe, label: str, call: str = "") -> str:
    """What to do about a gold label the component lacks: add it (`call`: the add_label
    arguments after the label, e.g. ', head="tag"'), then train with a fresh optimizer; or
    initialize on data that contains it (a component being trained from scratch)."""
    return (
        f"add it first, nlp.get_pipe({pipe.name!r}).add_label({label!r}{call}), and train with a fresh optimizer "
        f"(nlp.resume_training(sgd=nlp.create_optimizer())); or, training from scratch, initialize the pipeline "
        f"on data that contains it"
    )


def add_label(pipe, labels: List[str], label: str, grow: Callable[[nn.Module], None]) -> int:
    """Append label to labels (a list in pipe.cfg["labels"]): 1, or 0 when it is there already.
    When the pipe's net is built, grow(net) adds its outputs, then the model's attrs are updated
    from the pipe's model_attrs(), and predictions use the grown module (an inference copy made
    at load has the old outputs)."""
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"[{pipe.name}] a label must be a non-empty string, not {label!r}")
    if label in labels:
        return 0
    labels.append(label)
    net = get_torch_net(pipe.model)
    if type(net) is not nn.Module:  # built
        grow(net)
        set_inference_net(pipe.model, None)
        pipe.model.attrs.update(pipe.model_attrs())
    return 1
