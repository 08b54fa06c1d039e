"""The op's (seed, offset) state for one call: made from an explicit seed, or drawn from a
generator; on the CPU, where the kernels take it by value, or on the input's device, where a
CUDA graph replay or a compiled graph needs it there."""

import struct

import torch
from torch._C._functorch import TransformType, maybe_current_level
from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters
from torch.fx.experimental.proxy_tensor import get_proxy_mode

_INT64_PAIR = struct.Struct("=qq")
# The op's own C++ callable, for eager calls: as in transforms.eager_route.
_PHILOX_STATE = torch.ops.torch_ext.philox_state.op


def make(input, seed_pair, generator, compiling):
    """The op's state: drawn where seed_pair is None, else made of it. compiling: whether
    torch.compile traces the call."""
    if seed_pair is None:
        return _drawn_state(input, generator, compiling)
    # The kernels take a CPU state by value: no copy to the device, also under CUDA-graph
    # capture; and an exported program keeps no device of its own for it. On the CPU whatever
    # the default device (torch.set_default_device).
    if compiling and input.device.type != "cpu" and not _exporting():
        return _state_on_device(*seed_pair, input.device)
    # A trace or a mode (FakeTensorMode, make_fx, a default device) makes torch.tensor's result
    # its own; frombuffer's would stay a real tensor among its tensors.
    if compiling or torch._C._len_torch_dispatch_stack() or \
            torch._C._is_torch_function_mode_enabled():
        return torch.tensor(seed_pair, dtype=torch.int64, device="cpu")
    # In eager, from its bytes: in a third of torch.tensor's time, which a small call notices.
    return torch.frombuffer(bytearray(_INT64_PAIR.pack(*seed_pair)), dtype=torch.int64)


def _drawn_state(input, generator, compiling):
    """philox_state's draw for input. Under torch.compile as it is: Dynamo traces vmap in its
    own way and cannot trace _vmap_probe, and what it records may be replayed under CUDA graph
    capture (_draw_to_cpu). Elsewhere for _vmap_probe's stand-in under vmap, and to the CPU
    where _draw_to_cpu allows. The tests in order of cost, as small calls notice them."""
    if compiling:
        return torch.ops.torch_ext.philox_state(input, generator)
    drawn_for = input
    if maybe_current_level() is not None:
        drawn_for = _vmap_probe(input)
    return _PHILOX_STATE(drawn_for, generator, _draw_to_cpu(input))


def _vmap_probe(input):
    """Under torch.func.vmap, what philox_state draws for: an empty stand-in for input on its
    device, batched at every vmap level, so that each level's randomness flag rules the draw
    as it rules torch's own random ops, batched input or not (philox_state's rule,
    _registrations.py, runs only at a level that batches an argument)."""
    vmaps = [i for i in retrieve_all_functorch_interpreters() if i.key() == TransformType.Vmap]
    with torch._C._DisableFuncTorch():  # below every level: a grad level would wrap it
        probe = torch.empty([i.batch_size() for i in vmaps] + [0], device=input.device)
    for interpreter in vmaps:  # outermost first, as the dimensions are
        probe = torch._C._functorch._add_batch_dim(probe, 0, interpreter.level())
    return probe


def _draw_to_cpu(input):
    """Whether a CUDA call's drawn state may live on the CPU, where the kernels take it by
    value, which saves a launch and a device tensor a call; outside torch.compile, which the
    caller tests. Not under CUDA graph capture (whose replays must read it from the device),
    nor where something records the call (torch.jit.trace, make_fx and torch.export's proxy
    modes) to replay it, maybe under capture. Other modes (FlopCounterMode, say) change
    nothing: a checkpoint's recompute, which may run outside them, must save its state on the
    same device."""
    return (input.is_cuda and not torch.jit.is_tracing() and not _recording()
            and not _capturing(input))


def _recording():
    # The cheap tests first: most calls run under no mode. make_fx's pre-dispatch tracing is a
    # torch function mode, its other tracing a dispatch mode.
    return bool((torch._C._len_torch_dispatch_stack() or
                 torch._C._is_torch_function_mode_enabled()) and get_proxy_mode() is not None)


def _capturing(input):
    """Whether the input's device captures a CUDA graph on its current stream (torch's own test
    looks at the current device's)."""
    index = input.get_device()
    if index == torch.cuda.current_device():
        return torch.cuda.is_current_stream_capturing()
    with torch.cuda.device(index):
        return torch.cuda.is_current_stream_capturing()


def _exporting():
    # torch.compiler.is_exporting() is True under torch.compile too in torch 2.11.
    return getattr(torch.compiler, "_is_exporting_flag", False)


def _state_on_device(seed, offset, device):
    """The state of a compiled call on the input's device: Inductor keeps no CUDA graph
    (mode="reduce-overhead") for a graph with a CPU tensor in it. Not torch.tensor: for a seed
    that changes between calls (symbolic, which Dynamo tells no type test), it makes the state
    on the CPU and copies it over."""
    return torch.stack([torch.scalar_tensor(v, dtype=torch.int64, device=device)
                        for v in (seed, offset)])
