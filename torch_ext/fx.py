"""torch.fx's symbolic tracing (torch.fx.symbolic_trace, and the tools built on it, such as FX
graph-mode quantization). FX records each module of torch.nn as one call_module node and traces
into any other module; in ours it would meet a Proxy for the tensor, which the checks refuse,
and read the training flag once, at trace time."""


def module_node(module, input, forward):
    """The module's dropout as a node of its own, so that the graph reads the module's flags
    when it runs: forward, a function of the module (a get_attr node) and input. Not a
    call_module node: FX has already traced the hooks and any subclass code around forward,
    which the module's call would run again. None where module is the root of the trace, whose
    forward FX traces through, as it does any root's."""
    tracer = input.tracer
    path = tracer.path_of_module(module)
    if not path:
        return None
    return tracer.create_proxy("call_function", forward,
                               (tracer.create_proxy("get_attr", path, (), {}), input), {})


def function_node(function, args, kwargs):
    """The call of a functional as one node, as FX records F.dropout."""
    return args[0].tracer.create_proxy("call_function", function, args, kwargs)
