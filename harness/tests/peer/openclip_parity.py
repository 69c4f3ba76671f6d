"""The open_clip side of clipscale's parity tests (harness/tests/openclip.rs), on the peer that
harness/bench/setup-peer.sh installs (Debian's torch 1.13, open_clip_torch 2.24.0, safetensors).

  make      a randomly initialised open_clip model saved as open_clip saves state dicts (a
            training checkpoint {"epoch", "state_dict"} with DDP's "module." prefixes, a plain
            torch.save, optionally in the legacy pickle format, and safetensors), with inputs
            and open_clip's embeddings and logits for them (io.safetensors)
  check     an exported state dict loaded strictly into open_clip (the two lines the README
            shows), and its embeddings and logits for io.safetensors's inputs
  tokenize  open_clip's token ids for a file of captions, one per line
  zeroshot  open_clip's zero-shot classifier for class names and templates (files, one a line)
  images    image files through open_clip's own eval transform (preprocess of create_model)

Everything runs in f32 on the CPU with one thread, so the figures do not depend on the machine's
load.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("OPENBLAS_CORETYPE", "HASWELL")

import torch  # noqa: E402
import open_clip  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

torch.set_num_threads(1)


def model_of(args):
    """The model named by --model, registered from --config when given (its file stem)."""
    if args.config:
        name = os.path.splitext(os.path.basename(args.config))[0]
        with open(args.config) as f:
            open_clip.add_model_config  # noqa: B018 (the public name the README uses)
            cfg = json.load(f)
        open_clip.factory._MODEL_CONFIGS[name] = cfg
    else:
        name = args.model
    torch.manual_seed(args.seed)
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
    return model.eval(), preprocess


def features(model, images, tokens):
    with torch.no_grad():
        img = model.encode_image(images, normalize=True)
        txt = model.encode_text(tokens, normalize=True)
        logits = model.logit_scale.exp() * img @ txt.T
    return {"image_features": img, "text_features": txt, "logits": logits}


def make(args):
    model, _ = model_of(args)
    cfg = model.visual
    size = cfg.image_size[0] if isinstance(cfg.image_size, tuple) else cfg.image_size
    vocab, ctx = model.vocab_size, model.context_length
    g = torch.Generator().manual_seed(args.seed + 1)
    images = torch.randn(args.n, 3, size, size, generator=g)
    if vocab == 49408:
        captions = ["a photo of a cat", "a diagram of a red square above a blue circle",
                    "two dogs playing in the snow"][: args.n]
        tokens = open_clip.tokenize(captions, context_length=ctx)
    else:
        # a vocabulary of our own: the end of text is its highest id, as clipscale's BPEs put it
        tokens = torch.zeros(args.n, ctx, dtype=torch.long)
        for i in range(args.n):
            length = 3 + (5 * i) % (ctx - 3)
            tokens[i, :length] = torch.randint(1, vocab - 1, (length,), generator=g)
            tokens[i, length] = vocab - 1
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    os.makedirs(args.out, exist_ok=True)
    torch.save({"epoch": 1, "state_dict": {"module." + k: v for k, v in sd.items()}},
               os.path.join(args.out, "checkpoint.pt"))
    if args.legacy:
        # torch.save's pre-1.6 pickle format
        torch.save(sd, os.path.join(args.out, "plain.bin"), _use_new_zipfile_serialization=False)
    save_file(sd, os.path.join(args.out, "model.safetensors"))
    io = {"images": images, "tokens": tokens.float()}
    io.update(features(model, images, tokens))
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(args.out, "io.safetensors"))
    print(json.dumps({"tensors": len(sd), "params": sum(v.numel() for v in sd.values())}))


def check(args):
    model, _ = model_of(args)
    # the two lines that load an exported model into open_clip 2.24
    state_dict = load_file(args.weights)
    model.load_state_dict(state_dict, strict=True)
    io = load_file(args.io)
    out = features(model, io["images"], io["tokens"].long())
    save_file({k: v.contiguous() for k, v in out.items()}, args.out)


def tokenize(args):
    with open(args.captions) as f:
        captions = [line.rstrip("\n") for line in f if line.strip()]
    ids = open_clip.tokenize(captions)
    save_file({"ids": ids.float().contiguous()}, args.out)


def zeroshot(args):
    from open_clip.zero_shot_classifier import build_zero_shot_classifier
    model, _ = model_of(args)
    model.load_state_dict(load_file(args.weights), strict=True)
    with open(args.classes) as f:
        classes = [line.strip() for line in f if line.strip()]
    with open(args.templates) as f:
        templates = [line.rstrip("\n") for line in f if line.strip()]
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    with torch.no_grad():
        w = build_zero_shot_classifier(
            model, tokenizer, classes, templates, num_classes_per_batch=10, device="cpu",
            use_tqdm=False)
    save_file({"classifier": w.contiguous()}, args.out)


def images(args):
    from PIL import Image
    model, preprocess = model_of(args)
    model.load_state_dict(load_file(args.weights), strict=True)
    batch = torch.stack([preprocess(Image.open(p)) for p in args.files])
    with torch.no_grad():
        emb = model.encode_image(batch, normalize=True)
    save_file({"images": batch.contiguous(), "image_features": emb.contiguous()}, args.out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("make", "check", "zeroshot", "images"):
        s = sub.add_parser(name)
        s.add_argument("--model", default="ViT-B-32")
        s.add_argument("--config")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--out", required=True)
        if name == "make":
            s.add_argument("--n", type=int, default=3)
            s.add_argument("--legacy", action="store_true")
        if name in ("check", "zeroshot", "images"):
            s.add_argument("--weights", required=True)
        if name == "check":
            s.add_argument("--io", required=True)
        if name == "zeroshot":
            s.add_argument("--classes", required=True)
            s.add_argument("--templates", required=True)
        if name == "images":
            s.add_argument("files", nargs="+")
    s = sub.add_parser("tokenize")
    s.add_argument("--captions", required=True)
    s.add_argument("--out", required=True)
    args = p.parse_args()
    {"make": make, "check": check, "tokenize": tokenize, "zeroshot": zeroshot,
     "images": images}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
