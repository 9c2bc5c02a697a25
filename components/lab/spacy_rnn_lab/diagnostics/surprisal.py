"""Claim 7, surprisal you can see: a doc read by `torch_lm` rendered with each token shaded by
its surprisal (-log2 p(token | left context), `token._.surprisal`), as HTML in the manner of
displaCy (inline styles; shown inline in a notebook) and as a PNG for reports."""
import html
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .output import new_figure, save

DEFAULT_MAX_BITS = 16.0


def token_surprisals(doc) -> List[Tuple[str, str, Optional[float]]]:
    """[(text, whitespace, surprisal in bits or None)] for the doc's tokens (None: not scored,
    e.g. punctuation the LM skips)."""
    return [(t.text, t.whitespace_, t._.surprisal) for t in doc]


def shade(bits: Optional[float], max_bits: float) -> Tuple[float, float, float, float]:
    """RGBA of a token: white (unscored or 0 bits) to deep red at max_bits and above."""
    if bits is None:
        return (1.0, 1.0, 1.0, 0.0)
    strength = min(max(bits / max_bits, 0.0), 1.0)
    return (0.85, 0.1, 0.1, 0.05 + 0.85 * strength)


def render_surprisal(doc, max_bits: float = DEFAULT_MAX_BITS, jupyter: Optional[bool] = None) -> Optional[str]:
    """HTML of the doc with each token's background shaded by its surprisal (hover: the bits).
    `doc` must have been read by an `torch_lm` pipe. Like displacy.render: in a notebook
    (jupyter None and IPython running, or True) the HTML is displayed and None is returned;
    otherwise the HTML string is returned."""
    spans = []
    for text, space, bits in token_surprisals(doc):
        red, green, blue, alpha = shade(bits, max_bits)
        title = "not scored" if bits is None else f"{bits:.2f} bits"
        style = f"background: rgba({int(red * 255)}, {int(green * 255)}, {int(blue * 255)}, {alpha:.2f}); padding: 0.1em 0.15em; border-radius: 0.2em"
        spans.append(f'<span style="{style}" title="{title}">{html.escape(text)}</span>{html.escape(space)}')
    perplexity = doc._.perplexity
    caption = f"perplexity {perplexity:.1f}; shade: 0 to {max_bits:g}+ bits" if perplexity else ""
    markup = (
        '<div class="spacy-rnn-surprisal" style="line-height: 2.2; font-family: sans-serif; font-size: 16px">'
        + "".join(spans) + f'<div style="font-size: 12px; color: #666">{caption}</div></div>'
    )
    if jupyter is None:
        jupyter = _in_notebook()
    if jupyter:
        from IPython.display import HTML, display

        display(HTML(markup))
        return None
    return markup


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def draw_surprisal(ax, doc, max_bits: float = DEFAULT_MAX_BITS, line_chars: int = 70) -> None:
    """Draw the doc's tokens on a matplotlib axis as boxes shaded like render_surprisal, wrapped
    at about line_chars characters (monospace), each with its bits written underneath."""
    x, y = 0, 0
    for text, space, bits in token_surprisals(doc):
        if x + len(text) > line_chars:
            x, y = 0, y - 1
        ax.text(x, y, text, family="monospace", fontsize=11, va="center",
                bbox={"facecolor": shade(bits, max_bits), "edgecolor": "none", "pad": 2})
        if bits is not None:
            ax.text(x, y - 0.38, f"{bits:.1f}", family="monospace", fontsize=6, va="center", color="#444")
        x += len(text) + (1 if space else 0)
    ax.set(xlim=(-1, line_chars + 2), ylim=(y - 0.8, 0.8))
    ax.axis("off")


def run(model: Path, text: str, output_dir: Path, max_bits: float = DEFAULT_MAX_BITS) -> Dict:
    """Read `text` with the pipeline at `model` (which has an torch_lm); write surprisal.html,
    surprisal.png and surprisal.json (each token's bits, the perplexity)."""
    import spacy

    doc = spacy.load(model)(text)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "surprisal.html").write_text(render_surprisal(doc, max_bits, jupyter=False) + "\n", encoding="utf8")
    results = {"claim": "surprisal", "model": str(model), "text": text, "perplexity": doc._.perplexity, "max_bits": max_bits,
               "tokens": [{"text": t, "surprisal": bits} for t, _, bits in token_surprisals(doc)]}
    n_lines = 1 + len(text) // 60
    fig, (ax,) = new_figure(1, width=0.1 * 72 + 0.5, height=0.6 + 0.55 * n_lines)  # ~a monospace 11pt char per unit
    draw_surprisal(ax, doc, max_bits)
    ax.set_title(f"surprisal (bits) under the language model; perplexity {doc._.perplexity:.1f}", fontsize=10)
    save(results, fig, output_dir, "surprisal")
    return results
