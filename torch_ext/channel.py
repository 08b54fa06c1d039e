"""Channel dropout: the counterparts of F.dropout1d/2d/3d and nn.Dropout1d/2d/3d.

One mask draw per (batch, channel) pair of an (N, C, *) input (unbatched input: N = 1): pair
j = n * C + c takes the contract's draw at mask index first_index + j, and its keep or drop and
scale apply to the whole channel x[n, c]. The mask does not depend on the input's layout; so
channel dropout of a contiguous (N, C, 1) tensor equals mydropout of it (whose mask follows
memory order).
"""

import inspect
import warnings

import torch
from torch import nn
from torch.fx import Proxy

from .functional import check_p, prepare, run
from .fx import function_node
from .modules import DropoutModule

_CHANNELS = torch.ops.torch_ext.mydropout_channels
_CHANNELS_ = torch.ops.torch_ext.mydropout_channels_


def mydropout_channels(
    input, p=0.5, training=True, inplace=False, *, seed=None, offset=0, generator=None,
    first_index=0,
):
    """Zeroes each channel ``input[n, c]`` of an (N, C, *) input with probability ``p`` and
    scales the rest by 1/(1-p).

    The keywords are those of torch_ext.mydropout; ``first_index`` is the mask index of the first
    (batch, channel) pair, so a shard of rows n0.. of a batch takes ``first_index=n0 * C``. The
    backward recomputes the mask from the state; nothing of the input's size is kept for it.
    """
    if isinstance(input, Proxy):
        return function_node(mydropout_channels, (input, p, training, inplace),
                             dict(seed=seed, offset=offset, generator=generator,
                                  first_index=first_index))
    prepared = prepare(input, p, training, seed, offset, generator, first_index)
    if prepared is None:
        return input
    return run(_CHANNELS, _CHANNELS_, input, *prepared, inplace)


_KEYWORDS = tuple(name for name, param in inspect.signature(mydropout_channels).parameters.items()
                  if param.kind is param.KEYWORD_ONLY)


def _check_keywords(name, kwargs):
    """mydropout1d/2d/3d pass their keywords on to mydropout_channels: a wrong one is refused in
    the caller's name, as Python would, rather than in mydropout_channels'."""
    for key in kwargs:
        if key not in _KEYWORDS:
            raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")


def _unbatched(input, p, training, inplace, kwargs):
    """Channel dropout of input as a batch of one, for (C, *) inputs as F.dropout1d/3d treat
    them. In place as they do it: input itself unsqueezed in place, in eval mode and at p 0
    too, so that autograd's and vmap's checks of an in-place op (a leaf, a view of one) refuse
    what they refuse, in their words."""
    if not inplace:
        return mydropout_channels(input.unsqueeze(0), p, training, False, **kwargs).squeeze(0)
    if torch.compiler.is_compiling():
        # Dynamo refuses unsqueeze_ on a graph input: a view, and the leaf's refusal by hand.
        if input.is_leaf and input.requires_grad and torch.is_grad_enabled():
            raise RuntimeError("a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
        mydropout_channels(input.unsqueeze(0), p, training, True, **kwargs)
        return input
    input.unsqueeze_(0)
    try:
        mydropout_channels(input, p, training, True, **kwargs)
    finally:
        input.squeeze_(0)
    return input


def _warn_unless(dim, name, expected):
    """F.dropout2d/3d's deprecation warning for an input of another rank. Not while compiling,
    here and in mydropout2d: Dynamo cannot trace warnings.warn, which would break the graph
    (it does not trace into torch's own F.dropout2d, which warns when the graph is made)."""
    if dim not in expected and not torch.compiler.is_compiling():
        lo, hi = expected
        warnings.warn(
            f"{name}: Received a {dim}-D input to {name}, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            f"and silence this warning, please use dropout instead. Note that {name} "
            f"exists to provide channel-wise dropout on inputs with {lo - 1} spatial dimensions, "
            "a channel dimension, and an optional batch dimension "
            f"(i.e. {lo}D or {hi}D inputs).",
            stacklevel=3,
        )


def mydropout1d(input, p=0.5, training=True, inplace=False, **kwargs):
    """F.dropout1d with the mask of mydropout_channels: input (N, C, L), or (C, L) unbatched.
    Keywords as mydropout_channels."""
    _check_keywords("mydropout1d", kwargs)
    if isinstance(input, Proxy):
        return function_node(mydropout1d, (input, p, training, inplace), kwargs)
    p = check_p(p)
    if input.dim() not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs)."
        )
    if input.dim() == 2:
        return _unbatched(input, p, training, inplace, kwargs)
    return mydropout_channels(input, p, training, inplace, **kwargs)


def mydropout2d(input, p=0.5, training=True, inplace=False, **kwargs):
    """F.dropout2d with the mask of mydropout_channels: input (N, C, H, W). As in torch, a 3D
    input is taken as (N, C, L), with a warning. Keywords as mydropout_channels."""
    _check_keywords("mydropout2d", kwargs)
    if isinstance(input, Proxy):
        return function_node(mydropout2d, (input, p, training, inplace), kwargs)
    p = check_p(p)
    _warn_unless(input.dim(), "dropout2d", (3, 4))
    if input.dim() == 3 and not torch.compiler.is_compiling():
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return mydropout_channels(input, p, training, inplace, **kwargs)


def mydropout3d(input, p=0.5, training=True, inplace=False, **kwargs):
    """F.dropout3d with the mask of mydropout_channels: input (N, C, D, H, W), or (C, D, H, W)
    unbatched. Keywords as mydropout_channels."""
    _check_keywords("mydropout3d", kwargs)
    if isinstance(input, Proxy):
        return function_node(mydropout3d, (input, p, training, inplace), kwargs)
    p = check_p(p)
    _warn_unless(input.dim(), "dropout3d", (4, 5))
    if input.dim() != 5:
        return _unbatched(input, p, training, inplace, kwargs)
    return mydropout_channels(input, p, training, inplace, **kwargs)


class MyDropout1d(DropoutModule, nn.Dropout1d):
    """nn.Dropout1d with the mask of mydropout1d; a subclass, with no parameters or buffers."""

    functional = staticmethod(mydropout1d)


class MyDropout2d(DropoutModule, nn.Dropout2d):
    """nn.Dropout2d with the mask of mydropout2d; a subclass, with no parameters or buffers."""

    functional = staticmethod(mydropout2d)


class MyDropout3d(DropoutModule, nn.Dropout3d):
    """nn.Dropout3d with the mask of mydropout3d; a subclass, with no parameters or buffers."""

    functional = staticmethod(mydropout3d)
