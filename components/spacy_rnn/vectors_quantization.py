"""Symmetric int8 quantisation of a vectors table, one float32 scale per row (the storage of
`spacy_rnn.vectors_storage.Int8Vectors`): q = round(row / s) with s >= max|row| / 127, expanded
back as q * s.

The table is quantised when it enters the object (constructor, `add`/`__setitem__` with a
vector, from_disk/from_bytes of a float32 table), not when it is saved: what the components read
in memory is exactly what a save and a load give back, and predictions do not change on the way
to disk. Quantisation is idempotent, so saving a loaded table writes the same bytes: each scale
keeps 17 significant bits, so q * s (7 + 17 bits) is exact in float32, the largest |q| of a row
is 127, and quantising q * s again gives the same s and q.

The scales are float32 rather than float16: they cost 4 bytes a row (0.4 MB for 100,000 rows, 1%
of a 434-d int8 table; float16 would save 0.2 MB), and float16 would add up to 0.05% error to
every value of a row, lose precision for rows whose largest value is below about 8e-3 (subnormal
scales) and overflow above about 8e6.
"""
from typing import Dict, Optional, Tuple

import numpy
from thinc.util import to_numpy

SCALE_BITS = 17  # significant bits of each scale: q * scale (|q| <= 127, 7 bits) is exact in float32
TINY = 2.0**-100  # rows whose largest |value| is below this are stored as zeros
CHUNK_ROWS = 8192  # rows quantised at a time (bounds the temporary memory)


def row_scales(rows: numpy.ndarray) -> numpy.ndarray:
    """FloatArray[n] (float32): the scale of each row of FloatArray[n, d]: max|row| / 127 rounded
    up to SCALE_BITS significant bits (0 for rows below TINY). A ValueError for NaN or inf."""
    rows = numpy.asarray(rows, dtype="float32")
    if rows.shape[1] == 0:
        return numpy.zeros(rows.shape[0], dtype="float32")
    peak = numpy.abs(rows).max(axis=1).astype("float64")
    if not numpy.isfinite(peak).all():
        raise ValueError(f"the vectors table has NaN or infinite values (row {int(numpy.argmin(numpy.isfinite(peak)))} of the chunk)")
    mantissa, exponent = numpy.frexp(peak / 127)
    scales = numpy.ldexp(numpy.ceil(mantissa * 2.0**SCALE_BITS) / 2.0**SCALE_BITS, exponent)
    scales[peak < TINY] = 0
    return scales.astype("float32")


def quantize_rows(table: numpy.ndarray, chunk_rows: int = CHUNK_ROWS) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(IntArray[n, d] int8, FloatArray[n] float32): each row of `table` as round(row / scale),
    with its scale (`row_scales`)."""
    table = numpy.asarray(table)
    if table.ndim != 2:
        raise ValueError(f"a vectors table has 2 dimensions, not {table.ndim}")
    values = numpy.zeros(table.shape, dtype="int8")
    scales = numpy.zeros(table.shape[0], dtype="float32")
    for start in range(0, table.shape[0], chunk_rows):
        chunk = numpy.asarray(table[start : start + chunk_rows], dtype="float32")
        chunk_scales = row_scales(chunk)
        divisor = numpy.where(chunk_scales > 0, chunk_scales, numpy.float32(1))[:, None]
        quotient = numpy.rint(chunk / divisor)
        quotient[chunk_scales == 0] = 0
        values[start : start + chunk_rows] = numpy.clip(quotient, -127, 127)
        scales[start : start + chunk_rows] = chunk_scales
    return values, scales


def expand_rows(values: numpy.ndarray, scales: numpy.ndarray, out: Optional[numpy.ndarray] = None, chunk_rows: int = CHUNK_ROWS) -> numpy.ndarray:
    """FloatArray[n, d] float32: values * scales[:, None] (exact: see SCALE_BITS), into `out`
    when given."""
    if out is None:
        out = numpy.empty(values.shape, dtype="float32")
    for start in range(0, values.shape[0], chunk_rows):
        rows = slice(start, start + chunk_rows)
        numpy.multiply(values[rows], scales[rows, None], out=out[rows], dtype="float32")
    return out


def quantize_table(table: numpy.ndarray, inplace: bool = False, chunk_rows: int = CHUNK_ROWS) -> Tuple[numpy.ndarray, bool]:
    """(FloatArray[n, d] float32, changed): `table` quantised and expanded again, chunk by chunk
    (in place when `inplace` and `table` is a writable float32 array), and whether any value
    changed (False for a table that is already quantised)."""
    table = numpy.asarray(table)
    if table.ndim != 2:
        raise ValueError(f"a vectors table has 2 dimensions, not {table.ndim}")
    writable = inplace and table.dtype == numpy.float32 and table.flags.writeable and table.flags.c_contiguous
    out = table if writable else numpy.empty(table.shape, dtype="float32")
    changed = False
    for start in range(0, table.shape[0], chunk_rows):
        rows = slice(start, start + chunk_rows)
        original = numpy.array(table[rows], dtype="float32")
        expanded = expand_rows(*quantize_rows(original, chunk_rows), chunk_rows=chunk_rows)
        changed = changed or not numpy.array_equal(original, expanded)
        out[rows] = expanded
    return out, changed


def quantized_vector(vector) -> numpy.ndarray:
    row = numpy.asarray(to_numpy(vector), dtype="float32").reshape(1, -1)
    return expand_rows(*quantize_rows(row))[0]


def quantization_errors(original: numpy.ndarray, expanded: numpy.ndarray, chunk_rows: int = CHUNK_ROWS) -> Dict:
    """max_abs_error, mean_abs_error (over all values), mean_cosine and min_cosine (over the
    rows, original against expanded; rows that are zero in both count as 1)."""
    n_rows = original.shape[0]
    max_error, total_error, cosines = 0.0, 0.0, []
    for start in range(0, n_rows, chunk_rows):
        a = numpy.asarray(original[start : start + chunk_rows], dtype="float64")
        b = numpy.asarray(expanded[start : start + chunk_rows], dtype="float64")
        error = numpy.abs(a - b)
        if error.size:
            max_error = max(max_error, float(error.max()))
            total_error += float(error.sum())
        norms = numpy.linalg.norm(a, axis=1) * numpy.linalg.norm(b, axis=1)
        dots = (a * b).sum(axis=1)
        cosines.append(numpy.where(norms > 0, dots / numpy.where(norms > 0, norms, 1), 1.0))
    cosines = numpy.concatenate(cosines) if cosines else numpy.ones(0)
    return {
        "max_abs_error": max_error,
        "mean_abs_error": total_error / max(original.size, 1),
        "mean_cosine": float(cosines.mean()) if cosines.size else 1.0,
        "min_cosine": float(cosines.min()) if cosines.size else 1.0,
    }
