"""Recurrent layers are counted as the cells they unroll into: ``nn.LSTM`` and ``nn.GRU`` (whose ATen
decomposition splits the gates with ``unsafe_split``) give the same counts as the same cells written by
hand from linear maps, ``chunk`` and pointwise ops on the same parameters (PyTorch's equations for
``nn.LSTM`` and ``nn.GRU``), a graph made only of ops whose rules are tested elsewhere."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from reuseprior import analyze

STEPS, INPUTS, HIDDEN, CLASSES = 4, 3, 5, 2


class Last(nn.Module):
    """A recurrent layer's last hidden state, then a linear head."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer, self.head = layer, nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer(x)[0][:, -1])


class HandLSTM(nn.Module):
    """``nn.LSTM``'s equations, one step at a time, on ``lstm``'s parameters."""

    def __init__(self, lstm: nn.LSTM, head: nn.Linear):
        super().__init__()
        self.lstm, self.head = lstm, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.lstm
        h = c = x.new_zeros(x.shape[0], HIDDEN)
        for t in range(x.shape[1]):
            gates = F.linear(x[:, t], p.weight_ih_l0, p.bias_ih_l0) + F.linear(h, p.weight_hh_l0, p.bias_hh_l0)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return self.head(h)


class HandGRU(nn.Module):
    """``nn.GRU``'s equations, one step at a time, on ``gru``'s parameters, each written as PyTorch's
    decomposition computes it (contexts are paths of the graph computed, so two forms of one function
    may count differently)."""

    def __init__(self, gru: nn.GRU, head: nn.Linear):
        super().__init__()
        self.gru, self.head = gru, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.gru
        h = x.new_zeros(x.shape[0], HIDDEN)
        for t in range(x.shape[1]):
            i_r, i_z, i_n = F.linear(x[:, t], p.weight_ih_l0, p.bias_ih_l0).chunk(3, dim=1)
            h_r, h_z, h_n = F.linear(h, p.weight_hh_l0, p.bias_hh_l0).chunk(3, dim=1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            h = (h - n) * z + n  # PyTorch's form of (1 - z) * n + z * h, which has other paths
        return self.head(h)


@pytest.mark.parametrize("layer, hand", [(nn.LSTM, HandLSTM), (nn.GRU, HandGRU)], ids=["lstm", "gru"])
def test_a_recurrent_layer_counts_as_its_cells_written_by_hand(layer, hand):
    """Through the default tracer, which unrolls the layer one step at a time: each step is a use of the
    layer's weights, as each of their uses in a shared model. The quantities are float64 sums of the same
    counts taken in another order, so they agree to rounding (``rel=1e-12``)."""
    torch.manual_seed(0)
    model = Last(layer(INPUTS, HIDDEN, batch_first=True))
    x = torch.zeros(1, STEPS, INPUTS)
    ours, by_hand = analyze(model, x), analyze(hand(model.layer, model.head), x)
    assert ours.NG == by_hand.NG == sum(p.numel() for p in model.parameters())
    assert (
        ours.WG
        == by_hand.WG
        == STEPS * sum(p.numel() for p in model.layer.parameters())
        + model.head.weight.numel()
        + model.head.bias.numel()
    )
    for name in ("log2_NC", "expected_spread", "entropy", "total_surprisal", "PG", "PG_prime"):
        assert getattr(ours, name) == pytest.approx(getattr(by_hand, name), rel=1e-12), name
