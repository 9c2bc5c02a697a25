"""The thinc side of the torch components: a Model wrapping a torch module through one
PyTorchShim, safe serialization, and the Doc-level forward passes of the encoder heads.

`TorchModel` is the one wrapper every component uses. Its module is built at
`model.initialize()` by `build_net(model)` and saved as its `net_spec` (class name +
hyper-parameters) and state dict, so loading rebuilds the module and reads tensors only
(`torch.load(weights_only=True)`: no pickled code runs). Prediction goes through
`predict_net`, which runs the module in eval mode without gradients and never switches it back
to training mode, so threads sharing a pipeline get the same answers as one thread.

The module the shim holds is always the trained one (float32, per-token input projection): it
is what training updates and what `to_bytes`/`to_disk` save. A component may give the shim an
*inference copy* of it (`set_inference_net`; `spacy_rnn.inference`, made when the component is
loaded), which prediction then runs instead; training the module (`begin_update`), loading
other weights, moving or rebuilding it drops the copy, so predictions never run stale weights.

`TokenModel` (tagger, recognizer) and `DocModel` (text classifier) run an encoder head over
Docs: the encoder (e.g. `spacy_rnn.RNNEncoder.v1`) cuts the docs into windows and featurizes
them (`spacy_rnn.featurize`), the torch module maps the windows to outputs, and the Model
returns them per doc.
"""
import hashlib
import io
import logging
import os
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple

import numpy
import srsly
import torch
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, Optimizer, torch2xp, xp2torch
from thinc.shims import PyTorchShim
from thinc.util import get_torch_default_device
from torch import nn

from .encoder_contract import EncoderSpec
from .featurize import Window, bucket_windows, doc_windows, text_windows
from .models.registry import build_net, net_spec

TokenOutputs = Dict[str, List[torch.Tensor]]  # per output: FloatTensor[len(doc), width] for each doc
DocOutputs = Dict[str, torch.Tensor]  # per output: FloatTensor[n_docs, width]

# A forked child (e.g. a worker of `nlp.pipe(texts, n_process=2)`) inherits the parent's OpenMP
# thread pool in a state where torch's first parallel operation hangs; one thread per worker
# process avoids the pool (and is what n_process workers sharing the cores should use anyway).
os.register_at_fork(after_in_child=lambda: torch.set_num_threads(1))

# How `serialize_net` saves a module; pipelines saved by releases load (tests/test_saved_pipelines.py).
SERIALIZATION_FORMAT = 2
DEFAULT_MAX_BATCH_TOKENS = 8192
# How a module's float32 tensors are written to disk: float32, or float16 (half the size; read
# back into the float32 module, so a round trip of weights already rounded is exact).
WEIGHTS_STORAGES = ("float32", "float16")

logger = logging.getLogger("spacy_rnn")


def TorchModel(
    name: str, forward: Callable, build_net: Callable[[Model], nn.Module], attrs: Dict, encoder: Optional[EncoderSpec] = None
) -> Model:
    """A thinc Model around one torch module, built by `build_net(model)` when the model is
    initialized (module-level functions or partials of them, so the model pickles).

    attrs: the model's data-dependent values with their empty defaults (vocabularies, label
    sizes...); thinc saves and restores them with the weights. encoder: the settings of the
    module's encoder, if it has one: `encoder.fit(*X)` fits attrs on what
    `model.initialize(X=...)` gets (a tuple of arguments) before the module is built, and
    `check_encoder_vectors` asks it about a loaded pipeline's vectors.
    """
    shim = ScaledPyTorchShim(nn.Module(), deserialize_model=deserialize_net)
    shim.encoder = encoder
    fit = None if encoder is None else encoder.fit
    return Model(name, forward, init=partial(_init, build_net=build_net, fit=fit), attrs=dict(attrs), shims=[shim])


class ScaledPyTorchShim(PyTorchShim):
    """thinc's PyTorchShim, except that the update gives the parameters a submodule's
    `lr_scales()` names ({parameter name: scale}, e.g. a fine-tuned Transformer's) that fraction
    of the optimizer's learning rate (its schedule, e.g. warm-up and decay, applies to all),
    and that it may hold an inference copy of its module (`inference_net`, see the module
    docstring), dropped when the module trains or is replaced, and that it writes the module's
    float32 tensors as `weights_storage` (`WEIGHTS_STORAGES`; `set_weights_storage`), and that
    it holds the padded tokens of a prediction batch of a `TokenModel` or `DocModel`
    (`max_batch_tokens`; `set_max_batch_tokens`). These two are the component's cfg settings,
    given to the model by the component and not saved with the weights. It also keeps the
    settings of the module's encoder (`encoder`; None without one).

    Its methods read the module as `self._model`, the attribute the PyTorchShim they extend
    keeps it in; everything else reaches it through `get_torch_net`/`set_torch_net`."""

    inference_net: Optional[nn.Module] = None
    weights_storage: str = "float32"
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    encoder: Optional[EncoderSpec] = None

    def to_bytes(self):
        return srsly.msgpack_dumps({"config": self.cfg, "state": serialize_net(self._model, self.weights_storage)})

    def begin_update(self, inputs):
        if self.inference_net is not None:
            logger.info(
                "training a module that was converted for inference at load (%s): its float32 weights are trained "
                "and predictions use them, float32 per token, until the pipeline is saved and loaded again",
                ", ".join(f"{key} {value}" for key, value in getattr(self.inference_net, "inference_settings", {}).items()),
            )
            self.inference_net = None
        return super().begin_update(inputs)

    def from_bytes(self, bytes_data):
        self.inference_net = None
        return super().from_bytes(bytes_data)

    def to_device(self, device_type: str, device_id: int):
        """Move the trained module; an inference copy, made for the old device, is dropped."""
        self.inference_net = None
        return super().to_device(device_type, device_id)

    def finish_update(self, optimizer: Optimizer) -> None:
        scales = {
            f"{prefix}.{name}" if prefix else name: scale
            for prefix, module in self._model.named_modules()
            if hasattr(module, "lr_scales")
            for name, scale in module.lr_scales().items()
        }
        if not scales:
            return super().finish_update(optimizer)
        for name, param in self._model.named_parameters():
            if param.grad is None:
                continue
            if not self._grad_scaler.found_inf:
                data, _ = optimizer((self.id, name), torch2xp(param.data), torch2xp(param.grad), lr_scale=scales.get(name, 1.0))
                param.data = xp2torch(data, requires_grad=True, device=param.device)
            param.grad.zero_()
        self._grad_scaler.update()


def _init(model: Model, X=None, Y=None, *, build_net: Callable[[Model], nn.Module], fit: Optional[Callable]) -> None:
    """Fit the attrs, then build the module on the device of thinc's current ops (a GPU after
    `require_gpu`, as `spacy train --gpu-id` does)."""
    if X is not None and fit is not None:
        model.attrs.update(fit(*X))
    set_torch_net(model, build_net(model).to(get_torch_default_device()))


# thinc's PyTorchShim keeps its torch module in `_model` and offers no public accessor for it:
# these two functions are the only code outside the shim's own methods that touch it.


def get_torch_net(model: Model) -> nn.Module:
    """The torch module wrapped by a `TorchModel`: the trained one (what training updates and
    serialization saves)."""
    return model.shims[0]._model


def set_torch_net(model: Model, net: nn.Module) -> None:
    """Make `net` the trained module of a `TorchModel`; an inference copy of the old one is dropped."""
    model.shims[0]._model = net
    set_inference_net(model, None)


def get_inference_net(model: Model) -> nn.Module:
    """The torch module predictions run: the inference copy given by `set_inference_net`, else
    the trained module."""
    copy = getattr(model.shims[0], "inference_net", None)
    return get_torch_net(model) if copy is None else copy


def set_inference_net(model: Model, net: Optional[nn.Module]) -> None:
    """Give a `TorchModel` the module its predictions run (None: the trained module)."""
    model.shims[0].inference_net = net


def get_encoder_settings(model: Model) -> Optional[EncoderSpec]:
    """The settings of a `TorchModel`'s encoder (its config's encoder block; None without one)."""
    return model.shims[0].encoder


def check_encoder_vectors(model: Model, vectors) -> None:
    """A ValueError unless `vectors` are those the model's encoder was fitted with
    (`EncoderSpec.check_vectors`); nothing for a model without an encoder."""
    encoder = get_encoder_settings(model)
    if encoder is not None:
        encoder.check_vectors(model.attrs, vectors)


def set_weights_storage(model: Model, storage: str) -> None:
    """Write the float32 tensors of a `TorchModel`'s module as `storage` ("float32" or "float16")
    from now on; the module in memory is unchanged (`round_weights` makes it what loading the
    saved weights gives)."""
    if storage not in WEIGHTS_STORAGES:
        raise ValueError(f"weights_storage takes {' or '.join(WEIGHTS_STORAGES)}, not {storage!r}")
    model.shims[0].weights_storage = storage


def set_max_batch_tokens(model: Model, max_tokens: int) -> None:
    """Run the predictions of a `TokenModel` or `DocModel` in groups of at most `max_tokens`
    padded tokens from now on (memory, not results)."""
    model.shims[0].max_batch_tokens = max_tokens


def round_weights(model: Model) -> None:
    """Round the float32 tensors of a `TorchModel`'s module to the values its weights_storage
    keeps, in place: the module then predicts what it will after saving and loading."""
    dtype = getattr(torch, model.shims[0].weights_storage)
    with torch.no_grad():
        for tensor in get_torch_net(model).state_dict().values():
            if tensor.dtype == torch.float32:
                tensor.copy_(tensor.to(dtype))


def predict_net(model: Model, *args):
    """Run the module predictions use (`get_inference_net`) in eval mode without gradients. The
    module is not switched back to training mode afterwards (training switches it itself), so
    concurrent predictions are safe."""
    net = get_inference_net(model)
    net.eval()
    with torch.no_grad():
        return net(*args)


def serialize_net(net: nn.Module, storage: str = "float32") -> bytes:
    """The module's net_spec and state dict (float32 tensors as `storage`), with a checksum."""
    dtype = getattr(torch, storage)
    stored: Dict[Tuple, torch.Tensor] = {}  # one copy per storage view: tied weights stay stored once

    def store(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dtype != torch.float32 or dtype == torch.float32:
            return tensor
        key = (tensor.data_ptr(), tuple(tensor.shape), tensor.stride())
        if key not in stored:
            stored[key] = tensor.to(dtype)
        return stored[key]

    state_dict = {name: store(tensor) for name, tensor in net.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    state = buffer.getvalue()
    msg = {"format": SERIALIZATION_FORMAT, **net_spec(net), "state": state, "sha256": hashlib.sha256(state).hexdigest()}
    return srsly.msgpack_dumps(msg)


def deserialize_net(_placeholder: nn.Module, data: bytes, device: torch.device) -> nn.Module:
    """Rebuild the module from its saved net_spec, check the weights' checksum, then load
    tensors only (float16-stored ones into the module's float32 tensors)."""
    msg = srsly.msgpack_loads(data)
    check_format(msg)
    msg = with_packed_setting(msg)
    if "sha256" in msg and hashlib.sha256(msg["state"]).hexdigest() != msg["sha256"]:
        raise ValueError(
            f"The {msg['net']} weights are corrupt (their sha256 checksum does not match): the model file "
            f"was modified or damaged; restore it from the trained pipeline."
        )
    net = build_net(msg)
    state = torch.load(io.BytesIO(msg["state"]), map_location=device, weights_only=True)
    net.load_state_dict(state)
    return net.to(device)


def check_format(msg: Dict) -> None:
    """A ValueError that says what to do unless the module was saved in SERIALIZATION_FORMAT (a
    message without "format" is format 1, written before spacy-rnn 0.1.0 and never released)."""
    found = msg.get("format", 1)
    if found != SERIALIZATION_FORMAT:
        newer = isinstance(found, int) and found > SERIALIZATION_FORMAT
        remedy = "install the spacy-rnn version that saved it" if newer else "train the pipeline again with this version"
        raise ValueError(
            f"the {msg.get('net', 'torch module')} weights were saved in format {found}, and this version of spacy-rnn "
            f"reads format {SERIALIZATION_FORMAT} only: {remedy}."
        )


# Where the recurrent encoders' hparams keep their `RNNEncoderSettings` (see `with_packed_setting`).
RECURRENT_SETTINGS = {"RNNEncoder": "settings", "RNNOverTransformer": "rnn_settings"}


def with_packed_setting(msg: Dict) -> Dict:
    """A text classifier saved before `packed` was a setting of the recurrent encoders had its
    encoder run unpacked: its encoder's settings get packed = False. Other modules unchanged."""
    encoder = msg["hparams"].get("encoder")
    key = RECURRENT_SETTINGS.get(encoder["net"]) if encoder else None
    if msg["net"] != "TextClassifierNet" or key is None or "packed" in encoder["hparams"][key]:
        return msg
    hparams = encoder["hparams"]
    encoder = {**encoder, "hparams": {**hparams, key: {**hparams[key], "packed": False}}}
    return {**msg, "hparams": {**msg["hparams"], "encoder": encoder}}


def TokenModel(name: str, build_net: Callable[[Model], nn.Module], encoder: EncoderSpec) -> Model:
    """Docs -> {output: [FloatTensor[len(doc), width] per doc]} from a token-level head.

    encoder: the encoder's settings object (e.g. `spacy_rnn.encoders.RNNEncoderSpec`): it cuts
    each sentence (the whole doc without sentence boundaries) into windows of at most
    `window_size` tokens, fits its features on `model.initialize(X=(docs, vectors))` and
    featurizes windows.
    At prediction time the windows of all docs are sorted by length and run in groups of at
    most `max_batch_tokens` padded tokens (the component's setting, `set_max_batch_tokens`):
    memory stays bounded, padding small and each recurrent step wide. attrs["heads"] ({output:
    width}) is set by the component.
    """
    forward = partial(_token_forward, encoder=encoder, cache={})
    return TorchModel(name, forward, build_net, _encoder_attrs(encoder), encoder)


def _encoder_attrs(encoder: EncoderSpec) -> Dict:
    return {**encoder.empty_features(), "heads": {}}


def DocModel(name: str, build_net: Callable[[Model], nn.Module], encoder: EncoderSpec, long_text: str) -> Model:
    """Docs -> {output: FloatTensor[n_docs, width]} from a doc-level head (`TextClassifierNet`).

    Each doc is read whole (sentence boundaries ignored) in windows of the encoder's
    `window_size` tokens (`long_text = "window"`) or cut to its first window ("truncate"). At
    prediction time the windows of all docs are sorted by length and run in groups of at most
    `max_batch_tokens` padded tokens (`set_max_batch_tokens`), so memory stays bounded for a doc
    of any length; the module merges the windows' pooled states per doc. When training, the
    batch's windows go through the module at once (the batcher bounds the batch).
    """
    forward = partial(_doc_forward, encoder=encoder, long_text=long_text, cache={})
    return TorchModel(name, forward, build_net, _encoder_attrs(encoder), encoder)


def _featurizer(model: Model, encoder, cache: Dict):
    """The encoder's featurizer for the model's fitted attrs, rebuilt only when they change."""
    key = tuple(id(model.attrs[name]) for name in encoder.empty_features())
    if cache.get("key") != key:
        cache.update(key=key, featurizer=encoder.featurizer(model.attrs))
    return cache["featurizer"]


def _token_forward(model: Model, docs: List[Doc], is_train: bool, *, encoder, cache: Dict) -> Tuple[TokenOutputs, Callable]:
    lengths = [len(doc) for doc in docs]
    windows = [
        Window(i, *spans) for i, doc in enumerate(docs) for spans in doc_windows(doc, encoder.window_size, encoder.window_context)
    ]
    if not windows:
        empty = {name: [torch.zeros(n, width) for n in lengths] for name, width in model.attrs["heads"].items()}
        return empty, lambda d_outputs: []
    featurizer = _featurizer(model, encoder, cache)
    features = featurizer.doc_features(docs)
    if is_train:
        batch = featurizer.make_batch(windows, features, docs)
        outputs, backprop_shim = model.shims[0](ArgsKwargs(args=(batch,), kwargs={}), is_train=True)
        return _split(outputs, lengths), partial(_backprop_split, outputs, backprop_shim)
    groups = [[windows[i] for i in group] for group in bucket_windows(windows, model.shims[0].max_batch_tokens)]
    chunks = [predict_net(model, featurizer.make_batch(group, features, docs)) for group in groups]
    doc_starts = numpy.cumsum([0, *lengths])
    rows = torch.cat([torch.arange(w.core_start, w.core_end) + int(doc_starts[w.doc]) for group in groups for w in group])
    outputs = {name: torch.cat([chunk[name] for chunk in chunks]) for name in chunks[0]}
    outputs = {name: torch.empty_like(tensor).index_copy_(0, rows.to(tensor.device), tensor) for name, tensor in outputs.items()}
    return _split(outputs, lengths), lambda d_outputs: []


def _split(outputs: Dict[str, torch.Tensor], lengths: List[int]) -> TokenOutputs:
    return {name: list(tensor.split(lengths)) for name, tensor in outputs.items()}


def _backprop_split(outputs: Dict[str, torch.Tensor], backprop_shim: Callable, d_outputs: TokenOutputs) -> List:
    _backprop(outputs, backprop_shim, {name: torch.cat(grads) for name, grads in d_outputs.items()})
    return []


def _backprop(outputs: Dict[str, torch.Tensor], backprop_shim: Callable, d_outputs: Dict[str, torch.Tensor]) -> List:
    """Backpropagate gradients for the shim's outputs (torch tensors) into the torch module."""
    names = list(outputs)
    tensors = tuple(outputs[name] for name in names)
    grads = tuple(d_outputs[name] for name in names)
    backprop_shim(ArgsKwargs(args=(tensors,), kwargs={"grad_tensors": grads}))
    return []


def _doc_forward(
    model: Model, docs: List[Doc], is_train: bool, *, encoder, long_text: str, cache: Dict
) -> Tuple[DocOutputs, Callable]:
    windows = [
        Window(i, *spans)
        for i, doc in enumerate(docs)
        for spans in text_windows(doc, long_text, encoder.window_size, encoder.window_context)
    ]
    featurizer = _featurizer(model, encoder, cache)
    features = featurizer.doc_features(docs)
    window_docs = torch.tensor([window.doc for window in windows], dtype=torch.int64)
    if is_train:
        batches = [featurizer.make_batch(windows, features, docs)] if windows else []
        inputs = ArgsKwargs(args=(batches, torch.arange(len(windows)), window_docs, len(docs)), kwargs={})
        outputs, backprop_shim = model.shims[0](inputs, is_train=True)
        return outputs, partial(_backprop, outputs, backprop_shim)
    groups = bucket_windows(windows, model.shims[0].max_batch_tokens)
    rows = torch.tensor([i for group in groups for i in group], dtype=torch.int64)
    batches = (featurizer.make_batch([windows[i] for i in group], features, docs) for group in groups)
    return predict_net(model, batches, rows, window_docs, len(docs)), lambda d_outputs: []
