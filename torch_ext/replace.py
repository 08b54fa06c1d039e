"""torch_ext.replace_dropout: swaps torch's dropout modules in a model for ours."""

import torch
from torch import nn

from .channel import MyDropout1d, MyDropout2d, MyDropout3d
from .modules import MyDropout

# Exact types only: a subclass (ours among them) may have a forward of its own.
_REPLACEMENTS = {
    nn.Dropout: MyDropout,
    nn.Dropout1d: MyDropout1d,
    nn.Dropout2d: MyDropout2d,
    nn.Dropout3d: MyDropout3d,
}


def _replacement(module):
    cls = _REPLACEMENTS.get(type(module))
    if cls is None:
        return None
    return cls(module.p, module.inplace).train(module.training)


def replace_dropout(model):
    """Replaces every nn.Dropout, nn.Dropout1d/2d/3d in ``model``, at any depth, by MyDropout,
    MyDropout1d/2d/3d with the same ``p``, ``inplace`` and training flag; returns the model (the
    replacement, if ``model`` is itself one of them).

    Left alone: subclasses of these (MyDropout among them), nn.AlphaDropout and
    nn.FeatureAlphaDropout (a different transform), and dropout that is not a module call, such
    as the ``dropout`` argument of nn.MultiheadAttention or F.scaled_dot_product_attention's
    ``dropout_p`` (HuggingFace attention layers read their dropout module's ``p`` and pass it
    there). Hooks registered on a replaced module do not carry over. The state_dict is unchanged:
    none of these modules has parameters or buffers. A TorchScript (scripted or traced) dropout
    module anywhere in ``model`` raises TypeError, before anything is replaced.
    """
    _refuse_torchscript_dropout(model)
    root = _replacement(model)
    if root is not None:
        return root
    # One replacement per module, so that a module the model holds twice (under two names,
    # or in two parents) stays one module; named_children would name it once only.
    done = {}  # a module hashes by identity
    places = []
    for parent in model.modules():
        for name, child in parent._modules.items():
            if child is None:
                continue
            if child not in done:
                done[child] = _replacement(child)
            if done[child] is not None:
                places.append((parent, name, done[child]))
    # Every replacement is made before any is put in, so that one that fails (an nn.Dropout
    # whose p was set to something else) leaves the model as it was.
    for parent, name, new in places:
        setattr(parent, name, new)
    return model


def _refuse_torchscript_dropout(model):
    """A scripted or traced module keeps its submodules compiled, of one type whatever they
    were: a dropout among them would be left in place without a word."""
    names = {cls.__name__ for cls in _REPLACEMENTS}
    for path, module in model.named_modules():
        if isinstance(module, torch.jit.ScriptModule) and module.original_name in names:
            raise TypeError(f"replace_dropout: {path or 'the model'} is a TorchScript "
                            f"{module.original_name}, which cannot be replaced; replace it in "
                            "the nn.Module before scripting or tracing it")
