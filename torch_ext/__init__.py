"""mydropout: dropout as a torch op whose mask comes from Philox counters.

torch.ops.torch_ext.mydropout is the op; mydropout is the functional form and MyDropout the
module that replaces nn.Dropout; the channel variants mirror nn.Dropout1d/2d/3d, and
replace_dropout swaps them all into a model.
"""

import torch  # noqa: F401  (before _C, which links against torch's libraries)

from . import _C  # noqa: F401  (loading it registers the ops)
from . import _registrations  # noqa: F401
from .channel import (
    MyDropout1d,
    MyDropout2d,
    MyDropout3d,
    mydropout1d,
    mydropout2d,
    mydropout3d,
    mydropout_channels,
)
from .functional import mydropout
from .modules import MyDropout
from .replace import replace_dropout

__all__ = [
    "mydropout", "MyDropout", "mydropout_channels", "mydropout1d", "mydropout2d", "mydropout3d",
    "MyDropout1d", "MyDropout2d", "MyDropout3d", "replace_dropout",
]
