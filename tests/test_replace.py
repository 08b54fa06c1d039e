"""replace_dropout: every torch dropout module of a model, at any depth, becomes ours."""

import warnings

import pytest
import torch
from torch import nn

import torch_ext
from torch_ext import MyDropout, MyDropout1d, MyDropout2d, MyDropout3d


def test_nested_modules_are_replaced_with_their_arguments_and_training_flags():
    inner = nn.Sequential(nn.Dropout2d(0.2, inplace=True), nn.AlphaDropout(0.3),
                          nn.FeatureAlphaDropout(0.1)).eval()
    ours = MyDropout(0.4)
    model = nn.ModuleDict({
        "a": nn.Dropout(0.1),
        "b": nn.ModuleList([inner, nn.Dropout1d(0.6), nn.Dropout3d(0.7, inplace=True)]),
        "c": ours,
    })
    assert torch_ext.replace_dropout(model) is model
    got = [(type(m), m.p, m.inplace, m.training) for m in model.modules()
           if isinstance(m, nn.modules.dropout._DropoutNd)]
    assert got == [
        (MyDropout, 0.1, False, True),
        (MyDropout2d, 0.2, True, False),
        (nn.AlphaDropout, 0.3, False, False),
        (nn.FeatureAlphaDropout, 0.1, False, False),
        (MyDropout1d, 0.6, False, True),
        (MyDropout3d, 0.7, True, True),
        (MyDropout, 0.4, False, True),
    ]
    assert model["c"] is ours


def test_a_dropout_module_itself_is_replaced():
    assert type(torch_ext.replace_dropout(nn.Dropout(0.3))) is MyDropout


def test_a_module_held_twice_stays_one_module():
    shared = nn.Dropout(0.3)
    model = nn.Sequential(nn.Linear(4, 4), shared, nn.Linear(4, 4), shared,
                          nn.Sequential(shared))
    model.alias = shared
    torch_ext.replace_dropout(model)
    held = [model[1], model[3], model[4][0], model.alias]
    assert type(held[0]) is MyDropout and held[0].p == 0.3
    assert all(m is held[0] for m in held)


def test_state_dict_unchanged():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    before = model.state_dict()
    after = torch_ext.replace_dropout(model).state_dict()
    assert before.keys() == after.keys() and all(
        before[k].data_ptr() == after[k].data_ptr() for k in before)


def test_huggingface_bert_trains_and_keeps_its_eval_output():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32, num_labels=3,
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config).eval()
    ids = torch.randint(0, 100, (4, 16))
    before = model(input_ids=ids).logits

    torch_ext.replace_dropout(model)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    # Embeddings, two per layer's outputs, two unused by attention (it reads their p), classifier.
    assert len(drops) == 1 + 3 * 2 + 1 and all(type(m) is MyDropout for m in drops)
    assert torch.equal(model(input_ids=ids).logits, before)

    calls = []
    for m in drops:
        m.register_forward_hook(lambda *_: calls.append(1))
    model.train()
    out = model(input_ids=ids, labels=torch.tensor([0, 1, 2, 1]))
    out.loss.backward()
    assert len(calls) == 1 + 2 * 2 + 1
    assert all(p.grad is not None for p in model.parameters())


def test_a_failed_replacement_leaves_the_model_as_it_was():
    bad = nn.Dropout(0.1)
    bad.p = 2.0  # nn.Dropout checks p when made only
    model = nn.Sequential(nn.Dropout(0.3), nn.Sequential(bad))
    with pytest.raises(ValueError, match="between 0 and 1"):
        torch_ext.replace_dropout(model)
    assert type(model[0]) is nn.Dropout and model[1][0] is bad


@pytest.mark.parametrize("compile", ["script", "trace"])
def test_a_torchscript_dropout_is_refused_at_any_depth(compile):
    # Its modules are compiled, none of them an nn.Dropout any more: no silent no-op.
    def compiled(module):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated
            if compile == "script":
                return torch.jit.script(module)
            return torch.jit.trace(module, torch.randn(2, 4))

    for model, where in [(compiled(nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))), "1"),
                         (compiled(nn.Dropout3d(0.5).eval()), "the model")]:
        with pytest.raises(TypeError, match=f"{where} is a TorchScript Dropout"):
            torch_ext.replace_dropout(model)
    mixed = nn.Sequential(nn.Dropout(0.5), compiled(nn.Dropout1d(0.5)))
    with pytest.raises(TypeError, match="1 is a TorchScript Dropout1d"):
        torch_ext.replace_dropout(mixed)
    assert type(mixed[0]) is nn.Dropout  # refused before any replacement
    without_dropout = nn.Sequential(compiled(nn.Linear(4, 4)), nn.Dropout(0.5))
    assert type(torch_ext.replace_dropout(without_dropout)[1]) is MyDropout
