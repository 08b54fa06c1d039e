"""torch_ext.MyDropout: a drop-in replacement for nn.Dropout; and what it shares with
MyDropout1d/2d/3d (torch_ext/channel.py)."""

from torch import nn
from torch.fx import Proxy

from .functional import check_p, mydropout
from .fx import module_node


class DropoutModule:
    """What our modules share, each a subclass of torch's module and of this one, naming its
    functional: torch's arguments, p checked when made, and forward through the functional."""

    def __init__(self, p=0.5, inplace=False):
        check_p(p)
        super().__init__(p, inplace)  # p as given, as torch's module keeps it (its repr shows it)

    def forward(self, input):
        if isinstance(input, Proxy):  # torch.fx tracing: torch_ext/fx.py
            node = module_node(self, input, module_dropout)
            if node is not None:
                return node
        return module_dropout(self, input)


def module_dropout(module, input):
    """What DropoutModule.forward does on a tensor. A function at module level, as the call
    that torch.fx records: the code of a traced graph imports it by name when the graph is
    pickled or saved, which a method's name cannot be."""
    return module.functional(input, module.p, module.training, module.inplace)


class MyDropout(DropoutModule, nn.Dropout):
    """nn.Dropout with the mask of torch_ext.mydropout.

    A subclass of nn.Dropout, so code that finds dropout layers by isinstance (to change p, say)
    still finds it. It holds no parameters or buffers: a state_dict is unchanged by the swap.
    """

    functional = staticmethod(mydropout)
