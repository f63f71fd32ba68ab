"""The models and the image of bench/detect.sh, scripted with Debian's torch
(seeded; TorchScript needs the classes' source, so this is a file)."""
import os, sys
import numpy as np
import torch, torchvision
d = sys.argv[1]
torch.manual_seed(0)

class Detect(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        det = self.m([x[0]])[1][0]
        return det["boxes"], det["scores"], det["labels"]

class DetectKeypoints(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        det = self.m([x[0]])[1][0]
        return det["boxes"], det["scores"], det["labels"], det["keypoints"], det["keypoints_scores"]

class Segment(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]

# A low score threshold: with random weights every class scores about 1/91,
# and the detector should have detections to post-process.
frcnn = torchvision.models.detection.fasterrcnn_resnet50_fpn(
    weights=None, weights_backbone=None, min_size=320, max_size=320, box_score_thresh=0.001)
deeplab = torchvision.models.segmentation.deeplabv3_resnet50(
    weights=None, weights_backbone=None, aux_loss=False)
kprcnn = torchvision.models.detection.keypointrcnn_resnet50_fpn(
    weights=None, weights_backbone=None, min_size=320, max_size=320, box_score_thresh=0.001)
for name, m in (("fasterrcnn_resnet50_fpn", Detect(frcnn)), ("deeplabv3_resnet50", Segment(deeplab)),
                ("keypointrcnn_resnet50_fpn", DetectKeypoints(kprcnn))):
    path = os.path.join(d, name + ".pt")
    if not os.path.exists(path):
        torch.jit.script(m.eval()).save(path)
np.save(os.path.join(d, "image.npy"),
        np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32))
