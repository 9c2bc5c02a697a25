"""Compact storage of static vectors: int8 rows with one float32 scale per row.

`Int8Vectors` is spaCy's `Vectors` (a Python subclass of the Cython class: keys, key2row with
pruned keys pointing to kept rows, most_similar, shape, mode "default", all inherited) whose
to_disk/to_bytes write each row as int8 values q and one float32 scale s (symmetric: s >=
max|row| / 127, q = round(row / s)) and whose from_disk/from_bytes expand them back to float32
(q * s), so the components read ordinary float32 vectors. A pipeline chooses it in its config:

    [nlp.vectors]
    @vectors = "spacy_rnn.Int8Vectors.v1"

The quantisation itself (row scales, exactness, idempotence) is `spacy_rnn.vectors_quantization`.

Files (next to key2row and vectors.cfg, in the vocab folder): `vectors.int8` (npy, int8 [rows,
width]) and `vectors.scales` (npy, float32 [rows]), read with allow_pickle=False; vectors.cfg
(JSON) says `"storage": "int8"`. There is no `vectors` file, so spaCy's own Vectors class finds
no table in such a folder: a pipeline whose config does not name Int8Vectors cannot read it.
A damaged or truncated file gives a ValueError that names it.

The components record the fingerprint of the table they were trained with and refuse another
one (`spacy_rnn.encoders.check_vectors`). A table quantised from a float32 table records that
table's fingerprint (`source_fingerprint`, kept in vectors.cfg), and the check accepts it for
the float32 table: components trained with float32 vectors read the int8 table quantised from
them, so `[nlp.vectors]` is the only setting to change (training, or `spacy assemble` with
sourced components). `compact_pipeline_vectors` converts a saved pipeline and records the int8
table in its components (`python -m spacy_rnn compact-vectors`).
"""
import json
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import numpy
import srsly
from spacy.util import ensure_path, registry
from spacy.vectors import BaseVectors, Vectors
from thinc.api import get_current_ops
from thinc.util import to_numpy

from .errors import damaged_file
from .vectors_quantization import expand_rows, quantization_errors, quantize_rows, quantize_table, quantized_vector

REGISTERED_NAME = "spacy_rnn.Int8Vectors.v1"
STORAGE = "int8"
INT8_FILE, SCALES_FILE = "vectors.int8", "vectors.scales"
FLOAT32_FILE = "vectors"  # spaCy's float32 table


# --- the vectors class --------------------------------------------------------------------


def damaged(path: Union[str, Path], problem: str) -> ValueError:
    """The error for a file of an int8 vectors folder that cannot be what its name says."""
    return ValueError(f"{path}: {damaged_file(problem)}")


class Int8Vectors(Vectors):
    """spaCy's Vectors, stored on disk and in bytes as int8 rows with a float32 scale per row
    (the module's docstring says how). Only mode "default"."""

    def __init__(self, *, strings=None, shape=None, data=None, keys=None, name=None, mode="default", **settings):
        if mode != "default":
            raise ValueError(f"Int8Vectors stores only 'default' vectors, not {mode!r}")
        # The fingerprint of the float32 table this one was quantised from (None: it was given
        # already quantised, or is empty); kept in vectors.cfg.
        self.source_fingerprint: Optional[str] = None
        if data is not None:
            data = numpy.array(to_numpy(data), dtype="float32", copy=True)
        super().__init__(strings=strings, shape=shape, data=data, keys=keys, name=name, mode=mode, **settings)
        if data is not None:
            self._quantize_data()

    # Quantised on the way in, so that memory holds what the disk will.

    def _quantize_data(self, fingerprint: Optional[str] = None) -> None:
        """Quantise self.data in place; if that changed it, record as source_fingerprint the
        fingerprint of the table before (`fingerprint`, or this table's now)."""
        data = to_numpy(self.data)
        self.source_fingerprint = None
        if data.size == 0:
            return
        fingerprint = fingerprint or table_fingerprint(self)
        # In place: self.data is this object's own array here (a copy, or just read).
        quantized, changed = quantize_table(data, inplace=True)
        self.data = quantized
        self.to_ops(get_current_ops())
        if changed:
            self.source_fingerprint = fingerprint

    def add(self, key, *, vector=None, row=None):
        if vector is not None:
            vector = quantized_vector(vector)
        return super().add(key, vector=vector, row=row)

    def __setitem__(self, key, vector):
        super().__setitem__(key, quantized_vector(vector))

    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, Int8Vectors):
            return False  # spaCy compares the serialized bytes, which differ
        return (
            self.shape == other.shape
            and self.key2row == other.key2row
            and self._get_cfg() == other._get_cfg()
            and numpy.array_equal(to_numpy(self.data), to_numpy(other.data))
        )

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None

    def __reduce__(self):
        return (unpickle_int8_vectors, (self.to_bytes(),))

    # Serialization.

    def _int8_cfg(self) -> Dict:
        values_shape = tuple(int(n) for n in self.shape)
        return {
            **self._get_cfg(),
            "storage": STORAGE,
            "scale_dtype": "float32",
            "shape": list(values_shape),
            "source_fingerprint": self.source_fingerprint,
        }

    def _set_int8_cfg(self, cfg: Dict, where: str) -> None:
        if cfg.get("mode", "default") != "default":
            raise damaged(where, f"Int8Vectors stores only 'default' vectors, not {cfg.get('mode')!r}")
        self._set_cfg(cfg)
        self.source_fingerprint = cfg.get("source_fingerprint")

    def _install(self, values: numpy.ndarray, scales: numpy.ndarray, key2row: Optional[Dict], replace_keys: bool) -> None:
        self.data = expand_rows(values, scales)
        self.to_ops(get_current_ops())
        if key2row is not None:
            if replace_keys:
                self.key2row = key2row
            else:
                self.key2row.update(key2row)
        self._sync_unset()

    def to_disk(self, path, *, exclude=tuple()):
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        if "strings" not in exclude:
            self.strings.to_disk(path / "strings.json")
        if "vectors" not in exclude:
            values, scales = quantize_rows(to_numpy(self.data))
            for name, array in ((INT8_FILE, values), (SCALES_FILE, scales)):
                with (path / name).open("wb") as file_:
                    numpy.save(file_, array, allow_pickle=False)
            stale = path / FLOAT32_FILE
            if stale.is_file():  # a float32 table saved there before would be ignored
                stale.unlink()
        if "key2row" not in exclude:
            srsly.write_msgpack(path / "key2row", self.key2row)
        if "vectors" not in exclude:
            srsly.write_json(path / "vectors.cfg", self._int8_cfg())
        return path

    def from_disk(self, path, *, exclude=tuple()):
        path = ensure_path(path)
        cfg_path = path / "vectors.cfg"
        cfg = read_cfg(cfg_path) if cfg_path.exists() and "vectors" not in exclude else {}
        if cfg.get("storage") != STORAGE:  # a float32 table (spaCy's format): quantised now
            super().from_disk(path, exclude=exclude)
            if "vectors" not in exclude:
                self._quantize_data()
            return self
        if "strings" not in exclude:
            self.strings.from_disk(path / "strings.json")
        shape = cfg_shape(cfg, cfg_path)
        values = load_array(path / INT8_FILE, "int8", shape)
        scales = load_array(path / SCALES_FILE, "float32", shape[:1])
        check_scales(scales, path / SCALES_FILE)
        key2row = None
        if "key2row" not in exclude and (path / "key2row").exists():
            key2row = read_key2row(path / "key2row", shape[0])
        self._set_int8_cfg(cfg, str(cfg_path))
        self._install(values, scales, key2row, replace_keys=True)
        return self

    def to_bytes(self, *, exclude=tuple()):
        def serialize_rows() -> bytes:
            values, scales = quantize_rows(to_numpy(self.data))
            return srsly.msgpack_dumps({"int8": values.tobytes(), "scales": scales.tobytes()})

        getters = {
            "strings": lambda: self.strings.to_bytes(),
            "key2row": lambda: srsly.msgpack_dumps(self.key2row),
            "vectors": serialize_rows,
            "vectors.cfg": lambda: srsly.json_dumps(self._int8_cfg()),
        }
        return srsly.msgpack_dumps({key: get() for key, get in getters.items() if key.split(".")[0] not in exclude})

    def from_bytes(self, data, *, exclude=tuple()):
        where = "the Int8Vectors bytes"
        try:
            msg = srsly.msgpack_loads(data)
            cfg = json.loads(msg["vectors.cfg"]) if "vectors.cfg" in msg and "vectors" not in exclude else {}
        except Exception as err:  # msgpack and JSON raise several types for truncated data
            raise ValueError(f"{where} are damaged (truncated?): {err}") from None
        if not isinstance(cfg, dict) or cfg.get("storage") != STORAGE:
            super().from_bytes(data, exclude=exclude)
            if "vectors" not in exclude:
                self._quantize_data()
            return self
        try:
            if "strings" not in exclude and "strings" in msg:
                self.strings.from_bytes(msg["strings"])
            shape = cfg_shape(cfg, where)
            arrays = srsly.msgpack_loads(msg["vectors"])
            values = array_from_buffer(arrays["int8"], "int8", shape, where)
            scales = array_from_buffer(arrays["scales"], "float32", shape[:1], where)
            check_scales(scales, where)
            key2row = None
            if "key2row" not in exclude and "key2row" in msg:
                key2row = check_key2row(srsly.msgpack_loads(msg["key2row"]), shape[0], where)
        except ValueError:
            raise
        except Exception as err:
            raise ValueError(f"{where} are damaged (truncated?): {err!r}") from None
        self._set_int8_cfg(cfg, where)
        self._install(values, scales, key2row, replace_keys=False)  # spaCy's from_bytes updates key2row
        return self


def unpickle_int8_vectors(data: bytes) -> Int8Vectors:
    return Int8Vectors().from_bytes(data)


def table_fingerprint(vectors: Vectors) -> str:
    from .featurize import vectors_fingerprint

    return vectors_fingerprint(vectors)


# --- safe reading -------------------------------------------------------------------------


def read_cfg(path: Path) -> Dict:
    try:
        cfg = srsly.read_json(path)
    except Exception as err:
        raise damaged(path, f"cannot read it as JSON ({err})") from None
    if not isinstance(cfg, dict):
        raise damaged(path, "it is not a JSON object")
    return cfg


def cfg_shape(cfg: Dict, where: Union[str, Path]) -> Tuple[int, int]:
    shape = cfg.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise damaged(where, f"'shape' must be two non-negative integers, found {shape!r}")
    if cfg.get("scale_dtype", "float32") != "float32":
        raise damaged(where, f"unknown scale_dtype {cfg.get('scale_dtype')!r}")
    return shape[0], shape[1]


def load_array(path: Path, dtype: str, shape: Tuple[int, ...]) -> numpy.ndarray:
    """The npy array in `path`, read without pickle; a ValueError naming the file unless it
    is there, whole, of `dtype` and of `shape`."""
    if not path.is_file():
        raise damaged(path, "missing")
    try:
        with path.open("rb") as file_:
            array = numpy.load(file_, allow_pickle=False)
            trailing = file_.read(1)
    except Exception as err:  # truncated npy: ValueError, EOFError, OSError ...
        raise damaged(path, f"cannot read it as a {dtype} array ({err})") from None
    if not isinstance(array, numpy.ndarray) or array.dtype != numpy.dtype(dtype) or array.shape != tuple(shape):
        found = f"{array.dtype} {array.shape}" if isinstance(array, numpy.ndarray) else type(array).__name__
        raise damaged(path, f"expected a {dtype} array of shape {tuple(shape)}, found {found}")
    if trailing:
        raise damaged(path, "it has bytes after the array")
    return array


def array_from_buffer(buffer: bytes, dtype: str, shape: Tuple[int, ...], where: str) -> numpy.ndarray:
    expected = int(numpy.prod(shape)) * numpy.dtype(dtype).itemsize
    if not isinstance(buffer, bytes) or len(buffer) != expected:
        size = len(buffer) if isinstance(buffer, bytes) else type(buffer).__name__
        raise ValueError(f"{where} are damaged (truncated?): {dtype} values of shape {tuple(shape)} need {expected} bytes, found {size}")
    return numpy.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def check_scales(scales: numpy.ndarray, where: Union[str, Path]) -> None:
    if not (numpy.isfinite(scales).all() and (scales >= 0).all()):
        if isinstance(where, Path):
            raise damaged(where, "the scales must be finite and non-negative")
        raise ValueError(f"{where} are damaged: the scales must be finite and non-negative")


def read_key2row(path: Path, n_rows: int) -> Dict[int, int]:
    try:
        key2row = srsly.read_msgpack(path)
    except Exception as err:
        raise damaged(path, f"cannot read it as msgpack ({err})") from None
    try:
        return check_key2row(key2row, n_rows, str(path))
    except ValueError as err:
        raise damaged(path, str(err)) from None


def check_key2row(key2row, n_rows: int, where: str) -> Dict[int, int]:
    if not isinstance(key2row, dict):
        raise ValueError(f"{where}: key2row must map keys to rows, found {type(key2row).__name__}")
    for key, row in key2row.items():
        if not (isinstance(key, int) and isinstance(row, int) and 0 <= row < n_rows):
            raise ValueError(f"{where}: key {key!r} points to row {row!r}, not one of the table's {n_rows} rows")
    return key2row


# --- registered functions -----------------------------------------------------------------


@registry.vectors(REGISTERED_NAME)
def create_int8_vectors() -> Callable[["Vocab"], BaseVectors]:  # noqa: F821
    """[nlp.vectors] @vectors = "spacy_rnn.Int8Vectors.v1": the pipeline's static vectors stored
    as int8 rows with a float32 scale per row, float32 in memory."""

    def make_vectors(vocab) -> BaseVectors:
        return Int8Vectors(strings=vocab.strings)

    return make_vectors


# --- pipelines ----------------------------------------------------------------------------


def vectors_config() -> Dict:
    return {"@vectors": REGISTERED_NAME}


def to_int8_vectors(vectors: Vectors) -> Int8Vectors:
    """An Int8Vectors table holding `vectors` quantised: the same keys, key2row (pruned keys
    included) and name; `vectors` is unchanged."""
    if isinstance(vectors, Int8Vectors):
        return vectors
    if vectors.mode != "default":
        raise ValueError(f"only 'default' vectors can be stored as int8, not {vectors.mode!r}")
    compact = Int8Vectors(strings=vectors.strings, shape=(0, 0), name=vectors.name)
    compact.data = numpy.array(to_numpy(vectors.data), dtype="float32")
    compact.key2row = dict(vectors.key2row)
    compact._sync_unset()
    compact._quantize_data(table_fingerprint(vectors))
    return compact


def compact_pipeline_vectors(nlp) -> Dict:
    """Store nlp's static vectors as int8 from now on: check that its components were trained
    with the table, quantise it (`to_int8_vectors`), record the quantised table in every model
    that reads it and set `[nlp.vectors]` in nlp.config, so nlp.to_disk writes int8 rows and
    spacy.load reads them (the components would also accept the int8 table for the float32 one
    by its source_fingerprint; recorded, it is theirs). Returns the shape, the errors of the
    quantised values against the original ones and the components that read the vectors
    (`readers`)."""
    from .vectors_pruning import check_vector_readers, use_vectors

    check_vector_readers(nlp)
    original = nlp.vocab.vectors
    compact = to_int8_vectors(original)
    stats = {"rows": int(compact.shape[0]), "width": int(compact.shape[1]), "keys": len(compact.key2row)}
    stats.update(quantization_errors(to_numpy(original.data), to_numpy(compact.data)))
    stats["readers"] = use_vectors(nlp, compact)
    nlp.config["nlp"]["vectors"] = vectors_config()
    return stats
