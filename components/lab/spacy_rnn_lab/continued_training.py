"""What continued training on a new label does to the old labels: a trained CoNLL-2003 recognizer
learns NORP (nationalities and peoples), made from CoNLL's own MISC annotations.

The new label. A MISC entity becomes NORP when its text is a demonym: its lowercased text is in
DEMONYMS (e.g. "german", "sri lankan") or each of its whitespace-separated words is ("Bosnian
Serb", "Iraqi Kurdish"). DEMONYMS is a list written by hand of the names of nations' people,
continents' people and ethnic groups, singular and plural ("German", "Germans", "Briton",
"Kurd"), checked against every MISC entity of CoNLL-2003 train and dev; it leaves out religious
and political groups ("Moslem", "Jewish", "Republican"), languages ("Arabic", "Hebrew"), the
people of cities and regions ("Texan", "New Yorker") and hyphenated compounds ("U.S.-led",
"Russian-Chechen"). The rule relabels every corpus the same way, so no sentence says MISC where
another says NORP for the same text. "English" and "French" stay demonyms even where they name a
language: CoNLL gives both uses MISC, and the rule cannot tell them apart.

The data. The training sentences (docs split at their gold sentence boundaries) with at least one
NORP entity after relabelling form the new-label pool; the others (with or without entities)
are the old data. The new-label set is a random sample of the pool, every other entity of its
sentences kept; variant A trains on it alone, variant B on it mixed with `rehearsal` times as
many old-data sentences (with the same steps, B sees each new-label sentence 1 / (1 + rehearsal)
times as often as A).

The training. Both variants start from the trained pipeline after `add_label("NORP")` (the new
tags start with zero weights, so it predicts what the trained one does), saved and sourced by a
config (configs/continue/ner_add_norp.cfg) that `python -m spacy_rnn train`'s loop runs with the
same steps and seed. The label is added before: spaCy resumes a sourced component instead of
initializing it, so it never collects labels from the new data.

The scores, on the relabelled dev documents (whole, gold tokens), per label (seqeval, `%`), in
three views (VIEWS): "relabelled": gold NORP and predictions as they are (the trained model
predicts no NORP, so its demonym MISC predictions are false positives here); "old labels":
the gold NORP entities are masked out, with every prediction overlapping one and every other
predicted NORP, leaving PER/LOC/ORG/MISC on the rest of the text (the fair before/after comparison
on the old labels: the trained model is not charged for the label it was never taught);
"original": the original dev labels with predicted NORP renamed MISC (the trained model's own
task; its scores are those of `evaluate-ner` on dev).
"""
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from spacy_rnn.evaluation.accuracy_report import tag_gold_tokens
from spacy_rnn.evaluation.reports import machine_info
from spacy_rnn.new_labels import mix_rehearsal
from spacy_rnn.evaluation.seqeval_report import Entity, doc_entities, iob2_tags, seqeval_scores

NEW_LABEL = "NORP"
RELABELLED = "MISC"
OLD_LABELS = ("PER", "LOC", "ORG", "MISC")
VIEWS = ("relabelled", "old_labels", "original")
VARIANTS = {
    "before": "the trained recognizer (no NORP)",
    "new_only": "A: continued on the new-label set only",
    "rehearsal": "B: continued on the new-label set + old data",
}

DEMONYMS = frozenset(
    """
    afghan afghans african africans afrikaner afrikaners albanian albanians algerian algerians
    american americans angolan angolans arab arabs argentine argentines argentinian armenian
    armenians asian asians aussie aussies australian australians austrian austrians azeri azeris
    bangladeshi bangladeshis basque basques bedouin bedouins belarussian belgian belgians bengali
    bolivian bosnian bosnians brazilian brazilians british briton britons bulgarian bulgarians
    burmese burundian cambodian cameroonian canadian canadians catalan catalans chechen chechens
    chilean chileans chinese colombian colombians congolese corsican croat croatian croatians
    croats cuban cubans cypriot cypriots czech czechs dane danes danish dutch dutchman dutchmen
    ecuadorean egyptian egyptians english englishman englishmen eritrean eritreans estonian
    estonians ethiopian ethiopians european europeans filipino filipinos finn finnish finns
    french frenchman frenchmen georgian georgians german germans ghanaian greek greeks guinean
    guineans haitian honduran hungarian hungarians hutu hutus icelandic indian indians indonesian
    indonesians iranian iranians iraqi iraqis irish irishman israeli israelis italian italians
    ivorian jamaican japanese jordanian jordanians kazakh kenyan kenyans korean koreans kurd kurdish
    kurds kuwaiti kuwaitis latvian lebanese liberian liberians libyan libyans lithuanian
    macedonian macedonians malaysian malaysians maltese mauritian mexican mexicans moldovan
    mongolian montenegrin moroccan moroccans mozambican namibian nepalese nepali nicaraguan
    nicaraguans nigerian nigerians norwegian norwegians pakistani pakistanis palestinian
    palestinians panamanian paraguayan peruvian peruvians philippine pole poles polish portuguese
    romanian romanians russian russians rwandan rwandans saudi saudis scot scots scottish
    senegalese serb serbian serbians serbs seychellois sicilian slovak slovaks slovene slovenes
    slovenian somali somalis soviet spaniard spaniards spanish sudanese surinamese swede swedes
    swedish swiss syrian syrians taiwanese tajik tajiks tamil tamils tanzanian thai thais tibetan
    tibetans tunisian tunisians turk turkish turks tutsi tutsis ugandan ukrainian ukrainians
    uruguayan uzbek venezuelan venezuelans vietnamese welsh xhosa yemeni yugoslav yugoslavs
    zairean zaireans zambian zimbabwean zimbabweans zulu zulus
    """.split()
) | {
    "central african", "costa rican", "latin american", "latin americans", "new zealander",
    "new zealanders", "north african", "north africans", "north american", "north korean",
    "north koreans", "puerto rican", "s. african", "s.african", "s. korean", "sierra leonean",
    "south african", "south africans", "south korean", "south koreans", "southeast asian",
    "sri lankan", "sri lankans", "west african", "west indian", "west indians",
}


def is_demonym(text: str) -> bool:
    """The text (an entity's) is a demonym, or a sequence of demonyms ("Bosnian Serb")."""
    text = text.lower()
    return text in DEMONYMS or all(word in DEMONYMS for word in text.split())


def relabel_demonyms(doc: Doc) -> List[str]:
    """Relabel the doc's demonym MISC entities NORP (in place); returns their texts."""
    relabelled = [ent for ent in doc.ents if ent.label_ == RELABELLED and is_demonym(ent.text)]
    if relabelled:
        starts = {ent.start for ent in relabelled}
        ents = [Span(doc, ent.start, ent.end, NEW_LABEL) if ent.start in starts else ent for ent in doc.ents]
        doc.set_ents(ents, default="unmodified")
    return [ent.text for ent in relabelled]


def sentences(doc: Doc) -> List[Doc]:
    """The doc's gold sentences as docs (their entities kept); the doc itself without boundaries."""
    if not doc.has_annotation("SENT_START"):
        return [doc]
    return [sent.as_doc() for sent in doc.sents]


def relabelled_docs(nlp: Language, path: Path) -> Tuple[List[Doc], Dict]:
    """The docs of a DocBin with their demonym MISC entities relabelled NORP, and counts: MISC
    entities, relabelled, relabelled per text and MISC kept per text (most frequent first)."""
    docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    n_misc = sum(ent.label_ == RELABELLED for doc in docs for ent in doc.ents)
    relabelled = Counter(text for doc in docs for text in relabel_demonyms(doc))
    kept = Counter(ent.text for doc in docs for ent in doc.ents if ent.label_ == RELABELLED)
    stats = {
        "n_misc": n_misc,
        "n_relabelled": sum(relabelled.values()),
        "relabelled": dict(relabelled.most_common()),
        "misc_kept": dict(kept.most_common()),
    }
    return docs, stats


def training_sets(train_docs: Sequence[Doc], n_sentences: int, rehearsal: float, seed: int) -> Tuple[List[Doc], List[Doc], Dict]:
    """(new-label set, new-label set + old data, counts): n_sentences sampled from the sentences
    with a NORP entity, and round(rehearsal * n_sentences) from the others, shuffled in."""
    pool = [sent for doc in train_docs for sent in sentences(doc)]
    with_new = [sent for sent in pool if any(ent.label_ == NEW_LABEL for ent in sent.ents)]
    old = [sent for sent in pool if not any(ent.label_ == NEW_LABEL for ent in sent.ents)]
    n_old = round(rehearsal * n_sentences)
    if not 0 < n_sentences <= len(with_new) or n_old > len(old):
        raise ValueError(
            f"asked for {n_sentences} new-label and {n_old} old sentences; the training docs have "
            f"{len(with_new)} sentences with a {NEW_LABEL} entity and {len(old)} without"
        )
    rng = random.Random(seed)
    new_set = rng.sample(with_new, n_sentences)
    mixed = mix_rehearsal(new_set, old, n_old, rng)
    counts = {
        "pool_new_label_sentences": len(with_new),
        "pool_old_sentences": len(old),
        "new_label_sentences": len(new_set),
        "old_sentences": n_old,
        "entities": {name: _label_counts(docs) for name, docs in (("new_only", new_set), ("rehearsal", mixed))},
    }
    return new_set, mixed, counts


def _label_counts(docs: Sequence[Doc]) -> Dict[str, int]:
    return dict(sorted(Counter(ent.label_ for doc in docs for ent in doc.ents).items()))


def mask_new_label(gold: Sequence[Entity], predicted: Sequence[Entity]) -> Tuple[List[Entity], List[Entity]]:
    """The "old labels" view of one doc: gold without NORP; predictions without NORP and without
    any entity overlapping a gold NORP entity."""
    masked = [(start, end) for start, end, label in gold if label == NEW_LABEL]

    def kept(entity: Entity) -> bool:
        start, end, label = entity
        return label != NEW_LABEL and not any(start < m_end and m_start < end for m_start, m_end in masked)

    return [ent for ent in gold if ent[2] != NEW_LABEL], [ent for ent in predicted if kept(ent)]


def view_scores(relabelled: Sequence[Doc], original: Sequence[Doc], predictions: Sequence[Doc]) -> Dict[str, Dict]:
    """{view: {per_type: {label: precision, recall, f1, support}, micro}} of the VIEWS, for
    predictions aligned one to one with the relabelled and original gold docs."""
    pairs = {
        "relabelled": [(doc_entities(ref), doc_entities(pred)) for ref, pred in zip(relabelled, predictions)],
        "old_labels": [mask_new_label(doc_entities(ref), doc_entities(pred)) for ref, pred in zip(relabelled, predictions)],
        "original": [(doc_entities(ref), doc_entities(pred, {NEW_LABEL: RELABELLED})) for ref, pred in zip(original, predictions)],
    }
    scores = {}
    for view, entities in pairs.items():
        y_true = [iob2_tags(len(ref), gold) for ref, (gold, _) in zip(relabelled, entities)]
        y_pred = [iob2_tags(len(ref), guess) for ref, (_, guess) in zip(relabelled, entities)]
        default = seqeval_scores(y_true, y_pred)["default"]  # = strict on span-derived tags
        scores[view] = {"per_type": default["per_type"], "micro": default["micro"]}
    return scores


def continued_training_report(
    model: Path,
    train_path: Path,
    dev_path: Path,
    config_path: Path,
    work_dir: Path,
    *,
    n_sentences: int,
    rehearsal: float,
    steps: Optional[int],
    seed: int,
    stdout: IO = sys.stdout,
) -> Dict:
    """Relabel, sample, grow the trained pipeline's `ner` by NORP (saved to work_dir/grown), train
    both variants with `config_path` (`python -m spacy_rnn train`'s loop; checkpoints in
    work_dir/VARIANT) for `steps` steps (None: the config's max_steps) and score the three models
    on dev in every view."""
    from spacy.util import load_config

    from spacy_rnn.checkpoints import load_pipeline
    from spacy_rnn.training_loop import train_pipeline

    began = time.perf_counter()
    nlp = load_pipeline(model)
    if "ner" not in nlp.pipe_names:
        raise ValueError(f"{model}: the pipeline has no component named ner (its components: {', '.join(nlp.pipe_names)})")
    if NEW_LABEL in nlp.get_pipe("ner").labels:
        raise ValueError(f"{model}: its ner already has the label {NEW_LABEL}")
    train_docs, train_stats = relabelled_docs(nlp, train_path)
    dev_docs, dev_stats = relabelled_docs(nlp, dev_path)
    original_dev = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    new_set, mixed, counts = training_sets(train_docs, n_sentences, rehearsal, seed)
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: work_dir / f"{name}.spacy" for name in ("new_only", "rehearsal", "dev")}
    for name, docs in (("new_only", new_set), ("rehearsal", mixed), ("dev", dev_docs)):
        DocBin(docs=docs).to_disk(paths[name])

    results: Dict[str, Dict] = {}
    results["before"] = {"scores": view_scores(dev_docs, original_dev, tag_gold_tokens(nlp, dev_docs))}
    nlp.get_pipe("ner").add_label(NEW_LABEL)
    nlp.to_disk(work_dir / "grown")
    del nlp
    settings = {"system.seed": seed, **({"training.max_steps": steps} if steps is not None else {})}
    for variant in ("new_only", "rehearsal"):
        overrides = {
            **settings,
            "paths.source": str(work_dir / "grown"),
            "paths.train": str(paths[variant]),
            "paths.dev": str(paths["dev"]),
            "training.logger.output_file": str(work_dir / variant / "training_log.jsonl"),
        }
        stdout.write(f"variant {VARIANTS[variant]}\n")
        start = time.perf_counter()
        trained = train_pipeline(config_path, work_dir / variant, overrides=overrides, stdout=stdout)
        seconds = time.perf_counter() - start
        predictions = tag_gold_tokens(trained, dev_docs)
        results[variant] = {"seconds": round(seconds, 1), "scores": view_scores(dev_docs, original_dev, predictions)}
        del trained
    config = load_config(config_path, overrides=settings, interpolate=True)
    return {
        "model": str(model),
        "corpus": {"train": str(train_path), "dev": str(dev_path)},
        "new_label": NEW_LABEL,
        "relabelling": {"train": train_stats, "dev": dev_stats},
        "data": {"n_sentences": n_sentences, "rehearsal": rehearsal, "seed": seed, **counts},
        "training": {
            "config": str(config_path),
            "steps": config["training"]["max_steps"],
            "seed": seed,
            "optimizer": config["training"]["optimizer"],
            "batch_size": config["training"]["batcher"]["size"],
        },
        "variants": VARIANTS,
        "results": results,
        "seconds": round(time.perf_counter() - began, 1),
        "machine": machine_info(),
    }
