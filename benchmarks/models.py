"""Whole models: a training step (forward and backward) with torch's dropout modules, and with
them replaced by ours (torch_ext.replace_dropout), same weights, inputs and p. Each model
alternates the two for ROUNDS rounds of medians (benchmarks/measure.py's time_median) and
reports the median round, with the dropout elements a step draws.

    python benchmarks/models.py                  # on the GPU if there is one, else the CPU
    python benchmarks/models.py --device cpu --models mlp
    python benchmarks/models.py --compile        # both models under torch.compile
    python benchmarks/models.py --autocast bfloat16

mlp: d2l.ai's MLP (784-256-256-10, dropout 0.2 and 0.5) on batches of 256. bert: a HuggingFace
BertForSequenceClassification of 4 layers of width 256, sequences of 128: its hidden-state
dropout modules are replaced; attention dropout, which HuggingFace passes as a number to
F.scaled_dot_product_attention, is not.
"""

import argparse
import contextlib
import copy
import functools
import statistics

import torch
from torch import nn

import torch_ext
from bench import str_list
from measure import time_median

ROUNDS = 5


def mlp(device):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    x = torch.randn(256, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (256,), device=device)
    return model.to(device), lambda m: nn.functional.cross_entropy(m(x), labels)


def bert(device):
    import transformers

    config = transformers.BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                     intermediate_size=1024, num_labels=2)
    model = transformers.BertForSequenceClassification(config)
    ids = torch.randint(0, config.vocab_size, (16, 128), device=device)
    labels = torch.randint(0, 2, (16,), device=device)
    return model.to(device), lambda m: m(input_ids=ids, labels=labels).loss


MODELS = {"mlp": mlp, "bert": bert}


def train_step(model, loss, device, autocast):
    """One forward, under torch.autocast in the dtype named by autocast unless None, and its
    backward."""
    if autocast is None:
        context = contextlib.nullcontext()
    else:
        context = torch.autocast(device, dtype=getattr(torch, autocast))
    with context:
        value = loss(model)
    value.backward()


def dropout_elements(model, loss):
    """Elements that the model's dropout modules take in one forward."""
    counts = []
    hooks = [m.register_forward_hook(lambda m, args, out: counts.append(args[0].numel()))
             for m in model.modules() if isinstance(m, nn.Dropout)]
    loss(model)
    for hook in hooks:
        hook.remove()
    return sum(counts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"),
                    default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", type=str_list(MODELS), default=list(MODELS),
                    help="comma-separated: mlp,bert")
    ap.add_argument("--min-run-time", type=float, default=0.5, help="seconds per round")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--compile", action="store_true", help="torch.compile both models")
    ap.add_argument("--autocast", choices=("bfloat16", "float16"),
                    help="run the forward under torch.autocast in this dtype")
    args = ap.parse_args(argv)
    threads = torch.get_num_threads()
    compiled = ", torch.compile" if args.compile else ""
    precision = f"autocast {args.autocast}" if args.autocast else "float32"
    print(f"# {args.device}, torch {torch.__version__}, {threads} threads, {precision}{compiled}")
    print("| model | dropout elements a step | torch's dropout | ours | speed-up |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.models:
        torch.manual_seed(0)
        theirs, loss = MODELS[name](args.device)
        models = {"torch": theirs.train(), "ours": torch_ext.replace_dropout(copy.deepcopy(theirs))}
        if args.compile:
            models = {impl: torch.compile(model) for impl, model in models.items()}
        rounds = {impl: [] for impl in models}
        for _ in range(args.rounds):
            for impl, model in models.items():
                step = functools.partial(train_step, model, loss, args.device, args.autocast)
                rounds[impl].append(time_median(step, args.device, threads,
                                                args.min_run_time)[0])
        t_theirs, t_ours = (statistics.median(rounds[impl]) for impl in models)
        print(f"| {name} | {dropout_elements(theirs, loss)} | {t_theirs * 1e3:.2f} ms "
              f"| {t_ours * 1e3:.2f} ms | {t_theirs / t_ours:.2f}x |")


if __name__ == "__main__":
    main()
