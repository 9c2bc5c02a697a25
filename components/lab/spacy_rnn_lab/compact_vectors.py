"""What storing a static vectors table as int8 rows with a float32 scale per row costs and saves
(`spacy_rnn.vectors_storage`), measured on a saved vectors folder (`init-vectors`) or pipeline:
its size on disk both ways, the error of the expanded values against the float32 ones, the
cosine of each expanded row with its original, the agreement of the nearest neighbours
(`Vectors.most_similar`) of the most frequent words, and that a save -> load -> save writes
the same bytes. `python -m spacy_rnn_lab compact-vectors-report` writes it as JSON + markdown.
"""
import filecmp
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy
from spacy.vectors import Vectors
from thinc.util import to_numpy

from spacy_rnn.vectors_storage import INT8_FILE, SCALES_FILE, Int8Vectors, compact_pipeline_vectors
from spacy_rnn.evaluation.reports import machine_info, markdown_table, write_json

MiB = 2**20


def path_bytes(path: Path) -> int:
    """Bytes of a file, or of all files under a folder."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def first_rows(vectors: Vectors, n_rows: int) -> Vectors:
    """The table's first n_rows rows with the keys that point to them (no remapping)."""
    if not n_rows or n_rows >= vectors.shape[0]:
        return vectors
    kept = Vectors(strings=vectors.strings, data=numpy.ascontiguousarray(to_numpy(vectors.data)[:n_rows]), name=vectors.name)
    kept.key2row = {key: row for key, row in vectors.key2row.items() if row < n_rows}
    kept._sync_unset()
    return kept


def neighbour_agreement(original: Vectors, compact: Vectors, n_queries: int = 200, n: int = 10) -> Dict:
    """Top-n `most_similar` rows of the table's first n_queries rows (GloVe lists the most
    frequent words first; the query row itself left out) in both tables: the share of queries
    with the same n rows in the same order, with the same set, and the mean overlap (of n). Also
    the mean change of the k-th neighbour's cosine (k = 1..n) between the tables, against the
    mean gap between adjacent neighbours' cosines in the float32 table: neighbours swap places
    where their cosines are closer than the quantisation moves them."""
    n_queries = min(n_queries, original.shape[0])
    queries = numpy.arange(n_queries)
    found, scores = [], []
    for table in (original, compact):
        data = to_numpy(table.data)
        _, rows, sims = table.most_similar(data[queries], n=n + 1)
        rows, sims = to_numpy(rows).tolist(), to_numpy(sims)
        kept = [[i for i, row in enumerate(found_rows) if row != query][:n] for query, found_rows in zip(queries, rows)]
        found.append([[rows[q][i] for i in kept[q]] for q in range(n_queries)])
        scores.append(numpy.array([[sims[q][i] for i in kept[q]] for q in range(n_queries)], dtype="float64"))
    same_order = sum(a == b for a, b in zip(*found))
    same_set = sum(set(a) == set(b) for a, b in zip(*found))
    overlap = [len(set(a) & set(b)) for a, b in zip(*found)]
    return {
        "queries": int(n_queries),
        "n": n,
        "same_order": round(same_order / max(n_queries, 1), 4),
        "same_set": round(same_set / max(n_queries, 1), 4),
        "mean_overlap": round(float(numpy.mean(overlap)) if overlap else 0.0, 3),
        "min_overlap": int(min(overlap)) if overlap else 0,
        "mean_cosine_change": float(numpy.abs(scores[0] - scores[1]).mean()) if overlap else 0.0,
        "mean_adjacent_gap": float(numpy.abs(numpy.diff(scores[0], axis=1)).mean()) if overlap and n > 1 else 0.0,
    }


def compact_vectors_report(vectors_dir: Path, max_rows: int = 0, n_queries: int = 200, n: int = 10) -> Dict:
    """The figures for one saved vectors folder or pipeline whose table is float32 (the first
    max_rows rows only, when set)."""
    import spacy

    nlp = spacy.load(vectors_dir)
    if isinstance(nlp.vocab.vectors, Int8Vectors):
        raise ValueError(f"{vectors_dir}: the vectors are already stored as int8; give the float32 folder")
    nlp.vocab.vectors = first_rows(nlp.vocab.vectors, max_rows)
    original = nlp.vocab.vectors
    entry: Dict = {"vectors": str(vectors_dir), "rows": int(original.shape[0]), "width": int(original.shape[1]), "keys": original.n_keys}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nlp.to_disk(tmp / "float32")
        start = time.perf_counter()
        stats = compact_pipeline_vectors(nlp)
        entry["quantize_seconds"] = round(time.perf_counter() - start, 2)
        nlp.to_disk(tmp / "int8")
        start = time.perf_counter()
        loaded = spacy.load(tmp / "int8")
        entry["int8_load_seconds"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        spacy.load(tmp / "float32")
        entry["float32_load_seconds"] = round(time.perf_counter() - start, 2)
        compact = loaded.vocab.vectors
        entry["loaded_class"] = type(compact).__name__
        entry["memory_equals_disk"] = bool(numpy.array_equal(to_numpy(compact.data), to_numpy(nlp.vocab.vectors.data)))
        entry["key2row_kept"] = compact.key2row == original.key2row
        loaded.to_disk(tmp / "int8_again")
        entry["second_save_same_bytes"] = all(
            filecmp.cmp(tmp / "int8" / "vocab" / name, tmp / "int8_again" / "vocab" / name, shallow=False)
            for name in (INT8_FILE, SCALES_FILE, "key2row", "vectors.cfg")
        )
        entry["bytes"] = {
            "float32_table": path_bytes(tmp / "float32" / "vocab" / "vectors"),
            "int8_table": path_bytes(tmp / "int8" / "vocab" / INT8_FILE) + path_bytes(tmp / "int8" / "vocab" / SCALES_FILE),
            "key2row": path_bytes(tmp / "int8" / "vocab" / "key2row"),
            "float32_folder": path_bytes(tmp / "float32"),
            "int8_folder": path_bytes(tmp / "int8"),
        }
    entry["mean_abs_value"] = float(numpy.abs(to_numpy(original.data)).mean(dtype="float64"))
    entry.update({key: stats[key] for key in ("max_abs_error", "mean_abs_error", "mean_cosine", "min_cosine")})
    entry["neighbours"] = neighbour_agreement(original, compact, n_queries, n)
    return entry


def compact_vectors_reports(vectors_dirs: Sequence[Path], max_rows: int = 0, n_queries: int = 200, n: int = 10) -> Dict:
    return {
        "storage": "int8 values, one float32 scale per row (max|row| / 127, 17 significant bits), float32 in memory",
        "max_rows": max_rows or None,
        "tables": [compact_vectors_report(Path(path), max_rows, n_queries, n) for path in vectors_dirs],
        "machine": machine_info(),
    }


def compact_vectors_markdown(report: Dict, command: Optional[str] = None) -> str:
    rows: List[List[object]] = []
    for t in report["tables"]:
        b, nn = t["bytes"], t["neighbours"]
        rows.append([
            f"`{t['vectors']}`",
            f"{t['rows']:,} x {t['width']} ({t['keys']:,} keys)",
            f"{b['float32_table'] / MiB:.1f} MiB",
            f"{b['int8_table'] / MiB:.1f} MiB",
            f"{b['float32_folder'] / MiB:.1f} / {b['int8_folder'] / MiB:.1f} MiB",
            f"{t['max_abs_error']:.4g}",
            f"{t['mean_abs_error']:.3g} (mean abs value {t['mean_abs_value']:.3g})",
            f"{t['mean_cosine']:.6f} (min {t['min_cosine']:.6f})",
            f"{nn['same_order']:.1%} / {nn['same_set']:.1%} / {nn['mean_overlap']} (min {nn['min_overlap']})",
            f"{nn['mean_cosine_change']:.2g} / {nn['mean_adjacent_gap']:.2g}",
        ])
    header = [
        "vectors", "rows x width", "float32 table", "int8 table", "folder float32 / int8", "max abs error",
        "mean abs error", "mean cosine (orig., expanded)", f"top-{report['tables'][0]['neighbours']['n'] if report['tables'] else 10} neighbours of the {report['tables'][0]['neighbours']['queries'] if report['tables'] else 200} most frequent words: same order / same set / mean overlap",
        "neighbours' cosine: mean change / mean gap between adjacent neighbours",
    ]
    checks = [
        f"- `{t['vectors']}`: loaded as {t['loaded_class']}; in memory before the save = after the load: "
        f"{t['memory_equals_disk']}; key2row kept: {t['key2row_kept']}; a second save writes the same bytes: "
        f"{t['second_save_same_bytes']}; quantising took {t['quantize_seconds']} s, loading the int8 / float32 "
        f"folder {t['int8_load_seconds']} / {t['float32_load_seconds']} s."
        for t in report["tables"]
    ]
    machine = report["machine"]
    lines = [
        "# Static vectors stored as int8",
        "",
        f"Storage: {report['storage']}. The table sizes are the files `Vectors.to_disk` writes "
        "(`vectors` against `vectors.int8` + `vectors.scales`); the folders also hold key2row and the "
        "strings. Errors are over every value; cosines over every row; neighbours by `Vectors.most_similar` "
        "(the query row itself left out)."
        + (f" Only the first {report['max_rows']:,} rows of each table (their keys only)." if report["max_rows"] else ""),
        "",
        markdown_table(header, rows),
        "",
        *checks,
        "",
        f"Machine: {machine.get('processor')}, {machine.get('cpu_count')} cores, load average {machine.get('load_average')}.",
    ]
    if command:
        lines += ["", "Made with:", "", "```bash", command, "```"]
    return "\n".join(lines) + "\n"


def write_compact_vectors_report(report: Dict, output_dir: Path, command: Optional[str] = None) -> List[Path]:
    output_dir = Path(output_dir)
    paths = [output_dir / "compact_vectors.json", output_dir / "compact_vectors.md"]
    write_json(report, paths[0])
    paths[1].write_text(compact_vectors_markdown(report, command), encoding="utf-8")
    return paths
