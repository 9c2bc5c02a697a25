"""Components that misbehave on purpose, for the annotate tests: the tests add them to a saved
pipeline and hand this file to annotate's --code, so that worker processes and Ray actors
register them before loading the pipeline."""
import os
import time

from spacy.language import Language


@Language.factory("crash_on_text", default_config={"text": "CRASH", "marker": ""})
def make_crash_on_text(nlp, name, text: str, marker: str):
    """Ends its process (as a kill or a native crash would) on a doc containing `text`: once,
    when `marker` names a file (created before the crash), else every time."""

    def crash_on_text(doc):
        if text in doc.text and not (marker and os.path.exists(marker)):
            if marker:
                open(marker, "w").close()
            os._exit(3)
        return doc

    return crash_on_text


@Language.factory("raise_on_text", default_config={"text": "EXPLODE"})
def make_raise_on_text(nlp, name, text: str):
    """Raises on a doc containing `text`: a document the pipeline rejects."""

    def raise_on_text(doc):
        if text in doc.text:
            raise ValueError(f"this component refuses {text!r}")
        return doc

    return raise_on_text


@Language.factory("sleep_per_doc", default_config={"seconds": 0.1})
def make_sleep_per_doc(nlp, name, seconds: float):
    """Sleeps `seconds` per doc: a run slow enough to be killed halfway."""

    def sleep_per_doc(doc):
        time.sleep(seconds)
        return doc

    return sleep_per_doc
