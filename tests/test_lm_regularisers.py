"""The AWD-LSTM regularisers of the language model (Merity et al. 2018): locked dropout,
embedding dropout over word types, DropConnect on the hidden-to-hidden weights, the activation
penalties AR and TAR, and NT-ASGD. Each is off by default and acts in training only."""
import math

import pytest
import torch
from spacy.util import load_config
from torch import nn

from spacy_rnn.lm.averaging import IterateAverage
from spacy_rnn.lm.step import backward_chunk, chunk_loss
from spacy_rnn.lm.trainer import LMTrainingSettings, fit_language_model, stream_perplexity
from spacy_rnn.models import regularisers
from spacy_rnn.models.language_model import LanguageModelNet, LanguageModelSettings
from spacy_rnn.models.regularisers import LockedDropout, activation_penalty, drop_connect, embedding_dropout, run_layers
from spacy_rnn.models.registry import build_net, net_spec

from helpers import ROOT
from lm_helpers import make_net

AWD = {"locked_dropout": True, "word_type_dropout": 0.1, "weight_dropout": 0.5}


# --- locked dropout, embedding dropout, DropConnect ---------------------------------------


def test_locked_dropout_uses_one_mask_per_row_across_time():
    torch.manual_seed(0)
    dropout = LockedDropout(0.5).train()
    out = dropout(torch.ones(4, 7, 50))
    assert torch.equal(out, out[:, :1].expand_as(out))  # constant along time
    assert set(out.unique().tolist()) == {0.0, 2.0}  # dropped or scaled by 1 / (1 - p)
    assert all(not torch.equal(out[0, 0], out[b, 0]) for b in range(1, 4))  # rows draw their own masks
    x = torch.randn(4, 7, 50)
    assert dropout.eval()(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        LockedDropout(1.0)


def test_embedding_dropout_drops_whole_word_types():
    torch.manual_seed(0)
    embed = nn.Embedding(20, 8)
    ids = torch.randint(0, 20, (3, 30))
    out = embedding_dropout(embed, ids, 0.5, training=True)
    dropped, kept = set(), set()
    for word in ids.unique().tolist():
        rows = out[ids == word]
        if torch.equal(rows, torch.zeros_like(rows)):
            dropped.add(word)
        else:  # every occurrence kept and scaled by 1 / (1 - p)
            assert torch.allclose(rows, (embed.weight[word] * 2).expand_as(rows))
            kept.add(word)
    assert dropped and kept
    assert torch.equal(embedding_dropout(embed, ids, 0.5, training=False), embed(ids))


def test_drop_connect_zeroes_entries_in_training_only():
    torch.manual_seed(0)
    weight = torch.randn(40, 10)
    dropped = drop_connect(weight, 0.5, training=True)
    zeros = dropped == 0
    assert 0 < int(zeros.sum()) < weight.numel()
    assert torch.allclose(dropped[~zeros], weight[~zeros] * 2)
    assert not torch.equal(drop_connect(weight, 0.5, training=True), dropped)  # a new mask every call
    assert drop_connect(weight, 0.5, training=False) is weight


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU, nn.RNN])
def test_run_layers_computes_what_the_rnn_computes(cell):
    torch.manual_seed(0)
    rnn = cell(6, 5, 3, batch_first=True)
    inputs = torch.randn(2, 4, 6)
    as_list = lambda state: list(state) if isinstance(state, tuple) else [state]  # noqa: E731
    for state in (None, rnn(torch.randn(2, 3, 6))[1]):
        expected, expected_state = rnn(inputs, state)
        outputs, final_state = run_layers(rnn, inputs, state, between=nn.Identity(), weight_dropout=0.0)
        assert torch.allclose(outputs, expected, atol=1e-6)
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(as_list(final_state), as_list(expected_state)))


def test_weight_drop_masks_the_hidden_to_hidden_weights_in_training(monkeypatch):
    torch.manual_seed(0)
    rnn = nn.LSTM(6, 5, 2, batch_first=True)
    effective = []

    def recording_drop_connect(weight, p, training):
        effective.append(drop_connect(weight, p, training))
        return effective[-1]

    monkeypatch.setattr(regularisers, "drop_connect", recording_drop_connect)
    inputs = torch.randn(3, 4, 6)
    outputs, _ = run_layers(rnn, inputs, None, between=nn.Identity(), weight_dropout=0.5)
    assert len(effective) == 2
    for layer, weight in enumerate(effective):
        raw = getattr(rnn, f"weight_hh_l{layer}")
        zeros = weight == 0
        assert 0 < int(zeros.sum()) < weight.numel()
        assert torch.allclose(weight[~zeros], raw[~zeros] * 2)
    # The outputs are those of a plain LSTM whose weight_hh are the masked ones...
    plain = nn.LSTM(6, 5, 2, batch_first=True)
    state = rnn.state_dict()
    plain.load_state_dict({**state, "weight_hh_l0": effective[0].detach(), "weight_hh_l1": effective[1].detach()})
    assert torch.allclose(outputs, plain(inputs)[0], atol=1e-6)
    # ... and the gradients reach the raw weights, except where they were dropped.
    outputs.sum().backward()
    for layer, weight in enumerate(effective):
        grad = getattr(rnn, f"weight_hh_l{layer}").grad
        assert not grad[weight == 0].any() and grad[weight != 0].any()
    # In eval mode the raw weights are read.
    effective.clear()
    outputs, _ = run_layers(rnn.eval(), inputs, None, between=nn.Identity(), weight_dropout=0.5)
    assert effective[0] is rnn.weight_hh_l0 and effective[1] is rnn.weight_hh_l1
    assert torch.allclose(outputs, rnn(inputs)[0], atol=1e-6)


# --- the language model with the regularisers ---------------------------------------------


def test_the_regularisers_change_training_only_and_keep_the_saved_weights_names():
    torch.manual_seed(0)
    plain = make_net(30, 8, 2, embed_dropout=0.3, layer_dropout=0.3, output_dropout=0.3)
    awd = make_net(30, 8, 2, embed_dropout=0.3, layer_dropout=0.3, output_dropout=0.3, **AWD)
    assert list(awd.state_dict()) == list(plain.state_dict())
    awd.load_state_dict(plain.state_dict())
    ids = torch.randint(0, 30, (2, 9))
    plain.eval()
    awd.eval()
    assert torch.equal(awd(ids)[0], plain(ids)[0])  # eval mode: exactly the plain model
    awd.train()
    assert not torch.allclose(awd(ids)[0], plain(ids)[0])


def test_locked_dropout_in_the_model_keeps_each_rows_masks_across_time():
    torch.manual_seed(0)
    net = make_net(30, 8, 2, embed_dropout=0.5, layer_dropout=0.5, output_dropout=0.5, locked_dropout=True).train()
    seen = {}
    for name in ("embed_dropout", "layer_dropout", "output_dropout"):
        getattr(net, name).register_forward_hook(lambda module, args, out, name=name: seen.update({name: (args[0], out)}))
    net(torch.full((3, 6), 7))  # one word repeated: the embedding is the same at every step
    inputs, out = seen["embed_dropout"]
    assert torch.equal(out, out[:, :1].expand_as(out)) and not torch.equal(out[0], out[1])
    for name in ("layer_dropout", "output_dropout"):  # varying inputs, one mask per row
        inputs, out = seen[name]
        dropped = out == 0
        assert dropped.any() and torch.equal(dropped, dropped[:, :1].expand_as(dropped))


def test_a_model_saved_without_the_regulariser_settings_loads_with_them_off():
    torch.manual_seed(0)
    net = make_net(30, 8, 2)
    old_hparams = {key: value for key, value in net.hparams.items() if key not in AWD}
    loaded = LanguageModelNet.from_hparams(old_hparams)
    settings = loaded.settings
    assert (settings.locked_dropout, settings.word_type_dropout, settings.weight_dropout) == (False, 0.0, 0.0)
    awd = make_net(30, 8, 2, **AWD)
    assert build_net(net_spec(awd)).settings == awd.settings


def test_settings_reject_rates_of_one_or_more():
    with pytest.raises(ValueError, match="weight_dropout"):
        LanguageModelSettings(weight_dropout=1.0)
    with pytest.raises(ValueError, match="word_type_dropout"):
        LanguageModelSettings(word_type_dropout=-0.1)


# --- activation regularisation ------------------------------------------------------------


def test_activation_penalty_by_hand():
    outputs = torch.tensor([[[1.0, 2.0], [3.0, 1.0], [0.0, 0.0]]])  # B=1, T=3, H=2
    dropped = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]])
    ar = (4 + 4) / 6
    tar = ((2**2 + 1**2) + (3**2 + 1**2)) / 4
    assert float(activation_penalty(outputs, dropped, 2.0, 0.0)) == pytest.approx(2.0 * ar)
    assert float(activation_penalty(outputs, dropped, 0.0, 1.0)) == pytest.approx(tar)
    assert float(activation_penalty(outputs, dropped, 2.0, 1.0)) == pytest.approx(2.0 * ar + tar)
    assert float(activation_penalty(outputs[:, :1], dropped[:, :1], 2.0, 1.0)) == pytest.approx(2.0 * 4 / 2)  # no TAR for T=1


def test_backward_chunk_adds_the_penalties_to_the_gradients_but_reports_the_cross_entropy():
    torch.manual_seed(0)
    net = make_net(12, 6, 2).train()  # no dropout: every forward pass is the same
    inputs, targets = torch.randint(0, 12, (2, 5)), torch.randint(0, 12, (2, 5))
    loss, _ = backward_chunk(net, inputs, targets, None, 10, ar_alpha=2.0, tar_beta=1.0)
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    outputs, _ = net.rnn(net.embed(inputs))
    cross_entropy = chunk_loss(net.decoder(outputs), targets, 10)
    by_hand = cross_entropy + 2.0 * outputs.pow(2).mean() + 1.0 * (outputs[:, 1:] - outputs[:, :-1]).pow(2).mean()
    by_hand.backward()
    assert loss == pytest.approx(float(cross_entropy.detach()), rel=1e-6)
    assert all(torch.allclose(g, p.grad, atol=1e-6) for g, p in zip(grads, net.parameters()))


# --- NT-ASGD --------------------------------------------------------------------------------


def test_averaging_switches_on_when_the_dev_perplexity_is_worse_than_the_best_before_the_last_nonmono():
    average = IterateAverage(nn.Linear(2, 1), nonmono=2)
    assert [average.observe(ppl) for ppl in (5.0, 4.0, 3.0, 4.5)] == [False] * 4  # 4.5 beats 5 (three back)
    assert average.observe(6.0) and average.active  # 6 is worse than min(5, 4)
    assert not average.observe(9.0)  # once only
    never = IterateAverage(nn.Linear(2, 1), nonmono=None)
    assert not any(never.observe(ppl) for ppl in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0))


def test_the_averaged_weights_are_the_mean_of_the_iterates_since_the_switch():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    average = IterateAverage(net, nonmono=1)

    def sgd_step():
        optimizer.zero_grad()
        net(torch.randn(4, 3)).pow(2).sum().backward()
        optimizer.step()
        average.update()
        return [p.detach().clone() for p in net.parameters()]

    sgd_step()  # before the switch: not averaged
    with average.swapped_in():
        assert average.n_steps == 0
    assert [average.observe(ppl) for ppl in (1.0, 1.0, 2.0)] == [False, False, True]
    iterates = [sgd_step() for _ in range(4)]
    by_hand = [torch.stack(values).mean(0) for values in zip(*iterates)]
    with average.swapped_in():
        assert all(torch.allclose(p, mean, atol=1e-7) for p, mean in zip(net.parameters(), by_hand))
    assert all(torch.equal(p, last) for p, last in zip(net.parameters(), iterates[-1]))  # its own weights back
    average.load()
    assert all(torch.allclose(p, mean, atol=1e-7) for p, mean in zip(net.parameters(), by_hand))


def test_training_with_every_regulariser_evaluates_and_keeps_the_averaged_weights(tmp_path):
    torch.manual_seed(0)
    net = make_net(12, 16, 2, embed_dropout=0.2, layer_dropout=0.2, output_dropout=0.2, **AWD)
    train = torch.randint(2, 12, (400,))
    dev = torch.randint(2, 12, (60,)).tolist()
    settings = LMTrainingSettings(
        batch_size=4,
        bptt=5,
        learning_rate=5.0,
        anneal_factor=1.0,
        patience=100,
        max_epochs=6,
        evals_per_epoch=4,
        ar_alpha=2.0,
        tar_beta=1.0,
        asgd=True,
        nonmono=1,
    )
    saved = []
    record = fit_language_model(
        net, train, dev, settings, tmp_path, max_grad_norm=0.25, chunk_size=8, on_improve=lambda: saved.append(1)
    )
    evaluations = record["evaluations"]
    assert record["averaging_from_step"] is not None  # random dev words: the perplexity soon stops improving
    assert all(e["averaged"] == (e["step"] > record["averaging_from_step"]) for e in evaluations)
    # net keeps the averaged weights: the last evaluation (after the last step) measured them.
    assert stream_perplexity(net, dev, 8) == pytest.approx(evaluations[-1]["dev_perplexity"], rel=1e-9)
    assert all(math.isfinite(e["dev_perplexity"]) for e in evaluations) and saved


@pytest.mark.parametrize("start_fraction, switched_at_first_evaluation", [(0.0, False), (1e-9, True)])
def test_averaging_starts_once_the_given_fraction_of_the_time_budget_has_passed(tmp_path, start_fraction, switched_at_first_evaluation):
    """A budget of 1,000 minutes: a fraction of 1e-9 has passed at the first evaluation, and
    without it the dev trigger (nonmono 50) never fires in 2 epochs."""
    torch.manual_seed(0)
    net = make_net(12, 16, 1)
    settings = LMTrainingSettings(
        batch_size=4, bptt=5, learning_rate=1.0, anneal_factor=1.0, patience=100, max_epochs=2, evals_per_epoch=2,
        max_minutes=1000.0, asgd=True, nonmono=50, asgd_start_fraction=start_fraction,
    )
    record = fit_language_model(
        net, torch.randint(2, 12, (200,)), torch.randint(2, 12, (40,)).tolist(), settings, tmp_path,
        max_grad_norm=0.25, chunk_size=8, on_improve=lambda: None,
    )
    first_evaluation = record["evaluations"][0]["step"]
    assert record["averaging_from_step"] == (first_evaluation if switched_at_first_evaluation else None)
    assert [e["averaged"] for e in record["evaluations"]][1:] == [switched_at_first_evaluation] * 3


def test_training_settings_check_the_regularisers():
    with pytest.raises(ValueError, match="asgd"):
        LMTrainingSettings(asgd=True, optimizer="adam")
    with pytest.raises(ValueError, match="asgd_start_fraction"):
        LMTrainingSettings(asgd_start_fraction=0.5, max_minutes=60.0)  # asgd off
    with pytest.raises(ValueError, match="asgd_start_fraction"):
        LMTrainingSettings(asgd=True, asgd_start_fraction=0.5)  # no time budget
    with pytest.raises(ValueError, match="ar_alpha"):
        LMTrainingSettings(ar_alpha=-1.0)


def test_the_awd_config_switches_every_regulariser_on():
    config = load_config(ROOT / "configs" / "lm_ptb_awd.cfg").interpolate()
    model = LanguageModelSettings.take(config["components"]["lm"]["model"])
    training = LMTrainingSettings(**config["lm_training"])
    assert model.locked_dropout and model.word_type_dropout > 0 and model.weight_dropout > 0
    assert training.ar_alpha > 0 and training.tar_beta > 0 and training.asgd
