#!/usr/bin/python3
"""Generate the TorchScript test models for sinter.

Usage:
    /usr/bin/python3 tests/models/make_models.py OUT_DIR [--only NAME ...]
        [--group model|model_extra|refused|op|all ...] [--check] [--list] [--force]

Writes OUT_DIR/<name>.pt (torch.jit.script, or torch.jit.trace where
scripting is impossible; the note column says "traced" then), a sidecar
OUT_DIR/<name>.stamp per case, and OUT_DIR/manifest.tsv with one line per
case that is up to date in OUT_DIR, whichever run built it (tab-separated,
header line):

    name file group input_shapes input_dtypes int_high rtol atol note

Modules are NOT frozen (the sinter frontend freezes them itself). Weights are
random (torch.manual_seed(0) per case), nothing is downloaded.

A case is rebuilt only when its stamp (a hash of the case name, its spec, the
source of its builder, SCRIPT_VERSION and the torch/torchvision versions) no
longer matches or its .pt file is missing; when nothing changed the script
does not even import torch.

Random-input convention (what the tests are expected to feed): float inputs
are torch.randn(shape), integer inputs torch.randint(0, int_high, shape).
Ops with a restricted domain (log, sqrt, ...) restrict it inside the module.
"""

import argparse
import hashlib
import math
import importlib.metadata
import inspect
import json
import os
import shutil
import sys
import tempfile
import time

# Bump to force every case to be rebuilt (e.g. after changing the driver).
SCRIPT_VERSION = "1"

DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-4

GROUPS = ("model", "model_extra", "refused", "fallback", "plugin", "op")
MANIFEST_COLUMNS = ("name", "file", "group", "input_shapes", "input_dtypes",
                    "int_high", "rtol", "atol", "note")

# torch / nn / F are imported lazily (see _import_torch) so that an up-to-date
# output directory is checked without paying for `import torch`. The builders
# below use them as module globals, which is also where TorchScript resolves
# names from when it compiles the (function-local) module classes.
torch = None
nn = None
F = None
torchvision = None


def _import_torch(need_torchvision=False):
    global torch, nn, F, torchvision
    if torch is None:
        import warnings
        # nn.MultiheadAttention in torch 1.13 lists 'batch_first' in
        # __constants__ without setting it; harmless noise when scripting.
        warnings.filterwarnings(
            "ignore", message="'batch_first' was found in ScriptModule")
        import torch as _torch
        import torch.nn as _nn
        import torch.nn.functional as _F
        torch, nn, F = _torch, _nn, _F
    if need_torchvision and torchvision is None:
        import torchvision as _tv
        torchvision = _tv


_OUT_DIR = [None]  # main()'s output directory, for builders that need the build's files

# --------------------------------------------------------------------------
# Case registry
# --------------------------------------------------------------------------

class Case:
    def __init__(self, name, group, builder, shapes, dtypes, int_high, rtol,
                 atol, note, allow_trace, kw):
        self.name = name
        self.group = group
        self.builder = builder
        self.shapes = shapes            # manifest string, e.g. "2,16;2,16"
        self.dtypes = dtypes            # manifest string, e.g. "f32;f32"
        self.int_high = int_high
        self.rtol = rtol
        self.atol = atol
        self.note = note
        self.allow_trace = allow_trace
        self.kw = kw

    def shape_list(self):
        out = []
        for s in self.shapes.split(";"):
            s = s.strip()
            out.append(tuple(int(d) for d in s.split(",")) if s else ())
        return out

    def dtype_list(self):
        return self.dtypes.split(";")

    def needs_torchvision(self):
        return self.builder is _torchvision_model

    def digest(self, versions):
        src = _source_closure(self.builder)
        h = hashlib.sha256()
        for part in (SCRIPT_VERSION, versions, self.name, self.group,
                     self.shapes, self.dtypes, repr(self.int_high),
                     repr(self.rtol), repr(self.atol), self.note,
                     repr(self.allow_trace), repr(sorted(self.kw.items())),
                     src):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()


def _source_closure(fn):
    """Source of fn plus that of the module-level helper functions it uses
    (transitively), so that editing a helper invalidates its cases."""
    seen, parts, todo = set(), [], [fn]
    while todo:
        f = todo.pop()
        if f.__name__ in seen:
            continue
        seen.add(f.__name__)
        try:
            parts.append(inspect.getsource(f))
        except (OSError, TypeError):
            parts.append(f.__qualname__)
        codes = [f.__code__]
        while codes:
            code = codes.pop()
            for name in code.co_names:
                g = globals().get(name)
                if inspect.isfunction(g) and g.__module__ == __name__:
                    todo.append(g)
            codes.extend(k for k in code.co_consts if inspect.iscode(k))
    return "\n".join(parts)


CASES = []
_NAMES = set()


def case(name, group, shapes, dtypes=None, int_high=0, rtol=DEFAULT_RTOL,
         atol=DEFAULT_ATOL, note="", allow_trace=None, **kw):
    """Register builder(**kw) -> nn.Module as a test case (stackable).

    allow_trace: fall back to torch.jit.trace when scripting fails (default:
    yes, except for group model_extra, whose cases are skipped instead)."""
    assert group in GROUPS, group
    if allow_trace is None:
        allow_trace = group != "model_extra"
    assert name not in _NAMES, name
    assert "\t" not in note and "\n" not in note
    if (rtol, atol) != (DEFAULT_RTOL, DEFAULT_ATOL):
        assert note, "%s: non-default tolerance needs a justification" % name
    n_in = len(shapes.split(";"))
    if dtypes is None:
        dtypes = ";".join(["f32"] * n_in)
    assert len(dtypes.split(";")) == n_in, name
    _NAMES.add(name)

    def deco(fn):
        # Stacked decorators run bottom-up; insert before the cases already
        # registered for fn so that the manifest follows the source order.
        i = len(CASES)
        while i > 0 and CASES[i - 1].builder is fn:
            i -= 1
        CASES.insert(i, Case(name, group, fn, shapes, dtypes, int_high, rtol,
                             atol, note, allow_trace, kw))
        return fn
    return deco


def _randomize_(*params, scale=1.0, offset=0.0):
    with torch.no_grad():
        for p in params:
            p.copy_(torch.randn_like(p) * scale + offset)


# --------------------------------------------------------------------------
# group "model"
# --------------------------------------------------------------------------

# Tolerances: default 1e-4 / 1e-4 unless the float32 result of LibTorch
# itself moves by more than ~1/20 of that budget when only the accumulation
# order changes. Measured per case (input seed 0, BN calibrated as below):
# max |f32 - f64| and max |f32 - f32 with mkldnn disabled|, both relative to
# the default budget 1e-4 + 1e-4*|ref|.
_BN_NOTE = "BN running stats calibrated on a random batch"


def _tol_note(f64_err, alt_err, ratio):
    return ("tolerance: deep random-init net; LibTorch f32 vs f64 max abs "
            "diff %s, vs f32 without mkldnn %s (%s x the default 1e-4 "
            "budget)" % (f64_err, alt_err, ratio))


_TV = _TVX = dict(shapes="1,3,224,224")


@case("resnet18", "model", tv="resnet18", note=_BN_NOTE, **_TV)
@case("resnet50", "model", tv="resnet50", rtol=1e-3, atol=1e-3,
      note=_tol_note("3.4e-5", "3.8e-5", "0.35") + "; " + _BN_NOTE, **_TV)
@case("mobilenet_v2", "model", tv="mobilenet_v2", note=_BN_NOTE, **_TV)
@case("mobilenet_v3_large", "model", tv="mobilenet_v3_large", note=_BN_NOTE,
      **_TV)
@case("vgg11_bn", "model", tv="vgg11_bn", note=_BN_NOTE, **_TV)
@case("squeezenet1_1", "model", tv="squeezenet1_1", **_TV)
@case("alexnet", "model", tv="alexnet",
      note="small outputs (max |y| ~0.03) with torchvision's default init",
      **_TV)
@case("densenet121", "model", tv="densenet121", note=_BN_NOTE, **_TV)
@case("shufflenet_v2_x1_0", "model_extra", tv="shufflenet_v2_x1_0",
      note=_BN_NOTE, **_TVX)
@case("efficientnet_b0", "model_extra", tv="efficientnet_b0", note=_BN_NOTE,
      **_TVX)
@case("regnet_y_400mf", "model_extra", tv="regnet_y_400mf", rtol=1e-3,
      atol=1e-3, note=_tol_note("7.7e-6", "7.8e-6", "0.064") + "; " + _BN_NOTE,
      **_TVX)
@case("mnasnet1_0", "model_extra", tv="mnasnet1_0", rtol=1e-3, atol=1e-3,
      note=_tol_note("9.6e-6", "9.5e-6", "0.09") + "; " + _BN_NOTE, **_TVX)
@case("googlenet", "model_extra", tv="googlenet", rtol=1e-3, atol=1e-3,
      note=_tol_note("4.6e-6", "6.0e-6", "0.054") + "; " + _BN_NOTE +
      "; wrapped to return logits only (scripted GoogLeNet returns "
      "GoogLeNetOutputs(logits, None, None))",
      tv_kw=(("aux_logits", False), ("init_weights", True)), logits_only=True,
      **_TVX)
@case("inception_v3", "model_extra", "1,3,299,299", tv="inception_v3",
      hw=299, rtol=3e-3, atol=3e-3,
      note=_tol_note("2.0e-4", "3.1e-4", "2.1") + "; " + _BN_NOTE +
      "; wrapped to return logits only (scripted Inception3 returns "
      "InceptionOutputs(logits, None))",
      tv_kw=(("aux_logits", False), ("init_weights", True)), logits_only=True)
@case("convnext_tiny", "model_extra", tv="convnext_tiny", **_TVX)
@case("vit_b_16", "model_extra", tv="vit_b_16",
      note="zero-initialised head redrawn from N(0, 0.02)", **_TVX)
@case("vit_b_32", "model_extra", tv="vit_b_32",
      note="zero-initialised head redrawn from N(0, 0.02)", **_TVX)
# swin_t pads, rolls and builds its shifted-window attention mask by writing
# into slices of a zero tensor (copy_ through views, functionalized by the
# importer).
@case("swin_t", "model_extra", tv="swin_t", **_TVX)
@case("swin_s", "model_extra", tv="swin_s", **_TVX)
# swin_v2_t adds cosine attention (F.normalize, a clamped exp'd logit scale)
# and a continuous position bias from a small MLP over log-spaced offsets.
@case("swin_v2_t", "model_extra", "1,3,256,256", tv="swin_v2_t", hw=256)
# Segmentation: forward returns {"out": logits at the input's size}, the
# head's features upsampled with bilinear interpolation (align_corners
# False); DeepLabV3's ASPP pools to 1x1 and upsamples back. Smaller inputs
# than the classifiers': output stride 8 makes the dilated ResNet dear.
@case("deeplabv3_resnet50", "model_extra", "1,3,160,160", tv="deeplabv3_resnet50",
      hw=160, seg=True, rtol=1e-3, atol=1e-3,
      note=_tol_note("4.1e-4", "4.2e-4", "4.1") + "; " + _BN_NOTE +
      "; returns a dict, output named 'out'",
      tv_kw=(("weights_backbone", None), ("aux_loss", False)))
@case("fcn_resnet101", "model_extra", "1,3,160,160", tv="fcn_resnet101",
      hw=160, seg=True, rtol=3e-3, atol=3e-3,
      note="tolerance: 101 dilated layers; LibTorch f32 vs f64 max abs diff 1.0e-3 "
      "(0.89 x a 1e-3 budget), sinter vs LibTorch f32 1.6e-3; " + _BN_NOTE +
      "; returns a dict, output named 'out'",
      tv_kw=(("weights_backbone", None), ("aux_loss", False)))
@case("lraspp_mobilenet_v3_large", "model_extra", "1,3,160,160",
      tv="lraspp_mobilenet_v3_large", hw=160, seg=True,
      note=_BN_NOTE + "; returns a dict, output named 'out'",
      tv_kw=(("weights_backbone", None),))
# Video classifiers on [N, C, T, H, W] clips (conv3d and the 3-D pools,
# lowered to 2-D ops over frames). The ResNet-3D family pools adaptively, so
# a short, small clip keeps them cheap; S3D's final average pool (2, 7, 7)
# fixes its clip at 16 x 224 x 224 (MViT: see _mvit_v2_s_small).
@case("r3d_18", "model_extra", "1,3,8,64,64", tv="r3d_18", hw=64, frames=8,
      video=True, note=_BN_NOTE)
@case("mc3_18", "model_extra", "1,3,8,64,64", tv="mc3_18", hw=64, frames=8,
      video=True, note=_BN_NOTE)
@case("r2plus1d_18", "model_extra", "1,3,8,64,64", tv="r2plus1d_18", hw=64,
      frames=8, video=True, note=_BN_NOTE)
@case("s3d", "model_extra", "1,3,16,224,224", tv="s3d", frames=16, video=True,
      note=_BN_NOTE)
def _torchvision_model(tv, tv_kw=(), logits_only=False, hw=224, seg=False,
                       video=False, frames=0):
    zoo = (torchvision.models.segmentation if seg else
           torchvision.models.video if video else torchvision.models)
    m = getattr(zoo, tv)(weights=None, **dict(tv_kw))
    _make_outputs_nontrivial(m, hw, frames)
    if not logits_only:
        return m

    class LogitsOnly(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)[0]
    return LogitsOnly(m)


# Optical flow: RAFT's 12 refinement steps, each sampling its correlation
# pyramid with grid_sample (bilinear, align_corners) around the current
# flow; raft_large upsamples each step's flow with a learnt convex mask
# (F.unfold), raft_small bilinearly. Outputs: the 12 flow estimates.
@case("raft_small", "model_extra", "1,3,128,128;1,3,128,128", tv="raft_small",
      note=_BN_NOTE)
@case("raft_large", "model_extra", "1,3,128,128;1,3,128,128", tv="raft_large",
      note=_BN_NOTE)
def _raft(tv):
    m = getattr(torchvision.models.optical_flow, tv)(weights=None)
    _make_outputs_nontrivial(m, 128, pair=True)
    return m


@case("mvit_v2_s", "model_extra", "1,3,8,112,112")
def _mvit_v2_s_small():
    """torchvision's mvit_v2_s with its position tables sized for 8 x 112 x
    112 clips: mvit_v2_s() fixes 16 x 224 x 224 (8x the work) and passes the
    sizes to torchvision's _mvit itself, so they are overridden there."""
    from torchvision.models.video import mvit
    build = mvit._mvit

    def sized(**kw):
        kw.update(spatial_size=(112, 112), temporal_size=8)
        return build(**kw)
    mvit._mvit = sized
    try:
        m = mvit.mvit_v2_s(weights=None)
    finally:
        mvit._mvit = build
    _make_outputs_nontrivial(m, 112, 8)
    return m


def _make_outputs_nontrivial(m, hw, frames=0, pair=False):
    """torchvision's random init gives useless test outputs: with BatchNorm
    running stats at mean 0 / var 1, activations shrink or blow up with depth
    (mobilenet_v2 ~1e-9, efficientnet_b0 ~1e-14, inception_v3 ~1e12), and
    vit_b_16 zero-initialises its head (output exactly 0). So zero Linear
    weights are redrawn from N(0, 0.02) and the BatchNorm running stats are
    set to the statistics of one random batch (2 x randn), like a trained
    net's. Weights stay random and deterministic."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Linear) and not mod.weight.any():
                mod.weight.normal_(0.0, 0.02)
    bns = [mod for mod in m.modules()
           if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return

    def set_stats(bn, inputs):
        x = inputs[0]
        dims = [d for d in range(x.dim()) if d != 1]
        bn.running_mean.copy_(x.mean(dims))
        bn.running_var.copy_(x.var(dims, unbiased=False))

    # Eval-mode forward; each BatchNorm takes the statistics of its actual
    # input (already produced by calibrated layers) just before it runs.
    hooks = [bn.register_forward_pre_hook(set_stats) for bn in bns]
    m.eval()
    with torch.no_grad():
        if pair:  # optical flow: two images
            m(torch.randn(2, 3, hw, hw), torch.randn(2, 3, hw, hw))
        else:
            m(torch.randn(2, 3, frames, hw, hw) if frames else
              torch.randn(2, 3, hw, hw))
    for h in hooks:
        h.remove()


@case("transformer", "model", "1,128,256", note="seq: 1..128 axes 1")
def _transformer():
    layer = nn.TransformerEncoderLayer(d_model=256, nhead=4,
                                       dim_feedforward=1024, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=2)


@case("lstm", "model", "1,32,64", note="seq: 1..128 axes 1")
def _lstm_model():
    class LstmClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(input_size=64, hidden_size=128, num_layers=2,
                                batch_first=True)
            self.fc = nn.Linear(128, 10)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.fc(y[:, -1])
    return LstmClassifier()


# A BERT-style encoder over token ids with a key padding mask. "random": the
# padded tokens are scattered (ids < 5), so LibTorch's encoder takes its
# standard path; "tail": each row's padding is at its end (length from the
# first id), so it takes the nested-tensor path and outputs zeros there.
@case("bert_padding_random", "model", "2,16", dtypes="i64", int_high=50,
      mask="random", note="seq: 1..16 axes 1")
@case("bert_padding_tail", "model", "3,16", dtypes="i64", int_high=17,
      mask="tail")
def _bert_padding(mask):
    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 64)
            self.enc = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 2)
            self.tail = mask == "tail"

        def forward(self, ids):
            if self.tail:
                # Row 0 unpadded, as in a batch padded to its longest
                # sequence: LibTorch 1.13 pads the nested result back only
                # to the longest length (a shape that depends on the data).
                lens = torch.cat([torch.full((1, 1), float(ids.shape[1])),
                                  ids[1:, :1].float().clamp(min=3.0)])
                pos = torch.arange(ids.shape[1], dtype=torch.float32)[None, :]
                pad = pos >= lens
            else:
                pad = ids < 5
            return self.enc(self.emb(ids), src_key_padding_mask=pad)
    return Bert()


# nn.MultiheadAttention with an additive float attention mask (the standard
# path) and with a bool key padding mask (the fast path,
# _native_multi_head_attention with mask_type 1).
@case("mha_masks", "model", "2,16,64;16,16", note="seq: 1..16 axes 1|0,1")
def _mha_masks():
    class Mha(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.MultiheadAttention(64, 4, batch_first=True)
            self.b = nn.MultiheadAttention(64, 4, batch_first=True)

        def forward(self, x, m):
            y = self.a(x, x, x, attn_mask=m, need_weights=False)[0]
            kpm = x[:, :, 0] > 1.0
            return y, self.b(y, y, y, key_padding_mask=kpm, need_weights=False)[0]
    return Mha()


# A 2-layer bidirectional GRU tagger over token ids, and a one-layer GRU
# (time-major) returning its last state too.
@case("gru_tagger", "model", "2,12", dtypes="i64", int_high=100, note="seq: 1..32 axes 1")
def _gru_tagger():
    class GruTagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 32)
            self.gru = nn.GRU(32, 48, num_layers=2, bidirectional=True, batch_first=True)
            self.fc = nn.Linear(96, 9)

        def forward(self, x):
            y, _ = self.gru(self.emb(x))
            return self.fc(y)
    return GruTagger()


@case("op_gru", "op", "7,2,5;1,2,6", note="seq: 1..16 axes 0|-")
def _gru():
    class Gru(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(5, 6)

        def forward(self, x, h):
            return self.gru(x, h)
    return Gru()


# A sequence classifier with a learned class token before the sequence (its
# length + 1 through the encoder), read out from the token and from the mean
# of the sequence after it, and a next-step head over all but the last step.
@case("cls_encoder", "model", "2,24,16", note="seq: 1..32 axes 1")
def _cls_encoder():
    class ClsEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Linear(16, 32)
            self.cls = nn.Parameter(torch.randn(1, 1, 32) * 0.5)
            layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2)
            self.head = nn.Linear(32, 5)
            self.step = nn.Linear(32, 16)

        def forward(self, x):
            h = self.emb(x)
            h = torch.cat([self.cls.expand(h.size(0), -1, -1), h], 1)
            h = self.enc(h)
            return self.head(h[:, 0] + h[:, 1:].mean(1)), self.step(h[:, 1:-1])
    return ClsEncoder()


@case("gpt2_block", "model", "2,16,64",
      note="seq: 1..16 axes 1 (its positional table has 16 rows)")
def _gpt2_block():
    # A GPT-2 decoder block: learned positions indexed by torch.arange, a
    # causal mask from torch.tril filled with -inf, pre-norm attention and
    # a GELU MLP.
    class Gpt2Block(nn.Module):
        def __init__(self, d=64, h=4, t=16):
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.fc = nn.Linear(d, 4 * d)
            self.fc2 = nn.Linear(4 * d, d)
            self.wpe = nn.Embedding(t, d)
            self.h = h

        def forward(self, x):
            B, T, C = x.shape
            x = x + self.wpe(torch.arange(0, T, dtype=torch.long))
            q, k, v = self.attn(self.ln1(x)).split(C, dim=2)
            q = q.view(B, T, self.h, C // self.h).transpose(1, 2)
            k = k.view(B, T, self.h, C // self.h).transpose(1, 2)
            v = v.view(B, T, self.h, C // self.h).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.h))
            mask = torch.tril(torch.ones(T, T))
            att = att.masked_fill(mask == 0, float("-inf"))
            att = F.softmax(att, dim=-1)
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            x = x + self.proj(y)
            return x + self.fc2(F.gelu(self.fc(self.ln2(x))))
    return Gpt2Block()


# --------------------------------------------------------------------------
# group "refused"
# --------------------------------------------------------------------------

@case("inplace_strided_slice_refused", "refused", "2,8",
      note="expect: aten::copy_ (a write into a strided slice)")
def _inplace_strided_slice():
    class InplaceStridedSlice(nn.Module):
        def forward(self, x):
            y = x * 2.0
            y[:, ::2] = 0.0
            return y + 1.0
    return InplaceStridedSlice()


@case("fft_refused", "refused", "1,16",
      note="expect: aten::fft_fft")
def _fft():
    class FftAbs(nn.Module):
        def forward(self, x):
            return torch.fft.fft(x).abs()
    return FftAbs()


@case("nonzero_read_refused", "refused", "4,6",
      note="expect: aten::nonzero (its size the data decides, and aten::sort reads it)")
def _nonzero_read():
    class NonzeroRead(nn.Module):
        def forward(self, x):
            return (torch.nonzero(x > 0.0) * 2).sort(0)[0]
    return NonzeroRead()


@case("if_raises_refused", "refused", "3,4",
      note="expect: prim::If (on a run-time value, a branch raises an exception)")
def _if_raises():
    class IfRaises(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                raise RuntimeError("positive")
            return x * 2.0
    return IfRaises()


# torchvision's own ops load (sinterc loads torchvision's operator library
# on demand, as the detectors need), and are then refused by name.
@case("nms_refused", "refused", "8,4;8",
      note="expect: torchvision::nms (loaded from torchvision's library; refused because "
      "aten::topk reads what it indexes, whose size the data decides)")
def _nms():
    _import_torch(need_torchvision=True)

    class Nms(nn.Module):
        def forward(self, boxes, scores):
            xy = boxes[:, :2].abs()
            b = torch.cat([xy, xy + boxes[:, 2:].abs() + 0.1], 1)
            return (b[torchvision.ops.nms(b, scores, 0.5)] * 2.0).topk(2, 0)[0]
    return Nms()


# --------------------------------------------------------------------------
# group "fallback": compiled with `--fallback torch`; what sinter cannot
# compile (and the ops the note's `executed:` names) runs in LibTorch through
# the torch plugin. The note gives the options and the torch segments the
# partition must have: "executed: aten::a,aten::b; min_block: N; segments: K".
# --------------------------------------------------------------------------

@case("fallback_fft", "fallback", "1,3,16,16",
      note="segments: 1 (conv2d+relu join the fft segment: min_block_size 3)")
def _fallback_fft():
    class FftFeatures(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8 * 16, 10)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            f = torch.fft.rfft(y, dim=-1).abs()  # complex in between: all in LibTorch
            return torch.softmax(self.fc(f.mean(dim=-1).flatten(1)), dim=-1)
    return FftFeatures()


@case("fallback_fft_min_block_1", "fallback", "1,3,16,16",
      note="min_block: 1; segments: 1 (the fft and its abs only)")
def _fallback_fft_min_block_1():
    return _fallback_fft()


@case("fallback_executed_relu", "fallback", "1,4,12,12",
      note="executed: aten::relu; min_block: 1; segments: 3 (around channels-last convolutions)")
def _fallback_executed_relu():
    class ResidualBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(4, 8, 3, padding=1)
            self.b1 = nn.BatchNorm2d(8)
            self.c2 = nn.Conv2d(8, 8, 3, padding=1)
            self.b2 = nn.BatchNorm2d(8)
            self.down = nn.Conv2d(4, 8, 1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            y = torch.relu(y + self.down(x))
            y = F.max_pool2d(y, 2)
            return self.fc(torch.relu(y).mean(dim=(2, 3)))
    torch.manual_seed(3)
    m = ResidualBlock()
    for b in (m.b1, m.b2):
        b.running_mean.uniform_(-0.5, 0.5)
        b.running_var.uniform_(0.5, 1.5)
    return m


@case("fallback_inplace", "fallback", "2,8",
      note="executed: aten::mul_; min_block: 1; segments: 1 (the write is seen later; inputs untouched)")
def _fallback_inplace():
    class Inplace(nn.Module):
        def forward(self, x):
            a = torch.sigmoid(x)
            b = a * 2.0
            b.mul_(3.0)
            return a + b, b - x
    return Inplace()


@case("fallback_branch", "fallback", "2,8",
      note="executed: aten::relu; min_block: 1; segments: 1 (a torch result leaves an if block)")
def _fallback_branch():
    class Branch(nn.Module):
        def forward(self, x):
            if x.dim() == 2:
                y = torch.relu(x)
            else:
                y = x
            return y * 2.0
    return Branch()


@case("fallback_all", "fallback", "1,16",
      note="segments: 1 (the whole model runs in LibTorch)")
def _fallback_all():
    class FftAbs(nn.Module):
        def forward(self, x):
            return torch.fft.fft(x).abs()
    return FftAbs()


@case("fallback_none", "fallback", "3,8",
      note="segments: 0 (nothing needs LibTorch: the artifact needs no plugin)")
def _fallback_none():
    torch.manual_seed(5)
    return nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2))


@case("fallback_two_consumers", "fallback", "4,6",
      note="executed: aten::sigmoid; min_block: 1; segments: 1 (its result feeds two compiled ops)")
def _fallback_two_consumers():
    class TwoConsumers(nn.Module):
        def forward(self, x):
            s = torch.sigmoid(x)
            return s * 2.0 + x, s.sum(dim=1)
    return TwoConsumers()


@case("fallback_list", "fallback", "2,12",
      note="executed: aten::split; min_block: 1; segments: 1 (a List[Tensor] stays in LibTorch)")
def _fallback_list():
    class Split(nn.Module):
        def forward(self, x):
            parts = torch.split(torch.tanh(x), 4, dim=1)
            return parts[0] * parts[2] + parts[1]
    return Split()


@case("fallback_nonzero", "fallback", "4,8",
      note="segments: 1 (x[mask] and nonzero, so their readers, in LibTorch: outputs sized "
      "by the run, dims -1); returns a dict, output named 'keep'")
def _fallback_nonzero():
    class Selected(nn.Module):
        def forward(self, x):
            y = torch.relu(x) * 2.0
            keep = y[y > 0.5]
            idx = torch.nonzero(x > 1.0)
            return {"keep": keep * 3.0, "idx": idx, "dense": y + 1.0}
    return Selected()


def _as_users_export(detector):
    """forward(x: Tensor) -> (boxes, scores, labels) of the first image: a
    torchvision detector wrapped as users export one."""
    class Detect(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = detector

        def forward(self, x):
            d = self.m([x[0]])[1][0]
            return d["boxes"], d["scores"], d["labels"]
    return Detect()


@case("fallback_ssdlite", "fallback", "1,3,320,320",
      note="segments: 1 (backbone, heads, anchors and box decoding compiled; the per-class "
      "thresholds, topk and batched nms in LibTorch, its outputs sized by the run); "
      "needs torchvision ops; wrapped as users export detectors")
def _fallback_ssdlite():
    _import_torch(need_torchvision=True)
    return _as_users_export(torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None))


@case("fallback_fasterrcnn", "fallback", "1,3,320,320",
      note="segments: 2 (backbone, FPN, RPN head and anchors compiled; the proposals' "
      "multi-index gather, then everything after the RPN's data-dependent filtering in "
      "LibTorch); needs torchvision ops; wrapped as users export detectors")
def _fallback_fasterrcnn():
    _import_torch(need_torchvision=True)
    # A low score threshold: with random weights every class scores about
    # 1/91, and the test wants detections to compare.
    return _as_users_export(torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.001))


@case("fallback_fcos", "fallback", "1,3,320,320",
      note="output_atol: 0.32,0.0001 (boxes within 1e-3 of the image size); segments: 1 (ResNet-50 FPN backbone and the heads with their group norms "
      "compiled; the per-level thresholds, topk, box decoding and batched nms in LibTorch); "
      "needs torchvision ops; wrapped as users export detectors")
def _fallback_fcos():
    _import_torch(need_torchvision=True)
    # Low thresholds: with random weights the classification prior keeps
    # every score near 0.01, and the test wants detections to compare.
    return _as_users_export(torchvision.models.detection.fcos_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=320, max_size=320, score_thresh=0.001))


@case("fallback_retinanet", "fallback", "1,3,320,320",
      note="output_atol: 0.32,0.0001 (boxes within 1e-3 of the image size); segments: 1 (ResNet-50 FPN backbone, heads and anchors compiled; the per-level "
      "thresholds, topk, box decoding and batched nms in LibTorch); needs torchvision ops; "
      "wrapped as users export detectors")
def _fallback_retinanet():
    _import_torch(need_torchvision=True)
    return _as_users_export(torchvision.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=320, max_size=320, score_thresh=0.001))


@case("fallback_ssd300", "fallback", "1,3,300,300",
      note="segments: 1 (VGG-16 backbone with its L2 norm, heads, anchors and box decoding "
      "compiled; the per-class thresholds, topk and batched nms in LibTorch); needs "
      "torchvision ops; wrapped as users export detectors")
def _fallback_ssd300():
    _import_torch(need_torchvision=True)
    m = torchvision.models.detection.ssd300_vgg16(
        weights=None, weights_backbone=None, score_thresh=0.001, detections_per_img=20,
        topk_candidates=50)
    # With random weights (VGG without batch norm) the class logits are huge
    # and every kept score is 1.0: the ranking of the detections would be a
    # matter of ties. Scaled down, and keeping the 20 best of 50 candidates
    # per class, the kept scores lie 1e-4 or more apart.
    with torch.no_grad():
        for p in m.head.classification_head.parameters():
            p.mul_(0.03)
    return _as_users_export(m)


@case("fallback_fasterrcnn_resnet50", "fallback", "1,3,320,320",
      note="output_atol: 0.32,0.0003 (boxes within 1e-3 of the image size); segments: 2 (ResNet-50 FPN backbone, RPN head and anchors compiled; the "
      "proposals' multi-index gather, then everything after the RPN's data-dependent "
      "filtering in LibTorch); needs torchvision ops; wrapped as users export detectors")
def _fallback_fasterrcnn_resnet50():
    _import_torch(need_torchvision=True)
    return _as_users_export(torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=320, max_size=320,
        box_score_thresh=0.001))


@case("fallback_fcos_direct", "fallback", "3,320,320",
      note="output_atol: 0.32,0.0001 (boxes within 1e-3 of the image size); segments: 1 "
      "(scripted as torchvision makes it: forward(images: List[Tensor]) returning "
      "(losses, detections), flattened into the one image's boxes, scores and labels; "
      "output named 'boxes'); needs torchvision ops")
def _fallback_fcos_direct():
    _import_torch(need_torchvision=True)
    return torchvision.models.detection.fcos_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=320, max_size=320, score_thresh=0.001)


@case("fallback_fasterrcnn_direct", "fallback", "3,320,320",
      note="segments: 2 (scripted as torchvision makes it: forward(images: List[Tensor]) "
      "returning (losses, detections), flattened into the one image's boxes, labels and "
      "scores; output named 'boxes'); needs torchvision ops")
def _fallback_fasterrcnn_direct():
    _import_torch(need_torchvision=True)
    return torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.001)


def _keypoints_as_users_export(detector):
    """forward(x: Tensor) -> the first image's boxes, scores, labels,
    keypoints and keypoint scores."""
    class Detect(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = detector

        def forward(self, x):
            d = self.m([x[0]])[1][0]
            return d["boxes"], d["scores"], d["labels"], d["keypoints"], d["keypoints_scores"]
    return Detect()


@case("fallback_keypointrcnn", "fallback", "1,3,320,320",
      note="output_atol: 0.32,0.0001,0,0.32,0.02 (boxes and keypoints within 1e-3 of the "
      "image size; keypoint scores are heatmap logits up to ~120, measured within 0.006); "
      "segments: 2 (ResNet-50 FPN backbone, RPN head and anchors compiled; the RoI heads, "
      "whose keypoint pooler builds its LevelMapper from the feature sizes, in LibTorch); "
      "needs torchvision ops; wrapped as users export detectors")
def _fallback_keypointrcnn():
    _import_torch(need_torchvision=True)
    return _keypoints_as_users_export(torchvision.models.detection.keypointrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=320, max_size=320,
        box_score_thresh=0.001))


@case("fallback_keypointrcnn_direct", "fallback", "3,320,320",
      note="output_atol: 0.32,0,0.0001,0.32,0.02 (boxes and keypoints within 1e-3 of the "
      "image size; keypoint scores measured within 0.006); segments: 2 (scripted as "
      "torchvision makes it: forward(images: List[Tensor]) returning (losses, detections), "
      "flattened into the one image's boxes, labels, scores, keypoints and keypoint scores; "
      "output named 'boxes'); needs torchvision ops")
def _fallback_keypointrcnn_direct():
    _import_torch(need_torchvision=True)
    return torchvision.models.detection.keypointrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=320, max_size=320,
        box_score_thresh=0.001)


# --------------------------------------------------------------------------
# group "plugin": models calling a LibTorch extension op that a sinter plugin
# implements (examples/custom_op), compiled with `--plugin` and
# `--torch-library`; the note names both ("plugin: NAME; torch_library: LIB").
# --------------------------------------------------------------------------

def _load_myops(out_dir):
    """torch.ops.load_library of the example's extension: $SINTER_MYOPS_TORCH
    (the build passes it), else where the build puts it."""
    lib = os.environ.get("SINTER_MYOPS_TORCH") or os.path.join(
        os.path.dirname(os.path.abspath(out_dir)), "lib", "libmyops_torch.so")
    if not os.path.exists(lib):
        raise RuntimeError("the custom-op example's LibTorch library is not built: %s "
                           "(cmake --build build --target myops_torch)" % lib)
    torch.ops.load_library(lib)


@case("plugin_scaled_gelu", "plugin", "2,3,10,10",
      note="plugin: myops; torch_library: myops_torch (myops::scaled_gelu between a conv and a head)")
def _plugin_scaled_gelu():
    _load_myops(_OUT_DIR[0] or ".")

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            y = torch.ops.myops.scaled_gelu(self.conv(x), 1.5)
            return self.fc(y.mean(dim=(2, 3)))
    return Head()


# --------------------------------------------------------------------------
# group "op": one small module per operation
# --------------------------------------------------------------------------

@case("op_conv2d", "op", "2,3,8,8", cin=3, cout=8, k=3)
@case("op_conv2d_s2p1", "op", "2,3,8,8", cin=3, cout=8, k=3, stride=2,
      padding=1)
@case("op_conv2d_dilation2", "op", "2,3,9,9", cin=3, cout=8, k=3,
      dilation=2, padding=1)
@case("op_conv2d_groups2", "op", "2,4,8,8", cin=4, cout=6, k=3, groups=2,
      padding=1)
@case("op_conv2d_depthwise", "op", "2,8,8,8", cin=8, cout=8, k=3, groups=8,
      padding=1)
@case("op_conv2d_depthwise_s2", "op", "2,8,9,9", cin=8, cout=8, k=3,
      groups=8, stride=2, padding=1)
@case("op_conv2d_nobias", "op", "2,3,8,8", cin=3, cout=8, k=3, padding=1,
      bias=False)
@case("op_conv2d_1x1", "op", "2,8,8,8", cin=8, cout=16, k=1)
@case("op_conv2d_5x5_rect", "op", "2,3,10,7", cin=3, cout=4, k=(5, 3),
      stride=(2, 1), padding=(2, 0))
def _conv2d(cin, cout, k, **kw):
    return nn.Conv2d(cin, cout, k, **kw)


# conv3d runs as one 2-D convolution per temporal tap (frontend/volumetric.cc):
# temporal stride, padding and dilation, groups, no bias, depthwise.
@case("op_conv3d", "op", "2,3,5,8,8", cin=3, cout=8, k=3, padding=1)
@case("op_conv3d_strided_dilated", "op", "1,4,9,8,9", cin=4, cout=6,
      k=(3, 3, 2), stride=(2, 1, 2), dilation=(2, 1, 1), padding=(2, 1, 0))
@case("op_conv3d_groups_nobias", "op", "2,4,4,5,5", cin=4, cout=6,
      k=(2, 1, 1), groups=2, bias=False)
@case("op_conv3d_depthwise", "op", "1,4,5,9,9", cin=4, cout=4, k=3,
      groups=4, stride=(1, 2, 2), padding=1)
def _conv3d(cin, cout, k, **kw):
    return nn.Conv3d(cin, cout, k, **kw)


@case("op_batch_norm2d", "op", "2,6,8,8")
def _batch_norm2d():
    m = nn.BatchNorm2d(6)
    _randomize_(m.weight, m.bias)
    with torch.no_grad():
        m.running_mean.copy_(torch.randn(6) * 0.5)
        m.running_var.copy_(torch.rand(6) + 0.5)
    return m


# Activations / unary ops that exist as nn modules are scripted directly.
@case("op_relu", "op", "2,3,8,8", mod="ReLU")
@case("op_relu6", "op", "2,3,8,8", mod="ReLU6")
@case("op_hardtanh", "op", "2,3,8,8", mod="Hardtanh",
      args=(("min_val", -0.5), ("max_val", 0.7)))
@case("op_hardswish", "op", "2,3,8,8", mod="Hardswish")
@case("op_hardsigmoid", "op", "2,3,8,8", mod="Hardsigmoid")
@case("op_sigmoid", "op", "2,3,8,8", mod="Sigmoid")
@case("op_tanh", "op", "2,3,8,8", mod="Tanh")
@case("op_gelu", "op", "2,3,8,8", mod="GELU")
@case("op_gelu_tanh", "op", "2,3,8,8", mod="GELU",
      args=(("approximate", "tanh"),))
@case("op_silu", "op", "2,3,8,8", mod="SiLU")
@case("op_leaky_relu", "op", "2,3,8,8", mod="LeakyReLU",
      args=(("negative_slope", 0.1),))
@case("op_elu", "op", "2,3,8,8", mod="ELU")
@case("op_dropout_module", "op", "2,5,16", mod="Dropout", args=(("p", 0.5),),
      note="eval mode: identity")
def _nn_module(mod, args=()):
    return getattr(nn, mod)(**dict(args))


@case("op_relu_inplace", "op", "2,3,8,8",
      note="in-place relu_ on an intermediate (not on the graph input)")
def _relu_inplace():
    class ReluInplace(nn.Module):
        def forward(self, x):
            y = x * 2.0
            y.relu_()
            return F.relu(y, inplace=True)
    return ReluInplace()


@case("op_inplace_on_view", "op", "2,3,8,8",
      note="relu_ on a view whose base is not read afterwards: exact by rebinding")
def _inplace_on_view():
    class InplaceOnView(nn.Module):
        def forward(self, x):
            y = (x * 2.0).view(2, -1)
            y.relu_()
            return y + 1.0
    return InplaceOnView()


@case("op_exp", "op", "2,3,8,8")
def _exp():
    class Exp(nn.Module):
        def forward(self, x):
            return torch.exp(x)
    return Exp()


@case("op_log", "op", "2,3,8,8")
def _log():
    class Log(nn.Module):
        def forward(self, x):
            return torch.log(x.abs() + 1e-3)
    return Log()


@case("op_sqrt", "op", "2,3,8,8")
def _sqrt():
    class Sqrt(nn.Module):
        def forward(self, x):
            return torch.sqrt(x.abs())
    return Sqrt()


@case("op_rsqrt", "op", "2,3,8,8")
def _rsqrt():
    class Rsqrt(nn.Module):
        def forward(self, x):
            return torch.rsqrt(x.abs() + 0.1)
    return Rsqrt()


@case("op_neg", "op", "2,3,8,8")
def _neg():
    class Neg(nn.Module):
        def forward(self, x):
            return -x
    return Neg()


@case("op_abs", "op", "2,3,8,8")
def _abs():
    class Abs(nn.Module):
        def forward(self, x):
            return torch.abs(x)
    return Abs()


@case("op_erf", "op", "2,3,8,8")
def _erf():
    class Erf(nn.Module):
        def forward(self, x):
            return torch.erf(x)
    return Erf()


@case("op_clamp", "op", "2,3,8,8")
def _clamp():
    class Clamp(nn.Module):
        def forward(self, x):
            return torch.clamp(x, min=-0.3, max=0.4)
    return Clamp()


@case("op_clamp_min0", "op", "2,3,8,8")
def _clamp_min0():
    class ClampMin0(nn.Module):
        def forward(self, x):
            return torch.clamp(x, min=0)
    return ClampMin0()


# Binary ops, [2,3,4,5] (op) [3,1,5] broadcasting.
@case("op_add_bcast", "op", "2,3,4,5;3,1,5")
def _add_bcast():
    class AddB(nn.Module):
        def forward(self, x, y):
            return x + y
    return AddB()


@case("op_sub_bcast", "op", "2,3,4,5;3,1,5")
def _sub_bcast():
    class SubB(nn.Module):
        def forward(self, x, y):
            return x - y
    return SubB()


@case("op_mul_bcast", "op", "2,3,4,5;3,1,5")
def _mul_bcast():
    class MulB(nn.Module):
        def forward(self, x, y):
            return x * y
    return MulB()


@case("op_div_bcast", "op", "2,3,4,5;3,1,5",
      note="plain division; denominators are raw randn values")
def _div_bcast():
    class DivB(nn.Module):
        def forward(self, x, y):
            return x / y
    return DivB()


@case("op_add_alpha2", "op", "2,3,4,5;3,1,5")
def _add_alpha():
    class AddAlpha(nn.Module):
        def forward(self, x, y):
            return torch.add(x, y, alpha=2)
    return AddAlpha()


@case("op_add_scalar", "op", "2,5,16")
def _add_scalar():
    class AddScalar(nn.Module):
        def forward(self, x):
            return x + 1.5
    return AddScalar()


@case("op_add_int_scalar", "op", "2,5,16")
def _add_int_scalar():
    class AddIntScalar(nn.Module):
        def forward(self, x):
            return x + 2
    return AddIntScalar()


@case("op_sub_scalar", "op", "2,5,16")
def _sub_scalar():
    class SubScalar(nn.Module):
        def forward(self, x):
            return x - 0.25
    return SubScalar()


@case("op_mul_scalar", "op", "2,5,16")
def _mul_scalar():
    class MulScalar(nn.Module):
        def forward(self, x):
            return x * -1.5
    return MulScalar()


@case("op_div_scalar", "op", "2,5,16")
def _div_scalar():
    class DivScalar(nn.Module):
        def forward(self, x):
            return x / 3.0
    return DivScalar()


# 0-dim tensor operands: a 0-dim buffer (a constant once frozen) ...
@case("op_add_0dim", "op", "2,5,16", op="add")
@case("op_sub_0dim", "op", "2,5,16", op="sub")
@case("op_mul_0dim", "op", "2,5,16", op="mul")
@case("op_div_0dim", "op", "2,5,16", op="div")
def _binary_0dim(op):
    class Binary0Dim(nn.Module):
        def __init__(self, op: str):
            super().__init__()
            self.op = op
            self.register_buffer("s", torch.tensor(1.75))

        def forward(self, x):
            if self.op == "add":
                return x + self.s
            if self.op == "sub":
                return x - self.s
            if self.op == "mul":
                return x * self.s
            return x / self.s
    return Binary0Dim(op)


# ... and a 0-dim tensor computed at run time.
@case("op_mul_0dim_runtime", "op", "2,5,16",
      note="x * x.mean(): 0-dim tensor produced at run time")
def _mul_0dim_runtime():
    class Mul0DimRuntime(nn.Module):
        def forward(self, x):
            return x * x.mean()
    return Mul0DimRuntime()


@case("op_rsub", "op", "2,5,16")
def _rsub():
    class Rsub(nn.Module):
        def forward(self, x):
            return 1 - x
    return Rsub()


@case("op_pow_scalar", "op", "2,5,16")
def _pow_scalar():
    class PowScalar(nn.Module):
        def forward(self, x):
            return torch.pow(x.abs() + 0.1, 2.5)
    return PowScalar()


@case("op_pow_tensor", "op", "2,5,16;2,5,16")
def _pow_tensor():
    class PowTensor(nn.Module):
        def forward(self, x, y):
            return torch.pow(x.abs() + 0.1, y)
    return PowTensor()


@case("op_maximum", "op", "2,5,16;2,5,16")
def _maximum():
    class Maximum(nn.Module):
        def forward(self, x, y):
            return torch.maximum(x, y)
    return Maximum()


@case("op_minimum", "op", "2,5,16;5,1")
def _minimum():
    class Minimum(nn.Module):
        def forward(self, x, y):
            return torch.minimum(x, y)
    return Minimum()


# Pooling.
@case("op_max_pool2d_k3s2p1", "op", "2,3,8,8", mod="MaxPool2d",
      args=(("kernel_size", 3), ("stride", 2), ("padding", 1)))
@case("op_max_pool2d_ceil", "op", "2,3,8,8", mod="MaxPool2d",
      args=(("kernel_size", 3), ("stride", 2), ("ceil_mode", True)))
@case("op_max_pool2d_dilation2", "op", "2,3,9,9", mod="MaxPool2d",
      args=(("kernel_size", 3), ("stride", 1), ("dilation", 2)))
@case("op_max_pool2d_k2s2", "op", "2,3,8,8", mod="MaxPool2d",
      args=(("kernel_size", 2), ("stride", 2)))
@case("op_avg_pool2d_k3s2p1_excl_pad", "op", "2,3,8,8", mod="AvgPool2d",
      args=(("kernel_size", 3), ("stride", 2), ("padding", 1),
            ("count_include_pad", False)))
@case("op_avg_pool2d_k3s2p1_incl_pad", "op", "2,3,8,8", mod="AvgPool2d",
      args=(("kernel_size", 3), ("stride", 2), ("padding", 1),
            ("count_include_pad", True)))
@case("op_avg_pool2d_ceil", "op", "2,3,8,8", mod="AvgPool2d",
      args=(("kernel_size", 3), ("stride", 2), ("ceil_mode", True)))
@case("op_avg_pool2d_ceil_p1_incl_pad", "op", "2,3,8,8", mod="AvgPool2d",
      args=(("kernel_size", 3), ("stride", 2), ("padding", 1),
            ("ceil_mode", True), ("count_include_pad", True)),
      note="window past the padded edge: divisor is clipped to the padded "
      "input, not kernel area")
@case("op_adaptive_avg_pool2d_1x1_from7", "op", "2,3,7,7",
      mod="AdaptiveAvgPool2d", args=(("output_size", (1, 1)),))
@case("op_adaptive_avg_pool2d_3x3_from7", "op", "2,3,7,7",
      mod="AdaptiveAvgPool2d", args=(("output_size", (3, 3)),))
@case("op_adaptive_avg_pool2d_1x1_from5", "op", "2,3,5,5",
      mod="AdaptiveAvgPool2d", args=(("output_size", (1, 1)),))
@case("op_adaptive_avg_pool2d_3x3_from5", "op", "2,3,5,5",
      mod="AdaptiveAvgPool2d", args=(("output_size", (3, 3)),))
@case("op_adaptive_max_pool2d_2x2", "op", "2,3,7,7",
      mod="AdaptiveMaxPool2d", args=(("output_size", (2, 2)),))
@case("op_max_pool3d_k3s2p1", "op", "2,3,7,8,8", mod="MaxPool3d",
      args=(("kernel_size", 3), ("stride", 2), ("padding", 1)))
@case("op_max_pool3d_ceil_dilation", "op", "1,3,9,7,7", mod="MaxPool3d",
      args=(("kernel_size", (3, 2, 2)), ("stride", 2), ("dilation", (2, 1, 1)),
            ("ceil_mode", True)))
@case("op_avg_pool3d_excl_pad", "op", "2,3,7,8,8", mod="AvgPool3d",
      args=(("kernel_size", 3), ("stride", 2), ("padding", 1),
            ("count_include_pad", False)))
@case("op_avg_pool3d_ceil_incl_pad", "op", "1,3,6,7,7", mod="AvgPool3d",
      args=(("kernel_size", 3), ("stride", 2), ("padding", 1),
            ("ceil_mode", True), ("count_include_pad", True)),
      note="windows past the padded edge: each axis' divisor is clipped to "
      "the padded input")
@case("op_avg_pool3d_divisor", "op", "1,2,4,6,6", mod="AvgPool3d",
      args=(("kernel_size", (2, 3, 3)), ("stride", 1), ("divisor_override", 5)))
@case("op_adaptive_avg_pool3d", "op", "2,3,5,7,7", mod="AdaptiveAvgPool3d",
      args=(("output_size", (2, 3, 3)),))
@case("op_adaptive_max_pool3d", "op", "1,3,7,7,7", mod="AdaptiveMaxPool3d",
      args=(("output_size", (3, 2, 2)),))
@case("op_flatten_module", "op", "2,3,4,4", mod="Flatten")
@case("op_softmax_lastdim", "op", "2,5,16", mod="Softmax",
      args=(("dim", -1),))
@case("op_softmax_dim1", "op", "2,5,16", mod="Softmax", args=(("dim", 1),))
@case("op_log_softmax", "op", "2,5,16", mod="LogSoftmax",
      args=(("dim", -1),))
def _nn_module_pool(mod, args=()):
    return getattr(nn, mod)(**dict(args))


# Grid points from randn * 1.3 fall inside and outside [-1, 1]: every padding
# mode's rule is exercised.
@case("op_grid_sample_bilinear_zeros", "op", "2,3,6,7;2,5,4,2",
      mode="bilinear", padding_mode="zeros", align_corners=False)
@case("op_grid_sample_bilinear_border_corners", "op", "2,3,6,7;2,5,4,2",
      mode="bilinear", padding_mode="border", align_corners=True)
@case("op_grid_sample_bilinear_reflection", "op", "1,2,5,4;1,6,6,2",
      mode="bilinear", padding_mode="reflection", align_corners=False)
@case("op_grid_sample_nearest_reflection_corners", "op", "1,2,5,4;1,6,6,2",
      mode="nearest", padding_mode="reflection", align_corners=True)
@case("op_grid_sample_nearest_zeros", "op", "2,3,6,7;2,5,4,2",
      mode="nearest", padding_mode="zeros", align_corners=False)
def _grid_sample(mode, padding_mode, align_corners):
    class GridSample(nn.Module):
        def __init__(self):
            super().__init__()
            self.mode = mode
            self.padding_mode = padding_mode
            self.align_corners = align_corners

        def forward(self, x, grid):
            return F.grid_sample(x, grid * 1.3, mode=self.mode,
                                 padding_mode=self.padding_mode,
                                 align_corners=self.align_corners)
    return GridSample()


@case("op_unfold", "op", "2,3,5,6")
def _unfold():
    class Unfold(nn.Module):
        def forward(self, x):
            a = F.unfold(x, kernel_size=3, padding=1)
            b = F.unfold(x, (2, 3), dilation=(1, 2), padding=(0, 1),
                         stride=(2, 1))
            return a, b
    return Unfold()


@case("op_instance_norm", "op", "2,4,5,6", affine=False, running=False)
@case("op_instance_norm_affine", "op", "2,4,5,6", affine=True, running=False)
@case("op_instance_norm_running_stats", "op", "2,4,5,6", affine=True,
      running=True)
def _instance_norm(affine, running):
    m = nn.InstanceNorm2d(4, affine=affine, track_running_stats=running)
    if affine:
        _randomize_(m.weight, m.bias)
    if running:
        with torch.no_grad():
            m.running_mean.copy_(torch.randn(4) * 0.5)
            m.running_var.copy_(torch.rand(4) + 0.5)
    return m.eval()


@case("op_tensor_from_data", "op", "2,3")
def _tensor_from_data():
    class FromData(nn.Module):
        def forward(self, x):
            scale = torch.sqrt(torch.tensor(x.shape[1]))  # i64 -> f32
            return x / scale + torch.tensor([1.0, 2.0, 3.0]), torch.tensor(
                [[1, 2], [3, 4]])
    return FromData()


# List slicing with Python's bounds, negative steps included (torchvision's
# make_coords_grid stacks meshgrid(...)[::-1]).
@case("op_list_slice_steps", "op", "2,5,3")
def _list_slice_steps():
    class ListSlice(nn.Module):
        def forward(self, x):
            p = torch.unbind(x, dim=1)
            return (torch.stack(p[::-1], 1), torch.stack(p[3:0:-2], 1),
                    torch.stack(p[-1:-4:-1], 1), torch.stack(p[::2], 1),
                    torch.stack(p[10:-10:-3], 1))
    return ListSlice()


@case("op_tensor_split", "op", "2,7,5")
def _tensor_split():
    class TensorSplit(nn.Module):
        def forward(self, x):
            a, b, c = torch.tensor_split(x, 3, dim=1)  # sizes 3, 2, 2
            d, e, f = torch.tensor_split(x, (1, -2), dim=1)
            # Indices need not rise: x[:, 4:2] is empty, the last part x[:, 2:].
            g, h, i = torch.tensor_split(x, (4, 2), dim=1)
            return a, b, c * 2, d, e + 1, f, g, i
    return TensorSplit()


# Sizes the data decides, returned as they are (compiled: the nonzero and
# masked_select ops size their result as they run; dims -1 in the artifact).
@case("op_nonzero", "op", "4,6;3,5,2",
      note="f32 with exact zeros (relu) and -0.0, bool, and an empty result")
def _nonzero():
    class Nonzero(nn.Module):
        def forward(self, x, y):
            z = torch.relu(x) * torch.where(x > -0.25, 1.0, -1.0)  # 0.0 and -0.0
            return (torch.nonzero(z), torch.nonzero(y > 0.3), torch.argwhere(x > 100.0),
                    x * 2.0)
    return Nonzero()


@case("op_nonzero_i64", "op", "3,4,5", dtypes="i64", int_high=3)
def _nonzero_i64():
    class NonzeroInt(nn.Module):
        def forward(self, x):
            return torch.argwhere(x), torch.nonzero(x - 1)
    return NonzeroInt()


@case("op_masked_select", "op", "3,1,5;4,5",
      note="mask and x broadcast to [3,4,5]; x[mask] by rows and by elements")
def _masked_select():
    class MaskedSelect(nn.Module):
        def forward(self, x, y):
            rows = y[y.sum(1) > 0.0]           # [n, 5]
            elems = x[x > 0.0]                 # [n]
            planes = x[x.sum((1, 2)) > -1e9]   # every plane: [3, 1, 5]
            return {"sel": torch.masked_select(x, y < 0.0), "rows": rows,
                    "elems": elems, "planes": planes}
    return MaskedSelect()


@case("op_masked_select_i64", "op", "2,7", dtypes="i64", int_high=5)
def _masked_select_i64():
    class MaskedSelectInt(nn.Module):
        def forward(self, x):
            return x[x > 2], torch.masked_select(x, x.to(torch.uint8).bool())
    return MaskedSelectInt()


# torchvision's detection ops. nms's result (its size the data decides) is
# returned as it is; batched_nms offsets each class's boxes (its coordinate
# trick, compiled) before one nms.
@case("op_nms", "op", "24,4;24", note="needs torchvision ops")
def _op_nms():
    _import_torch(need_torchvision=True)

    class Nms(nn.Module):
        def forward(self, boxes, scores):
            xy = boxes[:, :2].abs() * 2.0
            b = torch.cat([xy, xy + boxes[:, 2:].abs() + 0.5], 1)
            classes = (scores > 0.0).to(torch.int64)
            return (torchvision.ops.nms(b, scores, 0.5),
                    torchvision.ops.batched_nms(b, scores, classes, 0.3))
    return Nms()


@case("op_nms_keep", "op", "24,4;24",
      note="a detector's ending: the kept boxes, scores and labels, at most 6; "
      "needs torchvision ops")
def _op_nms_keep():
    _import_torch(need_torchvision=True)

    class NmsKeep(nn.Module):
        def forward(self, boxes, scores):
            xy = boxes[:, :2].abs() * 2.0
            b = torch.cat([xy, xy + boxes[:, 2:].abs() + 0.5], 1)
            labels = (scores > 0.0).to(torch.int64)
            keep = torchvision.ops.batched_nms(b, scores, labels, 0.3)[:6]
            return b[keep], scores[keep], labels[keep], keep
    return NmsKeep()


@case("op_nms_of_kept", "op", "24,4;24",
      note="nms, masked_select and nonzero of what a score threshold kept; "
      "needs torchvision ops")
def _op_nms_of_kept():
    _import_torch(need_torchvision=True)

    class NmsOfKept(nn.Module):
        def forward(self, boxes, scores):
            xy = boxes[:, :2].abs() * 2.0
            b = torch.cat([xy, xy + boxes[:, 2:].abs() + 0.5], 1)
            m = scores > -0.3
            bk, sk = b[m], scores[m]
            keep = torchvision.ops.nms(bk, sk, 0.4)[:8]
            return bk[keep], sk[keep], sk[sk > 0.5], torch.nonzero(sk > 0.0)
    return NmsOfKept()


# The rows a score threshold keeps, through what a detector's or a token
# selector's head does next: linear layers, layer norm, softmax, a matmul
# and a transpose, each over as many rows as the data gave (none included).
@case("op_kept_rows_mlp", "op", "12,8",
      note="x[mask] rows through linear, layer_norm, softmax, matmul, transpose")
def _op_kept_rows_mlp():
    class KeptRowsMlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 16)
            self.norm = nn.LayerNorm(16)
            self.fc2 = nn.Linear(16, 4)

        def forward(self, x):
            rows = x[x[:, 0] > 0.2]
            h = self.norm(torch.relu(self.fc1(rows)))
            p = torch.softmax(self.fc2(h), -1)
            return p, torch.matmul(p.transpose(0, 1), rows), x[x[:, 0] > 100.0].t()
    return KeptRowsMlp()


@case("op_index_run_sized", "op", "5,6;5,3,2",
      note="indexing by where/nonzero results, slicing them, selecting their columns")
def _op_index_run_sized():
    class IndexRunSized(nn.Module):
        def forward(self, x, y):
            inds = torch.where(x.sum(1) > 0.0)[0]
            rows = y[inds]
            r, c = torch.where(x > 0.5)
            pts = torch.nonzero(x < -0.5)
            none = torch.nonzero(x > 100.0)[:, 0]
            return (rows, rows[:2], rows[1::2], x[r], c, pts[:, 1], y[pts[:, 0]][1:],
                    y[none])
    return IndexRunSized()


@case("op_run_sized_elementwise", "op", "24,4;24",
      note="arithmetic, comparisons, casts and selects on rows the data picks")
def _op_run_sized_elementwise():
    class RunSizedElementwise(nn.Module):
        def forward(self, boxes, scores):
            keep = torch.where(scores > 0.0)[0]
            b = boxes[keep]
            s = scores[keep]
            scale = torch.tensor([2.0, 0.5, 2.0, 0.5])
            wh = b[:, 2:] - b[:, :2]
            big = s > 0.5
            clipped = b.clamp(min=-1.0, max=1.0) * scale
            sel = torch.where(big, s, s * -1.0)
            return (clipped, wh.abs().sqrt(), big.to(torch.int64), sel, torch.sigmoid(s) + 1.0,
                    b[:, 0] / (b[:, 1].abs() + 1.0))
    return RunSizedElementwise()


@case("op_run_sized_concat_reduce", "op", "24,4;24",
      note="box decoding with unbind and stack, concatenation and reductions over rows "
      "the data picks")
def _op_run_sized_concat_reduce():
    class RunSizedConcatReduce(nn.Module):
        def forward(self, boxes, scores):
            keep = torch.where(scores > 0.0)[0]
            b = boxes[keep]
            s = scores[keep]
            x1, y1, x2, y2 = b.unbind(1)
            decoded = torch.stack([x1 * 2.0, y1 * 0.5, x2 * 2.0, y2 * 0.5], dim=1)
            low = boxes[torch.where(scores < -0.5)[0]]
            both = torch.cat([b, low, boxes[:2]], 0)
            return (decoded, both, b.sum(1), b.mean(0), s.sum(), b.amax(1, keepdim=True),
                    torch.cat([b, decoded], 1))
    return RunSizedConcatReduce()


@case("op_roi_align", "op", "2,3,10,12;6,4;3,4",
      note="RoIs as [K,5] and as a List[Tensor] per image; some reach past the image; "
      "needs torchvision ops")
def _op_roi_align():
    _import_torch(need_torchvision=True)

    class RoiAlign(nn.Module):
        def forward(self, x, boxes, more):
            xy = boxes[:, :2].abs() * 4.0
            b = torch.cat([xy, xy + boxes[:, 2:].abs() * 6.0 + 0.5], 1)
            idx = torch.tensor([[0.0], [1.0], [0.0], [1.0], [1.0], [0.0]])
            rois = torch.cat([idx, b], 1)
            a = torchvision.ops.roi_align(x, rois, (3, 4), spatial_scale=0.5,
                                          sampling_ratio=2, aligned=False)
            c = torchvision.ops.roi_align(x, rois, 2, spatial_scale=1.0,
                                          sampling_ratio=-1, aligned=True)
            mxy = more[:, :2].abs() * 3.0
            m = torch.cat([mxy, mxy + more[:, 2:].abs() * 2.0 + 1.0], 1)
            d = torchvision.ops.roi_align(x, [m, b[:2]], (5, 5), spatial_scale=0.25,
                                          sampling_ratio=0, aligned=False)
            return a, c, d
    return RoiAlign()


# Branches on values known only at run time: if-converted (both branches
# lowered, their results and in-place rebinds joined by where). The first two
# conditions hold and fail whatever the input, so both arms are exercised.
@case("op_if_on_tensor", "op", "3,4")
def _if_on_tensor():
    class IfOnTensor(nn.Module):
        def forward(self, x):
            if x.sum() > -1e6:
                y = torch.relu(x) * 2.0
            else:
                y = torch.sigmoid(x) - 1.0
            if bool(x.abs().max() > 1e6):
                z = x + 1.0
                w = x.exp()
            else:
                z = x * 3.0
                w = torch.tanh(x)
            u = x.clone()
            if x.mean() > -1e6:
                u.add_(5.0)
            if y.sum() > 0:
                if z.sum() > 0:
                    v = y + z
                else:
                    v = y - z
            else:
                v = y
            # `and` is an if giving the second condition or False.
            if x.sum() > -1e6 and x.max() > 1e6:
                t = x * 7.0
            else:
                t = x / 7.0
            if not bool(x.max() > 1e6):
                r = x + 2.0
            else:
                r = x
            return y, z, w, u, v, t, r
    return IfOnTensor()


# Linear / matmul.
@case("op_linear_2d", "op", "4,16", bias=True)
@case("op_linear_3d", "op", "2,5,16", bias=True)
@case("op_linear_2d_nobias", "op", "4,16", bias=False)
@case("op_linear_3d_nobias", "op", "2,5,16", bias=False)
def _linear(bias):
    return nn.Linear(16, 8, bias=bias)


# Attention with an additive mask input [T, T]: under a symbolic sequence
# extent (note seq) the mask has the symbol on both axes, and its
# unsqueeze is a reshape keeping both whole (`from`).
@case("op_masked_attention", "op", "1,12,32;12,12", note="seq: 1..32 axes 1|0,1")
def _masked_attention():
    class MaskedAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(32, 96)

        def forward(self, x, mask):
            q, k, v = self.qkv(x).split(32, dim=2)
            a = q @ k.transpose(1, 2) * 0.17677669529663687 + mask.unsqueeze(0)
            return torch.softmax(a, dim=-1) @ v
    return MaskedAttention()


@case("op_matmul_2d_2d", "op", "4,5;5,6")
@case("op_matmul_3d_3d", "op", "2,4,5;2,5,6")
@case("op_matmul_3d_2d", "op", "2,4,5;5,6")
@case("op_matmul_4d_4d_bcast", "op", "2,3,4,5;1,3,5,6")
@case("op_matmul_1d_1d", "op", "5;5", note="0-dim output")
@case("op_matmul_2d_1d", "op", "4,5;5")
@case("op_matmul_1d_2d", "op", "5;5,6")
@case("op_matmul_3d_1d", "op", "2,4,5;5")
@case("op_matmul_1d_3d", "op", "5;2,5,6")
def _matmul():
    class Matmul(nn.Module):
        def forward(self, a, b):
            return torch.matmul(a, b)
    return Matmul()


@case("op_bmm", "op", "2,4,5;2,5,6")
def _bmm():
    class Bmm(nn.Module):
        def forward(self, a, b):
            return torch.bmm(a, b)
    return Bmm()


# Normalisation / reductions.
@case("op_layer_norm_lastdim", "op", "2,5,16", shape=(16,))
@case("op_layer_norm_last2dims", "op", "2,5,16", shape=(5, 16))
def _layer_norm(shape):
    m = nn.LayerNorm(list(shape))
    _randomize_(m.weight, m.bias)
    return m


@case("op_group_norm", "op", "2,12,5,7", groups=4, affine=True)
@case("op_group_norm_plain_3d", "op", "3,6,10", groups=3, affine=False)
@case("op_group_norm_after_conv", "op", "1,3,9,9", groups=8, affine=True, conv=True)
def _group_norm(groups, affine, conv=False):
    class GroupNormCase(nn.Module):
        def __init__(self):
            super().__init__()
            # After a convolution, as in FCOS's heads: the conv's chain is
            # channels-last, the group norm reads channels in NCHW order.
            self.conv = nn.Conv2d(3, 16, 3, padding=1) if conv else nn.Identity()
            channels = 16 if conv else (12 if groups == 4 else 6)
            self.norm = nn.GroupNorm(groups, channels, eps=1e-5, affine=affine)
            if affine:
                _randomize_(self.norm.weight, self.norm.bias)

        def forward(self, x):
            return torch.relu(self.norm(self.conv(x)))
    return GroupNormCase()


@case("op_mean_hw_keepdim", "op", "2,3,8,8", keepdim=True)
@case("op_mean_hw", "op", "2,3,8,8", keepdim=False)
def _mean_hw(keepdim):
    class MeanHW(nn.Module):
        def __init__(self, keepdim: bool):
            super().__init__()
            self.keepdim = keepdim

        def forward(self, x):
            return x.mean(dim=[2, 3], keepdim=self.keepdim)
    return MeanHW(keepdim)


@case("op_sum_dim1", "op", "2,5,16")
def _sum_dim1():
    class SumDim1(nn.Module):
        def forward(self, x):
            return torch.sum(x, dim=1)
    return SumDim1()


@case("op_amax", "op", "2,3,8,8")
def _amax():
    class Amax(nn.Module):
        def forward(self, x):
            return torch.amax(x, dim=[2, 3])
    return Amax()


# Shape manipulation.
@case("op_flatten1", "op", "2,3,4,4")
def _flatten1():
    class Flatten1(nn.Module):
        def forward(self, x):
            return torch.flatten(x, 1)
    return Flatten1()


@case("op_reshape_neg1", "op", "2,3,8,8")
def _reshape():
    class ReshapeNeg1(nn.Module):
        def forward(self, x):
            return x.reshape(-1, 8)
    return ReshapeNeg1()


@case("op_view_neg1", "op", "2,5,16")
def _view():
    class ViewNeg1(nn.Module):
        def forward(self, x):
            return x.view(2, -1, 4)
    return ViewNeg1()


@case("op_permute", "op", "2,3,8,8")
def _permute():
    class Permute(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1)
    return Permute()


@case("op_transpose", "op", "2,5,16")
def _transpose():
    class Transpose(nn.Module):
        def forward(self, x):
            return x.transpose(1, 2)
    return Transpose()


@case("op_contiguous", "op", "2,5,16",
      note="permute -> contiguous -> view")
def _contiguous():
    class Contiguous(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 1).contiguous().view(2, -1)
    return Contiguous()


@case("op_cat_dim1", "op", "2,3,8;2,4,8;2,1,8")
@case("op_cat_neg1", "op", "2,5,3;2,5,4;2,5,1", dim=-1)
def _cat(dim=1):
    class Cat3(nn.Module):
        def __init__(self, dim: int):
            super().__init__()
            self.dim = dim

        def forward(self, a, b, c):
            return torch.cat([a, b, c], dim=self.dim)
    return Cat3(dim)


@case("op_slice_step", "op", "2,8,16")
def _slice_step():
    class SliceStep(nn.Module):
        def forward(self, x):
            return x[:, 1:5:2]
    return SliceStep()


@case("op_select", "op", "2,5,16")
def _select():
    class Select(nn.Module):
        def forward(self, x):
            return x[:, 2]
    return Select()


@case("op_slice_negative", "op", "2,5,16")
def _slice_neg():
    class SliceNeg(nn.Module):
        def forward(self, x):
            return x[..., -3:]
    return SliceNeg()


@case("op_chunk3", "op", "2,7,5", note="uneven: chunk sizes 3,3,1")
def _chunk():
    class Chunk3(nn.Module):
        def forward(self, x):
            a, b, c = x.chunk(3, dim=1)
            return a, b, c
    return Chunk3()


@case("op_split2", "op", "2,5,5", note="uneven: split sizes 2,2,1")
def _split():
    class Split2(nn.Module):
        def forward(self, x):
            a, b, c = torch.split(x, 2, dim=-1)
            return a, b, c
    return Split2()


@case("op_unsqueeze", "op", "2,5,16")
def _unsqueeze():
    class Unsqueeze(nn.Module):
        def forward(self, x):
            return x.unsqueeze(1).unsqueeze(-1)
    return Unsqueeze()


@case("op_squeeze_dim", "op", "2,1,16")
def _squeeze_dim():
    class SqueezeDim(nn.Module):
        def forward(self, x):
            return x.squeeze(1)
    return SqueezeDim()


@case("op_squeeze_all", "op", "2,1,16,1")
def _squeeze_all():
    class SqueezeAll(nn.Module):
        def forward(self, x):
            return x.squeeze()
    return SqueezeAll()


@case("op_expand", "op", "2,1,16")
def _expand():
    class Expand(nn.Module):
        def forward(self, x):
            return x.expand(-1, 5, 16)
    return Expand()


@case("op_where_gt0", "op", "2,5,16;2,5,16")
def _where():
    class WhereGt0(nn.Module):
        def forward(self, x, y):
            return torch.where(x > 0, x, y)
    return WhereGt0()


# Every comparison selects through where: a bool output would test only the
# mask, the select tests the mask's use too.
@case("op_compare_ge", "op", "2,5,16;2,5,16", cmp="ge")
@case("op_compare_lt", "op", "2,5,16;2,5,16", cmp="lt")
@case("op_compare_le", "op", "2,5,16;2,5,16", cmp="le")
@case("op_compare_eq", "op", "2,5,16;2,5,16", cmp="eq")
@case("op_compare_ne", "op", "2,5,16;2,5,16", cmp="ne")
def _compare(cmp):
    # eq and ne compare x with a tensor that equals it where x > 0, so that
    # both outcomes occur.
    class Compare(nn.Module):
        def __init__(self, cmp: str):
            super().__init__()
            self.cmp = cmp

        def forward(self, x, y):
            z = torch.where(x > 0, x, y)
            if self.cmp == "ge":
                m = x >= y
            elif self.cmp == "lt":
                m = x < y
            elif self.cmp == "le":
                m = x <= y
            elif self.cmp == "eq":
                m = x == z
            else:
                m = x != z
            return torch.where(m, x, y * 3.0)
    return Compare(cmp)


@case("op_reciprocal", "op", "2,3,8,8")
def _reciprocal():
    class Reciprocal(nn.Module):
        def forward(self, x):
            return torch.reciprocal(x.abs() + 0.5)
    return Reciprocal()


@case("op_cast_roundtrip", "op", "2,3,8,8",
      note="f32 -> i64 truncates toward zero, then back to f32")
def _cast_roundtrip():
    class CastRoundTrip(nn.Module):
        def forward(self, x):
            return (x * 4.0).to(torch.int64).to(torch.float32)
    return CastRoundTrip()


@case("op_cast_out_of_range", "op", "2,3,8,8")
def _cast_out_of_range():
    # Float-to-integer casts of NaN (log of a negative), values past int32
    # (x * 3e9) and int64 (x * 1e19), and uint8 wrapping (x * 200), then
    # integer narrowing: what C++ leaves undefined, checked against LibTorch
    # on x86 (kernels/cast.h states the rules).
    class CastOutOfRange(nn.Module):
        def forward(self, x):
            a = x * 3e9
            b = x * 1e19
            c = torch.log(x)
            d = x * 200.0
            a64 = a.to(torch.int64)
            return (a.to(torch.int32), b.to(torch.int64), c.to(torch.int64),
                    c.to(torch.int32), c.to(torch.uint8), d.to(torch.uint8),
                    a64.to(torch.int32), a64.to(torch.uint8), a.to(torch.bool))
    return CastOutOfRange()


@case("op_nan_inf", "op", "2,3,8,8")
def _nan_inf():
    # NaN and infinities (the input times a row holding them) through every
    # kind of kernel: fused elementwise maths, comparisons and where, the
    # pools, softmax and layer_norm, a convolution and a GEMM, reductions.
    # sinter must give NaN where LibTorch does and the same infinities.
    class NanInf(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(8, 5)
            self.register_buffer("special", torch.tensor(
                [float("nan"), float("inf"), float("-inf"), 0.0, 1.0, -1.0, 3.5, -2.0]))

        def forward(self, x):
            y = x * self.special
            a = torch.relu(y) + torch.sigmoid(y) * torch.tanh(y) - torch.exp(y * 0.1)
            b = torch.where(y > 0.5, y, torch.clamp(y, -1.0, 1.0))
            m = torch.maximum(y, x) + torch.minimum(y, x * 2.0)
            return (a, b, m, F.max_pool2d(y, 2), F.avg_pool2d(y, 2),
                    torch.softmax(y, -1), F.layer_norm(y, (8,)), self.conv(y),
                    self.fc(y), y.sum(-1), y.mean((2, 3)), F.hardswish(y) + F.gelu(y))
    return NanInf()


@case("op_arange", "op", "3,10")
def _arange():
    # Positions and ranges of every schema, as offsets and as floats.
    class Arange(nn.Module):
        def forward(self, x):
            n = x.shape[1]
            a = torch.arange(n)
            b = torch.arange(2, n + 2, dtype=torch.float32)
            c = torch.arange(0.5, 5.0, 0.45)
            return x + a + b, c * 2.0
    return Arange()


@case("op_int_float_promotion", "op", "3,6",
      note="integer tensors with float numbers and 0-dim float tensors, true division "
      "(SSD's default boxes: (arange(n) + 0.5) / n)")
def _int_float_promotion():
    class Promotion(nn.Module):
        def forward(self, x):
            n = x.shape[1]
            centres = (torch.arange(0, n) + 0.5) / n
            halves = torch.arange(n) * 0.5
            ratio = torch.arange(1, n + 1) / torch.arange(2, n + 2)
            scaled = torch.arange(n) * torch.tensor(1.5)
            return x + centres + halves + ratio, scaled
    return Promotion()


@case("op_index_arith", "op", "4,9", note="i64 index arithmetic at run time (top-k indices "
      "offset per row, as detectors' proposal selection does); list.insert and extend")
def _index_arith():
    class IndexArith(nn.Module):
        def forward(self, x):
            top = x.topk(3, dim=1)[1]
            offsets = torch.arange(4).unsqueeze(1) * x.shape[1]
            flat = top + offsets
            parts = [x[:, :3], x[:, 6:]]
            parts.insert(1, x[:, 3:6] * 2.0)
            parts.insert(-5, x[:, :1])
            parts.extend([x[:, 8:] * 3.0, x[:, :2]])
            return flat, torch.maximum(flat - 2, top), torch.cat(parts, dim=1)
    return IndexArith()


@case("op_logical", "op", "4,8")
def _logical():
    class Logical(nn.Module):
        def forward(self, x):
            a, b = x > 0.2, x < 0.6
            m = torch.logical_and(a, b) | torch.logical_xor(a, ~b)
            return (torch.logical_not(a), torch.logical_or(a, b), m,
                    torch.where(torch.logical_not(x), x, -x))
    return Logical()


@case("op_norm", "op", "2,6,5")
def _norm():
    class Norm(nn.Module):
        def forward(self, x):
            return (F.normalize(x, dim=-1), x.norm(p=2, dim=1, keepdim=True),
                    torch.norm(x, p=1, dim=(1, 2)), x.norm(p=3, dim=-1), x.norm())
    return Norm()


@case("op_roll", "op", "2,5,7")
def _roll():
    class Roll(nn.Module):
        def forward(self, x):
            return (torch.roll(x, shifts=(-2, 3), dims=(1, 2)), torch.roll(x, 4),
                    torch.roll(x, -9, 2))
    return Roll()


# forward(List[Tensor]) as torchvision's detectors take images: every input
# shape goes into the list. Python values computed at compile time: a dict
# from (key, value) pairs (OrderedDict of a comprehension), a repeated list,
# len() of a tensor.
@case("op_list_input", "op", "2,3;2,5")
def _list_input():
    from collections import OrderedDict
    from typing import List

    class ListInput(nn.Module):
        def forward(self, xs: List[torch.Tensor]):
            d = OrderedDict([(str(i), x * float(i + 1)) for i, x in enumerate(xs)])
            ys = list(d.values())
            zs = ys * 2
            return torch.cat(zs, 1) + float(len(xs[0]))
    return ListInput()


# meshgrid (both indexings) and repeat, as anchor generators use them.
@case("op_meshgrid_repeat", "op", "5;3")
def _meshgrid_repeat():
    class MeshgridRepeat(nn.Module):
        def forward(self, x, y):
            a, b = torch.meshgrid([x, y], indexing="ij")
            c, d = torch.meshgrid([x, y], indexing="xy")
            return a - b, c * d, x.repeat(2, 3), y.repeat(4), a.repeat(1, 2, 2)
    return MeshgridRepeat()


# A TorchScript class instance (torchvision's ImageList): its attributes
# are written and read at compile time.
@case("op_object", "op", "2,6")
def _object():
    @torch.jit.script
    class Scaled(object):
        def __init__(self, t: torch.Tensor, scale: float):
            self.t = t
            self.scale = scale

    class Object(nn.Module):
        def forward(self, x):
            s = Scaled(x, 3.0)
            s.t = s.t * s.scale
            return s.t + 1.0
    return Object()


# einsum as attention and mixing layers write it: batched contractions, an
# outer product, a trace-free sum, implicit output, three operands.
@case("op_einsum", "op", "2,3,4,5;2,3,6,5;5,7")
def _einsum():
    class Einsum(nn.Module):
        def forward(self, q, k, w):
            s = torch.einsum("bhqd,bhkd->bhqk", q, k)
            o = torch.einsum("bhqk,bhkd->bhqd", s, k)
            p = torch.einsum("bhqd,de->bhqe", q, w)
            r = torch.einsum("ij,kl->ijkl", w, w[:2, :3])
            t = torch.einsum("bhqd->bd", q)
            u = torch.einsum("bhqd,bhkd,de", q, k, w)
            return s, o, p, r, t, u, torch.einsum("ij->ji", w)
    return Einsum()


@case("op_cumsum", "op", "3,5,7")
def _cumsum():
    class Cumsum(nn.Module):
        def forward(self, x):
            # Position ids from a mask, as BERT-style models make them: bool
            # summed in i64.
            return torch.cumsum(x, 1), x.cumsum(-1), (x > 0).long().cumsum(2)
    return Cumsum()


@case("op_gather", "op", "4,6,6;4,3,6", dtypes="f32;i64", int_high=6)
def _gather():
    class Gather(nn.Module):
        def forward(self, x, idx):
            return (torch.gather(x, 1, idx), torch.gather(x, 2, idx),
                    torch.gather(idx, 2, idx[:, :, :4]))
    return Gather()


@case("op_sort", "op", "3,4,9")
def _sort():
    class Sort(nn.Module):
        def forward(self, x):
            a, i = torch.sort(x, dim=-1)
            b, j = torch.sort(x, 1, descending=True)
            # NaN sorts above every number, ascending and descending.
            y = x.masked_fill(x > 1.0, float("nan"))
            c, k = torch.sort(y, -1, descending=True)
            d, m = torch.sort(y, 1)
            return a, i, b, j, torch.argsort(x, dim=2, descending=True), c, k, d, m
    return Sort()


@case("op_topk", "op", "2,5,11")
def _topk():
    class Topk(nn.Module):
        def forward(self, x):
            a, i = torch.topk(x, 3)
            b, j = torch.topk(x, 4, dim=1, largest=False)
            c, k = x.topk(1, 0)
            return a, i, b, j, c, k
    return Topk()


@case("op_max_min", "op", "3,7")
def _max_min():
    class MaxMin(nn.Module):
        def forward(self, x):
            v, i = x.max(dim=1)
            w, j = x.min(0, keepdim=True)
            y = x.masked_fill(x > 1.0, float("nan"))  # NaN wins max and min
            u, k = y.max(1)
            t, m = torch.min(y, dim=1)
            return (x.max(), x.min(), v, i, w, j, x.argmax(), x.argmax(1),
                    x.argmin(dim=0, keepdim=True), u, k, t, m, y.argmin(1))
    return MaxMin()


# In-place writes through views (functionalized by the importer: the write
# goes up to the base and every other view is made again from it).
@case("op_inplace_view_alias", "op", "2,8")
def _inplace_view_alias():
    class InplaceViewAlias(nn.Module):
        def forward(self, x):
            y = x * 2.0
            z = y.view(-1)
            y.relu_()
            return z + 1.0
    return InplaceViewAlias()


@case("op_slice_assign", "op", "2,6,8;2,3,8")
def _slice_assign():
    class SliceAssign(nn.Module):
        def forward(self, x, u):
            y = x.new_zeros((2, 6, 8))
            y[:, 1:4] = u * 2.0
            y[0, :, 2] = 1.5
            z = y.transpose(1, 2)
            z[:, 0] += x[:, :, 0]
            w = x.clone()
            w.narrow(2, 5, 3).zero_()
            w[1].mul_(-1.0)
            o = x.new_ones((3,)) + x.new_full((3,), 2.0)
            return y + 1.0, z * 1.0, w, o
    return SliceAssign()


@case("op_index", "op", "4,5,6;3", dtypes="f32;i64", int_high=4)
def _index():
    class Index(nn.Module):
        def forward(self, x, i):
            j = torch.tensor([[0, -1], [2, -3]])
            return x[i], x[:, j], x[:, :, i], x[..., j]
    return Index()


@case("op_upsample", "op", "2,3,5,7")
def _upsample():
    class Upsample(nn.Module):
        def forward(self, x):
            return (F.interpolate(x, size=(11, 9), mode="bilinear", align_corners=False),
                    F.interpolate(x, size=(4, 16), mode="bilinear", align_corners=True),
                    F.interpolate(x, scale_factor=1.7, mode="bilinear", align_corners=False),
                    F.interpolate(x, scale_factor=2.0, mode="nearest"),
                    F.interpolate(x, size=(8, 5), mode="nearest"),
                    F.interpolate(x, scale_factor=(0.6, 1.5), mode="nearest"),
                    F.interpolate(x, size=(1, 1), mode="bilinear", align_corners=True))
    return Upsample()


@case("op_pad", "op", "2,3,6,7")
def _pad():
    class Pad(nn.Module):
        def forward(self, x):
            return (F.pad(x, (1, 2)), F.pad(x, (2, 1, 1, 3), value=-1.5),
                    F.pad(x, (2, 3, 1, 1), mode="reflect"),
                    F.pad(x, (1, 2, 3, 0), mode="replicate"), F.pad(x, (-1, 2, 0, -2)))
    return Pad()


@case("op_concat_empty", "op", "2,3,4,5")
def _concat_empty():
    # Empty slices concatenated with a real tensor (segmentation heads build
    # such lists): the empty inputs copy nothing and must not be touched.
    class ConcatEmpty(nn.Module):
        def forward(self, x):
            e = x[:, 3:]
            return torch.cat([e, x * 2.0, x[:, :0], e], 1) + 1.0
    return ConcatEmpty()


@case("op_softplus", "op", "2,3,8,8")
@case("op_softplus_beta", "op", "2,3,8,8", beta=2.0, threshold=5.0)
def _softplus(beta=1.0, threshold=20.0):
    # x * 12 reaches past the threshold, where PyTorch returns x itself.
    class Softplus(nn.Module):
        def __init__(self, beta: float, threshold: float):
            super().__init__()
            self.beta = beta
            self.threshold = threshold

        def forward(self, x):
            return F.softplus(x * 12.0, self.beta, self.threshold)
    return Softplus(beta, threshold)


@case("op_tril", "op", "2,3,6,9", lower=True, diagonal=0)
@case("op_tril_diag", "op", "2,6,9", lower=True, diagonal=-2)
@case("op_triu", "op", "2,3,6,9", lower=False, diagonal=1)
def _triangle(lower, diagonal):
    # An attention-style causal mask: the triangle of a score matrix.
    class Triangle(nn.Module):
        def __init__(self, lower: bool, diagonal: int):
            super().__init__()
            self.lower = lower
            self.diagonal = diagonal

        def forward(self, x):
            y = x * 2.0
            if self.lower:
                return torch.tril(y, self.diagonal) + 1.0
            return torch.triu(y, self.diagonal) + 1.0
    return Triangle(lower, diagonal)


@case("op_mish", "op", "2,3,8,8")
def _mish():
    # x * 8 spans the softplus threshold (20) on both sides.
    class Mish(nn.Module):
        def forward(self, x):
            return F.mish(x * 8.0) + nn.Mish()(x)
    return Mish()


# Embedding / recurrent / attention.
@case("op_embedding", "op", "2,7", dtypes="i64", int_high=50)
def _embedding():
    class Embed(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 16)

        def forward(self, idx):
            return self.emb(idx)
    return Embed()


@case("op_lstm_1layer", "op", "7,2,16", layers=1, bidir=False,
      note="seq-first; returns (output, h_n, c_n) flattened")
@case("op_lstm_2layer_bidir", "op", "7,2,16", layers=2, bidir=True,
      note="seq-first; returns (output, h_n, c_n) flattened")
@case("op_lstm_nobias", "op", "7,2,16", layers=1, bidir=False, bias=False,
      note="bias=False: five operands, which the op schema and every backend accept")
def _lstm(layers, bidir, bias=True):
    class LstmOp(nn.Module):
        def __init__(self, layers: int, bidir: bool, bias: bool):
            super().__init__()
            self.lstm = nn.LSTM(16, 32, num_layers=layers,
                                bidirectional=bidir, bias=bias)

        def forward(self, x):
            y, (h, c) = self.lstm(x)
            return y, h, c
    return LstmOp(layers, bidir, bias)


@case("op_multihead_attention", "op", "2,10,32",
      note="self-attention, need_weights=False, returns attn output only; seq: 1..32 axes 1")
def _mha():
    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(32, 4, batch_first=True)

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]
    return SelfAttention()


@case("op_encoder_layer_norm_first", "op", "2,10,32", norm_first=True,
      activation="relu")
@case("op_encoder_layer_gelu", "op", "2,10,32", norm_first=False,
      activation="gelu")
def _encoder_layer(norm_first, activation):
    return nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64,
                                      batch_first=True, norm_first=norm_first,
                                      activation=activation)


# Control flow / shape-dependent code / misc.
@case("op_dropout_functional", "op", "2,5,16", note="eval mode: identity")
def _dropout_functional():
    class DropoutF(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.3, self.training) * 2.0
    return DropoutF()


@case("op_size_view", "op", "2,3,4,4", note="x.view(x.size(0), -1)")
def _size_view():
    class SizeView(nn.Module):
        def forward(self, x):
            return x.view(x.size(0), -1)
    return SizeView()


@case("op_shape_arith", "op", "2,6,4",
      note="shape arithmetic: x.reshape(b, c // 2, 2 * x.shape[-1])")
def _shape_arith():
    class ShapeArith(nn.Module):
        def forward(self, x):
            b, c, w = x.shape
            return x.reshape(b, c // 2, 2 * x.shape[-1])
    return ShapeArith()


@case("op_dim_check_raise", "op", "2,3,8,8",
      note="if x.dim() != 4: raise ValueError, then relu")
def _dim_check():
    class DimCheck(nn.Module):
        def forward(self, x):
            if x.dim() != 4:
                raise ValueError("expected a 4-D input")
            return torch.relu(x)
    return DimCheck()


@case("op_zeros_ones_like", "op", "2,5,16")
def _zeros_ones_like():
    class ZerosOnesLike(nn.Module):
        def forward(self, x):
            return torch.zeros_like(x) + torch.ones_like(x) * 0.5 + x
    return ZerosOnesLike()


@case("op_multi_output", "op", "2,5,16",
      note="returns a tuple of two tensors of different shapes")
def _multi_output():
    class MultiOutput(nn.Module):
        def forward(self, x):
            return torch.relu(x), x.sum(dim=1)
    return MultiOutput()


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

_DTYPES = {"f32": "float32", "f64": "float64", "f16": "float16",
           "bf16": "bfloat16", "i64": "int64", "i32": "int32",
           "i8": "int8", "u8": "uint8", "bool": "bool"}


def make_inputs(c, seed=0):
    """Random inputs following the manifest conventions."""
    _import_torch()
    g = torch.Generator().manual_seed(seed)
    out = []
    for shape, dt in zip(c.shape_list(), c.dtype_list()):
        dtype = getattr(torch, _DTYPES[dt])
        if dtype.is_floating_point:
            out.append(torch.randn(shape, generator=g).to(dtype))
        elif dtype == torch.bool:
            out.append(torch.randint(0, 2, shape, generator=g).bool())
        else:
            out.append(torch.randint(0, max(1, c.int_high), shape,
                                     generator=g, dtype=dtype))
    return out


def _versions():
    vs = []
    for pkg in ("torch", "torchvision"):
        try:
            vs.append("%s=%s" % (pkg, importlib.metadata.version(pkg)))
        except importlib.metadata.PackageNotFoundError:
            vs.append("%s=?" % pkg)
    return " ".join(vs)


def _read_stamp(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.replace(tmp, path)


def _one_line(s, limit=300):
    s = " ".join(str(s).split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


def build_case(c, pt_path):
    """Build, script (or trace) and save one case. Returns (method, reason)."""
    _import_torch(need_torchvision=c.needs_torchvision())
    torch.manual_seed(0)
    try:
        m = c.builder(**c.kw).eval()
    except Exception as e:  # noqa: BLE001
        if c.allow_trace:
            raise
        return "skipped", "building the module failed: " + _one_line(
            "%s: %s" % (type(e).__name__, e))
    try:
        sm = torch.jit.script(m)
        method, reason = "script", ""
    except Exception as e:  # noqa: BLE001 - any scripting failure
        reason = _one_line("%s: %s" % (type(e).__name__, e))
        if not c.allow_trace:
            return "skipped", "torch.jit.script failed: " + reason
        with torch.no_grad():
            sm = torch.jit.trace(m, tuple(make_inputs(c)))
        method = "trace"
    # Save under the final base name (it names the archive's root folder)
    # in a private folder, then move into place atomically.
    tmp_dir = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(pt_path))
    try:
        tmp = os.path.join(tmp_dir, os.path.basename(pt_path))
        torch.jit.save(sm, tmp)
        os.replace(tmp, pt_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return method, reason


def generate(out_dir, selected, force=False):
    """Build the selected cases that are stale, then write manifest.tsv
    listing every case (selected or not) that is up to date in out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    versions = _versions()
    selected = {c.name for c in selected}
    rows, counts, skipped, built = [], {}, [], 0
    t_start = time.time()
    for c in CASES:
        pt = os.path.join(out_dir, c.name + ".pt")
        stamp_path = os.path.join(out_dir, c.name + ".stamp")
        digest = c.digest(versions)
        stamp = _read_stamp(stamp_path)
        if force and c.name in selected:
            stamp = None
        fresh = (stamp is not None and stamp.get("hash") == digest and
                 (stamp.get("method") == "skipped" or os.path.exists(pt)))
        if not fresh and c.name not in selected:
            continue                    # not requested and not up to date
        if fresh:
            method, reason = stamp["method"], stamp.get("reason", "")
        else:
            t0 = time.time()
            method, reason = build_case(c, pt)
            built += 1
            print("  %-40s %-7s %6.2fs" % (c.name, method, time.time() - t0),
                  flush=True)
            _write_atomic(stamp_path, json.dumps(
                {"hash": digest, "method": method, "reason": reason,
                 "name": c.name}) + "\n")
        if method == "skipped":
            if c.name in selected:
                skipped.append((c.name, reason))
            if os.path.exists(pt):
                os.remove(pt)
            continue
        note = c.note
        if method == "trace":
            note = "traced (torch.jit.script failed: %s)%s" % (
                reason, "; " + note if note else "")
        rows.append((c.name, c.name + ".pt", c.group, c.shapes, c.dtypes,
                     str(c.int_high), "%g" % c.rtol, "%g" % c.atol,
                     _one_line(note, 1000)))
        counts[c.group] = counts.get(c.group, 0) + 1
    lines = ["\t".join(MANIFEST_COLUMNS)] + ["\t".join(r) for r in rows]
    _write_atomic(os.path.join(out_dir, "manifest.tsv"),
                  "\n".join(lines) + "\n")
    for name, reason in skipped:
        print("SKIPPED %s: %s" % (name, reason))
    print("%d cases in manifest (%s), %d built, %d skipped, %.1fs" % (
        len(rows), ", ".join("%s: %d" % (g, counts[g]) for g in GROUPS
                             if g in counts), built, len(skipped),
        time.time() - t_start))
    return rows


# Ops worth knowing about in the frozen graph (what the sinter frontend
# sees): private/fused kernels, warnings, run-time introspection of the
# fast-path checks, and ops that must be recognised as no-ops.
_NOTABLE = {"aten::warn", "aten::dropout", "aten::tensor", "prim::PythonOp",
            "prim::is_cuda", "prim::is_nested", "prim::device",
            "prim::requires_grad", "aten::is_grad_enabled",
            "aten::is_autocast_enabled"}


def _notable(kind):
    return (kind in _NOTABLE or kind.startswith("aten::fft_") or
            (kind.startswith("aten::_") and not kind.startswith("aten::__")))


def _graph_kinds(graph, acc):
    for node in graph.nodes():
        acc.add(node.kind())
        for b in node.blocks():
            _graph_kinds(b, acc)
    return acc


def check(out_dir):
    """Load every module of the manifest, run it on random inputs and list
    the notable ops of its frozen graph."""
    _import_torch()
    import warnings
    warnings.filterwarnings("ignore", message="Scripted .* always returns")
    by_name = {c.name: c for c in CASES}
    with open(os.path.join(out_dir, "manifest.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        assert tuple(header) == MANIFEST_COLUMNS, header
        rows = [dict(zip(header, line.rstrip("\n").split("\t")))
                for line in f if line.strip()]
    failures = 0
    for r in rows:
        c = by_name[r["name"]]
        try:
            m = torch.jit.load(os.path.join(out_dir, r["file"]))
            with torch.no_grad():
                out = m(*make_inputs(c))
            outs = out if isinstance(out, (tuple, list)) else (out,)
            shapes = " ".join("x".join(map(str, o.shape)) or "scalar"
                              for o in outs)
            finite = all(bool(torch.isfinite(o).all()) for o in outs
                         if o.is_floating_point() or o.is_complex())
            kinds = _graph_kinds(torch.jit.freeze(m).graph, set())
            notable = sorted(k for k in kinds if _notable(k))
            print("ok   %-34s out %-22s%s%s" % (
                r["name"], shapes, "" if finite else " NON-FINITE",
                " frozen: " + " ".join(notable) if notable else ""))
        except Exception as e:  # noqa: BLE001
            failures += 1
            print("FAIL %-40s %s" % (r["name"], _one_line(e)))
    print("check: %d loaded and ran, %d failed" % (len(rows) - failures,
                                                    failures))
    return failures


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", nargs="?")
    p.add_argument("--only", nargs="+", metavar="NAME", default=None,
                   help="only these cases (may be repeated)",
                   action="extend")
    p.add_argument("--group", nargs="+", default=None, action="extend",
                   choices=GROUPS + ("all",),
                   help="only cases of these groups (default: all)")
    p.add_argument("--force", action="store_true",
                   help="rebuild even if the stamps match")
    p.add_argument("--check", action="store_true",
                   help="afterwards load and run every manifest module")
    p.add_argument("--list", action="store_true",
                   help="list the cases and exit")
    a = p.parse_args(argv)

    groups = set(a.group or ["all"])
    cases = [c for c in CASES if "all" in groups or c.group in groups]
    if a.only:
        unknown = set(a.only) - {c.name for c in CASES}
        if unknown:
            p.error("unknown case(s): " + ", ".join(sorted(unknown)))
        cases = [c for c in cases if c.name in a.only]
    if a.list:
        for c in cases:
            print("%-40s %-12s %s" % (c.name, c.group, c.shapes))
        return 0
    if not a.out_dir:
        p.error("OUT_DIR is required")
    _OUT_DIR[0] = a.out_dir
    generate(a.out_dir, cases, force=a.force)
    if a.check:
        return 1 if check(a.out_dir) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
