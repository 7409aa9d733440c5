"""The expectations' plain twins (model/plain.py): the same fields, defaults and behaviour as
the pydantic models that validate them, and no pydantic to read them."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from socklab.model import expectations, packetmatch, plain
from socklab.model.loader import load_lab
from tests.conftest import LABS

MODELS = sorted(
    {m for module in (expectations, packetmatch) for m in vars(module).values()
     if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == module.__name__},
    key=lambda m: m.__name__,
)
SHIPPED = sorted(p.parent.name for p in LABS.glob("*/lab.yaml"))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_model_has_a_twin_with_its_fields_and_defaults(model):
    twin = expectations._twin(model)
    assert twin.__module__ == plain.__name__ and twin.__name__ == model.__name__
    assert set(twin._defaults) == set(model.model_fields)
    for name, info in model.model_fields.items():
        default = info.default_factory() if info.default_factory else info.default
        if default is PydanticUndefined:
            continue  # required: the loader always gives it
        assert twin._defaults[name] == default or (default == [] and twin._defaults[name] == ()), name


@pytest.mark.parametrize("lab", SHIPPED)
def test_a_shipped_labs_expectations_read_the_same_as_twins(lab):
    from socklab.model.spec import LabSpec  # noqa: F401 - the validated models, for comparison

    loaded = load_lab(lab)
    validated = loaded.spec.expect
    assert len(loaded.expect) == len(validated) > 0
    for twin, model in zip(loaded.expect, validated, strict=True):
        assert isinstance(twin, plain.Expectation) and not isinstance(twin, BaseModel)
        assert isinstance(model, plain.Expectation)  # one isinstance test holds for both
        assert twin.kind == model.kind and twin.references() == model.references()
        for field in type(model).model_fields:
            assert _same(getattr(twin, field), getattr(model, field)), (twin.id, field)
        assert pickle.loads(pickle.dumps(twin)) == twin


def _same(a, b) -> bool:
    if isinstance(b, BaseModel):
        return type(a) is expectations._twin(type(b)) and all(_same(getattr(a, f), getattr(b, f))
                                                               for f in type(b).model_fields)
    if isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


def test_behaviour_is_shared_and_twins_are_read_only():
    model = expectations.Expectation(id="a", title="t", count={"at_least": 2},
                                     packet={"capture": "server:eth0", "payload": {"hex": "48 65:6c-6c.6f"}})
    twin = expectations.to_plain(model)
    assert twin.count.describe() == model.count.describe() == "at least 2"
    assert twin.packet.captures() == ["server:eth0"] and twin.packet.payload.hex_bytes() == b"Hello"
    assert plain.StreamMatch.what == "stream" and plain.PayloadMatch.what == "payload"
    with pytest.raises(AttributeError, match="read-only"):
        twin.id = "b"
    with pytest.raises(TypeError, match="no field fromm"):
        plain.PacketMatch(fromm="client")
    made = plain.PacketMatch(from_="client", tcp=plain.TcpMatch(flags="S"))  # the verifier's own matchers
    assert made.to is None and made.tcp.dport is None and made == plain.PacketMatch(from_="client", tcp=plain.TcpMatch(flags="S"))
    assert repr(made) == "PacketMatch(from_='client', tcp=TcpMatch(flags='S'))"
