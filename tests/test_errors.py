"""Bad input gets a clear Python exception, through the functional, the module and the raw op."""

import pytest
import torch
from torch.func import grad

import torch_ext
from conftest import requires_cuda

F = torch_ext.mydropout
OP = torch.ops.torch_ext.mydropout
OP_ = torch.ops.torch_ext.mydropout_
OPC = torch.ops.torch_ext.mydropout_channels
OPC_ = torch.ops.torch_ext.mydropout_channels_
STATE = torch.tensor([1, 2])
X = torch.randn(4, 4)
P_MESSAGE = "dropout probability has to be between 0 and 1, but got"

CASES = [
    # (name, call, exception, message fragment)
    ("p negative", lambda: F(X, -0.1), ValueError, P_MESSAGE + " -0.1"),
    ("p above one", lambda: F(X, 1.5), ValueError, P_MESSAGE + " 1.5"),
    ("p nan", lambda: F(X, float("nan")), ValueError, P_MESSAGE + " nan"),
    ("p nan in eval", lambda: F(X, float("nan"), False), ValueError, P_MESSAGE),
    ("p string", lambda: F(X, "0.5"), TypeError, "real number"),
    ("p bool", lambda: F(X, True), TypeError, "real number"),
    ("p None", lambda: F(X, None), TypeError, "real number"),
    # F.dropout refuses it too (torch's argument parser)
    ("p tensor that requires grad", lambda: F(X, torch.tensor(0.5, requires_grad=True)),
     TypeError, "requires grad"),
    ("p under grad of it", lambda: grad(lambda p: F(X, p).sum())(torch.tensor(0.5)), TypeError,
     "requires grad"),
    ("module p that requires grad",
     lambda: torch_ext.MyDropout(torch.tensor(0.5, requires_grad=True)), TypeError,
     "requires grad"),
    ("module p", lambda: torch_ext.MyDropout(2), ValueError, P_MESSAGE + " 2"),
    ("op p", lambda: OP(X, 1.5, STATE, 0), ValueError, P_MESSAGE),
    ("op p nan", lambda: OP(X, float("nan"), STATE, 0), ValueError, P_MESSAGE),
    ("int64 tensor", lambda: F(torch.ones(3, dtype=torch.int64)), TypeError, "Long"),
    ("bool tensor", lambda: F(torch.ones(3, dtype=torch.bool)), TypeError, "Bool"),
    ("uint8 tensor", lambda: F(torch.ones(3, dtype=torch.uint8)), TypeError, "Byte"),
    ("complex tensor", lambda: F(torch.ones(3, dtype=torch.complex64)), TypeError, "ComplexFloat"),
    ("op int tensor", lambda: OP(torch.ones(3, dtype=torch.int32), 0.5, STATE, 0), TypeError,
     "Int"),
    ("module int tensor", lambda: torch_ext.MyDropout()(torch.ones(3, dtype=torch.int16)),
     TypeError, "Short"),
    ("sparse", lambda: F(torch.eye(3).to_sparse()), NotImplementedError, "sparse"),
    ("op sparse", lambda: OP(torch.eye(3).to_sparse(), 0.5, STATE, 0), NotImplementedError,
     "Sparse"),
    ("not a tensor", lambda: F([1.0, 2.0]), TypeError, "Tensor"),
    ("seed negative", lambda: F(X, seed=-1), ValueError, r"seed must be in \[0, 2\*\*64\)"),
    ("seed 2**64", lambda: F(X, seed=2**64), ValueError, "seed must be in"),
    ("seed float", lambda: F(X, seed=1.5), TypeError, "seed must be an int"),
    ("offset negative", lambda: F(X, seed=1, offset=-1), ValueError, "offset must be in"),
    ("offset 2**64", lambda: F(X, seed=1, offset=2**64), ValueError, "offset must be in"),
    ("offset without seed", lambda: F(X, offset=3), ValueError, "explicit seed"),
    ("seed and generator", lambda: F(X, seed=1, generator=torch.Generator()), ValueError,
     "not both"),
    ("first_index negative", lambda: F(X, seed=1, first_index=-1), ValueError, "first_index"),
    ("first_index too large", lambda: F(X, seed=1, first_index=2**63 - 3), ValueError,
     "first_index"),
    ("state wrong dtype", lambda: OP(X, 0.5, torch.tensor([1.0, 2.0]), 0), RuntimeError,
     "int64 tensor of two elements"),
    ("state wrong size", lambda: OP(X, 0.5, torch.tensor([1, 2, 3]), 0), RuntimeError,
     "int64 tensor of two elements"),
    ("inplace on expanded", lambda: F(torch.ones(3, 1).expand(3, 4), inplace=True),
     RuntimeError, "share memory"),
    ("op inplace on expanded", lambda: OP_(torch.ones(3, 1).expand(3, 4), 0.5, STATE, 0),
     RuntimeError, "share memory"),
]

# On a GPU only: marked requires_cuda, so that pytest --cuda-only keeps them.
CUDA_CASES = [
    ("cuda generator for cpu input",
     lambda: F(X, generator=torch.Generator(device="cuda")), RuntimeError, "cpu"),
    ("state on another device",
     lambda: OP(X, 0.5, STATE.cuda(), 0), RuntimeError, "state must be on the CPU"),
] if torch.cuda.is_available() else []


@pytest.mark.parametrize("name, call, exception, message",
                         [pytest.param(*c, id=c[0]) for c in CASES]
                         + [pytest.param(*c, id=c[0], marks=requires_cuda) for c in CUDA_CASES])
def test_bad_input(name, call, exception, message):
    with pytest.raises(exception, match=message):
        call()


@pytest.mark.skipif(not torch._C._dispatch_has_kernel_for_dispatch_key("torch_ext::mydropout",
                                                                      "CUDA"),
                    reason="the CUDA part is not built")
@pytest.mark.parametrize("op", [OP, OP_, OPC, OPC_])
def test_cuda_kernels_name_a_cpu_input_with_a_device_state(op):
    # What a CPU input with a CUDA state reaches, the state's backend outranking the input's,
    # run without a GPU: the CUDA kernels, here with a meta state.
    cuda = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)
    state = STATE.to("meta")
    with pytest.raises(RuntimeError, match=r"state must be on the CPU or on the input's device"):
        op.default.redispatch(cuda, X, 0.5, state, 0)


def test_meta_tensors_give_shapes():
    x = torch.empty(3, 5, device="meta")
    y = OP(x, 0.5, torch.empty(2, dtype=torch.int64, device="meta"), 0)
    assert y.shape == x.shape and y.device.type == "meta"


@pytest.mark.parametrize("op, shape, draws", [
    (OP, (10,), 10), (OP_, (10,), 10), (OPC, (4, 3, 5), 12), (OPC_, (4, 3, 5), 12)],
    ids=["mydropout", "mydropout_", "channels", "channels_"])
def test_fake_kernels_take_the_last_first_index_the_real_ones_take(op, shape, draws):
    # The twin of the test below: where the real kernels' bound is, the fake kernels' is too.
    for device in ("meta", "cpu"):
        out = op(torch.zeros(shape, device=device), 0.5, STATE.to(device), 2**63 - 1 - draws)
        assert out is None if op in (OP_, OPC_) else out.shape == shape


@pytest.mark.parametrize("op, shape, p, state, first_index", [
    (OPC, (10,), 0.5, STATE, 0),
    (OPC_, (10,), 0.5, STATE, 0),
    (OP, (10,), 0.5, STATE, 2**63 - 10),
    (OP_, (10,), 0.5, STATE, -1),
    (OPC, (4, 3, 5), 0.5, STATE, 2**63 - 12),
    (OPC_, (4, 3, 5), 0.5, STATE, 2**63 - 12),
    (OP, (10,), 1.5, STATE, 0),
    (OPC_, (4, 3, 5), 1.5, STATE, 0),
    (OP_, (10,), 0.5, torch.tensor([1, 2, 3]), 0),
    (OPC_, (4, 3, 5), 0.5, torch.tensor([1, 2, 3]), 0),
    (OP, (10,), 0.5, torch.tensor([1.0, 2.0]), 0),
    (OPC, (2**62, 3, 0), 0.5, STATE, 0),
    (OPC_, (3, 2**62, 0), 0.5, STATE, 0),
], ids=["channels of 1-d", "channels_ of 1-d", "first_index past the end",
        "first_index negative", "channels first_index past the end",
        "channels_ first_index past the end", "p above one", "channels_ p above one",
        "state of 3", "channels_ state of 3", "state float", "channels N * C past int64",
        "channels_ N * C past int64"])
def test_fake_kernels_refuse_what_the_real_ones_do(op, shape, p, state, first_index):
    # The fake kernels are what torch.compile and meta tensors run. The messages agree up to
    # what they quote (torch prints a dtype differently in C++ and in Python).
    def error(device):
        with pytest.raises(Exception) as info:
            op(torch.zeros(shape, device=device), p, state.to(device), first_index)
        return type(info.value), str(info.value).splitlines()[0].split(", but got")[0]

    assert error("meta") == error("cpu")
