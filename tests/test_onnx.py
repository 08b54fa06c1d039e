"""torch.onnx.export of models holding our dropout modules: in eval mode they leave nothing in the
graph, as nn.Dropout does; in training mode the export fails naming our op, as the mask contract
has no ONNX operator. (The TorchScript exporter exports in eval mode unless told otherwise.)"""

import io

import pytest
import torch
from torch import nn

import torch_ext

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")  # the dynamo exporter's
from onnx.reference import ReferenceEvaluator  # noqa: E402


def model(drop, drop2d):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), drop2d(0.3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 8), drop(0.5), nn.Linear(8, 2))


def export(m, x, dynamo):
    if dynamo:
        return torch.onnx.export(m, (x,), dynamo=True, verbose=False).model_proto
    f = io.BytesIO()
    torch.onnx.export(m, (x,), f, dynamo=False)
    return onnx.load_from_string(f.getvalue())


# The TorchScript exporter, deprecated since torch 2.9, is still the one older code calls.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("dynamo", [True, False])
def test_eval_mode_exports_as_nn_dropout_does(dynamo):
    ours = model(torch_ext.MyDropout, torch_ext.MyDropout2d).eval()
    theirs = model(nn.Dropout, nn.Dropout2d).eval()
    x = torch.randn(2, 3, 6, 6)
    ours_onnx, theirs_onnx = export(ours, x, dynamo), export(theirs, x, dynamo)
    ops = [node.op_type for node in ours_onnx.graph.node]
    assert ops == [node.op_type for node in theirs_onnx.graph.node]
    assert all(node.domain in ("", "ai.onnx") for node in ours_onnx.graph.node), ops
    (y,) = ReferenceEvaluator(ours_onnx).run(None, {ours_onnx.graph.input[0].name: x.numpy()})
    torch.testing.assert_close(torch.from_numpy(y), ours(x), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Exporting a model while it is in training mode")
@pytest.mark.parametrize("seeded", [False, True])
def test_training_mode_export_fails_naming_the_op(seeded):
    class Net(nn.Module):
        def forward(self, x):
            if seeded:
                return torch_ext.mydropout(x, 0.5, seed=3)
            return torch_ext.mydropout(x, 0.5)

    op = "mydropout" if seeded else "philox_state"
    with pytest.raises(torch.onnx.OnnxExporterError, match=rf"torch_ext\.{op}"):
        export(Net().train(), torch.randn(4, 8), dynamo=True)
