"""Robust parsing of notebook parameters (shared by every notebook's ``parameters`` cell).

papermill's command line passes ``-p lambdas "[1, 4, 16]"`` to the notebook as the *string*
``"[1, 4, 16]"`` (``-p`` only converts ``True``/``False``/``None``, ints and floats; ``-y``/``-f``
YAML gives real lists). Every list-valued parameter therefore goes through :func:`as_list`, which
accepts all the forms a user may type:

* a list or tuple: ``[1, 4, 16]``;
* a single scalar: ``16`` or ``"synthetic"`` (a one-element list);
* a string holding a Python/JSON list: ``"[1, 4, 16]"``, ``'["BC-Aligner", "Joint-NoTrans"]'``;
* a comma-separated string: ``"1,4,16"``, ``"BC-Aligner, Joint-NoTrans"`` (unquoted names), also
  inside brackets: ``"[BC-Aligner, Joint-NoTrans]"``.

Strings are read with :func:`ast.literal_eval` (literals only, never :func:`eval`). A bad value
raises ``ValueError`` naming the parameter and what is allowed.
"""
from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["as_list", "check_lambdas", "as_optional_bool", "check_int", "check_seeds"]

_FORMS = ("a list such as [1, 4, 16] or ['a', 'b'], a single value, or a string holding either "
          "(\"[1, 4, 16]\", \"1,4,16\", \"16\")")
_TYPE_NAMES = {float: "a number", int: "an integer", str: "a string"}


def _unquote_token(token: str, item_type: type | None) -> Any:
    """One comma-separated token: a quoted literal is unquoted, a bare word stays a string unless
    a number is expected (or no type is given and it reads as a number)."""
    t = token.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return ast.literal_eval(t)
    if item_type is str:
        return t
    try:
        v = ast.literal_eval(t)
    except (ValueError, SyntaxError):
        return t
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else t


def _parse_string(value: str, name: str, item_type: type | None) -> list:
    s = value.strip()
    if not s:
        return []
    bracketed = s[0] in "[(" and s[-1] in "])"
    if bracketed or "," in s:
        try:
            parsed = ast.literal_eval(s)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            parsed = None
        else:
            if isinstance(parsed, (list, tuple)):
                return list(parsed)
            if isinstance(parsed, (int, float, str)):
                return [parsed]
            raise ValueError(f"{name}: {value!r} is a {type(parsed).__name__}, not a list; "
                             f"pass {_FORMS}")
        inner = s[1:-1] if bracketed else s
        tokens = [t for t in inner.split(",")]
        if bracketed and not inner.strip():
            return []
        if any(not t.strip() for t in tokens):
            raise ValueError(f"{name}: {value!r} has an empty entry; pass {_FORMS}")
        return [_unquote_token(t, item_type) for t in tokens]
    return [_unquote_token(s, item_type)]


def _coerce(item: Any, name: str, item_type: type | None) -> Any:
    if item_type is None:
        return item
    what = _TYPE_NAMES.get(item_type, f"a {item_type.__name__}")
    bad = ValueError(f"{name}: {item!r} is not {what}; pass {_FORMS}")
    if isinstance(item, bool):
        raise bad
    if item_type is float:
        if isinstance(item, (int, float)):
            return float(item)
        if isinstance(item, str):
            try:
                return float(item)
            except ValueError:
                raise bad from None
        raise bad
    if item_type is int:
        if isinstance(item, int):
            return int(item)
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, str):
            try:
                return int(item.strip())
            except ValueError:
                raise bad from None
        raise bad
    if item_type is str:
        if isinstance(item, str) and item.strip():
            return item.strip()
        raise bad
    if not isinstance(item, item_type):
        raise bad
    return item


def _match_allowed(item: Any, name: str, allowed: Iterable | Mapping) -> Any:
    """Return the canonical spelling of ``item`` (exact, then case-insensitive match)."""
    table = dict(allowed) if isinstance(allowed, Mapping) else {a: a for a in allowed}
    if item in table:
        return table[item]
    if isinstance(item, str):
        folded = {str(k).lower(): v for k, v in table.items()}
        if item.lower() in folded:
            return folded[item.lower()]
    canon = ", ".join(str(v) for v in dict.fromkeys(table.values()))
    raise ValueError(f"{name}: unknown value {item!r}; allowed: {canon}")


def as_list(value: Any, name: str, *, item_type: type | None = None,
            allowed: Iterable | Mapping | None = None, allow_empty: bool = False) -> list:
    """Turn a notebook parameter into a list (see the module docstring for the accepted forms).

    Args:
        value: the parameter as the notebook received it. ``None`` is not a list: callers map it
            to their default before calling.
        name: the parameter's name, used in every error message.
        item_type: ``float``, ``int`` or ``str`` to check and convert each item (numbers given as
            strings are converted; ``True``/``False`` are never numbers); ``None`` keeps items.
        allowed: the allowed values (an iterable), or a mapping from every accepted spelling to
            its canonical value (e.g. method slugs to paper names). Matching is exact, then
            case-insensitive; the result holds canonical values.
        allow_empty: accept an empty list.

    Returns:
        The items, in the given order (duplicates kept).

    Raises:
        ValueError: naming ``name`` and the allowed values or forms, for ``None``, a wrong type,
            an unknown value or an empty list.
    """
    if value is None:
        raise ValueError(f"{name} is None; pass {_FORMS}")
    if isinstance(value, str):
        items = _parse_string(value, name, item_type)
    elif isinstance(value, (list, tuple, range)):
        items = list(value)
    elif hasattr(value, "tolist") and not isinstance(value, (int, float)):  # numpy / torch arrays
        items = value.tolist()
        items = items if isinstance(items, list) else [items]
    elif isinstance(value, (int, float)):  # bools too: _coerce rejects them where numbers are due
        items = [value]
    else:
        raise ValueError(f"{name}: got a {type(value).__name__} ({value!r}); pass {_FORMS}")
    if not items and not allow_empty:
        hint = f"; allowed: {', '.join(str(v) for v in dict.fromkeys(dict(allowed).values()))}" \
            if isinstance(allowed, Mapping) else (
                f"; allowed: {', '.join(map(str, allowed))}" if allowed is not None else "")
        raise ValueError(f"{name} is empty; give at least one value{hint} ({_FORMS})")
    out = []
    for item in items:
        if isinstance(item, (list, tuple, dict, set)):
            raise ValueError(f"{name}: nested value {item!r}; pass a flat list ({_FORMS})")
        item = _coerce(item, name, item_type)
        if allowed is not None:
            item = _match_allowed(item, name, allowed)
        out.append(item)
    return out


def check_lambdas(values: Any, name: str = "lambdas") -> list[float]:
    """Parse and check a grid of alignment weights λ (paper Eq. 3: λ > 0).

    Args:
        values: any form :func:`as_list` accepts (``[1, 4, 16]``, ``"[1, 4, 16]"``, ``4``).
        name: the parameter's name for the error messages.

    Returns:
        The distinct values as floats, sorted increasingly.

    Raises:
        ValueError: an empty grid, a non-number, or a λ that is not a finite number > 0 (the
            message names the allowed range).
    """
    lams = as_list(values, name, item_type=float, allow_empty=True)
    if not lams:
        raise ValueError(f"{name} is empty; allowed: one or more finite numbers λ > 0, e.g. "
                         f"[1, 2, 4, 8, 16, 32] or \"[1, 4, 16]\"")
    for lam in lams:
        if not (math.isfinite(lam) and lam > 0):
            raise ValueError(f"{name}: λ = {lam!r} is out of range; allowed: finite numbers "
                             f"λ > 0 (0 < λ < inf), e.g. [1, 2, 4, 8, 16, 32]")
    return sorted(set(lams))


def check_seeds(seeds: Any, defaults: Iterable[int], name: str = "seeds") -> list[int]:
    """A training-seed list parameter: distinct ints, or ``defaults`` when ``seeds`` is None.

    Raises:
        ValueError: naming ``name``, for a bad list or a repeated seed.
    """
    if seeds is None:
        return list(defaults)
    out = as_list(seeds, name, item_type=int)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must be distinct, got {out}")
    return out


def as_optional_bool(value: Any, name: str) -> bool | None:
    """``True``/``False``/``None``, also from the strings ``"true"``, ``"false"``, ``"none"``,
    ``"1"``, ``"0"``, ``"yes"``, ``"no"`` (case-insensitive).

    Raises:
        ValueError: anything else, naming the allowed values.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "1", "yes"):
            return True
        if v in ("false", "0", "no"):
            return False
        if v in ("none", "null", "auto", ""):
            return None
    raise ValueError(f"{name}: {value!r} is not allowed; allowed: True, False or None (auto)")


def check_int(value: Any, name: str, *, minimum: int) -> int:
    """``value`` if it is an integer (not a bool) ``>= minimum``.

    Raises:
        ValueError: ``"<name> must be an integer >= <minimum>, got <value>"``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
