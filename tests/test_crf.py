"""The linear-chain CRF against brute force over every tag sequence, and its constraints."""
import itertools

import pytest
import torch

from spacy_rnn.models.crf import LinearChainCRF, tag_constraints

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


@pytest.mark.parametrize("length", [1, 2, 5, 13])
def test_parallel_scan_equals_the_sequential_forward_algorithm(tags, length):
    """log Z, the likelihood with unknown gold tags, and their gradients, for ragged lengths."""
    torch.manual_seed(length)
    crf = random_crf(tags)
    emissions = torch.randn(4, length, len(tags), requires_grad=True)
    lengths = torch.tensor([length, max(1, length - 3), 1, max(1, length // 2)])
    mask = torch.arange(length) < lengths.unsqueeze(1)
    gold = crf.decode(torch.randn(4, length, len(tags)), mask)  # valid sequences, some tags unknown:
    gold = gold.masked_fill(torch.rand(gold.shape) < 0.3, -1)
    for parallel in (False, True):
        if not parallel:
            sequential = crf.log_partition(emissions, mask), crf.neg_log_likelihood(emissions, gold, mask)
            grad = torch.autograd.grad(sequential[0].sum() + sequential[1].sum(), emissions)[0]
        else:
            scanned = crf.log_partition(emissions, mask, parallel=True), crf.neg_log_likelihood(emissions, gold, mask, parallel=True)
            scanned_grad = torch.autograd.grad(scanned[0].sum() + scanned[1].sum(), emissions)[0]
    for one, other in zip(sequential, scanned):
        torch.testing.assert_close(other, one, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(scanned_grad, grad, rtol=1e-4, atol=1e-5)


def test_viterbi_equals_brute_force_argmax(tags, batch):
    crf = random_crf(tags)
    emissions, mask = batch
    decoded = crf.decode(emissions, mask)
    for row, n in enumerate(mask.sum(dim=1).tolist()):
        scores = brute_force_scores(crf, tags, emissions[row], n)
        best = max(scores, key=lambda sequence: float(scores[sequence]))
        assert tuple(decoded[row, :n].tolist()) == best


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
