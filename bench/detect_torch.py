"""bench/detect.sh's LibTorch side: checks sinter's outputs (written by
sinter-run) against LibTorch's, then times LibTorch; prints one JSON line."""
import glob, json, os, statistics, sys, time
import numpy as np
import torch, torchvision  # noqa: F401 (registers torchvision's ops)
d, m, threads, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
model = torch.jit.load(os.path.join(d, m + ".pt")).eval()
x = torch.from_numpy(np.load(os.path.join(d, "image.npy")))
with torch.no_grad():
    ref = model(x)
ref = list(ref) if isinstance(ref, tuple) else [ref]
got = [np.load(os.path.join(d, m + ".out", "output%d.npy" % i)) for i in range(len(ref))]
check = {}
for i, (r, g) in enumerate(zip(ref, got)):
    r = r.numpy()
    assert r.shape == g.shape, (m, i, r.shape, g.shape)
    diff = float(np.abs(r.astype(np.float64) - g).max()) if r.size else 0.0
    if m.startswith("faster"):
        tol = [320 * 1e-3, 1e-4, 0][i]  # boxes (of the image size), scores, labels
    else:
        tol = 1e-3 + 1e-3 * float(np.abs(r).max())
    assert diff <= tol, (m, i, diff, tol)
    check["output%d" % i] = {"shape": list(g.shape), "max_abs_diff": diff}
with torch.no_grad():
    for _ in range(3):
        model(x)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - t0) * 1e3)
print(json.dumps({"median_ms": statistics.median(times), "check": check}))
