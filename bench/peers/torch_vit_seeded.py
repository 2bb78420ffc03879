"""The peer's Fashion-MNIST recipe under a chosen seed, for comparing accuracy over several seeds.

Usage: python3 torch_vit_seeded.py --peer PATH/torch_vit.py --seed S [--epochs N] [--batch B] [--threads T]

Imports the peer script's own ViT and IDX reader (so the model is exactly the peer's) and trains it with the peer's
recipe: AdamW lr 1e-3 wd 0.05 on every parameter, OneCycleLR(pct_start 0.1), batch 128, no augmentation, no label
smoothing, no clipping, images normalized with mean 0.2860 / std 0.3530. Only the seed differs: torch.manual_seed(S)
draws the initial weights and every epoch's permutation. Prints one JSON line per epoch.
"""
import argparse, importlib.util, json, time
import torch
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--peer", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    spec = importlib.util.spec_from_file_location("peer", a.peer)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)

    data = peer.DATA
    xs, ys = peer.idx(f"{data}/train-images-idx3-ubyte.gz"), peer.idx(f"{data}/train-labels-idx1-ubyte.gz")
    xt, yt = peer.idx(f"{data}/t10k-images-idx3-ubyte.gz"), peer.idx(f"{data}/t10k-labels-idx1-ubyte.gz")
    norm = lambda x: (x.float() / 255 - 0.2860) / 0.3530
    torch.manual_seed(a.seed)
    model = peer.ViT(28, 4, 1, 64, 4, 4, 2, 10)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    steps_per_epoch = len(xs) // a.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=a.epochs * steps_per_epoch, pct_start=0.1)
    start = time.perf_counter()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(xs))
        for i in range(steps_per_epoch):
            idx = order[i * a.batch:(i + 1) * a.batch]
            loss = F.cross_entropy(model(norm(xs[idx])), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(norm(xt[i:i + 500])).argmax(1) == yt[i:i + 500]).sum().item() for i in range(0, len(xt), 500))
        print(json.dumps({"impl": "torch", "seed": a.seed, "epoch": epoch + 1, "test_acc": correct / len(xt),
                          "train_s": round(time.perf_counter() - start, 1)}), flush=True)


if __name__ == "__main__":
    main()
