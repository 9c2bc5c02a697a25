"""The entity tag schemes, BILUO and BIO, in one place: the tags of a set of labels, the scheme of
a list of tags, spaCy's BILUO tags in either scheme, the tags of an entity's tokens, the entities
of a tag sequence, and which tags may start, end and follow which (the CRF's constraints).
Tags are named "O", "B-X", "I-X" and, for BILUO, "L-X", "U-X". No spaCy import."""
from typing import Dict, List, Sequence, Tuple

import numpy

TAG_SCHEMES = ("BILUO", "BIO")
# Per scheme, the prefixes of an entity's first, middle, last and only token.
ENTITY_PREFIXES = {"BILUO": "BILU", "BIO": "BIIB"}


def entity_tags(labels: Sequence[str], scheme: str) -> List[str]:
    """"O" then the scheme's tags for each label: O, B-X, I-X, L-X, U-X, B-Y, ... (BILUO)."""
    prefixes = "BILU" if scheme == "BILUO" else "BI"
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in prefixes]


def scheme_of(tags: Sequence[str]) -> str:
    """The scheme of `tags`: BILUO when any tag starts with "L-" or "U-", else BIO."""
    return "BILUO" if any(tag[:2] in ("L-", "U-") for tag in tags) else "BIO"


def scheme_tag(biluo_tag: str, scheme: str) -> str:
    """A BILUO tag (spaCy's, e.g. a gold tag) in `scheme`: BIO makes U-X B-X and L-X I-X."""
    if scheme == "BIO":
        return {"U": "B", "L": "I"}.get(biluo_tag[0], biluo_tag[0]) + biluo_tag[1:]
    return biluo_tag


def entity_bounds(kinds: numpy.ndarray, scheme: str) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """The starts and ends (exclusive) of the entities of a valid tag sequence, from the first
    letter of each of its tags (B, I, L, U or O): U-X, or B-X I-X... L-X (BILUO); B-X I-X... up
    to the next tag that is not I (BIO)."""
    starts = numpy.flatnonzero((kinds == "B") | (kinds == "U"))
    if scheme == "BILUO":
        ends = numpy.flatnonzero((kinds == "L") | (kinds == "U")) + 1
    else:
        inside = (kinds == "B") | (kinds == "I")
        ends = numpy.flatnonzero(inside & numpy.append(kinds[1:] != "I", True)) + 1
    return starts, ends


def tag_constraints(tags: Sequence[str]) -> Dict[str, List]:
    """Allowed starts, ends and transitions for `tags` (`LinearChainCRF`'s allowed_*).

    BIO: I-X only after B-X or I-X. BILUO: after B-X or I-X only I-X or L-X; elsewhere only O,
    B-* or U-*; a sequence starts like a new entity and ends like a finished one.
    Returns {"allowed_start": [C], "allowed_end": [C], "allowed_transitions": [C][C]} (bools).
    """
    parsed = [("O", None) if tag == "O" else tuple(tag.split("-", 1)) for tag in tags]
    for tag, (prefix, _label) in zip(tags, parsed):
        if prefix not in {"O", "B", "I", "L", "U"}:
            raise ValueError(f"Tag {tag!r} is not O or B-, I-, L-, U- followed by a label")
    biluo = scheme_of(tags) == "BILUO"

    def inside(prefix: str) -> bool:
        return prefix in {"B", "I"} if biluo else False

    def allowed(prev: tuple, nxt: tuple) -> bool:
        (prev_prefix, prev_label), (next_prefix, next_label) = prev, nxt
        continues = next_prefix in ({"I", "L"} if biluo else {"I"})
        if continues:
            return prev_prefix in {"B", "I"} and prev_label == next_label
        return not inside(prev_prefix)

    starts_entity = {"O", "B", "U"}
    return {
        "allowed_start": [prefix in starts_entity for prefix, _ in parsed],
        "allowed_end": [not inside(prefix) for prefix, _ in parsed],
        "allowed_transitions": [[allowed(prev, nxt) for nxt in parsed] for prev in parsed],
    }
