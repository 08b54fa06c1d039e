"""torch.fx's symbolic tracing (torch.fx.symbolic_trace, and the tools built on it: FX graph-mode
quantization, torchvision's feature extraction). FX records each module of torch.nn as one node
and traces into any other module; in ours it would meet a Proxy for the tensor, which the checks
refuse, and read the training flag once, at trace time."""


def module_node(module, input):
    """The call of module as one node, as FX records nn.Dropout, so that the training flag is
    read when the graph runs; None where module is the root of the trace, whose forward FX
    traces through."""
    path = input.tracer.path_of_module(module)
    return input.tracer.create_proxy("call_module", path, (input,), {}) if path else None


def function_node(function, args, kwargs):
    """The call of a functional as one node, as FX records F.dropout."""
    return args[0].tracer.create_proxy("call_function", function, args, kwargs)
