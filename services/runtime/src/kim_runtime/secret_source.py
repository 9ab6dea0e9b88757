"""A secret given either inline (NAME) or as a file (NAME_FILE), read the same way for every key a service holds."""

from __future__ import annotations

from pathlib import Path


def read_secret(name: str, value: str | None, file: Path | None, error: type[Exception]) -> tuple[str, str] | None:
    """The secret's text and where it came from ("NAME" or "NAME_FILE (path)"); None when neither is set.
    Both set, or a file that cannot be read, raise `error` with a message that says what to fix."""
    if value and file:
        raise error(f"{name} and {name}_FILE are both set: keep one of them")
    if file:
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise error(f"{name}_FILE: cannot read {file} ({exc.strerror}); check the path and that this "
                        "process's user may read it") from None
        return text, f"{name}_FILE ({file})"
    if value:
        return value, name
    return None
