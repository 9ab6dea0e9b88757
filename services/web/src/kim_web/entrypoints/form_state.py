"""What a template needs to draw one form: unique ids, the values entered, the errors the API named.

A page with several forms (the case page) gives each its key; only the form that was posted gets its values and
errors back, so a refusal is shown where it happened and ids never repeat on a page."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FormState:
    key: str
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)

    def id(self, name: str) -> str:
        return f"{self.key}-{name}".replace(".", "-").replace("_", "-")

    def value(self, name: str, default: str = "") -> str:
        v = self.values.get(name, self.defaults.get(name, default))
        return v[0] if isinstance(v, list) and v else ("" if v is None else str(v))

    def chosen(self, name: str) -> set[str]:
        v = self.values.get(name, self.defaults.get(name, []))
        return set(v) if isinstance(v, list) else {v} if v else set()

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def errors_under(self, prefix: str) -> list[str]:
        return [m for f, m in self.errors.items() if f == prefix or f.startswith(prefix + ".")]


def states(section: str | None, values: dict, errors: dict):
    """key -> FormState; the posted section gets the user's values and the errors."""

    def state(key: str, **defaults) -> FormState:
        if key == section:
            return FormState(key, values, errors, defaults)
        return FormState(key, {}, {}, defaults)

    return state
