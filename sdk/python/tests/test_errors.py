import ast
import unittest
from pathlib import Path
from typing import Callable, Dict

from qiao_sdk import testing

testing.install()  # the stand-in bindings, before the SDK modules import them

import qiao_sdk  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from qiao_sdk import errors  # noqa: E402
from wit_world.imports import types  # noqa: E402


class ErrorsTest(unittest.TestCase):
    def test_every_kind_has_a_constructor(self) -> None:
        constructors: Dict[types.ErrorKind, Callable[[str], "Err[types.Error]"]] = {
            types.ErrorKind.UNAUTHORIZED: errors.unauthorized,
            types.ErrorKind.FORBIDDEN: errors.forbidden,
            types.ErrorKind.NOT_FOUND: errors.not_found,
            types.ErrorKind.INVALID_INPUT: errors.invalid_input,
            types.ErrorKind.CONFLICT: errors.conflict,
            types.ErrorKind.RATE_LIMITED: errors.rate_limited,
            types.ErrorKind.UNAVAILABLE: errors.unavailable,
            types.ErrorKind.UNSUPPORTED: errors.unsupported,
            types.ErrorKind.INTERNAL: errors.internal,
        }
        self.assertEqual(set(constructors), set(types.ErrorKind))
        for kind, make in constructors.items():
            err = make("what went wrong")
            self.assertIsInstance(err, Err)
            self.assertEqual(err.value, types.Error(kind=kind, message="what went wrong", platform_code=None,
                                                    platform_message=None, retry_after_ms=None))
            with self.assertRaises(Err) as raised:
                raise err
            self.assertEqual(errors.kind_of(raised.exception), kind)

    def test_platform_code_message_and_retry_after(self) -> None:
        err = errors.rate_limited("slow down", 1500, platform_code=90018, platform_message="too many requests")
        self.assertEqual(err.value.kind, types.ErrorKind.RATE_LIMITED)
        self.assertEqual(err.value.retry_after_ms, 1500)
        self.assertEqual(err.value.platform_code, "90018")  # numbers become text, as the contract says
        self.assertEqual(err.value.platform_message, "too many requests")
        self.assertEqual(errors.unavailable("busy", retry_after_ms=10).value.retry_after_ms, 10)

    def test_kind_of_other_exceptions(self) -> None:
        self.assertIsNone(errors.kind_of(ValueError("x")))
        self.assertIsNone(errors.kind_of(Err("a string, as crypto answers")))

    def test_package_root_reexports(self) -> None:
        self.assertIs(qiao_sdk.unsupported, errors.unsupported)
        self.assertIs(qiao_sdk.Err, Err)
        self.assertEqual(qiao_sdk.CONTRACT, "0.2.0")
        for name in qiao_sdk.__all__:
            self.assertTrue(hasattr(qiao_sdk, name), name)
        with self.assertRaises(AttributeError):
            qiao_sdk.no_such_thing  # noqa: B018

    def test_type_checking_imports_match_the_lazy_ones(self) -> None:
        # The root lists its names twice (for type checkers, and for loading on first use): they must agree.
        tree = ast.parse(Path(qiao_sdk.__file__).read_text())
        block = next(node for node in tree.body if isinstance(node, ast.If))
        typed = {alias.name for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
        self.assertEqual(typed, set(qiao_sdk.__all__) - {"CONTRACT"})


if __name__ == "__main__":
    unittest.main()
