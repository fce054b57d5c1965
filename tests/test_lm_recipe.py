"""The DARTS/AWD-LSTM retrain recipe's pieces: NT-ASGD, variable-length BPTT chunks, temporal
activation regularisation, and the learning rate scaled by a chunk's length."""

from __future__ import annotations

import torch

from nascli.data.text import BPTTLoader
from nascli.lit.language_model import LanguageModel
from nascli.lit.ntasgd import NTASGD
from nascli.spaces.rnn_cell import RNNCellSpace


def _steps(optimizer, params, grads) -> None:
    for g in grads:
        optimizer.zero_grad()
        for p, gp in zip(params, g, strict=True):
            p.grad = gp.clone()
        optimizer.step()


def test_ntasgd_is_sgd_until_validation_stalls_then_averages_as_asgd_does():
    torch.manual_seed(0)
    start = [torch.randn(3, 4), torch.randn(5)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(6)]
    ours = [p.clone().requires_grad_() for p in start]
    sgd = [p.clone().requires_grad_() for p in start]
    nt = NTASGD(ours, lr=0.5, weight_decay=0.1, nonmono=2)
    _steps(nt, ours, grads[:3])
    _steps(torch.optim.SGD(sgd, lr=0.5, weight_decay=0.1), sgd, grads[:3])
    assert all(torch.allclose(a, b) for a, b in zip(ours, sgd, strict=True))
    # Stalled: worse than the best of the epochs before the last two. Not before 3 are known.
    assert [nt.observe(v) for v in (1.0, 2.0, 3.0)] == [False, False, False]
    assert nt.observe(1.5) and nt.averaging and not nt.observe(9.0)
    # From here on, what torch's ASGD (t0=0, lambd=0) started now keeps as its average.
    asgd_params = [p.detach().clone().requires_grad_() for p in ours]
    asgd = torch.optim.ASGD(asgd_params, lr=0.5, t0=0, lambd=0.0, weight_decay=0.1)
    _steps(nt, ours, grads[3:])
    _steps(asgd, asgd_params, grads[3:])
    for p, q in zip(ours, asgd_params, strict=True):
        assert torch.allclose(p, q, atol=1e-6)
        assert torch.allclose(nt.state[p]["ax"], asgd.state[q]["ax"], atol=1e-6)
    trained = [p.detach().clone() for p in ours]
    with nt.averaged():
        assert all(torch.equal(p, nt.state[p]["ax"]) for p in ours)
    assert all(torch.equal(p, t) for p, t in zip(ours, trained, strict=True))
    # The switch and the average survive a checkpoint.
    again = NTASGD([p.detach().clone() for p in ours], lr=0.5, weight_decay=0.1, nonmono=2)
    again.load_state_dict(nt.state_dict())
    assert again.averaging and again.param_groups[0]["val_losses"] == [1.0, 2.0, 3.0, 1.5, 9.0]
    nt.keep_averages()
    assert all(torch.equal(p, nt.state[p]["ax"]) for p in ours)


def test_variable_chunks_cover_the_stream_once_and_move_from_epoch_to_epoch():
    rows = torch.arange(2 * 400).view(2, 400)
    loader = BPTTLoader(rows, bptt=35, variable=True, seed=3)
    epochs = []
    for epoch in range(3):
        loader.epoch = epoch
        chunks = list(loader)
        assert torch.equal(torch.cat([x for x, _ in chunks], 1), rows[:, :-1])
        assert all(torch.equal(y, x + 1) for x, y in chunks)
        lengths = [x.size(1) for x, _ in chunks]
        assert all(5 <= n <= 55 for n in lengths[:-1]) and lengths == loader.lengths()
        epochs.append(lengths)
    assert epochs[0] != epochs[1] and len({len(e) for e in epochs} | {0}) >= 2
    loader.epoch = 0
    assert loader.lengths() == epochs[0]  # the same epoch, the same chunks (resume)
    fixed = BPTTLoader(rows, bptt=35)
    assert len(fixed) == 12 and {x.size(1) for x, _ in list(fixed)[:-1]} == {35}


def _model(**kwargs) -> LanguageModel:
    torch.manual_seed(0)
    net = RNNCellSpace(hidden=8).build("DARTS_V2", (6,), 20)
    return LanguageModel(net, lambda p: torch.optim.SGD(p, lr=1.0), **kwargs)


def test_tar_adds_the_mean_square_step_change_of_the_cell_outputs_to_training_loss_only():
    x, y = torch.randint(0, 20, (3, 6)), torch.randint(0, 20, (3, 6))
    plain, tar = _model(), _model(tar=0.5)
    for model in (plain, tar):
        model.net.eval()  # no dropout: both see the same function
    with torch.no_grad():
        _, _, out, _ = tar.net.forward_with_states(x)
        expected = plain._step("train", (x, y)) + 0.5 * (out[1:] - out[:-1]).pow(2).mean()
        got = tar._step("train", (x, y))
        assert torch.allclose(got, expected)
        assert torch.allclose(tar._step("val", (x, y)), plain._step("val", (x, y)))
    # The logged loss is the cross-entropy alone.
    assert tar._sums["train"] == plain._sums["train"]
    # A one-token chunk (the end of a stream) has no step-to-step change: no NaN.
    with torch.no_grad():
        assert torch.isfinite(tar._step("train", (x[:, :1], y[:, :1])))


def test_a_chunk_of_n_tokens_steps_at_lr_times_n_over_bptt():
    x, y = torch.randint(0, 20, (3, 7)), torch.randint(0, 20, (3, 7))
    deltas = []
    for bptt in (None, 14):
        model = _model(bptt=bptt)
        model.net.eval()
        optimizer = torch.optim.SGD(model.net.parameters(), lr=1.0)
        before = model.net.decoder.bias.detach().clone()

        def closure(model=model, optimizer=optimizer):
            optimizer.zero_grad()
            loss = model._step("train", (x, y))
            loss.backward()
            return loss

        model.optimizer_step(0, 0, optimizer, closure)
        assert optimizer.param_groups[0]["lr"] == 1.0  # put back after the step
        deltas.append(model.net.decoder.bias.detach() - before)
    assert torch.allclose(deltas[1], deltas[0] * 7 / 14, atol=1e-7)
