#!/usr/bin/env python3
"""Garment canvases: segmentation data made from real Fashion-MNIST images, in pure Python (gzip + struct only).

This is the Python twin of ModelGen.Data.GarmentCanvas (src/ModelGen/Data/GarmentCanvas.cs). Both must produce
byte-identical canvases; GarmentCanvasTests runs this file to check it. The same file is imported by the PyTorch
peer bench/peers/torch_setr.py, so the peer trains on exactly the canvases ModelGen trains on.

Definition (canvas `index` of a set made with `seed` from a source split of N 28x28 images):
  mix(z)      = SplitMix64's finaliser on 64-bit unsigned z:
                z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB; return z ^ z>>31
  state       = mix(mix(seed mod 2^64) ^ index)        (a negative seed is taken as its 64-bit two's complement)
  next()      : state += 0x9E3779B97F4A7C15 (mod 2^64); return mix(state)
  below(n)    = next() mod n
  garments    = min_garments + below(max_garments - min_garments + 1)
  each garment in turn: source = below(N), top = below(size - 27), left = below(size - 27)
  paste       : for every pixel v of the source image at (r, c), canvas position (top + r, left + c):
                v > 25 (foreground): image = v, mask = 1 + label(source)    -- a later garment covers earlier ones
                v <= 25            : image = max(image, v), mask unchanged  -- faint edges never cover a garment
  The canvas starts all zero (image 0, mask 0 = background). So mask != 0 exactly where image > 25.
  objects     : each garment, bottom first, whose foreground stays the last on some pixel: [label, left, top, right, bottom],
                the tight box of those pixels (right and bottom exclusive); a garment covered entirely has none.
Training canvases come from the train split with `seed`, test canvases from the test split with `~seed` (-1 - seed).

Usage (the test's entry point):
  python3 garment_canvas.py --data DIR --split {train,test} --seed S [--size 64] [--min 2] [--max 4]
                            --indices 0,7,123 --out FILE
  reads DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz and writes, for each index in order, size*size image
  bytes then size*size mask bytes to FILE; prints one JSON line describing the garments of each canvas.
"""
import argparse, gzip, json, os, struct, sys

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
GARMENT = 28
THRESHOLD = 25
CLASSES = 11
CLASS_NAMES = ["background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]
# Pixel statistics of 20,000 64x64 canvases (2-4 garments) from the full training split, seed 0, scaled to [0, 1]:
# the same constants as GarmentCanvas.Mean / GarmentCanvas.Std.
MEAN = 0.1369
STD = 0.2829

FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class SampleRng:
    """The counter-based stream of one canvas: SplitMix64 keyed by (seed, index)."""

    def __init__(self, seed, index):
        self.state = mix(mix(seed & MASK64) ^ (index & MASK64))

    def next(self):
        self.state = (self.state + GOLDEN) & MASK64
        return mix(self.state)

    def below(self, n):
        return self.next() % n


def read_idx(path):
    """(count, rows, cols, data bytes) of a gzipped IDX file; rows = cols = 0 for labels."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count = struct.unpack(">II", raw[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        data = raw[16:]
    elif magic == 2049:
        rows = cols = 0
        data = raw[8:]
    else:
        raise ValueError(f"'{path}' has magic {magic}; IDX images are 2051 and labels 2049")
    if len(data) != count * max(1, rows * cols):
        raise ValueError(f"'{path}' holds {len(data)} data bytes but its header promises {count * max(1, rows * cols)}")
    return count, rows, cols, data


def load_split(directory, split):
    """(images, labels) of a Fashion-MNIST split as bytes: images count*784, labels count."""
    image_file, label_file = FILES[split]
    n, rows, cols, images = read_idx(os.path.join(directory, image_file))
    m, _, _, labels = read_idx(os.path.join(directory, label_file))
    if (rows, cols) != (GARMENT, GARMENT):
        raise ValueError(f"'{image_file}' holds {rows}x{cols} images; Fashion-MNIST's are 28x28")
    if n != m:
        raise ValueError(f"'{image_file}' holds {n} images but '{label_file}' holds {m} labels")
    return images, labels


def check(source_count, size, min_garments, max_garments):
    if size < GARMENT:
        raise ValueError(f"canvas size {size} is smaller than a {GARMENT}x{GARMENT} garment")
    if min_garments < 1:
        raise ValueError(f"min_garments {min_garments} must be at least 1")
    if min_garments > max_garments:
        raise ValueError(f"min_garments {min_garments} is greater than max_garments {max_garments}")
    if source_count <= 0:
        raise ValueError(f"the source split holds {source_count} images")


def layout(seed, index, source_count, size=64, min_garments=2, max_garments=4):
    """The garments of canvas `index`: a list of (source index, top, left), bottom one first."""
    check(source_count, size, min_garments, max_garments)
    rng = SampleRng(seed, index)
    count = min_garments + rng.below(max_garments - min_garments + 1)
    span = size - GARMENT + 1
    out = []
    for _ in range(count):
        source = rng.below(source_count)
        top = rng.below(span)
        left = rng.below(span)
        out.append((source, top, left))
    return out


def canvas(images, labels, seed, index, size=64, min_garments=2, max_garments=4):
    """(image, mask) of canvas `index`, each a bytearray of size*size, row-major."""
    image, mask, _ = canvas_objects(images, labels, seed, index, size, min_garments, max_garments)
    return image, mask


def canvas_objects(images, labels, seed, index, size=64, min_garments=2, max_garments=4):
    """(image, mask, objects) of canvas `index`: objects are [label, left, top, right, bottom] of the visible garments."""
    image = bytearray(size * size)
    mask = bytearray(size * size)
    owner = bytearray(size * size)
    garments = layout(seed, index, len(labels), size, min_garments, max_garments)
    for k, (source, top, left) in enumerate(garments):
        cls = 1 + labels[source]
        base = source * GARMENT * GARMENT
        for r in range(GARMENT):
            row = images[base + r * GARMENT: base + (r + 1) * GARMENT]
            o = (top + r) * size + left
            for c in range(GARMENT):
                v = row[c]
                if v > THRESHOLD:
                    image[o + c] = v
                    mask[o + c] = cls
                    owner[o + c] = k + 1
                elif v > image[o + c]:
                    image[o + c] = v
    objects = []
    for k, (source, top, left) in enumerate(garments):
        rows = [r for r in range(top, top + GARMENT) if any(owner[r * size + c] == k + 1 for c in range(left, left + GARMENT))]
        cols = [c for c in range(left, left + GARMENT) if any(owner[r * size + c] == k + 1 for r in range(top, top + GARMENT))]
        if rows:
            objects.append([labels[source], cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
    return image, mask, objects


def create(images, labels, count, seed, size=64, min_garments=2, max_garments=4):
    """(images, masks) of canvases 0..count-1 as bytearrays of count*size*size, row-major."""
    if count <= 0:
        raise ValueError(f"count {count}: at least one canvas is needed")
    all_images = bytearray(count * size * size)
    all_masks = bytearray(count * size * size)
    for i in range(count):
        image, mask = canvas(images, labels, seed, i, size, min_garments, max_garments)
        all_images[i * size * size:(i + 1) * size * size] = image
        all_masks[i * size * size:(i + 1) * size * size] = mask
    return all_images, all_masks


def test_seed(seed):
    """The seed of the test canvases when the training canvases use `seed`."""
    return ~seed


def main(argv=None):
    p = argparse.ArgumentParser(description="Write garment canvases (image then mask bytes per index) to a file.")
    p.add_argument("--data", required=True, help="directory with the four gzipped Fashion-MNIST IDX files")
    p.add_argument("--split", choices=["train", "test"], required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--min", type=int, default=2)
    p.add_argument("--max", type=int, default=4)
    p.add_argument("--indices", required=True, help="comma-separated canvas indices")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    images, labels = load_split(a.data, a.split)
    indices = [int(s) for s in a.indices.split(",") if s]
    garments, objects = {}, {}
    with open(a.out, "wb") as f:
        for i in indices:
            image, mask, objects[str(i)] = canvas_objects(images, labels, a.seed, i, a.size, a.min, a.max)
            f.write(image)
            f.write(mask)
            garments[str(i)] = [[s, labels[s], t, l] for s, t, l in layout(a.seed, i, len(labels), a.size, a.min, a.max)]
    print(json.dumps({"canvases": len(indices), "size": a.size, "garments": garments, "objects": objects}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
