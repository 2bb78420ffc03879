#!/usr/bin/env python3
"""PyTorch and SciPy references ("oracles") for ModelGen's detection pieces (src/ModelGen/Detection).

Usage:
    python3 detection_reference.py CONFIG.json INPUTS.safetensors OUT.safetensors

CONFIG.json: {"op": NAME, ...}; unknown keys are rejected.
    assignment                         inputs cost.<i> (rows, cols): OUT rows.<i>, cols.<i> from scipy.optimize.linear_sum_assignment
    giou                               inputs a (N, 4), b (M, 4) corners: OUT giou, iou (N, M) from torchvision.ops
    set_criterion  classes, no_object, class_weight, l1_weight, giou_weight, match_class, match_l1, match_giou
                                       inputs logits (B, Q, K + 1), boxes (B, Q, 4) cx cy w h, labels.<b> (T), targets.<b> (T, 4):
                                       DETR's Hungarian matcher and set criterion (labels and boxes losses) written from the
                                       paper's code with torchvision's box ops; OUT loss, ce, l1, giou, grad.logits,
                                       grad.boxes, match.<b> (the query of each target)
The computation runs in float64 on the given float32 values; OUT is F32.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_convert, box_iou, generalized_box_iou

from conv_ops_reference import serve

OPS = {
    "assignment": set(),
    "giou": set(),
    "set_criterion": {"classes", "no_object", "class_weight", "l1_weight", "giou_weight", "match_class", "match_l1", "match_giou"},
}


def run(config, inputs):
    op = config.pop("op", None)
    if op not in OPS:
        raise SystemExit("unknown op %r (known: %s)" % (op, ", ".join(sorted(OPS))))
    if set(config) != OPS[op]:
        raise SystemExit("op %s: unknown keys %s, missing keys %s" % (op, sorted(set(config) - OPS[op]), sorted(OPS[op] - set(config))))
    inputs = {k: v.to(torch.float64) for k, v in inputs.items()}
    if op == "assignment":
        out = {}
        for name, cost in inputs.items():
            i = name.split(".", 1)[1]
            rows, cols = linear_sum_assignment(cost.numpy())
            out["rows." + i] = torch.tensor(rows, dtype=torch.float64)
            out["cols." + i] = torch.tensor(cols, dtype=torch.float64)
        return out
    if op == "giou":
        return {"giou": generalized_box_iou(inputs["a"], inputs["b"]), "iou": box_iou(inputs["a"], inputs["b"])}
    return set_criterion(config, inputs)


def set_criterion(c, inputs):
    logits = inputs["logits"].clone().requires_grad_(True)
    boxes = inputs["boxes"].clone().requires_grad_(True)
    B, Q, width = logits.shape
    K = c["classes"]
    labels = [inputs["labels.%d" % b].to(torch.long) for b in range(B)]
    targets = [inputs["targets.%d" % b] for b in range(B)]
    # The matcher (no gradient): -p(c), the L1 distance of (cx, cy, w, h), -GIoU of the corners.
    matches = []
    with torch.no_grad():
        for b in range(B):
            prob = logits[b].softmax(-1)
            cost = (-c["match_class"] * prob[:, labels[b]] + c["match_l1"] * torch.cdist(boxes[b], targets[b], p=1)
                    - c["match_giou"] * generalized_box_iou(box_convert(boxes[b], "cxcywh", "xyxy"), box_convert(targets[b], "cxcywh", "xyxy")))
            rows, cols = linear_sum_assignment(cost.numpy())
            matches.append((torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)))
    classes = torch.full((B, Q), K, dtype=torch.long)
    for b, (rows, cols) in enumerate(matches):
        classes[b, rows] = labels[b][cols]
    weight = torch.ones(K + 1, dtype=torch.float64)
    weight[K] = c["no_object"]
    ce = F.cross_entropy(logits.reshape(-1, width), classes.reshape(-1), weight=weight)
    count = max(sum(len(t) for t in labels), 1)
    src = torch.cat([boxes[b, rows] for b, (rows, _) in enumerate(matches)])
    tgt = torch.cat([targets[b][cols] for b, (_, cols) in enumerate(matches)])
    l1 = F.l1_loss(src, tgt, reduction="sum") / count
    giou = (1 - torch.diag(generalized_box_iou(box_convert(src, "cxcywh", "xyxy"), box_convert(tgt, "cxcywh", "xyxy")))).sum() / count
    loss = c["class_weight"] * ce + c["l1_weight"] * l1 + c["giou_weight"] * giou
    loss.backward()
    out = {"loss": loss.detach().reshape(1), "ce": ce.detach().reshape(1), "l1": l1.detach().reshape(1), "giou": giou.detach().reshape(1),
           "grad.logits": logits.grad, "grad.boxes": boxes.grad}
    for b, (rows, cols) in enumerate(matches):
        query = torch.empty(len(cols), dtype=torch.float64)
        query[cols] = rows.to(torch.float64)
        out["match.%d" % b] = query
    return out


if __name__ == "__main__":
    sys.exit(serve(sys.argv, run, __doc__))
