from typing import List, Tuple

from qiao_sdk.testing.standin import Level as Level

def log(level: Level, message: str, fields: List[Tuple[str, str]]) -> None: ...
