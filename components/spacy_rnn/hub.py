"""Sharing a trained pipeline on the Hugging Face Hub: its package's wheel pushed to a model
repository (`push_to_hub`), and a fine-tuned Transformer encoder exported in the Hugging Face
format (`export_encoder`), which `transformers.AutoModel.from_pretrained` reads.

`huggingface_hub` comes with the extra `[hub]`, `transformers` with `[transformers]`; both are
imported only when used.
"""
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

from spacy.language import Language
from thinc.api import Config

from .extras import require
from .layers import get_encoder_settings, get_torch_net

TRANSFORMER_ENCODER = "spacy_rnn.TransformerEncoder.v1"
# The Hub's task tag for a pipeline that has one of these factories.
HUB_TASKS = {
    "torch_tagger": "token-classification",
    "torch_ner": "token-classification",
    "torch_textcat": "text-classification",
    "torch_lm": "text-generation",
}


def push_to_hub(wheel: Path, repo_id: Optional[str] = None, *, private: bool = False, commit_message: str = "Upload spaCy pipeline") -> str:
    """Upload the wheel of a pipeline package (`spacy package PIPELINE DIR --build wheel`) to the
    Hub model repository repo_id ("OWNER/NAME"; default: the token's user and the package's name),
    created if needed, with the package's README.md (its model card, `python -m spacy_rnn
    model-card`) under the Hub's metadata header and its meta.json. Returns the repository's URL.
    Raises ValueError for a file that is not such a wheel."""
    hub = require("huggingface_hub", "hub", "push-to-hub")
    package = read_wheel(Path(wheel))
    api = hub.HfApi()
    repo_id = repo_id or f"{api.whoami()['name']}/{package['name']}"
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(wheel, Path(folder) / Path(wheel).name)
        (Path(folder) / "README.md").write_text(hub_metadata(package["meta"], package["factories"]) + package["readme"], encoding="utf-8")
        (Path(folder) / "meta.json").write_text(json.dumps(package["meta"], indent=2), encoding="utf-8")
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message)
    return f"{hub.constants.ENDPOINT}/{repo_id}"


def read_wheel(wheel: Path) -> Dict:
    """A pipeline package's wheel: its name, meta.json, README.md text and component factories."""
    if not wheel.is_file() or wheel.suffix != ".whl":
        raise ValueError(f"{wheel}: not a wheel file; build one with `spacy package PIPELINE DIR --build wheel`")
    package, version = wheel.name.split("-")[:2]
    folder = f"{package}/{package}-{version}"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        if f"{folder}/meta.json" not in names or f"{folder}/config.cfg" not in names:
            raise ValueError(f"{wheel}: no {folder}/meta.json and config.cfg inside: not a wheel built by `spacy package`")
        meta = json.loads(archive.read(f"{folder}/meta.json"))
        readme = archive.read(f"{folder}/README.md").decode("utf-8") if f"{folder}/README.md" in names else ""
        config = Config().from_str(archive.read(f"{folder}/config.cfg").decode("utf-8"), interpolate=False)
    factories = [block.get("factory", "") for block in config.get("components", {}).values()]
    return {"name": package, "meta": meta, "readme": readme, "factories": factories}


def hub_metadata(meta: Dict, factories: List[str]) -> str:
    """The YAML header the Hub reads from a repository's README.md: library, tags (with the
    tasks of the pipeline's factories), language, licence."""
    tasks = sorted({HUB_TASKS[factory] for factory in factories if factory in HUB_TASKS})
    lines = ["---", "library_name: spacy", "tags:", "- spacy", "- spacy-rnn"] + [f"- {task}" for task in tasks]
    lines += ["language:", f"- {json.dumps(meta.get('lang', 'xx'))}"]
    if meta.get("license"):
        lines.append(f"license: {json.dumps(meta['license'])}")
    return "\n".join(lines + ["---", ""])


def transformer_components(nlp: Language) -> List[str]:
    """The components whose encoder is `spacy_rnn.TransformerEncoder.v1`."""
    return [name for name in nlp.pipe_names if _encoder_architecture(nlp, name) == TRANSFORMER_ENCODER]


def export_encoder(nlp: Language, path: Path, component: Optional[str] = None) -> str:
    """Write the Transformer of `component` (default: the pipeline's one component with a
    `spacy_rnn.TransformerEncoder.v1` encoder) with its trained weights and its tokenizer to the
    folder `path`, as `save_pretrained` does; returns the component's name. Raises ValueError
    when the pipeline has no such component, or several and none is named."""
    names = transformer_components(nlp)
    if not names:
        found = ", ".join(f"{name} ({_encoder_architecture(nlp, name) or 'no encoder'})" for name in nlp.pipe_names)
        raise ValueError(f"no component has a Transformer encoder ({TRANSFORMER_ENCODER}); the pipeline has {found or 'none'}")
    if component is None and len(names) > 1:
        raise ValueError(f"several components have a Transformer encoder ({', '.join(names)}): name one with --component")
    component = component or names[0]
    if component not in names:
        raise ValueError(f"{component!r} is not a component with a Transformer encoder; those are: {', '.join(names)}")
    model = nlp.get_pipe(component).model
    get_encoder_settings(model).save_pretrained(model.attrs, get_torch_net(model).encoder, path)
    return component


def _encoder_architecture(nlp: Language, name: str) -> Optional[str]:
    """The registered name of a component's encoder block (None without one)."""
    model = nlp.config["components"][name].get("model")
    encoder = model.get("encoder") if isinstance(model, dict) else None
    return encoder.get("@architectures") if isinstance(encoder, dict) else None
