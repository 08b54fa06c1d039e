"""Bad input never crashes the process. Each case of the table feeds one bad input to the
functional, the module or a raw op and must raise a clear Python exception (its type and a
fragment of its message) or give its documented result.

The cases run one after another in a child process, which reports each case as it starts and
ends; if the child dies (a signal, an abort) or hangs, the case it had started is reported as
the culprit and a fresh child goes on with the next one.
"""

import dataclasses
import fractions
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import warnings
from typing import Callable, Optional

import numpy as np
import pytest
import torch

import torch_ext
from conftest import requires_cuda
from reference import assert_same_bits, dropout

F = torch_ext.mydropout
M = torch_ext.MyDropout
OP = torch.ops.torch_ext.mydropout
OP_ = torch.ops.torch_ext.mydropout_
OPC_ = torch.ops.torch_ext.mydropout_channels_
PS = torch.ops.torch_ext.philox_state
X = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
P_MESSAGE = "dropout probability has to be between 0 and 1"
@dataclasses.dataclass
class Case:
    name: str
    call: Callable
    raises: Optional[type] = None  # the exception expected, or None for a documented result
    match: str = ""  # a regular expression its message must contain
    check: Optional[Callable] = None  # asserts that what call returned is the documented result


def err(name, call, raises, match):
    return Case(name, call, raises=raises, match=match)


def ok(name, call, check):
    return Case(name, call, check=check)


def state(seed=1, offset=2):
    return torch.tensor([seed, offset])


def meta(*shape, dtype=torch.float32):
    return torch.empty(shape, dtype=dtype, device="meta")


def quantized(t=X, dtype=torch.quint8):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated
        return torch.quantize_per_tensor(t, 1.0, 0, dtype)


def nested():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nested tensors are a prototype
        return torch.nested.nested_tensor([torch.randn(2), torch.randn(3)])


def leaf():
    return torch.randn(4, 4, requires_grad=True)


def inference_tensor():
    with torch.inference_mode():
        return torch.randn(4, 4)


def module_with_p(p):
    m = M()
    m.p = p
    return m


# Tensors whose elements share memory; only the expanded one has a zero stride.
OVERLAPPING = {
    "expanded": lambda: torch.ones(3, 1).expand(3, 4),
    "as_strided": lambda: torch.randn(10).as_strided((4, 4), (1, 1)),
    "unfold": lambda: torch.randn(10).unfold(0, 3, 1),
}


def in_place(t, grad=True):
    """Dropout of t in place, and the reference's result from t as it was."""
    expected = dropout(t, 0.5, 4, 0)
    with torch.set_grad_enabled(grad):
        return F(t, 0.5, inplace=True, seed=4), expected


def op_on(t, op_=OP_):
    """t after a raw in-place op on it, which returns nothing."""
    assert op_(t, 0.5, state(), 0) is None
    return t


# Checks of documented results.
def same_bits(pair):
    assert_same_bits(*pair)


def is_on(device, shape, dtype=torch.float32):
    def check(y):
        assert y.device.type == device and tuple(y.shape) == shape and y.dtype == dtype, y

    return check


def is_meta(shape, dtype=torch.float32):
    return is_on("meta", shape, dtype)


def is_input(pair):
    assert pair[0] is pair[1]


def is_state(s):
    assert s.dtype == torch.int64 and s.shape == (2,) and s.device.type == "cpu", s



CASES = [
    # p
    err("F: p negative", lambda: F(X, -0.1), ValueError, P_MESSAGE + ", but got -0.1"),
    err("F: p above one", lambda: F(X, 1.5), ValueError, P_MESSAGE),
    err("F: p nan", lambda: F(X, float("nan")), ValueError, P_MESSAGE + ", but got nan"),
    err("F: training None", lambda: F(X, 0.5, None), TypeError,
        "training must be a bool, but got NoneType"),
    err("F: training int", lambda: F(X, 0.5, 1), TypeError, "training must be a bool"),
    err("F: training numpy bool", lambda: F(X, 0.5, np.True_), TypeError,
        "training must be a bool, but got numpy.bool"),
    err("dropout2d: training tensor",
        lambda: torch_ext.mydropout2d(torch.ones(2, 3, 4, 4), 0.5, torch.tensor(True)), TypeError,
        "training must be a bool, but got torch.Tensor"),
    err("F: p inf", lambda: F(X, float("inf")), ValueError, P_MESSAGE),
    err("F: p -inf", lambda: F(X, float("-inf")), ValueError, P_MESSAGE),
    err("F: p 10**400", lambda: F(X, 10**400), ValueError, P_MESSAGE),
    err("F: p numpy nan", lambda: F(X, np.float64("nan")), ValueError, P_MESSAGE),
    err("F: p str", lambda: F(X, "0.5"), TypeError, "real number, but got str"),
    err("F: p None", lambda: F(X, None), TypeError, "real number, but got NoneType"),
    err("F: p bool", lambda: F(X, True), TypeError, "real number, but got bool"),
    err("F: p complex", lambda: F(X, 0.5j), TypeError, "real number, but got complex"),
    err("F: p 1-d tensor", lambda: F(X, torch.tensor([0.5])), TypeError,
        "real number, but got Tensor"),
    ok("F: p numpy float32", lambda: (F(X, np.float32(0.25), seed=3), dropout(X, 0.25, 3, 0)),
       same_bits),
    ok("F: p 0-dim tensor", lambda: (F(X, torch.tensor(0.25), seed=3), dropout(X, 0.25, 3, 0)),
       same_bits),
    ok("F: p Fraction", lambda: (F(X, fractions.Fraction(1, 4), seed=3), dropout(X, 0.25, 3, 0)),
       same_bits),
    err("M: p negative", lambda: M(-1), ValueError, P_MESSAGE),
    err("M: p nan", lambda: M(float("nan")), ValueError, P_MESSAGE),
    err("M: p str", lambda: M("a"), TypeError, "real number"),
    err("M: p set to 2 after construction", lambda: module_with_p(2.0)(X), ValueError,
        P_MESSAGE + ", but got 2.0"),
    err("op: p nan", lambda: OP(X, float("nan"), state(), 0), ValueError, P_MESSAGE),
    err("op: p -1", lambda: OP(X, -1.0, state(), 0), ValueError, P_MESSAGE),
    err("op: p inf", lambda: OP(X, float("inf"), state(), 0), ValueError, P_MESSAGE),
    err("op_: p 2", lambda: OP_(X.clone(), 2.0, state(), 0), ValueError, P_MESSAGE),
    err("op: p str", lambda: OP(X, "0.5", state(), 0), RuntimeError, "argument 'p'"),
    # seed, offset, generator
    err("F: seed negative", lambda: F(X, seed=-1), ValueError, r"seed must be in \[0, 2\*\*64\)"),
    err("F: seed 2**64", lambda: F(X, seed=2**64), ValueError, "seed must be in"),
    err("F: seed 2**100", lambda: F(X, seed=2**100), ValueError, "seed must be in"),
    err("F: seed float", lambda: F(X, seed=1.5), TypeError, "seed must be an int"),
    err("F: seed nan", lambda: F(X, seed=float("nan")), TypeError, "seed must be an int"),
    err("F: seed tensor", lambda: F(X, seed=torch.tensor(3)), TypeError, "seed must be an int"),
    err("F: seed bool", lambda: F(X, seed=True), TypeError, "seed must be an int"),
    ok("F: seed numpy uint64 2**64 - 1",
       lambda: (F(X, seed=np.uint64(2**64 - 1)), dropout(X, 0.5, 2**64 - 1, 0)), same_bits),
    err("F: offset negative", lambda: F(X, seed=1, offset=-1), ValueError, "offset must be in"),
    err("F: offset 2**64", lambda: F(X, seed=1, offset=2**64), ValueError, "offset must be in"),
    err("F: offset str", lambda: F(X, seed=1, offset="1"), TypeError, "offset must be an int"),
    err("F: offset without seed", lambda: F(X, offset=3), ValueError, "explicit seed"),
    # the offset's own checks first, seeded or not
    err("F: offset bool without seed", lambda: F(X, offset=False), TypeError,
        "offset must be an int"),
    err("F: offset float without seed", lambda: F(X, offset=0.0), TypeError,
        "offset must be an int"),
    err("F: seed and generator", lambda: F(X, seed=1, generator=torch.Generator()), ValueError,
        "not both"),
    err("F: generator str", lambda: F(X, generator="cpu"), RuntimeError, "Generator"),
    err("F: generator int", lambda: F(X, generator=3), RuntimeError, "Generator"),
    err("ps: generator int", lambda: PS(X, 3), RuntimeError, "Generator"),
    ok("F: training=False ignores the other arguments",
       lambda: (F(X, 0.5, False, seed=-1, first_index=-1), X), is_input),
    # first_index
    err("F: first_index negative", lambda: F(X, seed=1, first_index=-1), ValueError,
        r"first_index must be in \[0, 2\*\*63\)"),
    err("F: first_index 2**63", lambda: F(X, seed=1, first_index=2**63), ValueError,
        "first_index must be in"),
    err("F: first_index 2**64", lambda: F(X, first_index=2**64), ValueError,
        "first_index must be in"),
    err("F: first_index 2**63 - numel", lambda: F(X, seed=1, first_index=2**63 - 16),
        ValueError, r"first_index must be in \[0, 2\*\*63 - 16\), 16 being the call's mask draws"),
    err("F: first_index float", lambda: F(X, seed=1, first_index=1.0), TypeError,
        "first_index must be an int"),
    err("F: first_index bool", lambda: F(X, seed=1, first_index=True), TypeError,
        "first_index must be an int"),
    err("op: first_index negative", lambda: OP(X, 0.5, state(), -1), ValueError, "first_index"),
    err("op: first_index 2**63 - 1", lambda: OP(X, 0.5, state(), 2**63 - 1), ValueError,
        "first_index"),
    err("op: first_index 2**63", lambda: OP(X, 0.5, state(), 2**63), RuntimeError,
        "first_index"),
    err("op_: first_index negative", lambda: OP_(X.clone(), 0.5, state(), -5), ValueError,
        "first_index"),
    # dtypes
    *[err(f"F: {dtype} tensor", lambda dtype=dtype: F(torch.ones(3).to(dtype)), TypeError,
          "expected a float16, bfloat16, float32 or float64 tensor, but got " + name)
      for dtype, name in [(torch.int8, "Char"), (torch.int16, "Short"), (torch.int32, "Int"),
                          (torch.int64, "Long"), (torch.uint8, "Byte"), (torch.uint16, "UInt16"),
                          (torch.uint64, "UInt64"), (torch.bool, "Bool"),
                          (torch.complex64, "ComplexFloat"), (torch.complex128, "ComplexDouble"),
                          (torch.float8_e4m3fn, "Float8_e4m3fn")]],
    err("F: int tensor in place", lambda: F(torch.ones(3, dtype=torch.int32), inplace=True),
        TypeError, "but got Int"),
    err("F: int tensor seeded", lambda: F(torch.ones(3, dtype=torch.int32), seed=1), TypeError,
        "but got Int"),
    err("M: int tensor", lambda: M()(torch.ones(3, dtype=torch.int64)), TypeError, "Long"),
    err("M: complex tensor in place", lambda: M(inplace=True)(torch.ones(3, dtype=torch.cfloat)),
        TypeError, "ComplexFloat"),
    err("op: bool tensor", lambda: OP(torch.ones(3, dtype=torch.bool), 0.5, state(), 0),
        TypeError, "Bool"),
    err("op_: int tensor", lambda: OP_(torch.ones(3, dtype=torch.int64), 0.5, state(), 0),
        TypeError, "Long"),
    ok("F: int tensor in eval is returned", lambda: (F(t := torch.ones(3, dtype=torch.int8),
                                                       training=False), t), is_input),
    # layouts other than strided
    err("F: sparse", lambda: F(torch.eye(3).to_sparse()), NotImplementedError, "sparse_coo"),
    err("F: sparse csr", lambda: F(torch.eye(3).to_sparse_csr()), NotImplementedError,
        "sparse_csr"),
    err("F: mkldnn", lambda: F(X.to_mkldnn()), NotImplementedError, "mkldnn"),
    err("F: nested", lambda: F(nested()), NotImplementedError, "nested tensors"),
    err("F: nested seeded", lambda: F(nested(), seed=1), NotImplementedError, "nested tensors"),
    err("M: sparse", lambda: M()(torch.eye(3).to_sparse()), NotImplementedError, "sparse"),
    err("op: sparse", lambda: OP(torch.eye(3).to_sparse(), 0.5, state(), 0),
        NotImplementedError, "SparseCPU"),
    err("op_: sparse", lambda: OP_(torch.eye(3).to_sparse(), 0.5, state(), 0),
        NotImplementedError, "SparseCPU"),
    err("op: sparse csr", lambda: OP(torch.eye(3).to_sparse_csr(), 0.5, state(), 0),
        NotImplementedError, "SparseCsrCPU"),
    err("op: mkldnn", lambda: OP(X.to_mkldnn(), 0.5, state(), 0), NotImplementedError,
        "MkldnnCPU"),
    err("op: nested", lambda: OP(nested(), 0.5, state(), 0), RuntimeError, "Nested"),
    err("ps: sparse", lambda: PS(torch.eye(3).to_sparse()), NotImplementedError, "SparseCPU"),
    # quantized
    err("F: quantized", lambda: F(quantized()), NotImplementedError, "QuantizedCPU"),
    err("F: quantized seeded", lambda: F(quantized(), seed=1), NotImplementedError,
        "QuantizedCPU"),
    err("M: quantized in place", lambda: M(inplace=True)(quantized()), NotImplementedError,
        "QuantizedCPU"),
    err("op: quantized", lambda: OP(quantized(), 0.5, state(), 0), NotImplementedError,
        "QuantizedCPU"),
    err("op_: quantized", lambda: OP_(quantized(), 0.5, state(), 0), NotImplementedError,
        "QuantizedCPU"),
    err("ps: quantized", lambda: PS(quantized()), NotImplementedError, "QuantizedCPU"),
    # meta: shapes, dtypes and devices only (the fake kernels)
    ok("F: meta", lambda: F(meta(3, 5)), is_meta((3, 5))),
    ok("F: meta seeded", lambda: F(meta(3, 5), seed=1), is_meta((3, 5))),
    ok("F: meta with a CPU generator", lambda: F(meta(3), generator=torch.Generator()),
       is_meta((3,))),
    ok("F: meta float16 in place", lambda: F(meta(2, 7, dtype=torch.float16), inplace=True),
       is_meta((2, 7), torch.float16)),
    ok("M: meta", lambda: M()(meta(6)), is_meta((6,))),
    ok("op: meta, meta state", lambda: OP(meta(3, 5), 0.5, torch.empty(2, dtype=torch.int64,
                                                                        device="meta"), 0),
       is_meta((3, 5))),
    ok("op: meta, CPU state", lambda: OP(meta(3, 5), 0.5, state(), 0), is_meta((3, 5))),
    ok("op_: meta", lambda: op_on(meta(3, 5)), is_meta((3, 5))),
    ok("ps: meta", lambda: PS(meta(3)), is_meta((2,), torch.int64)),
    err("F: meta int64", lambda: F(meta(3, dtype=torch.int64)), TypeError,
        "expected a float16, bfloat16, float32 or float64 tensor"),
    # in place on tensors whose elements share memory
    *[err(f"{api}: in place on {kind}", lambda call=call, make=make: call(make()),
          RuntimeError, "elements may share memory")
      for kind, make in OVERLAPPING.items()
      for api, call in [("F", lambda t: F(t, inplace=True)), ("M", M(inplace=True)),
                        ("op_", lambda t: OP_(t, 0.5, state(), 0)),
                        ("opc_", lambda t: OPC_(t, 0.5, state(), 0)),
                        ("channels", lambda t: torch_ext.mydropout_channels(t, inplace=True)),
                        ("M1d", torch_ext.MyDropout1d(inplace=True))]],
    # Strides that interleave without overlap, which no view op makes, are refused too.
    err("op_: interleaved as_strided", lambda: OP_(torch.randn(8).as_strided((3, 2), (2, 3)),
                                                   0.5, state(), 0),
        RuntimeError, "elements may share memory"),
    ok("F: in place on a diagonal, which shares nothing",
       lambda: in_place(torch.randn(5, 5).diagonal()), same_bits),
    # the fake kernels: meta tensors
    *[err(f"{api}: meta, in place on expanded", lambda call=call: call(meta(3, 1).expand(3, 4)),
          RuntimeError, "elements may share memory")
      for api, call in [("op_", lambda t: OP_(t, 0.5, state(), 0)),
                        ("opc_", lambda t: OPC_(t, 0.5, state(), 0)),
                        ("F", lambda t: F(t, inplace=True)),
                        ("channels", lambda t: torch_ext.mydropout_channels(t, inplace=True))]],
    # an empty one shares nothing: taken on the CPU and meta alike
    *[ok(f"{api}: {device}, in place on an empty expanded tensor",
         lambda op_=op_, device=device: op_on(torch.empty(0, 1, 1, device=device)
                                              .expand(0, 5, 3), op_),
         is_on(device, (0, 5, 3)))
      for api, op_ in [("op_", OP_), ("opc_", OPC_)] for device in ("cpu", "meta")],
    ok("F: p 0 in place on an expanded tensor returns it",
       lambda: (F(t := OVERLAPPING["expanded"](), 0.0, inplace=True), t), is_input),
    # in place and autograd
    err("F: in place on a leaf that requires grad", lambda: F(leaf(), inplace=True),
        RuntimeError, "leaf Variable that requires grad"),
    err("F: in place on a view of a leaf that requires grad", lambda: F(leaf()[1:], inplace=True),
        RuntimeError, "view of a leaf Variable that requires grad"),
    err("M: in place on a view of a leaf", lambda: M(inplace=True)(leaf()[:, 1]),
        RuntimeError, "view of a leaf Variable"),
    # as F.dropout1d/3d refuse them and word it (they unsqueeze the input in place), in eval
    # mode and at p 0 too
    *[err(f"{name}: unbatched, in place on a leaf that requires grad, p {p}, training {training}",
          lambda f=f, shape=shape, p=p, training=training:
              f(torch.ones(shape, requires_grad=True), p, training, inplace=True),
          RuntimeError, "^a leaf Variable that requires grad")
      for name, f, shape in [("F1", torch_ext.mydropout1d, (3, 4)),
                             ("F3", torch_ext.mydropout3d, (3, 4, 2, 2))]
      for p, training in [(0.5, True), (0.0, True), (0.5, False)]],
    *[err(f"F1: unbatched, in place on a view of a leaf, p {p}, training {training}",
          lambda p=p, training=training: torch_ext.mydropout1d(leaf()[1:], p, training, True),
          RuntimeError, "^a view of a leaf Variable that requires grad")
      for p, training in [(0.5, True), (0.0, True), (0.5, False)]],
    err("F1: vmap of unbatched in place on a leaf, eval mode",
        lambda: torch.func.vmap(lambda a: torch_ext.mydropout1d(a, 0.5, False, True))(
            torch.ones(2, 3, 4, requires_grad=True)),
        RuntimeError, "^a leaf Variable that requires grad"),
    err("op_: leaf that requires grad", lambda: OP_(leaf(), 0.5, state(), 0), RuntimeError,
        "leaf Variable that requires grad"),
    err("op_: view of a leaf", lambda: OP_(leaf()[1:], 0.5, state(), 0), RuntimeError,
        "view of a leaf Variable that requires grad"),
    ok("F: in place on a view of a leaf under no_grad",
       lambda: in_place(leaf()[1:], grad=False), same_bits),
    err("F: in place on an inference tensor", lambda: F(inference_tensor(), inplace=True),
        RuntimeError, "Inplace update to inference tensor"),
    err("op_: inference tensor", lambda: OP_(inference_tensor(), 0.5, state(), 0),
        RuntimeError, "Inplace update to inference tensor"),
    # the raw ops' state
    err("op: state float", lambda: OP(X, 0.5, torch.tensor([1.0, 2.0]), 0), RuntimeError,
        "state must be an int64 tensor of two elements"),
    err("op: state int32", lambda: OP(X, 0.5, state().int(), 0), RuntimeError,
        "but got Int of shape"),
    err("op: state of three", lambda: OP(X, 0.5, torch.tensor([1, 2, 3]), 0), RuntimeError,
        r"of shape \[3\]"),
    err("op: state 0-dim", lambda: OP(X, 0.5, torch.tensor(1), 0), RuntimeError,
        r"of shape \[\]"),
    err("op: state 2-d", lambda: OP(X, 0.5, torch.tensor([[1, 2]]), 0), RuntimeError,
        r"of shape \[1, 2\]"),
    err("op: state empty", lambda: OP(X, 0.5, torch.empty(0, dtype=torch.int64), 0),
        RuntimeError, r"of shape \[0\]"),
    err("op_: state bool", lambda: OP_(X.clone(), 0.5, torch.tensor([True, False]), 0),
        RuntimeError, "but got Bool"),
    err("op: state sparse", lambda: OP(X, 0.5, state().to_sparse(), 0), NotImplementedError,
        "SparseCPU"),
    err("op: state quantized", lambda: OP(X, 0.5, quantized(state().float(), torch.qint32), 0),
        NotImplementedError, "QuantizedCPU"),
    err("op: state None", lambda: OP(X, 0.5, None, 0), RuntimeError,
        "input and state must be tensors"),
    err("op: CPU input, meta state", lambda: OP(X, 0.5, state().to("meta"), 0), RuntimeError,
        "state must be on the CPU or on the input's device"),
    err("op_: CPU input, meta state", lambda: OP_(X.clone(), 0.5, state().to("meta"), 0),
        RuntimeError, "state must be on the CPU or on the input's device"),
    ok("op: non-contiguous state", lambda: (OP(X, 0.5, torch.tensor([1, 9, 2, 9])[::2], 0),
                                            dropout(X, 0.5, 1, 2)), same_bits),
    ok("op: expanded state", lambda: (OP(X, 0.5, torch.tensor([7]).expand(2), 0),
                                      dropout(X, 0.5, 7, 7)), same_bits),
    ok("ps: any dtype of input", lambda: PS(torch.ones(3, dtype=torch.int64)), is_state),
    # not tensors
    err("F: list", lambda: F([1.0, 2.0]), TypeError, "input must be a Tensor, but got list"),
    err("F: numpy array", lambda: F(np.ones(3)), TypeError, "but got ndarray"),
    err("M: None", lambda: M()(None), TypeError, "but got NoneType"),
    err("op: list", lambda: OP([1.0], 0.5, state(), 0), RuntimeError, "argument 'input'"),
    err("op_: None", lambda: OP_(None, 0.5, state(), 0), RuntimeError,
        "must be tensors, but got None"),
    err("op_: state None", lambda: OP_(X.clone(), 0.5, None, 0), RuntimeError,
        "must be tensors, but got None"),
    err("ps: None", lambda: PS(None), NotImplementedError, "no tensor arguments"),
    # the raw in-place channel op
    err("opc_: p 2", lambda: OPC_(X.clone(), 2.0, state(), 0), ValueError, P_MESSAGE),
    err("opc_: 1-d", lambda: OPC_(torch.randn(4), 0.5, state(), 0), RuntimeError,
        "at least 2 dimensions"),
    err("opc_: first_index past the pairs' bound", lambda: OPC_(X.clone(), 0.5, state(), 2**63 - 4),
        ValueError, r"2\*\*63 - 16\), 16 being the call's mask draws"),
    err("opc_: int tensor", lambda: OPC_(torch.ones(3, 2, dtype=torch.int64), 0.5, state(), 0),
        TypeError, "Long"),
    err("opc_: sparse", lambda: OPC_(torch.eye(3).to_sparse(), 0.5, state(), 0),
        NotImplementedError, "SparseCPU"),
    err("opc_: quantized", lambda: OPC_(quantized(), 0.5, state(), 0), NotImplementedError,
        "QuantizedCPU"),
    ok("opc_: meta", lambda: op_on(meta(3, 5, 2), OPC_), is_meta((3, 5, 2))),
    err("opc_: interleaved as_strided",
        lambda: OPC_(torch.randn(8).as_strided((3, 2), (2, 3)), 0.5, state(), 0),
        RuntimeError, "elements may share memory"),
    err("opc_: leaf that requires grad", lambda: OPC_(leaf(), 0.5, state(), 0), RuntimeError,
        "leaf Variable that requires grad"),
    err("opc_: view of a leaf", lambda: OPC_(leaf()[1:], 0.5, state(), 0), RuntimeError,
        "view of a leaf Variable that requires grad"),
    err("opc_: inference tensor", lambda: OPC_(inference_tensor(), 0.5, state(), 0),
        RuntimeError, "Inplace update to inference tensor"),
    err("opc_: state bool", lambda: OPC_(X.clone(), 0.5, torch.tensor([True, False]), 0),
        RuntimeError, "but got Bool"),
    err("opc_: CPU input, meta state", lambda: OPC_(X.clone(), 0.5, state().to("meta"), 0),
        RuntimeError, "state must be on the CPU or on the input's device"),
    err("opc_: None", lambda: OPC_(None, 0.5, state(), 0), RuntimeError,
        "must be tensors, but got None"),
    err("opc_: state None", lambda: OPC_(X.clone(), 0.5, None, 0), RuntimeError,
        "must be tensors, but got None"),
]

# On a GPU only: marked requires_cuda below, so that pytest --cuda-only keeps them.
CUDA_CASES = [
    err("F: CUDA generator for a CPU tensor",
        lambda: F(X, generator=torch.Generator(device="cuda")), RuntimeError, "cpu"),
    err("op: state on another device", lambda: OP(X, 0.5, state().cuda(), 0), RuntimeError,
        "state must be on the CPU"),
] if torch.cuda.is_available() else []
CASES += CUDA_CASES

# For the test of the runner itself, not part of the table.
HARNESS_CASES = [
    ok("harness: abort", os.abort, None),
    ok("harness: a case after the abort", lambda: 1, lambda v: None),
]

TESTS = pathlib.Path(__file__).resolve().parent
CHILD = ("import sys; sys.path.insert(0, sys.argv[1]); import test_crash; "
         "test_crash.serve(sys.argv[2:])")
TAG = "@@case "


def serve(names):
    """In the child: runs the named cases in order, a line before and after each."""
    cases = {case.name: case for case in CASES + HARNESS_CASES}
    for name in names:
        print(TAG + json.dumps({"start": name}), flush=True)
        print(TAG + json.dumps({"name": name, **outcome(cases[name])}), flush=True)


def outcome(case):
    try:
        result = case.call()
    except Exception as e:
        return {"raised": [c.__name__ for c in type(e).__mro__], "message": str(e)[:2000]}
    check_failed = None
    if case.check is not None:  # an expected exception that did not come has no check
        try:
            case.check(result)
        except AssertionError as e:
            check_failed = str(e) or "assertion failed"
    return {"returned": type(result).__name__, "check_failed": check_failed}


def run_cases(names, timeout=120):
    """Outcomes by name; a case during which the child died or hung gets {"crash": why}."""
    outcomes, names = {}, list(names)
    while names:
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, str(TESTS), *names],
                                  capture_output=True, text=True, timeout=timeout)
            stdout, stderr, why = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            stdout, stderr, why = (e.stdout or b"").decode(), (e.stderr or b"").decode(), "hang"
        started = None
        for line in stdout.splitlines():
            if line.startswith(TAG):
                record = json.loads(line[len(TAG):])
                if "start" in record:
                    started = record["start"]
                else:
                    outcomes[record.pop("name")] = record
                    started = None
        if started is None:
            if any(name not in outcomes for name in names):
                raise RuntimeError(f"the child failed outside any case ({why}):\n{stderr}")
            break
        if isinstance(why, int) and why < 0:
            why = f"killed by {signal.Signals(-why).name}"
        outcomes[started] = {"crash": f"{why}; stderr ends: {stderr[-1500:]}"}
        names = names[names.index(started) + 1:]
    return outcomes


@pytest.fixture(scope="module")
def outcomes():
    return run_cases([case.name for case in CASES])


def test_case_names_are_unique():
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [
    pytest.param(case, id=case.name, marks=[requires_cuda] if case in CUDA_CASES else [])
    for case in CASES])
def test_bad_input(case, outcomes):
    out = outcomes[case.name]
    assert "crash" not in out, f"the process died: {out['crash']}"
    if case.raises is None:
        assert "raised" not in out, f"raised {out['raised'][0]}: {out['message']}"
        assert out["check_failed"] is None, out["check_failed"]
    else:
        assert "raised" in out, f"returned {out['returned']}, raised nothing"
        assert case.raises.__name__ in out["raised"], f"raised {out['raised'][0]}: {out['message']}"
        assert re.search(case.match, out["message"]), out["message"]


def test_a_crash_is_reported_against_its_case():
    out = run_cases([case.name for case in HARNESS_CASES])
    assert "SIGABRT" in out["harness: abort"]["crash"]
    assert out["harness: a case after the abort"] == {"returned": "int", "check_failed": None}
