import unittest
from typing import List, Optional, Tuple

from qiao_sdk import testing

testing.install()  # the stand-in bindings, before the SDK modules import them

from componentize_py_types import Err  # noqa: E402
from qiao_sdk.pagination import paginate  # noqa: E402
from wit_world.imports import types  # noqa: E402


class PaginateTest(unittest.TestCase):
    def test_follows_cursors_to_the_end(self) -> None:
        pages = {None: ([1, 2], "b"), "b": ([3], "c"), "c": ([], "d"), "d": ([4], "")}
        seen: List[Optional[str]] = []

        def fetch(cursor: Optional[str]) -> Tuple[List[int], Optional[str]]:
            seen.append(cursor)
            return pages[cursor]

        self.assertEqual(list(paginate(fetch)), [1, 2, 3, 4])
        self.assertEqual(seen, [None, "b", "c", "d"])

    def test_is_lazy(self) -> None:
        fetched: List[Optional[str]] = []

        def fetch(cursor: Optional[str]) -> Tuple[List[int], Optional[str]]:
            fetched.append(cursor)
            return [len(fetched)], str(len(fetched))

        items = paginate(fetch)
        self.assertEqual(next(items), 1)
        self.assertEqual(fetched, [None])

    def test_fails_on_a_repeated_cursor(self) -> None:
        pages = {None: ([1], "a"), "a": ([2], "b"), "b": ([3], "a")}
        with self.assertRaises(Err) as raised:
            list(paginate(lambda cursor: pages[cursor]))
        self.assertEqual(raised.exception.value.kind, types.ErrorKind.INTERNAL)
        self.assertIn("repeated the cursor 'a'", raised.exception.value.message)
        # A page answering its own cursor, and a start cursor coming back.
        with self.assertRaises(Err):
            list(paginate(lambda cursor: ([1], "same"), cursor="same"))

    def test_fails_past_the_page_cap(self) -> None:
        def endless(cursor: Optional[str]) -> Tuple[List[int], Optional[str]]:
            n = int(cursor or 0) + 1
            return [n], str(n)

        with self.assertRaises(Err) as raised:
            list(paginate(endless, max_pages=5))
        self.assertIn("after 5 pages", raised.exception.value.message)

        def five(cursor: Optional[str]) -> Tuple[List[int], Optional[str]]:
            n = int(cursor or 0) + 1
            return [n], None if n == 5 else str(n)

        self.assertEqual(list(paginate(five, max_pages=5)), [1, 2, 3, 4, 5])


if __name__ == "__main__":
    unittest.main()
