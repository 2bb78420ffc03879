#!/usr/bin/env python3
"""PyTorch peer of the garment-segmentation example: a small SETR-PUP trained on garment canvases.

Usage: /usr/bin/python3 bench/peers/torch_setr.py [--epochs 1] [--train 6000] [--test 1000] [--threads 2] [--seed 0]
                                                  [--batch 32] [--data DIR] [--device cpu|cuda]
       /usr/bin/python3 bench/peers/torch_setr.py --export WEIGHTS.safetensors [--export-io IO.safetensors] [--seed 0]
Run it with Debian's /usr/bin/python3 (apt-get install python3-torch; dataset-fashion-mnist for the full set).
Prints one JSON line per measurement, like ../shared/peers/torch_vit.py.

Data. The canvases are made by garment_canvas.py, the Python twin of ModelGen.Data.GarmentCanvas (byte-identical,
checked by GarmentCanvasTests); it lives in tests/ModelGen.Tests/Peers/ and is imported from beside this file if a
copy is there, else from that folder. Training canvases 0..N-1 come from the train split with --seed, test canvases
from the test split with ~seed, 64x64, 2 to 4 garments each, 11 classes (0 background, 1 + Fashion-MNIST label).
Images are normalised as (x/255 - 0.1369)/0.2829 (GarmentCanvas.Mean/Std). The split files are read from --data,
else /usr/share/datasets/fashion-mnist when installed, else the subset embedded in ModelGen
(src/ModelGen.Datasets/FashionMnist: first 6,000 train / 1,000 test images).

Model "garment-setr" (state_dict names in brackets; the ModelGen declaration must match it):
  image (B, 1, 64, 64)
  patch embedding   Conv2d(1, 64, kernel 8, stride 8, bias)                         [embed]      -> (B, 64, 8, 8)
  flatten(2).transpose(1, 2)                                                                     -> (B, 64 tokens, 64)
  + learned positions (1, 64, 64), init normal(0, 0.02); no class token           [pos]
  4 pre-norm blocks, each                                                          [blocks.i]
      x = x + MHA(LN(x))        LayerNorm(64) [n1]; nn.MultiheadAttention(64, 4 heads, batch_first, bias) [attn]
                                (in_proj_weight (192, 64) = q;k;v rows, in_proj_bias, out_proj.weight/bias)
      x = x + MLP(LN(x))        LayerNorm(64) [n2]; Linear(64, 128) [mlp.0], GELU (erf), Linear(128, 64) [mlp.2]
  final LayerNorm(64)                                                              [norm]
  tokens -> map: transpose(1, 2).reshape(B, 64, 8, 8)  (token t = row t // 8, column t % 8)
  decoder (progressive upsampling), three stages                                   [decoder.i]
      Conv2d(c_in, c_out, 3, padding 1, no bias) [conv]; BatchNorm2d(c_out, eps 1e-5, momentum 0.1) [bn]; ReLU;
      bilinear upsample x2 (align_corners=False)
      stage 0: 64 -> 64 at 8x8 -> 16x16;  stage 1: 64 -> 32 at 16x16 -> 32x32;  stage 2: 32 -> 32 at 32x32 -> 64x64
  head Conv2d(32, 11, 1, bias)                                                     [head]      -> logits (B, 11, 64, 64)
  (The 3x3 convolutions have no bias because BatchNorm follows: mmseg's SETR-PUP does the same.)
  Initialisation: torch.manual_seed(seed), then PyTorch's defaults in declaration order (pos: randn * 0.02).
Loss: per-pixel softmax cross-entropy, mean over all B*64*64 pixels (F.cross_entropy on NCHW logits).
Training: AdamW(lr 1e-3, eps 1e-8, weight_decay 0.05 on every parameter) under OneCycleLR(max_lr 1e-3, pct_start 0.1,
total_steps = epochs * (train // batch)) with PyTorch's defaults otherwise: cosine annealing, lr from 1e-3/25 up to
1e-3 and down to 1e-3/25/1e4, and cycle_momentum, so AdamW's beta1 goes 0.95 -> 0.85 -> 0.95 against the lr (beta2
stays 0.999); the schedule steps after every optimizer step; batch 32; each epoch a torch.randperm (generator
seeded with seed + epoch) cut into train // batch full batches (the remainder is dropped). A step (timed, median
reported) is normalise + forward + loss + backward + AdamW + schedule; epoch_s is the wall time of all the epoch's
steps, evaluation excluded (eval_s).
Evaluation after each epoch, in eval mode (BatchNorm running statistics), batch 100: the confusion matrix of argmax
predictions over all test pixels; pixel accuracy = trace / total; mIoU = mean over classes with a non-empty union of
TP / (TP + FP + FN) (as ModelGen.Training.SegmentationMetrics).

Output lines: {"peer": "torch", "case": "garment-setr-data", ...} once, then per epoch
  {"peer": "torch", "case": "garment-setr", "epoch", "median_step_ms", "epoch_s", "train_loss", "test_pixel_acc",
   "test_miou", "eval_s", "load_avg_1m": [before, after the epoch], ...}  (the machine's load: timings taken on a
   busy machine say so)
--export writes the initial weights (the state_dict right after construction, float32, without BatchNorm's int64
num_batches_tracked) as safetensors, by hand (8-byte little-endian header length, JSON header padded with spaces to
a multiple of 8, raw little-endian float32 data): torch 1.13 on Debian has no safetensors package. --export-io also
writes, from the same initial weights, "image" (the first 4 normalised test canvases, (4, 1, 64, 64)), "mask" (their
classes as float32, (4, 64, 64)), "logits_train" and "loss_train" (training mode: batch statistics) and "logits_eval"
(eval mode: running statistics 0 and 1), so a ModelGen test can compare logits.
"""
import argparse, copy, json, os, struct, sys, time

sys.dont_write_bytecode = True  # importing garment_canvas must not leave __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
for _d in (HERE, os.path.join(ROOT, "tests", "ModelGen.Tests", "Peers")):
    if os.path.isfile(os.path.join(_d, "garment_canvas.py")):
        sys.path.insert(0, _d)
        break
else:
    sys.exit("torch_setr.py: garment_canvas.py is neither beside this file nor in tests/ModelGen.Tests/Peers/")
import garment_canvas as gc  # noqa: E402

import torch, torch.nn as nn, torch.nn.functional as F  # noqa: E402

DEBIAN = "/usr/share/datasets/fashion-mnist"
EMBEDDED = os.path.join(ROOT, "src", "ModelGen.Datasets", "FashionMnist")
SIZE, CLASSES = 64, gc.CLASSES


class Block(nn.Module):
    def __init__(s, d, h, r):
        super().__init__()
        s.n1, s.attn, s.n2 = nn.LayerNorm(d), nn.MultiheadAttention(d, h, batch_first=True), nn.LayerNorm(d)
        s.mlp = nn.Sequential(nn.Linear(d, d * r), nn.GELU(), nn.Linear(d * r, d))

    def forward(s, x):
        y = s.n1(x)
        x = x + s.attn(y, y, y, need_weights=False)[0]
        return x + s.mlp(s.n2(x))


class UpStage(nn.Module):
    def __init__(s, cin, cout):
        super().__init__()
        s.conv, s.bn = nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)

    def forward(s, x):
        return F.interpolate(F.relu(s.bn(s.conv(x))), scale_factor=2, mode="bilinear", align_corners=False)


class GarmentSetr(nn.Module):
    def __init__(s, img=64, patch=8, d=64, depth=4, heads=4, mlp=2, stages=(64, 32, 32), classes=CLASSES):
        super().__init__()
        s.grid = img // patch
        s.embed = nn.Conv2d(1, d, patch, patch)
        s.pos = nn.Parameter(torch.randn(1, s.grid * s.grid, d) * 0.02)
        s.blocks = nn.Sequential(*[Block(d, heads, mlp) for _ in range(depth)])
        s.norm = nn.LayerNorm(d)
        chans = (d,) + tuple(stages)
        s.decoder = nn.Sequential(*[UpStage(chans[i], chans[i + 1]) for i in range(len(stages))])
        s.head = nn.Conv2d(chans[-1], classes, 1)

    def forward(s, x):
        x = s.embed(x).flatten(2).transpose(1, 2) + s.pos
        x = s.norm(s.blocks(x))
        x = x.transpose(1, 2).reshape(x.shape[0], -1, s.grid, s.grid)
        return s.head(s.decoder(x))


def data_dir(a):
    if a.data:
        return a.data
    if all(os.path.isfile(os.path.join(DEBIAN, f)) for pair in gc.FILES.values() for f in pair):
        return DEBIAN
    return EMBEDDED


def canvases(directory, split, count, seed):
    images, labels = gc.load_split(directory, split)
    x, y = gc.create(images, labels, count, seed, SIZE)
    x = torch.frombuffer(x, dtype=torch.uint8).view(count, 1, SIZE, SIZE)
    y = torch.frombuffer(y, dtype=torch.uint8).view(count, SIZE, SIZE)
    return x, y, len(labels)


def normalise(x):
    return (x.float() / 255 - gc.MEAN) / gc.STD


def confusion(logits, target):
    pred = logits.argmax(1)
    return torch.bincount((target.long() * CLASSES + pred).flatten(), minlength=CLASSES * CLASSES).view(CLASSES, CLASSES)


def scores(cm):
    cm = cm.double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    present = union > 0
    return (tp.sum() / cm.sum()).item(), (tp[present] / union[present]).mean().item()


def train(a):
    directory = data_dir(a)
    t = time.perf_counter()
    xs, ys, n_src_train = canvases(directory, "train", a.train, a.seed)
    xt, yt, n_src_test = canvases(directory, "test", a.test, gc.test_seed(a.seed))
    dev = torch.device(a.device)
    xs, ys, xt, yt = xs.to(dev), ys.to(dev), xt.to(dev), yt.to(dev)
    print(json.dumps({"peer": "torch", "case": "garment-setr-data", "source": directory, "source_train": n_src_train,
                      "source_test": n_src_test, "train": a.train, "test": a.test, "size": SIZE, "seed": a.seed,
                      "data_s": time.perf_counter() - t}), flush=True)

    torch.manual_seed(a.seed)
    m = GarmentSetr().to(dev)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05)
    per_epoch = a.train // a.batch
    if per_epoch == 0:
        sys.exit(f"torch_setr.py: --train {a.train} is smaller than one batch of {a.batch}")
    if a.epochs * per_epoch * 0.1 <= 1:
        sys.exit(f"torch_setr.py: {a.epochs} epoch(s) of {per_epoch} steps give OneCycleLR (pct_start 0.1) no warm-up "
                 f"step; it needs more than 10 steps in all")
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=a.epochs * per_epoch, pct_start=0.1)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    for ep in range(a.epochs):
        m.train()
        perm = torch.randperm(a.train, generator=torch.Generator().manual_seed(a.seed + ep)).to(dev)
        step_ms, losses = [], []
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        for i in range(per_epoch):
            b = perm[i * a.batch:(i + 1) * a.batch]
            sync()
            t = time.perf_counter()
            loss = F.cross_entropy(m(normalise(xs[b])), ys[b].long())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            sync()
            step_ms.append((time.perf_counter() - t) * 1e3)
            losses.append(loss.item())
        epoch_s = time.perf_counter() - t0
        m.eval()
        t0 = time.perf_counter()
        cm = torch.zeros(CLASSES, CLASSES, dtype=torch.long, device=dev)
        with torch.no_grad():
            for i in range(0, a.test, 100):
                cm += confusion(m(normalise(xt[i:i + 100])), yt[i:i + 100])
        acc, miou = scores(cm)
        print(json.dumps({"peer": "torch", "case": "garment-setr", "epoch": ep + 1, "steps": per_epoch, "batch": a.batch,
                          "median_step_ms": sorted(step_ms)[len(step_ms) // 2], "epoch_s": epoch_s,
                          "train_loss": sum(losses) / len(losses), "test_pixel_acc": acc, "test_miou": miou,
                          "eval_s": time.perf_counter() - t0, "threads": torch.get_num_threads(), "device": a.device,
                          "load_avg_1m": [load_before, os.getloadavg()[0]]}),
              flush=True)


def save_safetensors(path, tensors, metadata):
    """Writes float32 tensors (name -> tensor) in safetensors format, names sorted, by hand."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def export(a):
    torch.manual_seed(a.seed)
    m = GarmentSetr()
    weights = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    meta = {"model": "garment-setr", "seed": str(a.seed), "source": "bench/peers/torch_setr.py", "torch": torch.__version__}
    save_safetensors(a.export, weights, meta)
    print(json.dumps({"peer": "torch", "case": "garment-setr-export", "file": a.export, "tensors": len(weights),
                      "parameters": sum(p.numel() for p in m.parameters())}), flush=True)
    if a.export_io:
        directory = data_dir(a)
        xt, yt, _ = canvases(directory, "test", 4, gc.test_seed(a.seed))
        x = normalise(xt)
        trained = copy.deepcopy(m).train()  # a training-mode forward updates running statistics: keep m's intact
        logits_train = trained(x)
        loss_train = F.cross_entropy(logits_train, yt.long())
        with torch.no_grad():
            logits_eval = m.eval()(x)
        save_safetensors(a.export_io, {"image": x, "mask": yt.float(), "logits_train": logits_train,
                                       "loss_train": loss_train.reshape(()), "logits_eval": logits_eval},
                         dict(meta, source_data=directory))
        print(json.dumps({"peer": "torch", "case": "garment-setr-export-io", "file": a.export_io,
                          "loss_train": loss_train.item()}), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="SETR-PUP on garment canvases (see the module docstring).")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train", type=int, default=6000, help="training canvases")
    p.add_argument("--test", type=int, default=1000, help="test canvases")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="directory with the four gzipped Fashion-MNIST IDX files")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--export", default=None, help="write the initial weights to this safetensors file and exit")
    p.add_argument("--export-io", default=None, help="with --export: also write a test batch, its logits and loss")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.export_io and not a.export:
        p.error("--export-io needs --export")
    export(a) if a.export else train(a)
