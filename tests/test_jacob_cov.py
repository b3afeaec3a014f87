"""jacob_cov (Mellor et al. 2021, v1) against a hand computation on a tiny network.

The definition (:mod:`reuseprior.baselines.proxies`): ``-sum(log(v + k) + 1/(v + k))``
over the eigenvalues ``v`` of the correlation matrix of the per-example input Jacobians
(of the summed logits), ``k = 1e-5``. For ``x -> W2 relu(W1 x + b1) + b2`` the Jacobian of
example ``n`` is ``(1^T W2) diag(m_n) W1`` with ``m_n = [W1 x_n + b1 > 0]``: written out here
in numpy, with the correlation matrix from the standardised rows, so nothing is taken from
the code under test. The network runs in float64 (the score reads the gradient in float64),
so both sides are float64 throughout and agree to rounding, on any CPU kernels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from reuseprior.baselines import proxies

K = 1e-5


def _tiny_network_and_batch() -> tuple[nn.Sequential, proxies.ProxyBatch]:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    x = torch.randn(5, 3, 2, 2, generator=generator, dtype=torch.float64)
    return model, proxies.ProxyBatch(x, torch.tensor([0, 1, 2, 0, 1]), 3, "test batch")


def _hand_jacob_cov(model: nn.Sequential, batch: proxies.ProxyBatch, k: float = K) -> tuple[float, np.ndarray]:
    """The score and the eigenvalues, from the closed-form Jacobian of the two-layer ReLU network."""
    w1, b1 = model[1].weight.detach().numpy(), model[1].bias.detach().numpy()
    w2 = model[3].weight.detach().numpy()
    x = batch.inputs.reshape(len(batch.inputs), -1).numpy()
    masks = (x @ w1.T + b1 > 0).astype(float)  # (examples, hidden)
    jac = (w2.sum(axis=0) * masks) @ w1  # row n: (1^T W2) diag(m_n) W1, (examples, inputs)
    z = jac - jac.mean(axis=1, keepdims=True)
    z /= np.sqrt((z**2).mean(axis=1, keepdims=True))
    corr = z @ z.T / z.shape[1]  # Pearson correlations between the examples' Jacobians
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k))), v


def test_jacob_cov_equals_the_hand_computed_score_of_a_tiny_relu_network():
    model, batch = _tiny_network_and_batch()
    expected, v = _hand_jacob_cov(model, batch)
    # the case is not degenerate: the examples' ReLU codes and Jacobians differ, the correlation
    # matrix is full rank (no eigenvalue near -k, where 1/(v + k) would be ill-conditioned)
    masks = model[1](model[0](batch.inputs)) > 0
    assert len({tuple(m.tolist()) for m in masks}) == len(masks)
    assert v.sum() == pytest.approx(len(v), rel=1e-12) and v.min() > 1e-2
    # float64 on both sides, summation orders differ: 1e-9 of the score leaves a wide margin
    # over rounding yet catches any change of the definition (one eigenvalue's 1/(v + k) term
    # is at least 1 / (n + k) = 0.2 of a score of this size)
    assert proxies.jacob_cov(model, batch) == pytest.approx(expected, rel=1e-9)
    assert proxies.data_dependent_scores(model, batch, ["jacob_cov"])["jacob_cov"] == pytest.approx(expected, rel=1e-9)


def test_jacob_cov_penalises_correlated_jacobians():
    """More correlated Jacobians (eigenvalues spread away from 1) score lower: the score
    ``-sum(log(v + k) + 1/(v + k))`` is largest when every eigenvalue is 1 (``-n``), and a batch
    whose last examples repeat its first (Jacobians identical, so correlated 1) scores below the
    batch of distinct examples."""
    model, batch = _tiny_network_and_batch()
    score = proxies.jacob_cov(model, batch)
    n = len(batch.inputs)
    assert score < -n * (np.log(1 + K) + 1 / (1 + K))
    repeated = batch.inputs.clone()
    repeated[2:] = repeated[0]
    same = proxies.jacob_cov(model, proxies.ProxyBatch(repeated, batch.targets, 3, "repeated examples"))
    assert same < score
    assert same == pytest.approx(_hand_jacob_cov(model, proxies.ProxyBatch(repeated, batch.targets, 3, "r"))[0])


class _IgnoresItsInput(nn.Module):
    """Logits from a parameter alone, as a NAS-Bench-201 cell whose every path from the input is ``none``."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.arange(3, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), 3)


def test_jacob_cov_is_undefined_on_a_model_whose_output_ignores_its_input():
    _, batch = _tiny_network_and_batch()
    with pytest.raises(ValueError, match="undefined: the output does not depend on the input"):
        proxies.jacob_cov(_IgnoresItsInput(), batch)
    shared = proxies.data_dependent_scores(_IgnoresItsInput(), batch, ["jacob_cov"])
    assert "undefined: the output does not depend on the input" in shared["jacob_cov_error"]
