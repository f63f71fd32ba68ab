"""Seeds for the npy fuzz target (scripts/fuzz.sh): real NumPy files of every
dtype the tools read, versions 1.0 and 2.0, 0-d, empty and multi-dimensional.
(The kernel_body target's seeds come from tests/fuzz/kernel_body_seeds.cc.)
"""
import io
import os
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

print(f"seeds: {len(arrays) * 2} .npy files")
