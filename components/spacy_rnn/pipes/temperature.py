"""Temperature scaling of the components' confidences: a component setting T > 0 (1.0, no
scaling, by default) divides the scores its confidences come from. The tagger's
`token._.pos_confidence` / `tag_confidence` are softmax(logits / T) of the chosen label (one
setting per head: `pos_temperature`, `tag_temperature`), the text classifier's `doc.cats`
softmax(logits / T) (`temperature`), the recognizer's `ent._.confidence` the span's probability
under the CRF with every score divided by T (`temperature`). T above 1 spreads the
probabilities (for an over-confident model), below 1 sharpens them. The predictions (tags,
entities, the highest category) are the same at every T.

The settings are in the component's cfg and config, saved with the pipeline, and the config's
value is the one a loaded pipeline uses (`spacy.load(path, config=...)` overrides it).
`spacy_rnn.evaluation.temperature` fits them on a dev set (`python -m spacy_rnn calibrate`).
"""
import math
from typing import Dict

from spacy.language import Language


def check_temperature(setting: str, value: float) -> None:
    """ValueError unless value is a finite number above 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{setting} must be a number above 0 (1.0: the confidences as trained), not {value!r}")


def set_temperatures(nlp: Language, name: str, temperatures: Dict[str, float]) -> None:
    """Give component `name` the temperature settings {setting: T} (e.g. {"pos_temperature":
    1.2}), in its cfg (what it predicts with now) and in the pipeline's config (what
    `nlp.to_disk` saves and `spacy.load` uses). ValueError for a setting the component does not
    have or a value that is not above 0."""
    pipe = nlp.get_pipe(name)
    known = getattr(pipe, "TEMPERATURES", {})
    for setting, value in temperatures.items():
        if setting not in known.values():
            raise ValueError(f"[{name}] has no temperature setting {setting!r} (its settings: {', '.join(known.values()) or 'none'})")
        check_temperature(f"[{name}] {setting}", value)
    for setting, value in temperatures.items():
        pipe.cfg[setting] = float(value)
        nlp.get_pipe_config(name)[setting] = float(value)
