#!/usr/bin/env python3
"""Generate golden replay cases for muon-wgpu from the REAL library optimizers.

For every case this writes, next to this script:

    <case>.case.safetensors      input : param/<name>, grad/<k>/<name>, __metadata__ settings
    <case>.expected.safetensors  output: param/<name> after the last step,
                                          state/<name>/momentum   (Muon params)
                                          state/<name>/exp_avg,
                                          state/<name>/exp_avg_sq (AdamW params)

in the format of docs/src/replay.md. All tensors are float32, little endian,
C order. Everything runs on CPU in float32; the Newton-Schulz iteration of
torch.optim.Muon and of muon-optimizer (which cast to bfloat16) is forced to
float32 (see `torch_ns_in_float32`). The script is deterministic (fixed numpy
seeds), needs no network, and overwrites its outputs. It also rewrites the
summary section of README.md.

Run:  python3 tests/golden/generate.py

optax's preconditioning / adaptive / mu_dtype / dimension-number / named-ns_coeffs cases and
the Keras 3.12 (`keras-3.12` preset) cases come from generate_options.py, which runs in
environments of their own (Keras 3.12 and 3.15 cannot share one); see its docstring.
"""

from __future__ import annotations

import os

# Must be set before keras / jax / torch are imported.
os.environ["KERAS_BACKEND"] = "jax"
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import contextlib  # noqa: E402
import functools  # noqa: E402
import importlib.metadata as md  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", False)  # float32 everywhere
jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_default_matmul_precision", "highest")  # no-op on CPU; explicit

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import optax  # noqa: E402
import optax.contrib  # noqa: E402
import torch  # noqa: E402
import muon as keller_muon  # noqa: E402  (pip package muon-optimizer)

torch.set_default_dtype(torch.float32)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

HERE = Path(__file__).resolve().parent
VERSIONS = {
    pkg: md.version(pkg)
    for pkg in ["torch", "jax", "jaxlib", "optax", "keras", "muon-optimizer",
                "numpy", "safetensors"]
}

# Keys allowed by replay.md's metadata table.
ALLOWED_KEYS = {
    "preset", "steps", "muon", "lr", "adam_lr", "weight_decay",
    "adam_weight_decay", "momentum", "nesterov", "ns_steps", "ns_coefficients",
    "eps", "adjust_lr", "rms_scale", "adam_betas", "adam_eps",
    # The Keras base optimizer's options and Keras Muon's routing options.
    "clipnorm", "global_clipnorm", "clipvalue", "loss_scale_factor",
    "gradient_accumulation_steps", "use_ema", "ema_momentum",
    "ema_overwrite_frequency", "lr_schedule", "exclude_layers", "exclude_embeddings",
}


# --------------------------------------------------------------------------
# Case construction
# --------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    preset: str
    seed: int
    shapes: dict  # name -> shape, in the library's own storage layout
    steps: int
    grad_scale: dict = field(default_factory=dict)  # name -> std of grads
    param_scale: float = 0.5

    def build(self):
        rng = np.random.default_rng(self.seed)
        params = {}
        for n, s in self.shapes.items():
            params[n] = np.ascontiguousarray(
                (rng.standard_normal(s) * self.param_scale).astype("<f4"))
        grads = []
        for _ in range(self.steps):
            g = {}
            for n, s in self.shapes.items():
                scale = self.grad_scale.get(n, 0.1)
                g[n] = np.ascontiguousarray(
                    (rng.standard_normal(s) * scale).astype("<f4"))
            grads.append(g)
        return params, grads


def fmt(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x)
    return str(x)


def fmt_coeffs(coeffs) -> str:
    coeffs = list(coeffs)
    if isinstance(coeffs[0], (tuple, list)):
        return ";".join(",".join(repr(float(c)) for c in t) for t in coeffs)
    return ",".join(repr(float(c)) for c in coeffs)


def write_case(case: Case, params, grads, meta: dict, result: dict, adapter: str):
    """result: {"params": {n: arr}, "momentum": {n: arr}, "exp_avg": {...},
    "exp_avg_sq": {...}, "muon": [names]}"""
    meta = {k: fmt(v) for k, v in meta.items()}
    meta["preset"] = case.preset
    meta["steps"] = str(case.steps)
    if not result.get("auto_route"):
        meta["muon"] = ",".join(result["muon"])
    bad = set(meta) - ALLOWED_KEYS
    assert not bad, f"metadata keys not in replay.md: {bad}"
    for n in result["muon"]:
        assert "," not in n

    tensors = {}
    for n, a in params.items():
        tensors[f"param/{n}"] = a
    for k, g in enumerate(grads):
        for n, a in g.items():
            tensors[f"grad/{k}/{n}"] = a
    save_canonical(tensors, HERE / f"{case.name}.case.safetensors", meta)

    out = {}
    for n, a in result["params"].items():
        out[f"param/{n}"] = a
    for n, a in result["momentum"].items():
        out[f"state/{n}/momentum"] = a
    for n, a in result["exp_avg"].items():
        out[f"state/{n}/exp_avg"] = a
    for n, a in result["exp_avg_sq"].items():
        out[f"state/{n}/exp_avg_sq"] = a
    for n, a in result.get("ema", {}).items():
        out[f"ema/{n}"] = a
    # Every parameter has exactly its state, and its shape is preserved.
    for n, a in params.items():
        assert out[f"param/{n}"].shape == a.shape, n
        if n in result["muon"]:
            assert f"state/{n}/momentum" in out and f"state/{n}/exp_avg" not in out
        else:
            assert f"state/{n}/exp_avg" in out and f"state/{n}/exp_avg_sq" in out
    out_meta = {
        "preset": case.preset,
        "steps": str(case.steps),
        "adapter": adapter,
        "backend": "cpu-float32 (generated by tests/golden/generate.py)",
    }
    save_canonical(out, HERE / f"{case.name}.expected.safetensors", out_meta)


def save_canonical(tensors: dict, path: Path, metadata: dict):
    """safetensors.numpy.save_file, then rewrite the JSON header with the
    `__metadata__` keys sorted: the Rust serializer writes that map in random
    (HashMap) order, which would make every re-run produce different bytes.
    Tensor entries, offsets and data are untouched; the file is re-read with
    safetensors and compared."""
    import json
    import struct
    from safetensors import safe_open

    tensors = _f32(tensors)
    save_file(tensors, str(path), metadata=metadata)
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    assert len(hb) == n, (len(hb), n)
    path.write_bytes(raw[:8] + hb + raw[8 + n:])
    os.chmod(path, 0o644)
    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == metadata
        assert set(f.keys()) == set(tensors)
        for k in f.keys():
            got = f.get_tensor(k)
            assert got.dtype == np.float32 and np.array_equal(got, tensors[k]), k


def _f32(d):
    r = {}
    for k, v in d.items():
        v = np.asarray(v)
        assert v.dtype == np.float32, (k, v.dtype)
        r[k] = np.ascontiguousarray(v.astype("<f4"))
        assert np.all(np.isfinite(r[k])), k
    return r


# --------------------------------------------------------------------------
# bfloat16 -> float32 for the Newton-Schulz of torch.optim.Muon / muon-optimizer
# --------------------------------------------------------------------------

@contextlib.contextmanager
def torch_ns_in_float32(hits: dict):
    """Within the block, every `Tensor.bfloat16()` call and every
    `Tensor.to(...)` call that asks for torch.bfloat16 produces a float32 copy
    instead. These are exactly the casts at the top of the two libraries'
    Newton-Schulz functions:
      torch/optim/_muon.py:56   ortho_grad = grad.to(dtype=torch.bfloat16, copy=True)
      muon.py:17 (muon-optimizer 0.1.0)   X = G.bfloat16()
    The rest of the library code runs unchanged. `hits` counts the casts."""
    orig_to = torch.Tensor.to
    orig_bf16 = torch.Tensor.bfloat16

    def patched_to(self, *args, **kwargs):
        if kwargs.get("dtype", None) is torch.bfloat16:
            kwargs["dtype"] = torch.float32
            hits["to"] = hits.get("to", 0) + 1
        if any(a is torch.bfloat16 for a in args):
            args = tuple(torch.float32 if a is torch.bfloat16 else a for a in args)
            hits["to"] = hits.get("to", 0) + 1
        return orig_to(self, *args, **kwargs)

    def patched_bfloat16(self, memory_format=torch.preserve_format):
        hits["bfloat16"] = hits.get("bfloat16", 0) + 1
        return orig_to(self, dtype=torch.float32, copy=True,
                       memory_format=memory_format)

    torch.Tensor.to = patched_to
    torch.Tensor.bfloat16 = patched_bfloat16
    try:
        yield
    finally:
        torch.Tensor.to = orig_to
        torch.Tensor.bfloat16 = orig_bf16


def _np(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    assert t.dtype == torch.float32, t.dtype
    return t.cpu().numpy().copy()


# --------------------------------------------------------------------------
# torch: torch.optim.Muon + torch.optim.AdamW
# --------------------------------------------------------------------------

def run_torch(params, grads, muon_names, muon_kw, adamw_kw, f32_ns=True):
    P = {n: torch.nn.Parameter(torch.from_numpy(a.copy())) for n, a in params.items()}
    mp = [P[n] for n in muon_names]
    ap = [P[n] for n in P if n not in muon_names]
    opt_m = torch.optim.Muon(mp, **muon_kw)
    opt_a = torch.optim.AdamW(ap, foreach=False, **adamw_kw) if ap else None
    for g in grads:
        for n, p in P.items():
            p.grad = torch.from_numpy(g[n].copy())
        hits = {}
        ctx = torch_ns_in_float32(hits) if f32_ns else contextlib.nullcontext()
        with ctx:
            opt_m.step()
        if f32_ns:
            assert hits.get("to", 0) == len(mp), hits  # one cast per Muon param
        if opt_a:
            opt_a.step()
    res = {"params": {n: _np(p) for n, p in P.items()}, "muon": list(muon_names),
           "momentum": {}, "exp_avg": {}, "exp_avg_sq": {}}
    for n in muon_names:
        res["momentum"][n] = _np(opt_m.state[P[n]]["momentum_buffer"])
    for n in P:
        if n not in muon_names:
            st = opt_a.state[P[n]]
            res["exp_avg"][n] = _np(st["exp_avg"])
            res["exp_avg_sq"][n] = _np(st["exp_avg_sq"])
    return res


# --------------------------------------------------------------------------
# keller: muon-optimizer SingleDeviceMuonWithAuxAdam
# --------------------------------------------------------------------------

@contextlib.contextmanager
def keller_muon_update(nesterov=None, ns_steps=None, reshape_fix=False):
    """muon-optimizer's optimizer classes call `muon_update(p.grad, buf,
    beta=group["momentum"])` and never pass its `nesterov`/`ns_steps` keyword
    arguments; to exercise them we bind them on the module-level function
    (looked up at call time by SingleDeviceMuonWithAuxAdam.step).
    reshape_fix: muon-optimizer 0.1.0 (PyPI) crashes on rank-4 params
    (`p.add_(update)` with update viewed as (out, -1)); GitHub master
    (KellerJordan/Muon@1430c34) does `p.add_(update.reshape(p.shape))`.
    We reproduce that fix by reshaping the returned update to grad.shape
    (== p.shape), AFTER the library's own shape scale was applied."""
    orig = keller_muon.muon_update

    def patched(grad, momentum, beta=0.95):
        kw = {}
        if nesterov is not None:
            kw["nesterov"] = nesterov
        if ns_steps is not None:
            kw["ns_steps"] = ns_steps
        shape = grad.shape
        u = orig(grad, momentum, beta=beta, **kw)
        return u.reshape(shape) if reshape_fix else u

    if nesterov is None and ns_steps is None and not reshape_fix:
        yield
        return
    keller_muon.muon_update = patched
    try:
        yield
    finally:
        keller_muon.muon_update = orig


def run_keller(params, grads, muon_names, muon_group, adam_group, nesterov=None,
               ns_steps=None, f32_ns=True):
    P = {n: torch.nn.Parameter(torch.from_numpy(a.copy())) for n, a in params.items()}
    groups = [dict(params=[P[n] for n in muon_names], use_muon=True, **muon_group),
              dict(params=[P[n] for n in P if n not in muon_names], use_muon=False,
                   **adam_group)]
    opt = keller_muon.SingleDeviceMuonWithAuxAdam(groups)
    reshape_fix = any(P[n].ndim != 2 for n in muon_names)
    for g in grads:
        for n, p in P.items():
            p.grad = torch.from_numpy(g[n].copy())
        hits = {}
        ctx = torch_ns_in_float32(hits) if f32_ns else contextlib.nullcontext()
        with ctx, keller_muon_update(nesterov, ns_steps, reshape_fix):
            opt.step()
        if f32_ns:
            assert hits.get("bfloat16", 0) == len(muon_names), hits
    res = {"params": {n: _np(p) for n, p in P.items()}, "muon": list(muon_names),
           "momentum": {}, "exp_avg": {}, "exp_avg_sq": {}}
    for n in P:
        st = opt.state[P[n]]
        if n in muon_names:
            res["momentum"][n] = _np(st["momentum_buffer"])
        else:
            res["exp_avg"][n] = _np(st["exp_avg"])
            res["exp_avg_sq"][n] = _np(st["exp_avg_sq"])
    return res


# --------------------------------------------------------------------------
# optax: optax.contrib.muon
# --------------------------------------------------------------------------

def _find(tree, cls):
    """All instances of NamedTuple class `cls` inside an optax state tree."""
    out = []

    def rec(x):
        if isinstance(x, cls):
            out.append(x)
            return
        if isinstance(x, dict):
            for v in x.values():
                rec(v)
        elif isinstance(x, (tuple, list)):
            for v in x:
                rec(v)

    rec(tree)
    return out


def run_optax(params, grads, kw):
    from optax._src.transform import ScaleByAdamState
    from optax.contrib._muon import MuonState
    from optax.transforms._masking import MaskedNode

    p = {n: jnp.asarray(a) for n, a in params.items()}
    opt = optax.contrib.muon(**kw)
    state = opt.init(p)
    for g in grads:
        gj = {n: jnp.asarray(a) for n, a in g.items()}
        updates, state = opt.update(gj, state, p)
        p = optax.apply_updates(p, updates)
    (ms,) = _find(state, MuonState)
    (ad,) = _find(state, ScaleByAdamState)
    muon_names = [n for n in params if not isinstance(ms.mu[n], MaskedNode)]
    res = {"params": {n: np.asarray(p[n]) for n in params}, "muon": muon_names,
           "momentum": {}, "exp_avg": {}, "exp_avg_sq": {}}
    for n in params:
        if n in muon_names:
            assert isinstance(ad.mu[n], MaskedNode)
            res["momentum"][n] = np.asarray(ms.mu[n])
        else:
            res["exp_avg"][n] = np.asarray(ad.mu[n])
            res["exp_avg_sq"][n] = np.asarray(ad.nu[n])
    for d in res.values():
        if isinstance(d, dict):
            for a in d.values():
                assert a.dtype == np.float32
    return res


# --------------------------------------------------------------------------
# keras: keras.optimizers.Muon (jax backend)
# --------------------------------------------------------------------------

def run_keras(params, grads, kw):
    V = {}
    for n, a in params.items():
        scope, leaf = n.rsplit("/", 1)
        with keras.name_scope(scope):
            v = keras.Variable(a.copy(), name=leaf, dtype="float32")
        assert v.path == n, (v.path, n)
        V[n] = v
    opt = keras.optimizers.Muon(**kw)
    var_list = list(V.values())
    for g in grads:
        opt.apply([jnp.asarray(g[n]) for n in V], var_list)
    # `iterations` counts updates under gradient accumulation; `_iterations` counts calls.
    assert int(opt._iterations.numpy()) == len(grads)
    muon_names = [n for n in V if not opt._should_use_adamw(V[n])]
    res = {"params": {n: np.asarray(V[n].numpy()) for n in V}, "muon": muon_names,
           "momentum": {}, "exp_avg": {}, "exp_avg_sq": {}}
    if kw.get("use_ema"):
        res["ema"] = {n: np.asarray(opt._model_variables_moving_average[
            opt._get_variable_index(v)].numpy()) for n, v in V.items()}
    # Cases on the routing options let the replay route by its own rule (no `muon` key).
    res["auto_route"] = "exclude_layers" in kw or "exclude_embeddings" in kw
    for n, v in V.items():
        i = opt._get_variable_index(v)
        m = np.asarray(opt.momentums[i].numpy())
        if n in muon_names:
            assert opt.adam_velocities[i] is None
            res["momentum"][n] = m
        else:
            res["exp_avg"][n] = m
            res["exp_avg_sq"][n] = np.asarray(opt.adam_velocities[i].numpy())
    return res


# --------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------

TORCH_SHAPES = {
    # torch layout: nn.Linear.weight is (out, in)
    "blocks.0.attn.qkv.weight": (6, 10),   # wide  -> Muon
    "blocks.0.mlp.fc2.weight": (12, 5),    # tall  -> Muon
    "blocks.0.mlp.fc2.bias": (7,),         # 1-D   -> AdamW
    "tok_embed.weight": (9, 4),            # 2-D embedding, AdamW by choice
}
TORCH_MUON = ["blocks.0.attn.qkv.weight", "blocks.0.mlp.fc2.weight"]

KELLER_SHAPES = {
    "blocks.0.attn.qkv.weight": (6, 10),   # wide  -> Muon
    "blocks.0.mlp.fc2.weight": (12, 5),    # tall  -> Muon
    "features.1.conv.weight": (4, 3, 3, 3),  # conv -> Muon, flattened (4, 27)
    "blocks.0.mlp.fc2.bias": (7,),         # 1-D   -> AdamW
    "tok_embed.weight": (9, 4),            # 2-D embedding, AdamW by choice
}
KELLER_MUON = ["blocks.0.attn.qkv.weight", "blocks.0.mlp.fc2.weight",
               "features.1.conv.weight"]

OPTAX_SHAPES = {
    # optax layout: Dense kernel is (in, out) = (fan_in, fan_out)
    "encoder/dense_0/kernel": (6, 10),     # wide  -> Muon (ndim == 2)
    "encoder/dense_1/kernel": (12, 5),     # tall  -> Muon
    "encoder/dense_1/bias": (7,),          # 1-D   -> Adam
    "encoder/conv/kernel": (2, 3, 4),      # rank 3 -> Adam (default labels)
}

KERAS_SHAPES = {
    # keras layout: Dense kernel is (in, out); names are keras variable paths
    "dense_wide/kernel": (6, 10),          # -> Muon
    "dense_tall/kernel": (12, 5),          # -> Muon
    "dense_tall/bias": (7,),               # 1-D -> AdamW
    "token_embedding/embeddings": (9, 4),  # 2-D, path contains "embedding" -> AdamW
    "conv2d/kernel": (3, 3, 2, 4),         # rank 4 -> AdamW (Keras 3.15: 2-D only)
}

ALT_COEFFS = (3.0, -3.2, 1.2)  # a single non-default triple (a+b+c = 1)
PER_ITER_COEFFS = ((4.0848, -6.8946, 2.9270),
                   (3.9505, -6.3029, 2.6377),
                   (2.8366, -3.0525, 1.2012))  # 3 iterations, one triple each


def torch_cases():
    out = []
    # 1. basic: nesterov, default NS, AdamW with a visible eps
    c = Case("torch_basic", "torch", 101, TORCH_SHAPES, 4)
    mk = dict(lr=0.02, weight_decay=0.05)
    ak = dict(lr=0.01, weight_decay=0.02, eps=1e-3)
    meta = dict(lr=0.02, weight_decay=0.05, adam_lr=0.01, adam_weight_decay=0.02,
                adam_eps=1e-3)
    out.append((c, meta, lambda p, g, mk=mk, ak=ak, **kw: run_torch(p, g, TORCH_MUON, mk, ak, **kw)))
    # 2. nesterov=False, momentum 0.9, betas (0.9, 0.95)
    c = Case("torch_nonesterov", "torch", 102, TORCH_SHAPES, 3)
    mk = dict(lr=0.03, weight_decay=0.1, momentum=0.9, nesterov=False)
    ak = dict(lr=0.005, weight_decay=0.05, betas=(0.9, 0.95))
    meta = dict(lr=0.03, momentum=0.9, nesterov=False, adam_lr=0.005,
                adam_weight_decay=0.05, adam_betas="0.9,0.95")
    out.append((c, meta, lambda p, g, mk=mk, ak=ak, **kw: run_torch(p, g, TORCH_MUON, mk, ak, **kw)))
    # 3. ns_steps=3 with a custom triple, adjust_lr_fn="match_rms_adamw"
    c = Case("torch_ns3_match_rms", "torch", 103, TORCH_SHAPES, 3)
    mk = dict(lr=0.02, weight_decay=0.05, ns_steps=3, ns_coefficients=ALT_COEFFS,
              adjust_lr_fn="match_rms_adamw")
    ak = dict(lr=0.01, weight_decay=0.02)
    meta = dict(lr=0.02, weight_decay=0.05, ns_steps=3,
                ns_coefficients=fmt_coeffs(ALT_COEFFS), adjust_lr="match_rms_adamw",
                adam_lr=0.01, adam_weight_decay=0.02)
    out.append((c, meta, lambda p, g, mk=mk, ak=ak, **kw: run_torch(p, g, TORCH_MUON, mk, ak, **kw)))
    # 4. eps = 1.0: the clamp max(||X||, eps) is active for the small-gradient
    #    matrix (||X|| < 1) and inactive for the large one (||X|| > 1).
    c = Case("torch_eps_clamp", "torch", 104, TORCH_SHAPES, 3,
             grad_scale={"blocks.0.attn.qkv.weight": 0.05,
                         "blocks.0.mlp.fc2.weight": 1.0})
    mk = dict(lr=0.02, weight_decay=0.05, eps=1.0)
    ak = dict(lr=0.01, weight_decay=0.02)
    meta = dict(lr=0.02, weight_decay=0.05, eps=1.0, adam_lr=0.01,
                adam_weight_decay=0.02)
    out.append((c, meta, lambda p, g, mk=mk, ak=ak, **kw: run_torch(p, g, TORCH_MUON, mk, ak, **kw)))
    return out


def keller_cases():
    out = []
    # 1. basic (library defaults for momentum/nesterov/ns/betas/eps)
    c = Case("keller_basic", "keller", 201, KELLER_SHAPES, 4)
    mg = dict(lr=0.03, weight_decay=0.05)
    ag = dict(lr=0.01, weight_decay=0.02)
    meta = dict(lr=0.03, weight_decay=0.05, adam_lr=0.01, adam_weight_decay=0.02)
    out.append((c, meta, lambda p, g, mg=mg, ag=ag, **kw: run_keller(p, g, KELLER_MUON, mg, ag, **kw)))
    # 2. conv weights whose flattened (out, in*kh*kw) aspect ratio and whose
    #    (kh, kw) ratio give different shape scales (see docs/src/formulas.md).
    shapes = {"stem.conv.weight": (12, 1, 2, 2),   # flattened (12, 4); kh/kw = 1
              "layer1.conv.weight": (5, 2, 3, 1),  # flattened (5, 6);  kh/kw = 3
              "blocks.0.mlp.fc2.weight": (12, 5),
              "stem.bn.bias": (7,)}
    c = Case("keller_conv_scale", "keller", 202, shapes, 3)
    mg = dict(lr=0.02, weight_decay=0.1, momentum=0.9)
    ag = dict(lr=0.01, weight_decay=0.05, betas=(0.8, 0.95), eps=1e-3)
    meta = dict(lr=0.02, weight_decay=0.1, momentum=0.9, adam_lr=0.01,
                adam_weight_decay=0.05, adam_betas="0.8,0.95", adam_eps=1e-3)
    names = ["stem.conv.weight", "layer1.conv.weight", "blocks.0.mlp.fc2.weight"]
    out.append((c, meta, lambda p, g, mg=mg, ag=ag, names=names, **kw: run_keller(p, g, names, mg, ag, **kw)))
    # 3. nesterov=False (muon_update keyword; not exposed by the optimizer class)
    c = Case("keller_nonesterov", "keller", 203, KELLER_SHAPES, 3)
    mg = dict(lr=0.03, weight_decay=0.05)
    ag = dict(lr=0.01, weight_decay=0.02)
    meta = dict(lr=0.03, weight_decay=0.05, adam_lr=0.01, adam_weight_decay=0.02,
                nesterov=False)
    out.append((c, meta, lambda p, g, mg=mg, ag=ag, **kw: run_keller(p, g, KELLER_MUON, mg, ag, nesterov=False, **kw)))
    # 4. ns_steps=3 (muon_update keyword; not exposed by the optimizer class)
    c = Case("keller_ns3", "keller", 204, KELLER_SHAPES, 3)
    meta = dict(lr=0.03, weight_decay=0.05, adam_lr=0.01, adam_weight_decay=0.02,
                ns_steps=3)
    out.append((c, meta, lambda p, g, mg=mg, ag=ag, **kw: run_keller(p, g, KELLER_MUON, mg, ag, ns_steps=3, **kw)))
    return out


def optax_cases():
    out = []
    # 1. basic: nesterov (=> NAdamW aux), shared eps made visible (1e-3)
    c = Case("optax_basic", "optax", 301, OPTAX_SHAPES, 4)
    kw = dict(learning_rate=0.02, adam_learning_rate=0.01, weight_decay=0.05,
              adam_weight_decay=0.02, eps=1e-3)
    # optax has one eps for NS and Adam: written as both eps and adam_eps.
    meta = dict(lr=0.02, adam_lr=0.01, weight_decay=0.05, adam_weight_decay=0.02,
                eps=1e-3, adam_eps=1e-3)
    out.append((c, meta, functools.partial(run_optax, kw=kw)))
    # 2. nesterov=False (=> plain AdamW aux), beta 0.9, adam b2 0.95, default eps
    c = Case("optax_nonesterov", "optax", 302, OPTAX_SHAPES, 3)
    kw = dict(learning_rate=0.03, adam_learning_rate=0.005, weight_decay=0.1,
              adam_weight_decay=0.05, beta=0.9, adam_b2=0.95, nesterov=False)
    meta = dict(lr=0.03, adam_lr=0.005, weight_decay=0.1, adam_weight_decay=0.05,
                momentum=0.9, adam_betas="0.9,0.95", nesterov=False)
    out.append((c, meta, functools.partial(run_optax, kw=kw)))
    # 3. per-iteration coefficients: 3 triples => exactly 3 NS iterations
    #    (ns_steps stays at its default 5; optax only requires len <= ns_steps)
    c = Case("optax_ns_list", "optax", 303, OPTAX_SHAPES, 3)
    kw = dict(learning_rate=0.02, adam_learning_rate=0.01, weight_decay=0.05,
              adam_weight_decay=0.02, ns_coeffs=PER_ITER_COEFFS)
    meta = dict(lr=0.02, adam_lr=0.01, weight_decay=0.05, adam_weight_decay=0.02,
                ns_coefficients=fmt_coeffs(PER_ITER_COEFFS))
    out.append((c, meta, functools.partial(run_optax, kw=kw)))
    # 4. consistent_rms=0.3 (match_rms_adamw with a non-0.2 factor); no
    #    adam_learning_rate => Adam uses the Muon lr (optax rule).
    c = Case("optax_consistent_rms", "optax", 304, OPTAX_SHAPES, 3)
    kw = dict(learning_rate=0.01, weight_decay=0.05, adam_weight_decay=0.02,
              consistent_rms=0.3)
    meta = dict(lr=0.01, adam_lr=0.01, weight_decay=0.05, adam_weight_decay=0.02,
                adjust_lr="match_rms_adamw", rms_scale=0.3)
    out.append((c, meta, functools.partial(run_optax, kw=kw)))
    return out


def keras_cases():
    out = []
    # 1. basic: adam_lr_ratio 0.5 (=> adam_lr = 0.01; AdamW decay still uses lr),
    #    epsilon (Adam only) made visible.
    c = Case("keras_basic", "keras", 401, KERAS_SHAPES, 4)
    kw = dict(learning_rate=0.02, adam_lr_ratio=0.5, weight_decay=0.05,
              adam_weight_decay=0.02, epsilon=1e-3)
    meta = dict(lr=0.02, adam_lr=round(0.02 * 0.5, 12), weight_decay=0.05,
                adam_weight_decay=0.02, adam_eps=1e-3)
    out.append((c, meta, functools.partial(run_keras, kw=kw)))
    # 2. nesterov=False, momentum 0.9, betas (0.8, 0.95)
    c = Case("keras_nonesterov", "keras", 402, KERAS_SHAPES, 3)
    kw = dict(learning_rate=0.03, weight_decay=0.1, adam_weight_decay=0.05,
              nesterov=False, momentum=0.9, adam_beta_1=0.8, adam_beta_2=0.95)
    meta = dict(lr=0.03, adam_lr=0.03, weight_decay=0.1, adam_weight_decay=0.05,
                nesterov=False, momentum=0.9, adam_betas="0.8,0.95")
    out.append((c, meta, functools.partial(run_keras, kw=kw)))
    # 3. ns_steps=3 and a custom (muon_a, muon_b, muon_c)
    c = Case("keras_ns3", "keras", 403, KERAS_SHAPES, 3)
    a, b, cc = ALT_COEFFS
    kw = dict(learning_rate=0.02, weight_decay=0.05, adam_weight_decay=0.02,
              ns_steps=3, muon_a=a, muon_b=b, muon_c=cc)
    meta = dict(lr=0.02, adam_lr=0.02, weight_decay=0.05, adam_weight_decay=0.02,
                ns_steps=3, ns_coefficients=fmt_coeffs(ALT_COEFFS))
    out.append((c, meta, functools.partial(run_keras, kw=kw)))
    # 4. rms_rate=None (no update scaling) with the older release's defaults
    #    ns_steps=6, adam_lr_ratio=0.1, weight_decay=0.1.
    c = Case("keras_no_rms", "keras", 404, KERAS_SHAPES, 3)
    kw = dict(learning_rate=0.02, rms_rate=None, ns_steps=6, adam_lr_ratio=0.1,
              weight_decay=0.1, adam_weight_decay=0.02)
    meta = dict(lr=0.02, adam_lr=round(0.02 * 0.1, 12), adjust_lr="none", ns_steps=6,
                weight_decay=0.1, adam_weight_decay=0.02)
    out.append((c, meta, functools.partial(run_keras, kw=kw)))
    return out


def keras_option_cases():
    """The Keras base optimizer's options (replay.md, "Keys of the seed documents' remaining
    options"), each on keras.optimizers.Muon with KERAS_SHAPES. Our `lr_schedule` is a factor
    on `lr`, so a Keras schedule of peak P is written with lr = P (and adam_lr = P * ratio)."""
    out = []
    base = dict(learning_rate=0.02, weight_decay=0.05, adam_weight_decay=0.02)
    base_meta = dict(lr=0.02, adam_lr=0.02, weight_decay=0.05, adam_weight_decay=0.02)

    def add(name, seed, steps, kw, meta, **case_kw):
        c = Case(name, "keras", seed, KERAS_SHAPES, steps, **case_kw)
        out.append((c, {**base_meta, **meta}, functools.partial(run_keras, kw={**base, **kw})))

    # clipnorm 0.3 clips the tensors of norm ~0.1*sqrt(n) > 0.3 (not the 7-element bias);
    # loss_scale_factor 4 divides first (gradients drawn 4x larger).
    big = {n: 0.4 for n in KERAS_SHAPES}
    add("keras_clipnorm_loss_scale", 411, 3, dict(clipnorm=0.3, loss_scale_factor=4.0),
        dict(clipnorm=0.3, loss_scale_factor=4.0), grad_scale=big)
    add("keras_global_clipnorm", 412, 3, dict(global_clipnorm=0.5), dict(global_clipnorm=0.5))
    add("keras_clipvalue", 413, 3, dict(clipvalue=0.08), dict(clipvalue=0.08))
    # 7 calls with S = 3: updates at calls 2 and 5, call 6 only accumulates (and the EMA
    # moves toward the unchanged parameters); the schedule sees calls, Adam counts updates,
    # the EMA's first update and its overwrite count updates.
    sched = keras.optimizers.schedules.PiecewiseConstantDecay([2, 4], [0.02, 0.01, 0.005])
    add("keras_accumulation_ema", 414, 7,
        dict(learning_rate=sched, gradient_accumulation_steps=3, use_ema=True,
             ema_momentum=0.8, ema_overwrite_frequency=2),
        dict(gradient_accumulation_steps=3, use_ema=True, ema_momentum=0.8,
             ema_overwrite_frequency=2, lr_schedule="piecewise:boundaries=2|4,values=1|0.5|0.25"))
    add("keras_ema", 415, 4, dict(use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=3),
        dict(use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=3))
    cos = keras.optimizers.schedules.CosineDecay(0.005, decay_steps=3, alpha=0.1,
                                                 warmup_target=0.02, warmup_steps=2)
    add("keras_cosine_warmup", 416, 5, dict(learning_rate=cos),
        dict(lr_schedule="cosine:decay_steps=3,alpha=0.1,warmup_steps=2,from=0.25"))
    exp = keras.optimizers.schedules.ExponentialDecay(0.02, decay_steps=2, decay_rate=0.5)
    add("keras_exponential", 417, 4, dict(learning_rate=exp),
        dict(lr_schedule="exponential:decay_steps=2,decay_rate=0.5"))
    # Routing: dense_tall by a pattern, the embedding back to Muon.
    add("keras_exclude_layers", 418, 3,
        dict(exclude_layers=["tall/k.*l$"], exclude_embeddings=False),
        dict(exclude_layers="tall/k.*l$", exclude_embeddings=False))
    return out


ADAPTERS = {
    "torch": f"torch.optim.Muon + torch.optim.AdamW (torch {VERSIONS['torch']}), NS forced to float32",
    "keller": f"muon.SingleDeviceMuonWithAuxAdam (muon-optimizer {VERSIONS['muon-optimizer']}), NS forced to float32",
    "optax": f"optax.contrib.muon (optax {VERSIONS['optax']}, jax {VERSIONS['jax']})",
    "keras": f"keras.optimizers.Muon (keras {VERSIONS['keras']}, jax backend {VERSIONS['jax']})",
}


def main():
    for old in list(HERE.glob("*.case.safetensors")) + list(HERE.glob("*.expected.safetensors")):
        old.unlink()
    rows = []
    bf16_rows = []
    allcases = (torch_cases() + keller_cases() + optax_cases() + keras_cases()
                + keras_option_cases())
    for case, meta, runner in allcases:
        params, grads = case.build()
        res = runner(params, grads)
        write_case(case, params, grads, meta, res, ADAPTERS[case.preset])
        for n in params:
            d = float(np.max(np.abs(res["params"][n] - params[n])))
            rows.append((case.name, n, "x".join(map(str, params[n].shape)),
                         "Muon" if n in res["muon"] else "AdamW", d))
        if case.preset in ("torch", "keller") and case.name.endswith("_basic"):
            bf = runner(params, grads, f32_ns=False)
            for n in res["muon"]:
                bf16_rows.append((case.name, n, float(np.max(np.abs(
                    bf["params"][n] - res["params"][n])))))
        print(f"wrote {case.name}")

    sizes = {p.name: p.stat().st_size for p in sorted(HERE.glob("*.safetensors"))}
    total = sum(sizes.values())
    assert total < 1_000_000, total
    assert max(sizes.values()) < 16_000, max(sizes.values())

    lines = ["| case | param | shape | routed to | max abs(final - initial) |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r[0]} | `{r[1]}` | {r[2]} | {r[3]} | {r[4]:.6g} |")
    lines.append("")
    lines.append("Effect of the bfloat16 Newton-Schulz that the libraries would use "
                 "without the float32 patch (max abs difference of the final Muon "
                 "params, bf16 run vs the float32 golden):")
    lines.append("")
    lines.append("| case | param | max abs(bf16 - f32) |")
    lines.append("|---|---|---|")
    for r in bf16_rows:
        lines.append(f"| {r[0]} | `{r[1]}` | {r[2]:.3g} |")
    lines.append("")
    lines.append(f"{len(allcases)} cases, {len(sizes)} files, {total} bytes in all "
                 f"(largest file {max(sizes.values())} bytes).")
    lines.append("")
    lines.append("Generated with: " + ", ".join(f"{k} {v}" for k, v in VERSIONS.items())
                 + f", Python {sys.version.split()[0]}.")
    summary = "\n".join(lines)

    readme = HERE / "README.md"
    start, end = "<!-- SUMMARY START -->", "<!-- SUMMARY END -->"
    if readme.exists():
        text = readme.read_text()
        if start in text and end in text:
            pre = text.split(start)[0]
            post = text.split(end)[1]
            readme.write_text(pre + start + "\n" + summary + "\n" + end + post)
    print(summary)


if __name__ == "__main__":
    main()
