"""The dropout experiment of d2l.ai ("Dropout", concise implementation) with MyDropout and with
nn.Dropout, on scikit-learn's handwritten digits (8x8 images, shipped with scikit-learn).

    python examples/d2l_digits.py                      # 100 epochs, 10 seeds, under a minute
    python examples/d2l_digits.py --epochs 20 --seeds 2 --out /tmp/d2l

d2l's network and training: an MLP with two hidden layers of 256 units, dropout 0.2 after the
first and 0.5 after the second, weights from N(0, 0.01), SGD with lr 0.5 on batches of 256, train
accuracy taken over each epoch's batches in training mode, test accuracy in eval mode. For each
seed both models start from the same weights and see the same batches; only the dropout
differs. Writes d2l_digits.png (accuracy curves, mean over seeds) and d2l_digits.md (final
accuracies) under --out, and prints the table. Runs on one CPU thread.
"""

import argparse
import copy
import os
import statistics
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import torch_ext

LR, BATCH_SIZE, DROPOUT1, DROPOUT2 = 0.5, 256, 0.2, 0.5
HERE = os.path.dirname(os.path.abspath(__file__))


def load_data():
    """(x_train, y_train, x_test, y_test): a fixed 75/25 split, pixels scaled to [0, 1]."""
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    train, test = train_test_split(range(len(y)), test_size=0.25, random_state=0, stratify=y)
    return x[train], y[train], x[test], y[test]


def make_net(inputs):
    net = nn.Sequential(nn.Linear(inputs, 256), nn.ReLU(), nn.Dropout(DROPOUT1),
                        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(DROPOUT2),
                        nn.Linear(256, 10))
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
    return net


def accuracy(logits, y):
    return (logits.argmax(1) == y).float().mean().item()


def train(net, data, epochs, seed):
    """Per-epoch (train accuracy, test accuracy) lists."""
    x_train, y_train, x_test, y_test = data
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    order = torch.Generator().manual_seed(seed)
    curves = {"train": [], "test": []}
    for _ in range(epochs):
        net.train()
        correct = 0
        for batch in torch.randperm(len(y_train), generator=order).split(BATCH_SIZE):
            logits = net(x_train[batch])
            loss = nn.functional.cross_entropy(logits, y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += (logits.argmax(1) == y_train[batch]).sum().item()
        curves["train"].append(correct / len(y_train))
        net.eval()
        with torch.no_grad():
            curves["test"].append(accuracy(net(x_test), y_test))
    return curves


def run(epochs, seeds):
    """{"nn.Dropout": [curves per seed], "MyDropout": [...]}."""
    data = load_data()
    results = {"nn.Dropout": [], "MyDropout": []}
    for seed in range(seeds):
        torch.manual_seed(seed)  # the initial weights, and the dropout masks from here on
        theirs = make_net(data[0].shape[1])
        ours = torch_ext.replace_dropout(copy.deepcopy(theirs))
        results["nn.Dropout"].append(train(theirs, data, epochs, seed))
        results["MyDropout"].append(train(ours, data, epochs, seed))
    return results


def final(results, name, split):
    """The final accuracy of each seed."""
    return [curves[split][-1] for curves in results[name]]


def table(results):
    """Markdown: final accuracies, mean and standard deviation over seeds, and the paired
    difference."""
    def stats(values):
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.4f} ± {sd:.4f}"

    rows = ["| | train accuracy | test accuracy |", "| --- | --- | --- |"]
    for name in results:
        rows.append(f"| {name} | {stats(final(results, name, 'train'))} | "
                    f"{stats(final(results, name, 'test'))} |")
    diffs = {split: [a - b for a, b in zip(final(results, "MyDropout", split),
                                          final(results, "nn.Dropout", split))]
             for split in ("train", "test")}
    rows.append(f"| MyDropout − nn.Dropout, same seed | {stats(diffs['train'])} | "
                f"{stats(diffs['test'])} |")
    return "\n".join(rows)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, runs), color in zip(results.items(), ("tab:blue", "tab:orange")):
        for split, style in (("train", "--"), ("test", "-")):
            mean = [statistics.mean(c) for c in zip(*(r[split] for r in runs))]
            ax.plot(range(1, len(mean) + 1), mean, style, color=color, label=f"{name}, {split}")
    ax.set(xlabel="epoch", ylabel=f"accuracy (mean of {len(runs)} seeds)",
           title="d2l.ai dropout MLP on scikit-learn digits")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    # The model is too small to gain from threads; on one, the numbers are the same on a machine
    # with any number of cores.
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = run(args.epochs, args.seeds)
    seconds = time.perf_counter() - start
    os.makedirs(args.out, exist_ok=True)
    plot(results, os.path.join(args.out, "d2l_digits.png"))
    text = (f"{args.epochs} epochs, seeds 0..{args.seeds - 1}, {seconds:.0f} s on the CPU; "
            f"final accuracies, mean ± standard deviation over seeds:\n\n{table(results)}\n")
    with open(os.path.join(args.out, "d2l_digits.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
