"""Two CPU processes over gloo on the loopback, meeting through a file store:
DistributedDataParallel with MyDropout keeps the replicas in sync, and shards dropped with
first_index gather to the single-process result."""

import datetime
import os
import sys
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import torch_ext
from reference import assert_same_bits

pytestmark = pytest.mark.slow

WORLD = 2
TIMEOUT_S = 120


def _worker(rank, body, out_dir):
    torch.set_num_threads(1)
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # the loopback only
    # A file rather than a TCP store: no port to pick in advance that another process could take.
    store = os.path.join(out_dir, "store")
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank,
                            world_size=WORLD, timeout=datetime.timedelta(seconds=TIMEOUT_S))
    try:
        result = body(rank)
        # Neither rank tears gloo down while the other still talks to it.
        dist.barrier()
        torch.save(result, os.path.join(out_dir, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()
    # gloo's threads outlive destroy_process_group, and one still freeing a finished collective
    # takes the GIL: while the interpreter shuts down, that aborts the process. The result is
    # saved, so the worker leaves without the shutdown (and so without its flush).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def spawn(body, tmp_path):
    """body(rank) in each of two processes; what each returned, by rank."""
    context = mp.start_processes(_worker, args=(body, str(tmp_path)),
                                 nprocs=WORLD, join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the workers did not finish in {TIMEOUT_S} s")
    return [torch.load(tmp_path / f"{rank}.pt") for rank in range(WORLD)]


STEPS = 5


def _model():
    torch.manual_seed(0)  # the same initial weights; DDP would broadcast rank 0's anyway
    return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), torch_ext.MyDropout(0.5),
                         nn.Linear(64, 3))


def _step_loss(model):
    """One step's loss on fresh data, both drawn from the default generator, as are the masks."""
    x, target = torch.randn(32, 20), torch.randint(0, 3, (32,))
    return nn.functional.cross_entropy(model(x), target)


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _train(rank):
    """The final weights, and the first step's dropout: which outputs are zero, which inputs
    are not."""
    model = _model()
    dropped = []
    model[2].register_forward_hook(
        lambda module, args, out: dropped.append((out == 0, args[0] != 0)))
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    torch.manual_seed(100 + rank)  # each rank its own data and its own masks
    for _ in range(STEPS):
        optimizer.zero_grad()
        _step_loss(ddp).backward()
        optimizer.step()
    return _flat(model), dropped[0]


def _replay():
    """_train's two ranks in one process: each rank's generator state swapped in for its
    share, the gradients averaged as DDP does."""
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    states = []
    for rank in range(WORLD):
        torch.manual_seed(100 + rank)
        states.append(torch.get_rng_state())
    for _ in range(STEPS):
        grads = []
        for rank in range(WORLD):
            torch.set_rng_state(states[rank])
            optimizer.zero_grad()
            _step_loss(model).backward()
            grads.append([p.grad.clone() for p in model.parameters()])
            states[rank] = torch.get_rng_state()
        for p, *per_rank in zip(model.parameters(), *grads):
            p.grad = sum(per_rank) / WORLD
        optimizer.step()
    return _flat(model)


def test_ddp_replicas_stay_in_sync_and_train_as_one_process(tmp_path):
    # Equal replicas alone would hold for any dropout: each rank must also draw masks of its
    # own, and the training must equal one process averaging the ranks' gradients.
    (final0, dropped0), (final1, dropped1) = spawn(_train, tmp_path)
    assert torch.equal(final0, final1)
    (zero0, nonzero0), (zero1, nonzero1) = dropped0, dropped1
    for zero, nonzero in dropped0, dropped1:
        rate = zero[nonzero].float().mean()
        assert 0.4 < rate < 0.6, rate
    both = nonzero0 & nonzero1
    assert not torch.equal(zero0[both], zero1[both])
    torch.testing.assert_close(final0, _replay(), rtol=1e-6, atol=1e-7)
    assert not torch.equal(final0, _flat(_model()))


SEED, SHAPE = 2**64 - 5, (10, 6, 5)


def _shard_dropout(rank):
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))
    rows = SHAPE[0] // WORLD
    shard = x[rank * rows:(rank + 1) * rows]
    outs = (
        torch_ext.mydropout(shard, 0.5, seed=SEED, first_index=rank * shard.numel()),
        torch_ext.mydropout1d(shard, 0.5, seed=SEED, first_index=rank * rows * SHAPE[1]),
    )
    gathered = []
    for out in outs:
        parts = [torch.empty_like(out) for _ in range(WORLD)]
        dist.all_gather(parts, out)
        gathered.append(torch.cat(parts))
    return x, gathered


def test_shards_gather_to_the_single_process_result(tmp_path):
    (x, (elementwise, channels)), (_, other) = spawn(_shard_dropout, tmp_path)
    assert_same_bits(elementwise, torch_ext.mydropout(x, 0.5, seed=SEED))
    assert_same_bits(channels, torch_ext.mydropout1d(x, 0.5, seed=SEED))
    assert all(torch.equal(a, b) for a, b in zip(other, (elementwise, channels)))
