"""Notebook-parameter parsing: every form papermill and users pass, and errors that name the fix."""
import math

import pytest

from embcompat.backward.sweep import METHOD_ALIASES
from embcompat.params import as_list, as_optional_bool, check_lambdas


@pytest.mark.parametrize("value, expected", [
    ([1, 4, 16], [1.0, 4.0, 16.0]),
    ((1, 4), [1.0, 4.0]),
    (16, [16.0]),
    (2.5, [2.5]),
    ("[1, 4, 16]", [1.0, 4.0, 16.0]),   # papermill -p passes lists as this string
    ("(1, 4)", [1.0, 4.0]),
    ("1,4,16", [1.0, 4.0, 16.0]),
    (" 1, 4 ,16 ", [1.0, 4.0, 16.0]),
    ("16", [16.0]),
    ("0.5", [0.5]),
    (["1", "4"], [1.0, 4.0]),
])
def test_numbers_in_every_form(value, expected):
    assert as_list(value, "lambdas", item_type=float) == expected


@pytest.mark.parametrize("value, expected", [
    ("synthetic", ["synthetic"]),
    (["synthetic"], ["synthetic"]),
    ('["synthetic", "amazon-2014-hin"]', ["synthetic", "amazon-2014-hin"]),
    ("synthetic, amazon-2014-hin", ["synthetic", "amazon-2014-hin"]),
    ("[synthetic, amazon-2014-hin]", ["synthetic", "amazon-2014-hin"]),   # unquoted inside brackets
    ("interactions-csv:/abs/dir", ["interactions-csv:/abs/dir"]),
])
def test_names_in_every_form(value, expected):
    assert as_list(value, "datasets", item_type=str) == expected


def test_ints_and_untyped():
    assert as_list("[42, 43]", "seeds", item_type=int) == [42, 43]
    assert as_list(7, "seeds", item_type=int) == [7]
    assert as_list(7.0, "seeds", item_type=int) == [7]
    assert as_list("[1, 'a']", "x") == [1, "a"]


def test_literal_eval_only_never_eval():
    # an expression is not a literal: it stays a (harmless) string, and is never executed
    assert as_list("__import__('os').getcwd()", "datasets", item_type=str) == \
        ["__import__('os').getcwd()"]
    with pytest.raises(ValueError, match="seeds"):
        as_list("[__import__('os').getpid()]", "seeds", item_type=int)


def test_allowed_names_are_canonicalised_and_unknown_ones_listed():
    got = as_list("bc-aligner, joint-notrans-sloss", "methods", item_type=str,
                  allowed=METHOD_ALIASES)
    assert got == ["BC-Aligner", "Joint-NoTrans"]
    with pytest.raises(ValueError, match=r"methods: unknown value 'BC-Magic'; allowed: Non-BC, "
                                         r"Post-Lin-SLoss.*BC-Aligner"):
        as_list(["BC-Aligner", "BC-Magic"], "methods", item_type=str, allowed=METHOD_ALIASES)
    with pytest.raises(ValueError, match="allowed: a, b"):
        as_list("c", "x", item_type=str, allowed=["a", "b"])


@pytest.mark.parametrize("value", [[], (), "[]", "", "  "])
def test_empty_list_is_an_error_naming_the_parameter(value):
    with pytest.raises(ValueError, match="methods is empty.*allowed: Non-BC"):
        as_list(value, "methods", item_type=str, allowed=METHOD_ALIASES)
    assert as_list(value, "methods", allow_empty=True) == []


@pytest.mark.parametrize("value", [True, "abc", [1, "x"], {"a": 1}, "{'a': 1}", [[1, 2]], "1,,2",
                                   None, object()])
def test_wrong_types(value):
    with pytest.raises(ValueError, match="lambdas"):
        as_list(value, "lambdas", item_type=float)


def test_wrong_type_message_names_the_forms():
    with pytest.raises(ValueError, match=r"'abc' is not a number; pass a list such as \[1, 4, 16\]"):
        as_list("abc", "lambdas", item_type=float)
    with pytest.raises(ValueError, match="datasets: 3 is not a string"):
        as_list([3], "datasets", item_type=str)


def test_check_lambdas_sorts_and_dedupes():
    assert check_lambdas("[16, 1, 4, 4]") == [1.0, 4.0, 16.0]
    assert check_lambdas(4) == [4.0]
    assert check_lambdas("4") == [4.0]


@pytest.mark.parametrize("value", [-1, 0, "[1, -4]", "0", [1, math.inf], "nan", -0.5])
def test_check_lambdas_rejects_non_positive_naming_the_range(value):
    with pytest.raises(ValueError, match=r"lambdas: λ = .* out of range; allowed: finite numbers λ > 0"):
        check_lambdas(value)


def test_check_lambdas_empty_names_the_range():
    with pytest.raises(ValueError, match="lambdas is empty; allowed: one or more finite numbers λ > 0"):
        check_lambdas("[]")


@pytest.mark.parametrize("value, expected", [(None, None), (True, True), (False, False),
                                             ("False", False), ("true", True), ("None", None),
                                             (0, False), (1, True)])
def test_optional_bool(value, expected):
    assert as_optional_bool(value, "interactive") is expected


def test_optional_bool_rejects_others():
    with pytest.raises(ValueError, match="interactive: 'maybe' is not allowed; allowed: True, False"):
        as_optional_bool("maybe", "interactive")


def test_notebook_resolvers_accept_papermill_strings():
    """papermill -p passes lists as strings; every notebook's resolver must take them."""
    from embcompat.backward.experiment import resolve_methods
    from embcompat.config.fct import validate_side_infos

    assert resolve_methods("[BC-Aligner, Non-BC]") == ["Non-BC", "BC-Aligner"]
    assert validate_side_infos("[none, simclr]") == ("none", "simclr")
    with pytest.raises(ValueError, match="allowed"):
        validate_side_infos("[bogus]")
