"""One-line logging through the host's ``log`` import: ``logging.info("sent", user=user_id, count=3)``. The host tags
each line with the connection and the call, so a connector logs only what it knows: a message and a few fields
(never secrets). Field values are written with ``str()``."""

from wit_world.imports import log


def _emit(level: "log.Level", message: str, fields: "dict[str, object]") -> None:
    log.log(level, message, [(key, str(value)) for key, value in fields.items()])


def debug(message: str, /, **fields: object) -> None:
    _emit(log.Level.DEBUG, message, fields)


def info(message: str, /, **fields: object) -> None:
    _emit(log.Level.INFO, message, fields)


def warn(message: str, /, **fields: object) -> None:
    _emit(log.Level.WARN, message, fields)


def error(message: str, /, **fields: object) -> None:
    _emit(log.Level.ERROR, message, fields)
