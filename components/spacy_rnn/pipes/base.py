"""What every torch-backed component shares: the training step, global gradient clipping,
parameter averaging, the prediction batch limit kept in pipe.cfg, and the inference settings
(precision, input projection: `spacy_rnn.inference`) applied when the component is loaded."""
import pickle
from collections import deque
from pathlib import Path
from typing import Callable, Deque, Dict, Iterable, List, Optional, Tuple

import srsly
import torch
import torch.nn.functional as F
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, xp2torch
from thinc.util import convert_recursive, is_xp_array

from ..encoder_contract import EncoderSettingError
from ..errors import check_diverged, damaged_file
from ..inference import check_settings, inference_copy
from ..layers import (
    check_encoder_vectors, get_torch_net, round_weights, set_inference_net, set_max_batch_tokens, set_weights_storage,
)

IGNORE_INDEX = -100
# Copies of cfg entries that pipelines saved by earlier versions kept in their model's attrs;
# loading drops them (cfg is their one home).
SAVED_COPIES = ("labels", "max_batch_tokens")


class TorchPipe(TrainablePipe):
    """A TrainablePipe whose model is a `spacy_rnn.layers.TorchModel` (outputs are torch tensors).

    Subclasses implement predict, set_annotations, get_loss(examples, outputs) -> (loss,
    d_outputs) and `model_attrs`. The component's settings and labels live in cfg, as in spaCy's
    components: `pass_settings` gives the model the settings it reads, `model_attrs` is what its
    torch module is built from. cfg["max_batch_tokens"] (tagger, recognizer, classifier) bounds
    the padded tokens of a prediction batch (memory, not results). Gradients are clipped to a
    global L2 norm of `cfg["max_grad_norm"]` before the optimizer step. The norms before clipping
    of the last MAX_KEPT_NORMS steps are kept in `grad_norms` (the training logger drains them
    into the training log).

    A component given `precision` and `input_projection` (cfg; `spacy_rnn.inference`) predicts,
    once loaded (`from_disk`, `from_bytes`: what `spacy.load` calls), with an inference copy of
    its module converted to them; the trained float32 module stays the one that trains and is
    saved. Before loading (a pipeline being trained) it predicts with the trained module.

    cfg["weights_storage"] ("float32" or "float16", `spacy_rnn.layers.WEIGHTS_STORAGES`): how the
    module's weights are written to disk; the config's value wins over the saved one.
    `compact_weights` switches a trained component to float16.
    """

    MAX_KEPT_NORMS = 100_000
    NET_CLASS = ""  # the class name of the torch module the component's model builds
    # cfg entries that only change prediction: loading keeps the config's values (e.g.
    # spacy.load(path, config=...)) instead of those saved with the weights
    PREDICTION_SETTINGS: Tuple[str, ...] = ()
    INFERENCE_SETTINGS = ("precision", "input_projection")
    STORAGE_SETTINGS = ("weights_storage",)

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        labels,
        max_grad_norm: float,
        scorer: Optional[Callable],
        max_batch_tokens: Optional[int] = None,
        precision: Optional[str] = None,
        input_projection: Optional[str] = None,
        weights_storage: str = "float32",
    ):
        """labels: the empty label container of the subclass (filled by initialize).
        max_batch_tokens: the prediction batch limit of a token or doc model (None: the model
        has none). precision, input_projection: the inference settings (`spacy_rnn.inference`;
        None: the component is never converted). weights_storage: how the weights are saved."""
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {"labels": labels, "max_grad_norm": max_grad_norm, "weights_storage": weights_storage}
        if max_batch_tokens is not None:
            self.cfg["max_batch_tokens"] = max_batch_tokens
        try:
            self.pass_settings()
        except ValueError as err:
            raise ValueError(f"[{name}] {err}") from None
        if precision is not None:
            try:
                check_settings(precision, input_projection)
            except ValueError as err:
                raise ValueError(f"[{name}] {err}") from None
            self.cfg.update(precision=precision, input_projection=input_projection)

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch. Dropout rates are part of the model config; `drop` is unused."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        loss = self.accumulate_gradients(examples)
        if loss is None:
            return losses
        self.check_training(loss=loss)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def accumulate_gradients(self, examples: List[Example]) -> Optional[float]:
        """Add the batch's loss gradients to the torch module's parameters and return the loss;
        None when the batch holds nothing to learn from (e.g. only empty docs)."""
        docs = [eg.predicted for eg in examples]
        if not any(len(doc) for doc in docs):
            return None
        outputs, backprop = self.model.begin_update(docs)
        loss, d_outputs = self.get_loss(examples, outputs)
        backprop(d_outputs)
        return loss

    @property
    def labels(self) -> tuple:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.cfg["labels"])

    def finish_update(self, sgd: Optimizer) -> None:
        net = get_torch_net(self.model)
        self.check_optimizer(sgd, net)
        norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), self.cfg["max_grad_norm"]))
        if not hasattr(self, "grad_norms"):
            self.grad_norms: Deque[float] = deque(maxlen=self.MAX_KEPT_NORMS)
        self.grad_norms.append(norm)
        self.check_training(grad_norm=norm)
        self.model.finish_update(sgd)
        self.n_updates = getattr(self, "n_updates", 0) + 1
        # Only trained weights can change: a frozen Transformer's 22M are not re-checked every step.
        self.check_training(weights=(param for param in net.parameters() if param.requires_grad))

    def check_optimizer(self, sgd: Optimizer, net: torch.nn.Module) -> None:
        """Refuse (ValueError, before any weight changes; the pending gradients are dropped) an
        optimizer holding state (Adam moments, averages) of other sizes for the net's parameters:
        one that stepped the component before `add_label` grew it (thinc would fail with
        "arrays have incompatible shapes" midway through the update)."""
        shim_id = self.model.shims[0].id
        stores = [store for store in (getattr(sgd, "mom1", None), getattr(sgd, "mom2", None), getattr(sgd, "averages", None)) if store]
        if not stores:
            return
        for name, param in net.named_parameters():
            for store in stores:
                state = store.get((shim_id, name))
                if state is not None and state.size != param.numel():
                    net.zero_grad(set_to_none=True)
                    raise ValueError(
                        f"[{self.name}] the optimizer was used on this component before it grew (add_label): its state "
                        f"for {name} has {state.size} values, the parameter {param.numel()}. Update with a fresh "
                        f"optimizer: sgd = nlp.resume_training(sgd=nlp.create_optimizer()) (or nlp.create_optimizer()), "
                        f"then nlp.update(examples, sgd=sgd)."
                    )

    def check_training(self, **values) -> None:
        """`check_diverged` (loss, grad_norm or weights) at this component's update step (counted
        from 1): raises `TrainingDiverged` naming both."""
        check_diverged(f"[{self.name}] ", getattr(self, "n_updates", 0) + 1, **values)

    def pass_settings(self) -> None:
        """Give the model the cfg settings it reads: how its weights are saved and its prediction
        batch limit (`spacy_rnn.layers.set_weights_storage`, `set_max_batch_tokens`). Called when
        the component is made, loaded or compacted."""
        set_weights_storage(self.model, self.cfg["weights_storage"])
        if "max_batch_tokens" in self.cfg:
            set_max_batch_tokens(self.model, self.cfg["max_batch_tokens"])

    def from_disk(self, path, *, exclude=tuple()):
        """TrainablePipe.from_disk (cfg, then the weights), except that a damaged file (invalid
        JSON, truncated or empty weights) is a ValueError naming it and what to do."""
        settings = self.config_settings()
        self._validate_serialization_attrs()
        deserialize = {
            "cfg": self._load_cfg,
            "vocab": lambda p: self.vocab.from_disk(p, exclude=exclude),
            "model": self._load_weights,
        }
        util.from_disk(path, deserialize, exclude)
        self.finish_loading(settings, str(path))
        return self

    def finish_loading(self, settings: Dict, source: str) -> None:
        """After the saved cfg and weights are read: the config's `settings` go back over the
        saved cfg, the model's copies of cfg entries (`SAVED_COPIES`) are dropped and the
        settings passed to it, the weights are checked against cfg, and the inference copy is
        made."""
        self.cfg.update(settings)
        for name in SAVED_COPIES:
            self.model.attrs.pop(name, None)
        self.pass_settings()
        self.check_model(source)
        self.apply_inference_settings()

    def config_settings(self) -> Dict:
        """The cfg entries the config decides when a saved component is loaded (prediction and
        storage settings), to be put back over the saved cfg."""
        return {name: self.cfg[name] for name in (*self.PREDICTION_SETTINGS, *self.STORAGE_SETTINGS)}

    def compact_weights(self) -> None:
        """Save the weights as float16 from now on (half the size on disk), rounding them in
        memory first so that the component predicts what it will after saving and loading; the
        inference copy is made again from the rounded weights."""
        self.cfg["weights_storage"] = "float16"
        self.pass_settings()
        round_weights(self.model)
        set_inference_net(self.model, None)
        self.apply_inference_settings()

    def _load_cfg(self, path: Path) -> None:
        if not path.exists():  # as TrainablePipe: check_model then says what is missing
            return
        data = path.read_bytes()
        try:
            cfg = srsly.json_loads(data.decode("utf8"))
            if not isinstance(cfg, dict):
                raise ValueError(f"a JSON {type(cfg).__name__}, not an object")
        except ValueError as err:  # JSON errors, UnicodeDecodeError
            raise ValueError(f"[{self.name}] {path}: {damaged_file('empty' if not data else f'not valid JSON: {err}')}") from None
        self.cfg.update(cfg)

    def _load_weights(self, path: Path) -> None:
        data = Path(path).read_bytes()
        where = f"[{self.name}] {path}"
        if not data:
            raise ValueError(f"{where}: {damaged_file('empty')}")
        try:
            msg = srsly.msgpack_loads(data)
        except Exception as err:  # msgpack's errors: ValueError "Unpack failed: incomplete input", ExtraData...
            raise ValueError(f"{where}: {damaged_file(f'truncated or not a model file: {err}')}") from None
        if not isinstance(msg, dict) or "nodes" not in msg:
            raise ValueError(f"{where}: {damaged_file('not a model file')}")
        try:
            self.model.from_dict(convert_recursive(is_xp_array, self.model.ops.asarray, msg))
        except ValueError as err:  # e.g. the weights' checksum (`deserialize_net`)
            raise ValueError(f"{where}: {err}") from None
        except (RuntimeError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as err:  # torch.load, a module
            raise ValueError(f"{where}: {damaged_file(f'{type(err).__name__}: {err}')}") from None

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        settings = self.config_settings()
        super().from_bytes(bytes_data, exclude=exclude)
        self.finish_loading(settings, "bytes")
        return self

    def apply_inference_settings(self) -> None:
        """After loading: predict with an inference copy of the trained module converted to
        cfg["precision"] and cfg["input_projection"] (`spacy_rnn.inference.inference_copy`; int8
        falls back to float32 where it cannot run; bf16 without native support is a ValueError).
        Training the module drops the copy (`spacy_rnn.layers.ScaledPyTorchShim`)."""
        if self.cfg.get("precision") is None:
            return
        net = inference_copy(get_torch_net(self.model), self.cfg["precision"], self.cfg["input_projection"], self.name)
        set_inference_net(self.model, net)

    def check_model(self, source: str) -> None:
        """After loading: the weights are this component's (module class, finite values) and were
        built from what its labels give (`model_attrs`); otherwise a ValueError says what is
        wrong and what to do."""
        where = f"[{self.name}] {source}"
        net = get_torch_net(self.model)
        if self.NET_CLASS and type(net).__name__ != self.NET_CLASS:
            found = "no weights" if type(net) is torch.nn.Module else f"{type(net).__name__} weights"
            raise ValueError(
                f"{where}: the model file holds {found}, not the {self.NET_CLASS} weights a {type(self).__name__} "
                f"needs: it belongs to another component or was not saved after training."
            )
        if not all(bool(torch.isfinite(param).all()) for param in net.parameters()):
            raise ValueError(f"{where}: the weights contain NaN or infinite values (training diverged); retrain.")
        try:
            check_encoder_vectors(self.model, self.vocab.vectors)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        expected = self.model_attrs()
        built = {name: self.model.attrs.get(name) for name in expected}
        if built != expected:
            raise ValueError(
                f"{where}: the component's labels {self.label_data} need a model built with {expected}, but its "
                f"weights were built with {built}: the cfg file was edited or belongs to another model; restore it."
            )

    def model_attrs(self) -> Dict:
        """What the torch module is built from, derived from cfg (labels and settings): the
        model attrs that initialize and add_label give it, e.g. {"heads": {output: width}}; {}
        when it is built from none."""
        return {}

    def use_params(self, params: Dict):
        """Use averaged weights (thinc's `optimizer.averages`, with `use_averages = true`) until
        the generator is resumed, as spaCy's `Language.use_params` drives it when its training
        loop evaluates or saves a checkpoint (a generator, like `TrainablePipe.use_params`).
        thinc's PyTorchShim.use_params expects string keys and so would ignore the optimizer's
        (shim id, parameter name) keys; this reads them."""
        shim_id = self.model.shims[0].id
        net_params = dict(get_torch_net(self.model).named_parameters())
        averaged = {name: params[(shim_id, name)] for name in net_params if (shim_id, name) in params}
        if not averaged:
            yield
            return
        backup = {name: net_params[name].detach().clone() for name in averaged}
        with torch.no_grad():
            for name, value in averaged.items():
                net_params[name].copy_(xp2torch(value).reshape(net_params[name].shape))
        try:
            yield
        finally:
            with torch.no_grad():
                for name, value in backup.items():
                    net_params[name].copy_(value)

    def fit_model(self, docs: List) -> None:
        """Fit the encoder's features (vocabularies, vectors) to the training docs and build the
        torch module from what the labels give (`model_attrs`)."""
        self.model.attrs.update(self.model_attrs())
        try:
            self.model.initialize(X=(docs, self.vocab.vectors))
        except EncoderSettingError as err:
            raise ValueError(f"[components.{self.name}.model.encoder] {err}") from None
        except ValueError as err:
            raise ValueError(f"[{self.name}] {err}") from None

    def drain_grad_norms(self) -> List[float]:
        """The gradient norms recorded since the last call, oldest first."""
        norms = list(getattr(self, "grad_norms", []))
        self.grad_norms = deque(maxlen=self.MAX_KEPT_NORMS)
        return norms


def register_former_name(former: str, factory: str) -> None:
    """Register the factory `factory` under `former` too, with the same settings: its name before
    0.1.0 (CHANGELOG.md), which the config.cfg of every pipeline saved then names, so those
    pipelines load. A pipeline made with either name predicts the same."""
    meta = Language.get_factory_meta(factory)
    Language.factory(
        former,
        default_config=meta.default_config,
        assigns=meta.assigns,
        requires=meta.requires,
        retokenizes=meta.retokenizes,
        default_score_weights=meta.default_score_weights,
        func=util.registry.factories.get(Language.get_factory_name(factory)),
    )


def softmax_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> Tuple[float, torch.Tensor]:
    """Mean cross-entropy over targets != IGNORE_INDEX, and its gradient w.r.t. the logits.

    logits: FloatTensor[N, C] (unnormalised); targets: LongTensor[N].
    """
    leaf = logits.detach().requires_grad_()
    n_targets = int((targets != IGNORE_INDEX).sum())
    if n_targets == 0:
        return 0.0, torch.zeros_like(logits)
    loss = F.cross_entropy(leaf, targets.to(leaf.device), ignore_index=IGNORE_INDEX, reduction="sum")
    loss = loss / n_targets
    loss.backward()
    return float(loss.detach()), leaf.grad


def loss_per_doc(loss_fn: Callable[[List[torch.Tensor]], torch.Tensor], outputs: List[torch.Tensor]) -> Tuple[float, List[torch.Tensor]]:
    """loss_fn's value on per-doc outputs and its gradient w.r.t. each doc's output (zeros
    where the loss does not depend on it, e.g. an empty doc)."""
    leaves = [output.detach().requires_grad_() for output in outputs]
    loss = loss_fn(leaves)
    loss.backward()
    return float(loss.detach()), [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]


def compact_pipeline_weights(nlp) -> List[str]:
    """Save the weights of every torch component of `nlp` as float16 from now on
    (`TorchPipe.compact_weights`: rounded in memory too) and record it in their configs, so
    `nlp.to_disk` writes them at half the size and `spacy.load` reads them back into float32
    modules. Returns the names of those components."""
    names = [name for name, pipe in nlp.components if isinstance(pipe, TorchPipe)]
    for name in names:
        nlp.get_pipe(name).compact_weights()
        nlp.get_pipe_config(name)["weights_storage"] = "float16"
    return names
