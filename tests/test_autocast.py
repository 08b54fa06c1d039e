"""torch.autocast around models that use our dropout modules: the ops take the autocast dtype
as it comes, and give the mask they give outside autocast."""

import pytest
import torch
from torch import nn

import torch_ext
from conftest import requires_cuda


@pytest.mark.parametrize("device, dtype", [
    ("cpu", torch.bfloat16),
    pytest.param("cuda", torch.float16, marks=requires_cuda),
])
def test_autocast_forward_and_backward(device, dtype):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), torch_ext.MyDropout2d(0.3), nn.Flatten(),
        nn.Linear(8 * 25, 32), nn.ReLU(), torch_ext.MyDropout(0.5), nn.Linear(32, 4),
    ).to(device)
    seen = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append((m, args[0], out)))
             for m in (model[2], model[6])]
    x = torch.randn(16, 3, 5, 5, device=device)
    torch.manual_seed(4)
    with torch.autocast(device, dtype=dtype):
        y = model(x)
    y.float().sum().backward()
    assert y.dtype == dtype
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    assert [(a.dtype, b.dtype) for _, a, b in seen] == [(dtype, dtype)] * 2
    # The same draws outside autocast, on the same inputs, give the same bits.
    for hook in hooks:
        hook.remove()
    torch.manual_seed(4)
    for m, a, b in seen:
        assert torch.equal(m(a), b)
