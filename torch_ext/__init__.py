"""mydropout: dropout as a torch op whose mask comes from Philox counters.

torch.ops.torch_ext.mydropout is the op; mydropout is the functional form and MyDropout the
module that replaces nn.Dropout.
"""

from . import _C  # noqa: F401  (loading it registers the ops)
from . import _registrations  # noqa: F401
from .functional import mydropout
from .modules import MyDropout

__all__ = ["mydropout", "MyDropout"]
