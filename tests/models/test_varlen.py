"""flash-attn when installed, SDPA otherwise: the varlen stand-in and the attention choice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import torch

from sgt_eval.models.hf import choose_attention
from sgt_eval.models.varlen import flash_attn_varlen_func, importable_flash_attn


def reference(q, k, v, lens_q, lens_k, causal):
    """Plain softmax attention per sequence, keys repeated for grouped-query heads, in float64."""
    out, q0, k0 = [], 0, 0
    group = q.shape[1] // k.shape[1]
    for nq, nk in zip(lens_q, lens_k):
        query, key = q[q0:q0 + nq].double(), k[k0:k0 + nk].double().repeat_interleave(group, 1)
        value = v[k0:k0 + nk].double().repeat_interleave(group, 1)
        logits = torch.einsum("qhd,khd->hqk", query, key) / q.shape[-1] ** 0.5
        if causal:
            allowed = torch.arange(nk)[None, :] <= torch.arange(nq)[:, None] + (nk - nq)
            logits = logits.masked_fill(~allowed, float("-inf"))
        out.append(torch.einsum("hqk,khd->qhd", logits.softmax(-1), value))
        q0, k0 = q0 + nq, k0 + nk
    return torch.cat(out)


def test_the_stand_in_computes_packed_grouped_causal_attention():
    torch.manual_seed(0)
    lens_q, lens_k = [5, 1, 7], [9, 4, 7]  # a chunk against a cache, one decoding step, a fresh prompt
    q = torch.randn(sum(lens_q), 8, 16)
    k, v = torch.randn(sum(lens_k), 2, 16), torch.randn(sum(lens_k), 2, 16)
    cu_q = torch.tensor([0, *torch.tensor(lens_q).cumsum(0)], dtype=torch.int32)
    cu_k = torch.tensor([0, *torch.tensor(lens_k).cumsum(0)], dtype=torch.int32)
    for causal in (True, False):
        got = flash_attn_varlen_func(q=q, k=k, v=v, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k, max_seqlen_q=7,
                                     max_seqlen_k=9, causal=causal)
        assert torch.allclose(got.double(), reference(q, k, v, lens_q, lens_k, causal), atol=1e-5)


def test_flash_attention_is_chosen_only_where_it_can_run():
    assert choose_attention("cuda", torch.bfloat16, flash_available=True) == "flash_attention_2"
    assert choose_attention("cuda", torch.float16, flash_available=True) == "flash_attention_2"
    assert choose_attention("cuda", torch.float32, flash_available=True) == "sdpa"   # flash-attn is 16-bit only
    assert choose_attention("cpu", torch.bfloat16, flash_available=True) == "sdpa"
    assert choose_attention("cuda", torch.bfloat16, flash_available=False) == "sdpa"


def test_the_stand_in_module_is_gone_after_the_import_and_never_shadows_flash_attn(tmp_path):
    with importable_flash_attn():
        from flash_attn import flash_attn_varlen_func as imported  # noqa: F401 (what upstream code does)
    assert imported is flash_attn_varlen_func and "flash_attn" not in sys.modules
    package = tmp_path / "flash_attn"
    package.mkdir()
    (package / "__init__.py").write_text("def flash_attn_varlen_func(*a, **k):\n    return 'real'\n")
    probe = textwrap.dedent("""
        from sgt_eval.models.varlen import flash_attn_available, importable_flash_attn
        with importable_flash_attn():
            from flash_attn import flash_attn_varlen_func
        print(flash_attn_available(), flash_attn_varlen_func())
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.stdout.split() == ["True", "real"], done.stderr
