"""Transformer token encoders: word pieces through a Hugging Face model, pooled to tokens.

Pure PyTorch + `transformers` (imported when a module is built, never at import time, so the
recurrent components never load it); no spaCy. `spacy_rnn.transformer_features` turns Docs into
a `WordPieceBatch`.

`TransformerEncoder` reads the pieces of W token windows as R rows of at most P pieces (a window
with more pieces than the model reads at once spans several rows) and maps them to
FloatTensor[W, T, hidden]: each token gets its first piece's state or the mean of its pieces'
states (the batch's alignment says which), a token with no pieces (whitespace, a character the
tokenizer drops) the learned vector `no_piece` (initialised to zeros), padding zeros.
`RNNOverTransformer` feeds those features, frozen, to the project's `RNNEncoder` next to its word,
character and static-vector features (Devlin et al. 2019, feature-based).
"""
from dataclasses import asdict, dataclass, fields, replace
from typing import Dict, Optional

import torch
from torch import nn

from ..extras import require
from .encoder import RNNEncoder, RNNEncoderSettings, SequenceBatch
from .inference_copies import with_child
from .registry import register_net

POOLINGS = ("first", "mean")


@dataclass(frozen=True)
class TransformerSettings:
    """Hyper-parameters of `TransformerEncoder` (the Hugging Face config comes separately).

    pooling: "first" (a token's first piece) or "mean" (the mean of its pieces); the featurizer
        builds the alignment accordingly.
    frozen: no gradient into the Transformer, which always runs in eval mode (no dropout).
    mix_layers: 1 reads the last layer; N > 1 a learned scalar mix of the last N layers,
        gamma * sum_n softmax(w)_n h_n (Peters et al. 2018).
    encoder_lr_scale: the Transformer's learning rate as a fraction of the optimizer's
        (`lr_scales`); 1.0 trains it at the head's rate.
    feature_cache_rows: frozen only: while training, keep the layer states of up to this many
        distinct piece rows (a window's pieces) in memory and reuse them when the same row comes
        again (every epoch), so the Transformer reads each training window once; 0: no cache.
        Prediction (eval mode: dev evaluation, a loaded pipeline) neither reads nor fills it, so a
        deployed pipeline's memory and speed do not depend on the texts it has seen. Memory:
        mix_layers x hidden x 4 bytes per piece (6 KiB for 4 MiniLM layers).
    """

    pooling: str = "first"
    frozen: bool = False
    mix_layers: int = 1
    encoder_lr_scale: float = 1.0
    feature_cache_rows: int = 0

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {self.pooling!r}")
        if self.mix_layers < 1:
            raise ValueError(f"mix_layers must be at least 1, not {self.mix_layers}")
        if not 0.0 <= self.encoder_lr_scale <= 1.0:
            raise ValueError(f"encoder_lr_scale must be within 0..1, not {self.encoder_lr_scale}")
        if self.feature_cache_rows < 0 or (self.feature_cache_rows and not self.frozen):
            raise ValueError(f"feature_cache_rows ({self.feature_cache_rows}) must be 0, or positive for a frozen Transformer")

    @classmethod
    def take(cls, values: Dict) -> "TransformerSettings":
        """The settings among `values` (a dict of these and other settings)."""
        return cls(**{field.name: values[field.name] for field in fields(cls) if field.name in values})


@dataclass
class WordPieceBatch:
    """R rows of at most P word pieces for W windows of at most T tokens.

    input_ids:      LongTensor[R, P]; each row: the model's prefix ([CLS]), pieces, suffix ([SEP]), padding.
    attention_mask: LongTensor[R, P]; 1 at real pieces.
    token_slots:    LongTensor[K]; positions in the flat [W * T] token grid ...
    piece_slots:    LongTensor[K]; ... the flat [R * P] piece position pooled into each of them ...
    weights:        FloatTensor[K]; ... with this weight (1 for "first", 1/n_pieces for "mean").
    no_piece:       LongTensor[M]; positions in the [W * T] grid of tokens without pieces.
    lengths:        LongTensor[W] on the CPU; tokens in each window.
    token_index:    LongTensor[N]; positions in the [W * T] grid of the tokens whose outputs are wanted.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_slots: torch.Tensor
    piece_slots: torch.Tensor
    weights: torch.Tensor
    no_piece: torch.Tensor
    lengths: torch.Tensor
    token_index: torch.Tensor

    def to(self, device: torch.device) -> "WordPieceBatch":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return WordPieceBatch(**{name: value if name == "lengths" else value.to(device) for name, value in values.items()})


@dataclass
class RNNOverTransformerBatch:
    """The two views of the same W windows of T tokens: `tokens` for the RNN's own features,
    `pieces` for the Transformer's."""

    tokens: SequenceBatch
    pieces: WordPieceBatch

    @property
    def lengths(self) -> torch.Tensor:
        return self.tokens.lengths

    @property
    def token_index(self) -> torch.Tensor:
        return self.tokens.token_index

    def to(self, device: torch.device) -> "RNNOverTransformerBatch":
        return RNNOverTransformerBatch(self.tokens.to(device), self.pieces.to(device))


def load_pretrained(path: str) -> nn.Module:
    """The Hugging Face model at `path` (a folder or a hub name) with its pretrained weights."""
    return _transformers().AutoModel.from_pretrained(path)


def model_from_config(hf_config: Dict) -> nn.Module:
    """A Hugging Face model of the architecture `hf_config` (a `PretrainedConfig.to_dict()`)
    describes, randomly initialised: no hub or file access."""
    transformers = _transformers()
    values = dict(hf_config)
    return transformers.AutoModel.from_config(transformers.AutoConfig.for_model(values.pop("model_type"), **values))


def _transformers():
    """The `transformers` library (extra `[transformers]`)."""
    return require("transformers", "transformers", "the Transformer encoder")


@register_net
class TransformerEncoder(nn.Module):
    """A Hugging Face encoder over the batch's piece rows, pooled to tokens: a `TokenEncoder`
    whose states read the window in no order (directions 0) and that has no inference copies.

    forward(batch: WordPieceBatch) -> FloatTensor[W, T, output_width] (output_width: the model's
    hidden size), zeros at padding. Built with `pretrained` (a folder or hub name) it starts from
    those weights; from its `hparams` (settings + the model's config as a dict) it is rebuilt
    randomly initialised, with no hub access, before its state dict is loaded.
    """

    directions = 0

    def __init__(self, settings: TransformerSettings, *, hf_config: Optional[Dict] = None, pretrained: Optional[str] = None):
        super().__init__()
        if (hf_config is None) == (pretrained is None):
            raise ValueError("give the Transformer either its config (hf_config) or pretrained weights (pretrained)")
        self.settings = TransformerSettings.take(asdict(settings))
        self.transformer = load_pretrained(pretrained) if pretrained is not None else model_from_config(hf_config)
        self.hparams = {"settings": asdict(self.settings), "hf_config": self.transformer.config.to_dict()}
        self.output_width = self.transformer.config.hidden_size
        n_layers = getattr(self.transformer.config, "num_hidden_layers", self.settings.mix_layers)
        if self.settings.mix_layers > n_layers + 1:
            raise ValueError(f"mix_layers ({self.settings.mix_layers}) exceeds the model's {n_layers} layers + embeddings")
        self.no_piece = nn.Parameter(torch.zeros(self.output_width))
        self.layer_logits = nn.Parameter(torch.zeros(self.settings.mix_layers))
        self.gamma = nn.Parameter(torch.ones(1))  # 1-d: thinc optimizers take no 0-d arrays
        if self.settings.mix_layers == 1:
            self.layer_logits.requires_grad_(False)
            self.gamma.requires_grad_(False)
        if self.settings.frozen:
            self.transformer.requires_grad_(False)
        self.feature_cache: Dict[bytes, torch.Tensor] = {}  # piece ids of a row -> FloatTensor[mix, n_pieces, hidden]
        self.train(True)

    @classmethod
    def from_hparams(cls, hparams: Dict) -> "TransformerEncoder":
        return cls(TransformerSettings(**hparams["settings"]), hf_config=hparams["hf_config"])

    def __reduce__(self):
        """Pickle (and deepcopy) as hparams + state dict: the Hugging Face model may hold forward
        hooks that are local functions, which pickle cannot store."""
        return (_rebuild_transformer, (self.hparams, self.state_dict(), self.training, str(self.no_piece.device)))

    def train(self, mode: bool = True) -> "TransformerEncoder":
        """As nn.Module.train, except that a frozen Transformer stays in eval mode."""
        super().train(mode)
        if self.settings.frozen:
            self.transformer.eval()
        return self

    def lr_scales(self) -> Dict[str, float]:
        """{parameter name: learning-rate scale} for the parameters not trained at the full rate."""
        scale = self.settings.encoder_lr_scale
        if scale == 1.0:
            return {}
        return {f"transformer.{name}": scale for name, _ in self.transformer.named_parameters()}

    def formwise_copy(self) -> None:
        """None: every state depends on the whole window."""
        return None

    def int8_copy(self) -> None:
        """None: no recurrent layer (the Transformer stays float32)."""
        return None

    def forward(self, batch: WordPieceBatch) -> torch.Tensor:
        device = self.no_piece.device
        batch = batch.to(device)
        n_windows, n_tokens = len(batch.lengths), int(batch.lengths.max()) if len(batch.lengths) else 0
        states = self.piece_states(batch.input_ids, batch.attention_mask)
        pieces = states.reshape(-1, self.output_width).index_select(0, batch.piece_slots)
        tokens = states.new_zeros((n_windows * n_tokens, self.output_width))
        tokens = tokens.index_add(0, batch.token_slots, pieces * batch.weights.unsqueeze(1).to(states.dtype))
        tokens = tokens.index_copy(0, batch.no_piece, self.no_piece.to(states.dtype).expand(len(batch.no_piece), -1))
        return tokens.reshape(n_windows, n_tokens, self.output_width)

    def piece_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """FloatTensor[R, P, hidden]: the last layer's states, or the scalar mix of the last
        mix_layers layers; no gradient into the Transformer when frozen."""
        if not len(input_ids):
            return self.no_piece.new_zeros((0, input_ids.shape[1], self.output_width))
        layers = self.layer_states(input_ids, attention_mask)
        if self.settings.mix_layers == 1:
            return layers[0]
        weights = self.layer_logits.softmax(dim=0).to(layers.dtype)
        return self.gamma * (weights.view(-1, 1, 1, 1) * layers).sum(dim=0)

    def layer_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """FloatTensor[mix_layers, R, P, hidden]: the last mix_layers layers' states of the rows
        (zeros at padding when cached); with a feature cache, in training mode, only the rows
        not in it are run, and they are added while it has room."""
        limit = self.settings.feature_cache_rows
        if not limit or not self.training:
            return self.run_transformer(input_ids, attention_mask)
        n_pieces = attention_mask.sum(dim=1).tolist()
        keys = [row[:n].tobytes() for row, n in zip(input_ids.cpu().numpy(), n_pieces)]
        missing = [r for r, key in enumerate(keys) if key not in self.feature_cache]
        states = self.no_piece.new_zeros((self.settings.mix_layers, *input_ids.shape, self.output_width))
        if missing:
            rows = torch.tensor(missing, device=input_ids.device)
            states[:, rows] = self.run_transformer(input_ids[rows], attention_mask[rows]).to(states.dtype)
            for r in missing:
                if len(self.feature_cache) < limit:
                    self.feature_cache[keys[r]] = states[:, r, : n_pieces[r]].clone()
        computed = set(missing)
        for r, key in enumerate(keys):
            if r not in computed:
                states[:, r, : n_pieces[r]] = self.feature_cache[key]
        return states

    def run_transformer(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """FloatTensor[mix_layers, R, P, hidden] from the Hugging Face model."""
        mix = self.settings.mix_layers
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.settings.frozen):
            outputs = self.transformer(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=mix > 1)
        if mix == 1:
            return outputs.last_hidden_state.unsqueeze(0)
        return torch.stack(outputs.hidden_states[-mix:])


def _rebuild_transformer(hparams: Dict, state: Dict, training: bool, device: str) -> TransformerEncoder:
    net = TransformerEncoder.from_hparams(hparams)
    net.load_state_dict(state)
    return net.to(device).train(training)


@register_net
class RNNOverTransformer(nn.Module):
    """`RNNEncoder` whose static-vector input is extended by a frozen `TransformerEncoder`'s
    token features (its learned layer mix and no-piece vector are trained with the RNN): a
    `TokenEncoder` with the RNN's output_width and directions.

    forward(batch: RNNOverTransformerBatch) -> FloatTensor[W, T, output_width].
    """

    def __init__(
        self, transformer: TransformerEncoder, rnn_settings: RNNEncoderSettings, *, n_words: int, n_chars: int, vectors_width: int
    ):
        super().__init__()
        if not transformer.settings.frozen:
            raise ValueError("RNNOverTransformer reads a frozen Transformer's features")
        self.transformer = transformer
        self.vectors_width = vectors_width
        input_vectors = vectors_width + transformer.output_width  # static vectors ++ Transformer features
        self.recurrent = RNNEncoder(rnn_settings, n_words=n_words, n_chars=n_chars, vectors_width=input_vectors)
        self.output_width = self.recurrent.output_width
        self.directions = self.recurrent.directions

    @property
    def hparams(self) -> Dict:
        sizes = self.recurrent.hparams
        return {
            "transformer": self.transformer.hparams,
            "rnn_settings": sizes["settings"],
            "n_words": sizes["n_words"],
            "n_chars": sizes["n_chars"],
            "vectors_width": self.vectors_width,
        }

    @classmethod
    def from_hparams(cls, hparams: Dict) -> "RNNOverTransformer":
        transformer = TransformerEncoder.from_hparams(hparams["transformer"])
        sizes = {key: hparams[key] for key in ("n_words", "n_chars", "vectors_width")}
        return cls(transformer, RNNEncoderSettings(**hparams["rnn_settings"]), **sizes)

    def formwise_copy(self) -> None:
        """None: the RNN's inputs include contextual Transformer features, not functions of the form."""
        return None

    def int8_copy(self) -> Optional["RNNOverTransformer"]:
        """A copy whose RNN is quantised to int8 (`RNNEncoder.int8_copy`), None for an nn.RNN;
        the Transformer stays float32 and is shared."""
        recurrent = self.recurrent.int8_copy()
        return None if recurrent is None else with_child(self, "recurrent", recurrent)

    def forward(self, batch: RNNOverTransformerBatch) -> torch.Tensor:
        batch = batch.to(self.transformer.no_piece.device)
        features = self.transformer(batch.pieces)
        vectors = features if batch.tokens.vectors is None else torch.cat([batch.tokens.vectors, features], dim=-1)
        return self.recurrent(replace(batch.tokens, vectors=vectors))


def save_random_bert(path, words, hidden_size: int = 16, layers: int = 2, zero_context: bool = False):
    """Save a small random-weight BERT and its lowercasing WordPiece tokenizer to `path` (no hub
    access), for plumbing checks (tests, `check-gpu`): its vocabulary is the special pieces, the
    letters, ##letters and the lowercased `words`. zero_context: attention outputs and position
    embeddings zeroed, so each piece's state depends on that piece alone. Returns `path`."""
    transformers = _transformers()
    BertConfig, BertModel, BertTokenizerFast = transformers.BertConfig, transformers.BertModel, transformers.BertTokenizerFast
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *("##" + c for c in letters), *sorted({w.lower() for w in words})]))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden_size, max_position_embeddings=64,
    )
    model = BertModel(config)
    if zero_context:
        with torch.no_grad():
            model.embeddings.position_embeddings.weight.zero_()
            for layer in model.encoder.layer:
                layer.attention.output.dense.weight.zero_()
                layer.attention.output.dense.bias.zero_()
    model.save_pretrained(path)
    BertTokenizerFast(vocab={piece: i for i, piece in enumerate(vocab)}, do_lower_case=True).save_pretrained(path)
    return path
