"""record.Record: the hot path's frozen dataclass, and what it refuses."""

from __future__ import annotations

import copy
import pickle
from collections import Counter

import pytest

from sentinel_vip.record import Record


class Point(Record):
    x: int
    y: int = 0
    label: str | None = None
    secret: str = ""
    _hidden = ("secret",)


def test_fields_take_positional_keyword_and_default_values():
    assert Point(1) == Point(1, 0, None, "")
    assert Point(1, label="a").label == "a"
    assert Point(x=3, y=4)._values() == (3, 4, None, "")
    assert Point._fields == ("x", "y", "label", "secret")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing required argument: 'x'"),
        ((1, 2, 3, 4, 5), {}, "takes 4 arguments but 5 were given"),
        ((1,), {"z": 2}, r"unexpected or repeated arguments: \['z'\]"),
        ((1,), {"x": 2}, r"unexpected or repeated arguments: \['x'\]"),
    ],
)
def test_wrong_arguments_are_refused(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)


def test_instances_are_immutable():
    point = Point(1)
    with pytest.raises(AttributeError, match="immutable"):
        point.x = 2
    with pytest.raises(AttributeError, match="immutable"):
        del point.x
    with pytest.raises(AttributeError):
        point.other = 1  # __slots__: no instance dict either


def test_equality_and_hash_are_by_class_and_values():
    class Other(Record):
        x: int
        y: int = 0
        label: str | None = None
        secret: str = ""

    assert Point(1, 2) == Point(1, 2) and hash(Point(1, 2)) == hash(Point(1, 2))
    assert Point(1, 2) != Point(2, 1)
    assert Point(1) != Other(1)  # same values, another class
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_repr_leaves_hidden_fields_out():
    text = repr(Point(1, secret="hunter2"))
    assert text == "Point(x=1, y=0, label=None)"
    assert "hunter2" not in text


def test_copy_and_pickle_rebuild_through_init():
    point = Point(1, 2, "a", "s")
    assert copy.copy(point) == point
    assert copy.deepcopy(point) == point
    assert pickle.loads(pickle.dumps(point)) == point


def test_a_record_declares_at_least_one_field():
    with pytest.raises(TypeError, match="declares no annotated fields"):

        class Empty(Record):
            pass


@pytest.mark.parametrize("default", [{}, [], set(), Counter(), bytearray()])
def test_a_mutable_default_is_refused_when_the_class_is_declared(default):
    """Every instance that does not pass the field gets the very same object: a Counter
    default (as decide's records once had) counted into by one record shows in all."""
    with pytest.raises(TypeError, match="mutable default"):

        class Tally(Record):
            name: str
            counts: object = default


@pytest.mark.parametrize("default", [None, 0, "", (), frozenset(), ("a", 1), 1.5])
def test_immutable_defaults_are_accepted_and_shared_safely(default):
    class Tally(Record):
        name: str
        counts: object = default

    assert Tally("a").counts is Tally("b").counts == default
