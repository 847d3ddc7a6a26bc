"""Host functions and script records, each declared once with real type hints.

A host function is a method marked with :func:`host_function`. Its name is how the runtime
(the ``*.js`` files) calls it, its signature says what a script may pass, and the checks
are generated from that signature (the first time the function runs, then kept):

.. code-block:: python

    @host_function("VirtualFS.ReadDir")
    def ReadDir(self, path: str, sort_by: str = "name", sort_dir: str = "asc") -> dict[str, Any]:
        ...

``v.ReadDir(3)`` then throws ``TypeError: VirtualFS.ReadDir(path, sortBy, sortDir): path
must be a string``. A parameter's name in messages is its Python name in camelCase, without
a trailing ``_`` (``from_`` is ``from``, ``sort_by`` is ``sortBy``).

The type hints understood are ``str``, ``bool``, ``int`` (a whole number), ``float`` (any
number), ``list[T]``, ``dict[str, T]``, ``Any``, unions (``str | list[str]``; with
``None``, null is accepted) and a :class:`HostObject` subclass with a ``script_class``
(a reference to a script object, such as a VirtualFS, resolved to the Python object). A
boolean is never a number. As JS calls them: an ``undefined`` argument arrives as null, so
null for a parameter with a default gives the default (unless its type accepts None); a
missing argument is checked as null; more arguments than declared is a ``TypeError``.

A :class:`ScriptRecord` declares the plain properties of a script object that Python reads
(``client.Options``, a watcher's settings): each annotated class attribute is a field, its
value the default the script object starts with.
"""

from __future__ import annotations

import builtins
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from aft.syncjs.engine import HostFunction as HostCallable
from aft.syncjs.engine import HostTypeError

if TYPE_CHECKING:
    MethodT = TypeVar("MethodT", bound=Callable[..., Any])
    RecordT = TypeVar("RecordT", bound="ScriptRecord")
    #: Finds the script object of a class (a :class:`HostObject` with a ``script_class``)
    #: that a reference's handle names: ``resolve(kind, handle)``.
    Resolver = Callable[[type[Any], Any], Any]

#: The attribute :func:`host_function` sets on a method: ``(name, wrapped)``.
_DECLARATION = "__host_function__"
_NO_DEFAULT: Any = object()


def host_function(name: str, *, wrapped: bool = False) -> Callable[[MethodT], MethodT]:
    """Declare a method as the host function ``name``.

    Args:
        name: how JS calls it: ``"FileExists"`` for a global, ``"VirtualFS.Stat"`` for a
            method of a script object (``Owner.Method``), or another name the runtime uses.
        wrapped: the runtime's JS calls it by name and builds the script's face around it
            (a constructor, a getter, a method that changes the answer). Without it, the
            runtime defines the global or method itself from :func:`plain_functions`.
    """

    def declare(method: MethodT) -> MethodT:
        setattr(method, _DECLARATION, (name, wrapped))
        return method

    return declare


class BadArgument(Exception):
    """Raised inside a host function for an argument value it cannot take.

    The function's declaration turns it into a JS ``TypeError`` that starts with the
    function's signature, like the generated type checks.

    Args:
        problem: what is wrong, e.g. ``"must be a hex string"``.
        argument: the Python name of the argument (None: the call as a whole).
    """

    def __init__(self, problem: str, *, argument: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.argument = argument


def script_name(python_name: str) -> str:
    """A parameter's name as scripts know it: ``sort_by`` -> ``sortBy``, ``from_`` -> ``from``."""
    head, *rest = python_name.rstrip("_").split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


class Expectation:
    """What a type hint accepts from JS, and how a message says it."""

    __slots__ = ("accepts", "what", "plural", "nullable", "reference")

    def __init__(
        self,
        accepts: Callable[[Any], bool],
        what: str,
        plural: str,
        *,
        nullable: bool = False,
        reference: type[HostObject] | None = None,
    ) -> None:
        self.accepts = accepts
        self.what = what
        self.plural = plural
        self.nullable = nullable
        self.reference = reference


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SIMPLE = {
    str: Expectation(lambda v: isinstance(v, str), "a string", "strings"),
    bool: Expectation(lambda v: isinstance(v, bool), "a boolean", "booleans"),
    int: Expectation(_is_whole, "a whole number", "whole numbers"),
    float: Expectation(_is_number, "a number", "numbers"),
    list: Expectation(lambda v: isinstance(v, list), "an array", "arrays"),
    dict: Expectation(lambda v: isinstance(v, dict), "an object", "objects"),
}
_ANYTHING = Expectation(lambda v: True, "any value", "values", nullable=True)


def expectation(hint: Any) -> Expectation:
    """The check for a type hint (an evaluated one: a type, not its text).

    Raises:
        TypeError: for a hint this module cannot check.
    """
    if hint is Any or hint is object:
        return _ANYTHING
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is types.UnionType or origin is typing.Union:
        return _union(arguments)
    if origin is list:
        item = expectation(arguments[0])
        if item is _ANYTHING:
            return _SIMPLE[list]
        return Expectation(
            lambda v: isinstance(v, list) and all(item.accepts(i) for i in v),
            f"an array of {item.plural}",
            f"arrays of {item.plural}",
        )
    if origin is dict and arguments[0] is str:
        value = expectation(arguments[1])
        if value is _ANYTHING:
            return _SIMPLE[dict]
        return Expectation(
            lambda v: isinstance(v, dict) and all(value.accepts(i) for i in v.values()),
            f"an object of {value.plural}",
            f"objects of {value.plural}",
        )
    if isinstance(hint, type) and issubclass(hint, HostObject) and hint.script_class:
        script_class = hint.script_class
        return Expectation(
            lambda v: isinstance(v, dict) and v.get("class") == script_class and "handle" in v,
            f"a {script_class}",
            f"{script_class} objects",
            reference=hint,
        )
    raise TypeError(f"a host function cannot check the type {hint!r}")


def _union(members: tuple[Any, ...]) -> Expectation:
    nullable = type(None) in members
    if float in members:  # int | float: any number
        members = tuple(m for m in members if m is not int)
    parts = [expectation(m) for m in members if m is not type(None)]
    if len(parts) == 1:
        only = parts[0]
        return Expectation(only.accepts, only.what, only.plural, nullable=nullable)
    return Expectation(
        lambda v: any(p.accepts(v) for p in parts),
        " or ".join(p.what for p in parts),
        " or ".join(p.plural for p in parts),
        nullable=nullable,
    )


def _evaluate(hint: Any, namespace: dict[str, Any]) -> Any:
    """A type hint as an object (annotations are text under ``from __future__ import``)."""
    if not isinstance(hint, str):
        return hint
    if hint.isidentifier():  # most hints: looked up, not compiled
        found = namespace.get(hint, _NO_DEFAULT)
        return getattr(builtins, hint) if found is _NO_DEFAULT else found
    return eval(hint, namespace)


class Parameter:
    """One parameter of a host function, as scripts see it."""

    __slots__ = ("name", "script_name", "expect", "default")

    def __init__(self, name: str, expect: Expectation, default: Any) -> None:
        self.name = name
        self.script_name = script_name(name)
        self.expect = expect
        self.default = default


def _parameters(method: Callable[..., Any]) -> tuple[Parameter, ...]:
    """The parameters of ``method`` after ``self``, read from its code and annotations."""
    original = method
    while hasattr(original, "__wrapped__"):  # through wrapping decorators (io_call...)
        original = original.__wrapped__
    code = original.__code__
    if code.co_kwonlyargcount or code.co_flags & (0x04 | 0x08):  # *args, **kwargs
        raise TypeError(f"{original.__qualname__}: a host function takes positional arguments")
    names = code.co_varnames[1 : code.co_argcount]
    defaults = original.__defaults__ or ()
    first_default = len(names) - len(defaults)
    hints = original.__annotations__
    return tuple(
        Parameter(
            name,
            expectation(_evaluate(hints[name], original.__globals__)),
            defaults[i - first_default] if i >= first_default else _NO_DEFAULT,
        )
        for i, name in enumerate(names)
    )


class HostFunction:
    """One declared host function: its name, its method and the checks of its arguments.

    Args:
        name: see :func:`host_function`.
        method: the function to call with the receiver and the checked arguments.
        wrapped: see :func:`host_function`.
    """

    __slots__ = ("name", "method", "wrapped", "_parameters")

    def __init__(self, name: str, method: Callable[..., Any], *, wrapped: bool = False) -> None:
        self.name = name
        self.method = method
        self.wrapped = wrapped
        self._parameters: tuple[Parameter, ...] | None = None

    @property
    def owner(self) -> str:
        """The script object it is a method of (``"VirtualFS"``); ``""`` for a global."""
        return self.name.rpartition(".")[0]

    @property
    def member(self) -> str:
        """Its name on the owner (``"Stat"``), or the whole name for a global."""
        return self.name.rpartition(".")[2]

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """The parameters, read from the method's signature on first use."""
        if self._parameters is None:
            self._parameters = _parameters(self.method)
        return self._parameters

    def signature(self, owner: str | None = None) -> str:
        """How messages name the call: ``VirtualFS.ReadDir(path, sortBy, sortDir)``.

        Args:
            owner: the script class to name instead of the declared owner (an
                ``SftpClient`` for a method declared on ``Client``).
        """
        name = f"{owner}.{self.member}" if owner and self.owner else self.name
        return f"{name}({', '.join(p.script_name for p in self.parameters)})"

    def check(
        self, args: Sequence[Any], *, owner: str | None = None, resolve: Resolver | None = None
    ) -> list[Any]:
        """The arguments to call the method with: checked, defaults filled in.

        Raises:
            HostTypeError: naming the argument that does not fit.
        """
        parameters = self.parameters
        if len(args) > len(parameters):
            raise HostTypeError(f"{self.signature(owner)}: too many arguments ({len(args)})")
        values = []
        for index, parameter in enumerate(parameters):
            value = args[index] if index < len(args) else None
            expect = parameter.expect
            if value is None and not expect.nullable and parameter.default is not _NO_DEFAULT:
                value = parameter.default
            elif not (value is None and expect.nullable) and not expect.accepts(value):
                what = f"{self.signature(owner)}: {parameter.script_name}"
                raise HostTypeError(f"{what} must be {expect.what}")
            elif expect.reference is not None and value is not None:
                if resolve is None:
                    raise TypeError(f"{self.name}: no resolver for {parameter.name}")
                value = resolve(expect.reference, value["handle"])
            values.append(value)
        return values

    def call(
        self,
        receiver: object,
        args: Sequence[Any],
        *,
        owner: str | None = None,
        resolve: Resolver | None = None,
    ) -> Any:
        """Check ``args`` and call the method on ``receiver``.

        Raises:
            HostTypeError: for an argument that does not fit its declaration.
        """
        values = self.check(args, owner=owner, resolve=resolve)
        try:
            return self.method(receiver, *values)
        except BadArgument as exc:
            what = self.signature(owner)
            if exc.argument is not None:
                what = f"{what}: {script_name(exc.argument)}"
                raise HostTypeError(f"{what} {exc.problem}") from None
            raise HostTypeError(f"{what}: {exc.problem}") from None


class HostObject:
    """A class whose methods marked with :func:`host_function` are host functions.

    Each subclass gets :attr:`HOST_FUNCTIONS` when it is defined (its own declarations
    and those it inherits); their checks are built when each first runs.
    """

    #: The declared host functions, by name.
    HOST_FUNCTIONS: ClassVar[Mapping[str, HostFunction]] = {}
    #: The JS class of this object, which messages name for its methods (``""``: the owner
    #: declared). Set on the class, it also lets scripts pass such objects as arguments.
    script_class: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = dict(cls.HOST_FUNCTIONS)
        for attribute in vars(cls).values():
            declared = getattr(attribute, _DECLARATION, None)
            if declared is not None:
                name, wrapped = declared
                found[name] = HostFunction(name, attribute, wrapped=wrapped)
        cls.HOST_FUNCTIONS = found


def bind(host: HostObject) -> dict[str, HostCallable]:
    """``host``'s host functions, called on it: for the engine's table."""

    def bound(function: HostFunction) -> HostCallable:
        def call(*args: Any) -> Any:
            return function.call(host, args)

        return call

    return {name: bound(function) for name, function in type(host).HOST_FUNCTIONS.items()}


def bind_methods(
    kind: type[HostObject],
    receive: Callable[[Any], HostObject],
    resolve: Resolver | None = None,
) -> dict[str, HostCallable]:
    """The host functions of script objects of ``kind``, for the engine's table.

    JS passes the object (its handle or its state) as the first argument; ``receive``
    turns that into the Python object whose method runs.
    """

    def bound(function: HostFunction) -> HostCallable:
        def call(receiver: Any = None, *args: Any) -> Any:
            target = receive(receiver)
            owner = target.script_class or None
            return function.call(target, args, owner=owner, resolve=resolve)

        return call

    return {name: bound(function) for name, function in kind.HOST_FUNCTIONS.items()}


def plain_functions(kinds: Iterable[type[HostObject]]) -> dict[str, list[str]]:
    """The functions the runtime defines itself, by owner (``""``: globals), in order."""
    found: dict[str, list[str]] = {}
    for kind in kinds:
        for function in kind.HOST_FUNCTIONS.values():
            if not function.wrapped:
                found.setdefault(function.owner, []).append(function.member)
    return found


class ScriptRecord:
    """The plain properties of a script object that Python reads, with their defaults.

    Each annotated class attribute of a subclass is a field; :meth:`read` checks what a
    script set, field by field (a missing field is its default; others are ignored).
    """

    _checks: ClassVar[dict[str, Expectation] | None] = None

    @classmethod
    def _hints(cls) -> dict[str, tuple[Any, dict[str, Any]]]:
        """Each field's type hint, with the namespace to evaluate it in."""
        found = {}
        for klass in reversed(cls.__mro__[:-1]):
            namespace = vars(sys.modules[klass.__module__])
            for name, hint in vars(klass).get("__annotations__", {}).items():
                if not name.startswith("_"):
                    found[name] = (hint, namespace)
        return found

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every field's default, as a script object starts."""
        return {name: getattr(cls, name) for name in cls._hints()}

    @classmethod
    def checks(cls) -> dict[str, Expectation]:
        """What each field accepts, read from the class's type hints on first use."""
        found = cls.__dict__.get("_checks")
        if found is None:
            found = {
                name: expectation(_evaluate(hint, namespace))
                for name, (hint, namespace) in cls._hints().items()
            }
            cls._checks = found
        return found

    @classmethod
    def problem(cls, name: str, value: Any) -> str | None:
        """Why ``value`` does not fit field ``name`` (``"must be a string"``), or None."""
        expect = cls.checks()[name]
        if (value is None and expect.nullable) or expect.accepts(value):
            return None
        return f"must be {expect.what}"

    @classmethod
    def read(cls: type[RecordT], given: Any, owner: str) -> RecordT:
        """The fields of ``given`` (a JS object), checked.

        Args:
            given: the object the script set.
            owner: how messages name the object (``"FsWatcher"``, ``"SftpClient.Options"``).

        Raises:
            HostTypeError: ``<owner>.<field> must be ...`` for the first field that does
                not fit, or ``<owner> must be an object``.
        """
        if not isinstance(given, dict):
            raise HostTypeError(f"{owner} must be an object")
        record = cls.__new__(cls)
        for name in cls.checks():
            value = given.get(name, getattr(cls, name))
            problem = cls.problem(name, value)
            if problem is not None:
                raise HostTypeError(f"{owner}.{name} {problem}")
            setattr(record, name, value)
        return record
