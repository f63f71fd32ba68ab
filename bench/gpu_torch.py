"""PyTorch side of bench/gpu.sh: scripts the GPU benchmark models with this
machine's torch and torchvision (random weights, eval mode), and times them
in eager mode and under torch.compile(mode="max-autotune") on the GPU, in
fp32 (TF32 off), fp16 and bf16, plus a device-to-device copy for the
bandwidth test. Writes one JSON object.

    python3 bench/gpu_torch.py OUT_DIR RESULTS.json [--quick]
    python3 bench/gpu_torch.py --one MODEL   (bench/gpu_quick.sh: fp16, the
        first shape; prints the eager row, then torch.compile's, as JSON
        lines as each is measured, so a time limit loses only the second)
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn


def encoder(d_model, heads, layers):
    layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model,
                                       batch_first=True, dropout=0.0)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class Chain(nn.Module):
    """A long elementwise chain: one fused kernel in sinter."""

    def forward(self, x):
        y = x * 1.5 + 0.25
        y = torch.relu(y) - 0.5
        y = torch.sigmoid(y) * 2.0
        y = y * y + x
        return torch.tanh(y) * 0.75 + 0.1


def models():
    import torchvision
    return {
        "resnet50": (torchvision.models.resnet50(), [(1, 3, 224, 224), (32, 3, 224, 224)]),
        "mobilenet_v2": (torchvision.models.mobilenet_v2(), [(1, 3, 224, 224)]),
        "transformer": (encoder(256, 4, 2), [(1, 128, 256), (8, 128, 256)]),
        "bert_base": (encoder(768, 12, 12), [(1, 128, 768), (8, 128, 768)]),
        "chain": (Chain(), [(64, 1024, 1024)]),
    }


def timeit(fn, x, iters, warmup):
    for _ in range(warmup):
        fn(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn(x)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def one(name):
    m, shapes = models()[name]
    m = m.eval().to("cuda", torch.float16)
    x = torch.randn(*shapes[0]).to("cuda", torch.float16)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    with torch.no_grad():
        print(json.dumps({"eager_ms": timeit(m, x, 100, 20), "torch": torch.__version__}),
              flush=True)
        t0 = time.perf_counter()
        try:
            compiled = torch.compile(m, mode="max-autotune")
            compiled(x)
            compile_s = time.perf_counter() - t0
            print(json.dumps({"compile_ms": timeit(compiled, x, 100, 20),
                              "compile_s": compile_s}), flush=True)
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            print(json.dumps({"compile_error": str(e)[:300]}), flush=True)


def main():
    if sys.argv[1] == "--one":
        return one(sys.argv[2])
    out_dir, results = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv
    os.makedirs(out_dir, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    iters, warmup = (10, 3) if quick else (50, 10)
    rows = []
    for name, (m, shapes) in models().items():
        m = m.eval()
        with torch.no_grad():
            for shape in shapes:
                x = torch.randn(*shape)
                path = os.path.join(out_dir, f"{name}.b{shape[0]}.pt")
                torch.jit.trace(m, x).save(path)
                for prec, dt in (("fp32", torch.float32), ("fp16", torch.float16),
                                 ("bf16", torch.bfloat16)):
                    mg = m.to("cuda", dt)
                    xg = x.to("cuda", dt)
                    row = {"model": name, "batch": shape[0], "shape": list(shape),
                           "precision": prec, "file": path}
                    row["eager_ms"] = timeit(mg, xg, iters, warmup)
                    try:
                        compiled = torch.compile(mg, mode="max-autotune")
                        row["compile_ms"] = timeit(compiled, xg, iters, warmup)
                    except Exception as e:  # noqa: BLE001 - reported, not hidden
                        row["compile_error"] = str(e)[:300]
                    if name == "chain":
                        y = torch.empty_like(xg)
                        row["d2d_copy_ms"] = timeit(lambda t: y.copy_(t), xg, iters, warmup)
                        row["bytes"] = 2 * xg.numel() * xg.element_size()
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    m = m.float().cpu()
    info = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "cuda": torch.version.cuda, "rows": rows}
    with open(results, "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
