"""Scripts the example model that calls the custom op, with its input and
LibTorch's output: make_model.py LIBMYOPS_TORCH.so OUT_DIR."""
import sys

import numpy as np
import torch

torch.ops.load_library(sys.argv[1])
out = sys.argv[2]


class Head(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        y = torch.ops.myops.scaled_gelu(self.conv(x), 1.5)  # the plugin's op
        return self.fc(y.mean(dim=(2, 3)))


torch.manual_seed(0)
m = torch.jit.script(Head().eval())
m.save(out + "/head.pt")
x = torch.randn(2, 3, 10, 10)
np.save(out + "/x.npy", x.numpy())
with torch.no_grad():
    np.save(out + "/ref.npy", m(x).numpy())
