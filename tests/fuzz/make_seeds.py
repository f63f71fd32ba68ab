"""Seeds for the npy and fused_program fuzz targets (scripts/fuzz.sh).

npy: real NumPy files of every dtype the tools read, versions 1.0 and 2.0,
0-d, empty and multi-dimensional. fused_program: every fused program of the
text-IR seeds (fused_elementwise programs, conv/linear/reduction epilogues and
prologues) with the fuzz target's leading byte: the input count - 1.
"""
import io
import os
import re
import sys

import numpy as np

out = sys.argv[1]
arrays = {
    "f32": np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5,
    "f16": np.array([1.5, -2, np.inf], dtype=np.float16),
    "f64": np.array([[np.nan]], dtype=np.float64),
    "i64": np.arange(6, dtype=np.int64).reshape(1, 2, 3),
    "i32": np.array(7, dtype=np.int32),
    "i8": np.array([-128, 127], dtype=np.int8),
    "u8": np.zeros((2, 0, 3), dtype=np.uint8),
    "bool": np.array([True, False, True]),
}
for name, a in arrays.items():
    for version in [(1, 0), (2, 0)]:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a, version=version)
        with open(os.path.join(out, "npy", f"{name}_v{version[0]}.npy"), "wb") as f:
            f.write(buf.getvalue())

programs = set()
ir_dir = os.path.join(out, "text_ir")
for fname in sorted(os.listdir(ir_dir)):
    text = open(os.path.join(ir_dir, fname)).read()
    for attr, prog in re.findall(r'\b(program|epilogue|prologue) = "([^"]*)"', text):
        refs = [int(r) for r in re.findall(r"\$(\d+)", prog)]
        n = max(refs, default=0) + 1
        if n <= 4:
            programs.add((n, prog))
for i, (n, prog) in enumerate(sorted(programs)):
    with open(os.path.join(out, "fused_program", f"p{i:03d}"), "wb") as f:
        f.write(bytes([n - 1]) + prog.encode())
print(f"seeds: {len(arrays) * 2} .npy files, {len(programs)} fused programs")
