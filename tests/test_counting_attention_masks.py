"""Counting engine: masked scaled dot-product attention (``is_causal``, a boolean or an ``-inf``
``attn_mask``) counted by its pairs, the same by both tracers, checked against a count by hand;
``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` with a causal mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reuseprior.core.errors import DataDependentCountWarning
from reuseprior.counting.capture import capture
from reuseprior.counting.sweep import run_sweep

T, E = 3, 2


def _counts(model, x, method, discount=1.0):
    """Every parameter's count tensor (float64), as ``method`` captures ``model``."""
    res = run_sweep(capture(model, x, method=method), discount=discount)
    return {n: c.mantissa * 2.0**c.exponent for n, c in res.param_counts.items() if c is not None}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=1e-12), (name, a[name], b[name])


class _OneHead(nn.Module):
    """q, k, v = one linear layer's thirds; one head of attention over T positions, masked as ``form``
    says; the attention's output is the model's output."""

    def __init__(self, form: str):
        super().__init__()
        self.qkv = nn.Linear(E, 3 * E)
        self.form = form

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        if self.form == "full":
            return F.scaled_dot_product_attention(q, k, v)
        if self.form == "is_causal":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if self.form == "is_causal_by_keyword":
            return F.scaled_dot_product_attention(query=q, key=k, value=v, is_causal=True)
        if self.form == "bool_mask":
            mask = torch.ones(T, T, dtype=torch.bool).tril()
        else:  # "float_mask": 0 on and below the diagonal, -inf above
            mask = nn.Transformer.generate_square_subsequent_mask(T)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _hand_counts(causal: bool, gamma: float) -> torch.Tensor:
    """The count of each row of ``qkv.weight`` (every column alike) by hand: output (i, d) starts at 1.

    ``P[i, j]`` gets sum_d c[i, d] = E from every output of row i, for the pairs (i, j) that take part
    (j <= i when causal); ``v[j, d]`` gets c[i, d] = 1 from each such row i; a score ``s[i, j]`` of a
    pair that takes part gets the sum of ``P``'s counts along its row (softmax), E times the row's
    number of pairs n_i; ``q[i, d]`` gets the scores of row i, ``k[j, d]`` those of column j.  ``v`` is
    one weighted hop from the output (gamma), ``q`` and ``k`` two (gamma**2)."""
    pairs = torch.ones(T, T, dtype=torch.float64)
    if causal:
        pairs = pairs.tril()
    n = pairs.sum(1, keepdim=True)  # pairs per query row
    scores = E * n * pairs  # count of s[i, j]
    q = scores.sum(1).sum() * gamma**2  # summed over the positions i that the weight row feeds
    k = scores.sum(0).sum() * gamma**2
    v = pairs.sum() * gamma  # v[j, d]: one per row i reading j, summed over j
    return torch.tensor([float(q)] * E + [float(k)] * E + [float(v)] * E, dtype=torch.float64)


def test_hand_counts_of_the_causal_head():
    """The hand count spelled out for T = 3, E = 2: rows read 1, 2, 3 positions."""
    # scores 2*1 | 2*2, 2*2 | 2*3 x3: q rows 2 + 8 + 18 = 28, k columns 12 + 10 + 6 = 28, v 3 + 2 + 1 = 6
    assert _hand_counts(True, 1.0).tolist() == [28.0] * E + [28.0] * E + [6.0] * E
    assert _hand_counts(False, 1.0).tolist() == [54.0] * E + [54.0] * E + [9.0] * E


@pytest.mark.parametrize("method", ["meta", "make_fx"])
@pytest.mark.parametrize("form", ["full", "is_causal", "is_causal_by_keyword", "bool_mask", "float_mask"])
@pytest.mark.parametrize("gamma", [1.0, 0.5])
def test_masked_attention_counts_its_pairs_by_both_tracers(form, method, gamma):
    """Query i reads keys and values j <= i only, however the causal mask is given, by either tracer."""
    torch.manual_seed(0)
    counts = _counts(_OneHead(form), torch.randn(1, T, E), method, gamma)
    rows = _hand_counts(form != "full", gamma)
    assert torch.allclose(counts["qkv.weight"], rows[:, None].expand(3 * E, E), rtol=1e-12)
    assert torch.allclose(counts["qkv.bias"], rows, rtol=1e-12)


E_MHA, HEADS = 4, 2


class _MHA(nn.Module):
    def __init__(self, mask: str | None, is_causal: bool = False):
        super().__init__()
        self.mha = nn.MultiheadAttention(E_MHA, HEADS, batch_first=True)
        self.mask, self.is_causal = mask, is_causal

    def forward(self, x):
        mask = None
        if self.mask == "float":
            mask = nn.Transformer.generate_square_subsequent_mask(T)
        elif self.mask == "bool":  # True: not allowed to attend
            mask = ~torch.ones(T, T, dtype=torch.bool).tril()
        return self.mha(x, x, x, need_weights=False, attn_mask=mask, is_causal=self.is_causal)[0]


class _MHAByHand(nn.Module):
    """What ``_MHA`` computes, written with ``F.scaled_dot_product_attention`` on its parameters."""

    def __init__(self, mha: nn.MultiheadAttention, is_causal: bool):
        super().__init__()
        self.mha, self.is_causal = mha, is_causal

    def forward(self, x):
        q, k, v = F.linear(x, self.mha.in_proj_weight, self.mha.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(1, T, HEADS, E_MHA // HEADS).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.is_causal)
        return self.mha.out_proj(y.transpose(1, 2).reshape(1, T, E_MHA))


@pytest.mark.parametrize("mask, is_causal", [("float", True), ("float", False), ("bool", False), (None, False)])
def test_multihead_attention_with_a_causal_mask_is_causal_by_both_tracers(mask, is_causal):
    torch.manual_seed(0)
    model, x = _MHA(mask, is_causal), torch.randn(1, T, E_MHA)
    meta, make_fx = _counts(model, x, "meta"), _counts(model, x, "make_fx")
    _assert_same(meta, make_fx)
    _assert_same(meta, _counts(_MHAByHand(model.mha, mask is not None), x, "meta"))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_with_is_causal_agrees_across_tracers(norm_first):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E_MHA, HEADS, dim_feedforward=5, batch_first=True, norm_first=norm_first)

    class Causal(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x, src_mask=nn.Transformer.generate_square_subsequent_mask(T), is_causal=True)

    x = torch.randn(1, T, E_MHA)
    causal = _counts(Causal(), x, "meta")
    _assert_same(causal, _counts(Causal(), x, "make_fx"))
    full = {f"layer.{n}": c for n, c in _counts(layer, x, "meta").items()}
    assert causal["layer.self_attn.in_proj_weight"].sum() < full["layer.self_attn.in_proj_weight"].sum()


class _LearnedBias(nn.Module):
    """A learned position bias plus a causal ``-inf`` mask, given as one floating ``attn_mask``."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(E, 3 * E)
        self.bias = nn.Parameter(torch.zeros(T, T))

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        mask = self.bias + nn.Transformer.generate_square_subsequent_mask(T).to(x.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def test_a_learned_floating_mask_gets_the_scores_counts_of_its_pairs():
    """The bias is added to the scores: s[i, j]'s count E * n_i * gamma for j <= i, none above the
    diagonal (exp(-inf) = 0 whatever the bias); q, k, v as for the causal head."""
    torch.manual_seed(0)
    model, x, gamma = _LearnedBias(), torch.randn(1, T, E), 0.5
    counts = _counts(model, x, "auto", gamma)
    _assert_same(counts, _counts(model, x, "make_fx", gamma))
    pairs = torch.ones(T, T, dtype=torch.float64).tril()
    assert torch.equal(counts["bias"], E * pairs.sum(1, keepdim=True) * pairs * gamma)
    assert torch.allclose(counts["qkv.bias"], _hand_counts(True, gamma), rtol=1e-12)


class _GroupedQuery(nn.Module):
    """Four query heads over two key/value heads (``enable_gqa``), or the same with the key/value heads
    repeated by hand."""

    def __init__(self, by_hand: bool):
        super().__init__()
        self.q, self.kv = nn.Linear(4, 8), nn.Linear(4, 8)
        self.by_hand = by_hand

    def forward(self, x):
        q = self.q(x).view(1, T, 4, 2).transpose(1, 2)
        k, v = self.kv(x).view(1, T, 2, 4).transpose(1, 2).chunk(2, -1)
        if self.by_hand:
            k, v = k.repeat_interleave(2, -3), v.repeat_interleave(2, -3)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return y.transpose(1, 2).reshape(1, T, -1)


@pytest.mark.parametrize("method", ["meta", "make_fx"])
def test_grouped_query_attention_counts_each_shared_head_once_per_query_head(method):
    torch.manual_seed(0)
    x = torch.randn(1, T, 4)
    gqa, by_hand = _GroupedQuery(False), _GroupedQuery(True)
    by_hand.load_state_dict(gqa.state_dict())
    _assert_same(_counts(gqa, x, method, 0.5), _counts(by_hand, x, method, 0.5))


class _PaddingMask(nn.Module):
    """Keys whose first input feature is negative are masked out: a mask read off the input's values."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(E, 3 * E)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        keep = (x[..., 0] >= 0)[:, None, :]  # (1, 1, T): the same keys for every query
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)


def test_a_mask_read_off_the_input_counts_for_that_input_with_a_warning():
    x = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]])  # key 1 masked out
    with pytest.warns(DataDependentCountWarning):
        counts = _counts(_PaddingMask(), x, "auto")
    pairs = torch.tensor([[1.0, 0.0, 1.0]] * T, dtype=torch.float64)
    n = pairs.sum(1, keepdim=True)
    v = pairs.sum()
    assert counts["qkv.bias"][2 * E :].tolist() == [float(v)] * E
    assert counts["qkv.bias"][:E].tolist() == [float((E * n * n).sum())] * E


def test_captures_in_several_threads_each_count_their_own_attention_and_leave_sdpa_as_found():
    """The meta tracer replaces ``F.scaled_dot_product_attention`` while a forward runs: captures in
    several threads at once must not record into one another's graphs, nor leave it replaced."""
    import threading

    original = F.scaled_dot_product_attention
    torch.manual_seed(0)
    x = torch.randn(1, T, E)
    expected = {form: _hand_counts(form != "full", 1.0) for form in ("full", "is_causal")}
    results, errors = {}, []

    def count(key: tuple[str, int]) -> None:
        try:
            results[key] = _counts(_OneHead(key[0]), x, "meta")["qkv.bias"]
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=count, args=((form, k),)) for k in range(4) for form in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == len(threads)
    for (form, _), counts in results.items():
        assert torch.allclose(counts, expected[form], rtol=1e-12)
    assert F.scaled_dot_product_attention is original
