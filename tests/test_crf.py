"""The linear-chain CRF against brute force over every tag sequence (and, for long sequences,
against forward and backward tables computed position by position), and its constraints."""
import itertools

import pytest
import torch

from spacy_rnn.models.crf import LinearChainCRF, Segments
from spacy_rnn.models.tag_schemes import tag_constraints

BILUO_TAGS = ["O", "B-PER", "I-PER", "L-PER", "U-PER", "B-LOC", "I-LOC", "L-LOC", "U-LOC"]
BIO_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def random_crf(tags, seed=0):
    torch.manual_seed(seed)
    crf = LinearChainCRF(len(tags), **tag_constraints(tags))
    for parameter in crf.parameters():
        parameter.data.normal_()
    return crf


def is_valid(tags, sequence):
    allowed = tag_constraints(tags)
    return (
        allowed["allowed_start"][sequence[0]]
        and allowed["allowed_end"][sequence[-1]]
        and all(allowed["allowed_transitions"][a][b] for a, b in zip(sequence, sequence[1:]))
    )


def brute_force_scores(crf, tags, emissions, n):
    """{valid tag sequence of length n: its score}, computed term by term."""
    scores = {}
    for sequence in itertools.product(range(len(tags)), repeat=n):
        if is_valid(tags, sequence):
            score = crf.start[sequence[0]] + crf.end[sequence[-1]]
            score = score + sum(emissions[t, tag] for t, tag in enumerate(sequence))
            score = score + sum(crf.transitions[a, b] for a, b in zip(sequence, sequence[1:]))
            scores[sequence] = score.detach()
    return scores


@pytest.fixture(params=[BILUO_TAGS, BIO_TAGS], ids=["BILUO", "BIO"])
def tags(request):
    return request.param


@pytest.fixture
def batch(tags):
    """Three sequences of lengths 4, 2 and 1, padded to 4."""
    torch.manual_seed(1)
    emissions = torch.randn(3, 4, len(tags))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    return emissions, mask


def test_log_partition_equals_brute_force(tags, batch):
    crf = random_crf(tags)
    emissions, mask = batch
    log_z = crf.log_partition(emissions, mask).detach()
    for row, n in enumerate(mask.sum(dim=1).tolist()):
        scores = brute_force_scores(crf, tags, emissions[row], n)
        expected = torch.logsumexp(torch.stack(list(scores.values())), dim=0)
        assert float(log_z[row]) == pytest.approx(float(expected), abs=1e-4)


def test_viterbi_equals_brute_force_argmax(tags, batch):
    crf = random_crf(tags)
    emissions, mask = batch
    decoded = crf.decode(emissions, mask)
    for row, n in enumerate(mask.sum(dim=1).tolist()):
        scores = brute_force_scores(crf, tags, emissions[row], n)
        best = max(scores, key=lambda sequence: float(scores[sequence]))
        assert tuple(decoded[row, :n].tolist()) == best


def make_segments(per_row, n_tags):
    """`Segments` from each row's list of (first, tag ids, tag ids the next token may not take)."""
    flat = [(row, *segment) for row, segments in enumerate(per_row) for segment in segments]
    not_next = torch.zeros(len(flat), n_tags, dtype=torch.bool)
    for k, (_, _, _, forbidden) in enumerate(flat):
        not_next[k, forbidden] = True
    return Segments(
        rows=torch.tensor([row for row, _, _, _ in flat], dtype=torch.int64),
        firsts=torch.tensor([first for _, first, _, _ in flat], dtype=torch.int64),
        sizes=torch.tensor([len(tags) for _, _, tags, _ in flat], dtype=torch.int64),
        tags=torch.tensor([tag for _, _, tags, _ in flat for tag in tags], dtype=torch.int64),
        not_next=not_next,
    )


def entity_segments(tags, n):
    """Every PER and LOC entity of a sequence of n tokens, as (first, tag ids, not_next)."""
    segments = []
    for first, size, label in itertools.product(range(n), range(1, n + 1), ["PER", "LOC"]):
        if first + size > n:
            continue
        if "U-PER" in tags:
            names = [f"U-{label}"] if size == 1 else [f"B-{label}"] + [f"I-{label}"] * (size - 2) + [f"L-{label}"]
            segments.append((first, [tags.index(name) for name in names], []))
        else:
            names = [f"B-{label}"] + [f"I-{label}"] * (size - 1)
            segments.append((first, [tags.index(name) for name in names], [tags.index(f"I-{label}")]))
    return segments


def brute_force_segment_probability(scores, first, tags, not_next):
    """The total probability of the sequences (scores: `brute_force_scores`) with those tags from
    first on and the next tag, if any, not in not_next."""
    last = first + len(tags)
    kept = [s for seq, s in scores.items() if list(seq[first:last]) == tags and (last == len(seq) or seq[last] not in not_next)]
    log_z = torch.logsumexp(torch.stack(list(scores.values())), dim=0)
    return float((torch.logsumexp(torch.stack(kept), dim=0) - log_z).exp()) if kept else 0.0


def test_segment_probabilities_equal_brute_force(tags):
    """Every entity segment (at the first and last token, single tokens, whole rows) and invalid
    ones, over rows of 4, 1, 3 (no segments) and 2 tokens, one token allowed "O" only."""
    crf = random_crf(tags).double()
    torch.manual_seed(5)
    lengths = [4, 1, 3, 2]
    emissions = torch.randn(4, 4, len(tags), dtype=torch.float64) * 2
    emissions[0, 2, 1:] = float("-inf")
    mask = torch.arange(4) < torch.tensor(lengths).unsqueeze(1)
    invalid = [(0, [tags.index("I-PER")], []), (1, [tags.index("B-PER"), tags.index("I-LOC")], []), (1, [0, 0], [0])]
    per_row = [entity_segments(tags, 4) + invalid, entity_segments(tags, 1), [], entity_segments(tags, 2)]
    probabilities = crf.segment_log_probs(emissions, mask, make_segments(per_row, len(tags))).exp()
    expected = []
    for row, segments in enumerate(per_row):
        scores = brute_force_scores(crf, tags, emissions[row], lengths[row])
        expected += [brute_force_segment_probability(scores, *segment) for segment in segments]
    torch.testing.assert_close(probabilities, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-9)


def reference_segment_probabilities(crf, emissions, segments):
    """The probabilities of a sequence's (first, tags, not_next) segments (emissions FloatTensor[n, C])
    from forward and backward tables computed position by position, -inf where forbidden."""
    start, end, transitions = (scores.detach().double() for scores in crf._decoding_scores())
    alpha = [start + emissions[0]]
    for t in range(1, len(emissions)):
        alpha.append(torch.logsumexp(alpha[-1].unsqueeze(1) + transitions, dim=0) + emissions[t])
    beta = [end]
    for t in range(len(emissions) - 2, -1, -1):
        beta.insert(0, torch.logsumexp(transitions + emissions[t + 1] + beta[0], dim=1))
    log_z = torch.logsumexp(alpha[-1] + end, dim=0)
    probabilities = []
    for first, tags, not_next in segments:
        last = first + len(tags) - 1
        score = start[tags[0]] if first == 0 else torch.logsumexp(alpha[first - 1] + transitions[:, tags[0]], dim=0)
        score = score + sum(emissions[first + i, tag] for i, tag in enumerate(tags))
        score = score + sum(transitions[a, b] for a, b in zip(tags, tags[1:]))
        if last == len(emissions) - 1:
            score = score + end[tags[-1]]
        else:
            following = transitions[tags[-1]] + emissions[last + 1] + beta[last + 1]
            following[not_next] = float("-inf")
            score = score + torch.logsumexp(following, dim=0)
        probabilities.append(float((score - log_z).exp()))
    return probabilities


def test_segment_probabilities_of_long_sequences_equal_a_position_by_position_reference(tags):
    """Rows of 1,000, 313, 2 and 1 tokens, 5% of tokens allowed "O" only; the decoded tags of
    random windows and random tags, at random places and at each row's first and last token."""
    crf = random_crf(tags).double()
    torch.manual_seed(6)
    lengths = torch.tensor([1000, 313, 2, 1])
    mask = torch.arange(1000) < lengths.unsqueeze(1)
    emissions = torch.randn(4, 1000, len(tags), dtype=torch.float64) * 3
    emissions[torch.rand(4, 1000) < 0.05, 1:] = float("-inf")
    decoded = crf.decode(emissions, mask)
    per_row = []
    for row, n in enumerate(lengths.tolist()):
        windows = [(0, 1), (n - 1, 1), (0, min(n, 3)), (max(0, n - 3), min(n, 3))]
        random_windows = zip(torch.randint(n, (40,)).tolist(), torch.randint(1, 5, (40,)).tolist())
        windows += [(first, size) for first, size in random_windows if first + size <= n]
        segments = [(first, torch.randint(len(tags), (size,)).tolist(), []) for first, size in windows[:10]]
        for first, size in windows:
            segments.append((first, decoded[row, first : first + size].tolist(), torch.randint(len(tags), (2,)).tolist()))
        per_row.append(segments)
    probabilities = crf.segment_log_probs(emissions, mask, make_segments(per_row, len(tags))).exp()
    expected = []
    for row, n in enumerate(lengths.tolist()):
        expected += reference_segment_probabilities(crf, emissions[row, :n], per_row[row])
    assert max(expected) > 0.5
    torch.testing.assert_close(probabilities, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-9)
    log_z = crf.forward_backward(emissions, mask)[2]
    torch.testing.assert_close(log_z, crf.log_partition(emissions, mask).detach(), rtol=1e-12, atol=0.0)
    torch.testing.assert_close(crf.marginals(emissions, mask).sum(dim=2), mask.double(), rtol=0, atol=1e-9)


GOLD = {
    "BILUO": ["B-PER I-PER L-PER O", "O U-LOC", "O"],
    "BIO": ["B-PER I-PER I-PER O", "O B-LOC", "O"],
}


def test_negative_log_likelihood_of_a_gold_sequence(tags, batch):
    crf = random_crf(tags)
    emissions, mask = batch
    gold = torch.zeros(3, 4, dtype=torch.int64)
    for row, text in enumerate(GOLD["BILUO" if "U-PER" in tags else "BIO"]):
        ids = [tags.index(tag) for tag in text.split()]
        gold[row, : len(ids)] = torch.tensor(ids)
    nll = crf.neg_log_likelihood(emissions, gold, mask).detach()
    for row, n in enumerate(mask.sum(dim=1).tolist()):
        scores = brute_force_scores(crf, tags, emissions[row], n)
        log_z = torch.logsumexp(torch.stack(list(scores.values())), dim=0)
        expected = log_z - scores[tuple(gold[row, :n].tolist())]
        assert float(nll[row]) == pytest.approx(float(expected), abs=1e-4)


def test_unknown_gold_tags_are_marginalised(tags, batch):
    """A negative gold id: the numerator sums over every valid tag at that position."""
    crf = random_crf(tags)
    emissions, mask = batch
    gold = torch.full((3, 4), -1, dtype=torch.int64)
    gold[0, 0] = 0
    nll = crf.neg_log_likelihood(emissions, gold, mask).detach()
    scores = brute_force_scores(crf, tags, emissions[0], 4)
    log_z = torch.logsumexp(torch.stack(list(scores.values())), dim=0)
    numerator = torch.logsumexp(torch.stack([s for seq, s in scores.items() if seq[0] == 0]), dim=0)
    assert float(nll[0]) == pytest.approx(float(log_z - numerator), abs=1e-4)
    assert float(nll[2]) == pytest.approx(0.0, abs=1e-4)


def test_gradients_reach_emissions_and_transitions(tags, batch):
    crf = random_crf(tags)
    emissions, mask = batch
    emissions.requires_grad_()
    crf.neg_log_likelihood(emissions, torch.zeros(3, 4, dtype=torch.int64), mask).sum().backward()
    assert emissions.grad[:, 0].abs().sum() > 0 and crf.transitions.grad.abs().sum() > 0
    assert torch.all(emissions.grad[1, 2:] == 0), "padding gets no gradient"


def test_decoding_never_produces_an_invalid_sequence(tags):
    """Emissions that strongly prefer an invalid sequence (I- first, B- last) still decode validly."""
    crf = LinearChainCRF(len(tags), **tag_constraints(tags))
    emissions = torch.zeros(1, 3, len(tags))
    emissions[0, 0, tags.index("I-PER")] = 50.0
    emissions[0, 1, tags.index("I-LOC")] = 50.0
    emissions[0, 2, tags.index("B-PER")] = 50.0
    decoded = crf.decode(emissions, torch.ones(1, 3, dtype=torch.bool))[0].tolist()
    assert is_valid(tags, decoded)


@pytest.mark.parametrize(
    "tags, valid, invalid",
    [
        (BIO_TAGS, ["B-PER I-PER O", "O B-LOC", "B-PER B-PER", "B-LOC I-LOC I-LOC"], ["I-PER", "B-PER I-LOC", "O I-LOC"]),
        (
            BILUO_TAGS,
            ["B-PER L-PER O", "U-PER U-LOC", "B-LOC I-LOC L-LOC", "O"],
            ["B-PER", "I-PER L-PER", "B-PER O", "B-PER L-LOC", "U-PER L-PER", "L-PER"],
        ),
    ],
    ids=["BIO", "BILUO"],
)
def test_tag_constraints(tags, valid, invalid):
    for text in valid:
        assert is_valid(tags, [tags.index(tag) for tag in text.split()]), text
    for text in invalid:
        assert not is_valid(tags, [tags.index(tag) for tag in text.split()]), text


def test_tag_constraints_reject_unknown_prefixes():
    with pytest.raises(ValueError, match="X-PER"):
        tag_constraints(["O", "X-PER"])


def test_fixed_transitions_make_decoding_a_constrained_argmax():
    crf = LinearChainCRF(len(BIO_TAGS), **tag_constraints(BIO_TAGS), learn_transitions=False)
    assert list(crf.parameters()) == []
    emissions = torch.randn(2, 5, len(BIO_TAGS))
    emissions[:, :, BIO_TAGS.index("I-PER")] = -100.0
    emissions[:, :, BIO_TAGS.index("I-LOC")] = -100.0
    decoded = crf.decode(emissions, torch.ones(2, 5, dtype=torch.bool))
    assert torch.equal(decoded, emissions.argmax(dim=-1))
