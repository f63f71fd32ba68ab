"""sinter against ONNX Runtime and OpenVINO (and LibTorch) on the CPU, side
by side: bench/cpu_vs.sh runs it in the benchmark's own virtual environment.

For each model and thread count, in one process: the sinter artifact through
the C API (ctypes over libsinter_runtime.so), ONNX Runtime (sequential
execution, intra-op threads = the count) and OpenVINO (latency hint, f32
inference precision, the count as its stream's threads) on the ONNX export of
the same TorchScript module. Every runtime's output is checked against
LibTorch's on the same input before it is timed (a broken export cannot look
fast); the runtimes then run in alternating blocks, several rounds, and the
medians of all timed runs are reported with sinter's ratio to the fastest of
ONNX Runtime and OpenVINO. LibTorch runs in a child process per row (its
OpenMP workers spin after a run and would slow the next runtime here), once
with OMP_WAIT_POLICY=PASSIVE and once without, OPENBLAS_NUM_THREADS set to
the count, and the faster is reported.

    python bench/cpu_vs.py OUT.jsonl ROUNDS MODEL:SHAPE[:BATCH[:RTOL:ATOL]] ...
"""
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

BUILD = os.environ.get("SINTER_BUILD", "build")
# Outputs must match LibTorch's within the parity suite's tolerances for the
# model (|y - libtorch| <= atol + rtol * |libtorch|; 1e-4 and 1e-4 unless the
# suite's manifest says otherwise, as for deep random-init ResNet-50: 1e-3).
DEFAULT_TOL = 1e-4


class Sinter:
    """The artifact through the public C API."""

    class Info(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_size_t),
                    ("dims", ctypes.POINTER(ctypes.c_int64)), ("byte_size", ctypes.c_size_t)]

    class SessionOptions(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_size_t), ("num_threads", ctypes.c_int),
                    ("disable_cuda_graph", ctypes.c_int)]

    lib = None

    def __init__(self, path, threads):
        if Sinter.lib is None:
            Sinter.lib = ctypes.CDLL(os.path.join(BUILD, "lib", "libsinter_runtime.so"))
            Sinter.lib.sinter_status_get_message.restype = ctypes.c_char_p
        L = Sinter.lib
        self.model, self.session = ctypes.c_void_p(), ctypes.c_void_p()
        self._check(L.sinter_model_load_file(path.encode(), None, ctypes.byref(self.model)))
        opts = Sinter.SessionOptions()
        L.sinter_session_options_init(ctypes.byref(opts))
        opts.num_threads = threads
        self._check(L.sinter_session_create(self.model, ctypes.byref(opts),
                                            ctypes.byref(self.session)))
        info = Sinter.Info()
        self._check(L.sinter_model_output_info(self.model, ctypes.c_size_t(0), ctypes.byref(info)))
        self.out_shape = [info.dims[i] for i in range(info.rank)]

    def _check(self, status):
        if status:
            msg = Sinter.lib.sinter_status_get_message(ctypes.c_void_p(status)).decode()
            Sinter.lib.sinter_status_free(ctypes.c_void_p(status))
            raise RuntimeError("sinter: " + msg)

    def run(self, x):
        dims = (ctypes.c_int64 * x.ndim)(*x.shape)
        self._check(Sinter.lib.sinter_session_set_input(
            self.session, ctypes.c_size_t(0), 0, dims, ctypes.c_size_t(x.ndim),
            x.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(x.nbytes)))
        self._check(Sinter.lib.sinter_session_run(self.session))
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        self._check(Sinter.lib.sinter_session_get_output(self.session, ctypes.c_size_t(0),
                                                         ctypes.byref(data), ctypes.byref(size)))
        buf = (ctypes.c_char * size.value).from_address(data.value)
        return np.frombuffer(buf, np.float32).reshape(self.out_shape).copy()


def make_ort(onnx_path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return lambda x: s.run(None, {name: x})[0]


def make_ov(onnx_path, threads):
    import openvino as ov
    core = ov.Core()
    model = core.read_model(onnx_path)
    compiled = core.compile_model(model, "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
        "INFERENCE_NUM_THREADS": str(threads), "NUM_STREAMS": "1"})
    req = compiled.create_infer_request()
    return lambda x: req.infer({0: x})[0].copy()


def timed(fn, x, seconds):
    """Per-run milliseconds of `fn` for about `seconds` (at least 5 runs)."""
    out = []
    start = time.perf_counter()
    while len(out) < 5 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


LIBTORCH_CHILD = r"""
import sys, time, json, torch, numpy as np
path, threads, x_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(threads)
m = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.load(path).eval()))
x = torch.from_numpy(np.load(x_path))
with torch.no_grad():
    for _ in range(3): m(x)
    t = []
    start = time.perf_counter()
    while len(t) < 5 or time.perf_counter() - start < float(sys.argv[4]):
        t0 = time.perf_counter(); m(x); t.append((time.perf_counter() - t0) * 1e3)
print(json.dumps(sorted(t)[len(t) // 2]))
"""


def libtorch_ms(pt, threads, x_path, seconds):
    best = {}
    for policy in ("PASSIVE", None):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        r = subprocess.run([sys.executable, "-c", LIBTORCH_CHILD, pt, str(threads), x_path,
                            str(seconds)], capture_output=True, text=True, env=env)
        if r.returncode == 0:
            best[policy or "default"] = json.loads(r.stdout.strip().splitlines()[-1])
    return best


def export_onnx(name, module, x, onnx_path):
    """The ONNX export of the TorchScript module; where LibTorch 1.13 cannot
    export the scripted module (the TransformerEncoder), of the eager module
    tests/models/make_models.py builds, given the scripted module's weights."""
    import torch
    if os.path.exists(onnx_path):
        os.remove(onnx_path)
    try:
        torch.onnx.export(module, (torch.from_numpy(x),), onnx_path, opset_version=17,
                          input_names=["x"])
        return
    except Exception as e:  # noqa: BLE001 - tried the other way below
        first = str(e)[:200]
    try:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "models"))
        import make_models
        case = next(c for c in make_models.CASES if c.name == name)
        make_models._import_torch(need_torchvision=case.needs_torchvision())
        eager = case.builder(**case.kw).eval()
        eager.load_state_dict(module.state_dict(), strict=True)
        torch.onnx.export(eager, (torch.from_numpy(x),), onnx_path, opset_version=17,
                          input_names=["x"])
        print(f"{name}: ONNX exported from the eager module with the scripted weights "
              f"(the scripted module's export failed: {first})", flush=True)
    except Exception as e:  # noqa: BLE001 - the ONNX runtimes are then reported as failed
        print(f"{name}: ONNX export failed: {first}; from the eager module: {str(e)[:200]}",
              flush=True)
        if os.path.exists(onnx_path):
            os.remove(onnx_path)


def main():
    import torch
    out_path, rounds = sys.argv[1], int(sys.argv[2])
    work = os.path.join(BUILD, "bench-vs")
    os.makedirs(work, exist_ok=True)
    for spec in sys.argv[3:]:
        name, shape_text, *rest = spec.split(":")
        batch = int(rest[0]) if rest else 1
        rtol = float(rest[1]) if len(rest) > 1 else DEFAULT_TOL
        atol = float(rest[2]) if len(rest) > 2 else DEFAULT_TOL
        shape = [batch] + [int(v) for v in shape_text.split(",")][1:]
        pt = os.path.join(BUILD, "models", name + ".pt")
        tag = f"{name}.b{batch}"
        art, onnx_path = os.path.join(work, tag + ".sinter"), os.path.join(work, tag + ".onnx")
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        x_path = os.path.join(work, tag + ".input.npy")
        np.save(x_path, x)
        subprocess.run([os.path.join(BUILD, "bin", "sinterc"), pt, "-o", art, "--input-shape",
                        ",".join(map(str, shape)), "--cpu", "native"], check=True,
                       stdout=subprocess.DEVNULL)
        module = torch.jit.load(pt).eval()
        with torch.no_grad():
            ref = module(torch.from_numpy(x))
            ref = (ref if isinstance(ref, torch.Tensor) else ref[0]).numpy()
        # With autograd on: the TransformerEncoder's fused inference path
        # (no ONNX export) is then not taken; the maths is the same.
        export_onnx(name, module, x, onnx_path)
        for threads in (os.cpu_count(), 1):
            runners, errors, err_ratio = {}, {}, {}
            for rt, make in (("sinter", lambda: Sinter(art, threads).run),
                             ("onnxruntime", lambda: make_ort(onnx_path, threads)),
                             ("openvino", lambda: make_ov(onnx_path, threads))):
                try:
                    fn = make()
                    y = fn(x)
                    err = float(np.max(np.abs(y - ref) / (atol + rtol * np.abs(ref))))
                    err_ratio[rt] = err
                    if not err <= 1.0:
                        raise RuntimeError(f"output differs from LibTorch's ({err:.3g} x tolerance)")
                    runners[rt] = fn
                except Exception as e:  # noqa: BLE001 - reported, never timed
                    errors[rt] = str(e)[:300]
            times = {rt: [] for rt in runners}
            for r in range(rounds):
                order = list(runners)[r % len(runners):] + list(runners)[:r % len(runners)]
                for rt in order:
                    for _ in range(3):
                        runners[rt](x)
                    times[rt] += timed(runners[rt], x, 2.0)
            row = {"model": name, "batch": batch, "threads": threads, "rounds": rounds,
                   "errors": errors, "rtol": rtol, "atol": atol,
                   "max_error_over_tolerance": err_ratio}
            for rt, t in times.items():
                row[rt + "_ms"] = statistics.median(t)
            lt = libtorch_ms(pt, threads, x_path, 2.0)
            if lt:
                row["libtorch_ms"] = min(lt.values())
                row["libtorch_by_wait_policy"] = lt
            others = [row[k] for k in ("onnxruntime_ms", "openvino_ms") if k in row]
            if "sinter_ms" in row and others:
                row["sinter_vs_best"] = row["sinter_ms"] / min(others)
            with open(out_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            cell = lambda k: f"{row[k]:9.2f}" if k in row else "        -"
            ratio = f"{row['sinter_vs_best']:6.2f}" if "sinter_vs_best" in row else "     -"
            print(f"{name:20} {batch:5} {threads:3} {cell('sinter_ms')} {cell('onnxruntime_ms')} "
                  f"{cell('openvino_ms')} {cell('libtorch_ms')} {ratio}"
                  + (f"  errors: {errors}" if errors else ""), flush=True)


if __name__ == "__main__":
    main()
