"""Sealed fields, declared on the event model: `Sealed[date]` (required in clear) or `MaybeSealed[date]` (optional).

An event with sealed fields (a `SealedEvent`) has two forms:
- clear: the sealed fields hold their values and `sealed` is empty; what the cases service decides and reads;
- sealed: every sealed field is empty and `sealed` holds them as one ciphertext (kim_runtime.sealing, under the
  client's sealing key: HKDF of the client's data key, info "kim-reporting"). The only form stored and published.

`seal` and `unseal` turn one into the other; the JSON Schema of a sealed event describes the sealed form only (its
sealed fields are not properties: they never travel in clear). Once the client's key is destroyed the sealed form
is all that is left: `is_sealed` stays true and the event is of an erased client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

from kim_runtime import sealing
import json

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from kim_schemas.base import Event
from kim_schemas.types import Encrypted


@dataclass(frozen=True)
class SealedMark:
    required: bool  # required in the clear form


class Sealed:
    """`field: Sealed[T]`: a sealed field the clear form requires."""

    def __class_getitem__(cls, tp: Any) -> Any:
        return Annotated[tp | None, SealedMark(True), Field(default=None)]


class MaybeSealed:
    """`field: MaybeSealed[T]`: a sealed field that may be empty in the clear form too."""

    def __class_getitem__(cls, tp: Any) -> Any:
        return Annotated[tp | None, SealedMark(False), Field(default=None)]


class SealedEvent(Event):
    """Base of events with sealed fields; see the module's docstring."""

    sealed_fields: ClassVar[tuple[str, ...]] = ()
    required_sealed: ClassVar[tuple[str, ...]] = ()

    sealed: Encrypted | None = Field(default=None, description="The sealed fields as one ciphertext")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        marks = {name: next((m for m in f.metadata if isinstance(m, SealedMark)), None)
                 for name, f in cls.model_fields.items()}
        cls.sealed_fields = tuple(n for n, m in marks.items() if m is not None)
        cls.required_sealed = tuple(n for n, m in marks.items() if m is not None and m.required)
        for name in cls.sealed_fields:  # the description of the clear version it seals, said to be sealed
            field = cls.model_fields[name]
            if field.description is None:
                earlier = next((b.model_fields[name].description for b in cls.__mro__[1:]
                                if name in getattr(b, "model_fields", {})), None)
                field.description = f"{earlier or name} (sealed: inside `sealed` on the wire)"

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if self.sealed is None:
            missing = [n for n in self.required_sealed if getattr(self, n) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)}: required (or sealed)")
        else:
            clear = [n for n in self.sealed_fields if getattr(self, n) is not None]
            if clear:
                raise ValueError(f"{', '.join(clear)}: sealed fields cannot also be in clear")
        return self

    @model_serializer(mode="wrap")
    def _sealed_form_has_no_clear_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if self.sealed is not None:
            for name in self.sealed_fields:
                data.pop(name, None)
        elif "sealed" in data and data["sealed"] is None:
            del data["sealed"]
        return data

    @property
    def is_sealed(self) -> bool:
        return self.sealed is not None

    def sealed_values(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=set(self.sealed_fields))

    def seal(self, key: bytes | None, key_id: str, client_id: str) -> Self:
        """The sealed form under the client's sealing key (None: the client is erased, sealed under a key thrown
        away at once). A sealed event stays as it is."""
        if self.is_sealed:
            return self
        values = self.sealed_values()
        clear = self.model_dump(mode="json", exclude=set(self.sealed_fields))
        part = (sealing.seal_values(key, key_id, client_id, self.event_type, values) if key is not None
                else sealing.seal_shredded(client_id, self.event_type, values))
        return self.model_validate(clear | {"sealed": part})

    def unseal(self, key: bytes, client_id: str) -> Self:
        """The clear form; kim_runtime.sealing.Unopenable when the key is not this client's."""
        if not self.is_sealed:
            return self
        values = sealing.open_values(key, client_id, self.event_type, self.sealed.model_dump())
        data = self.model_dump(mode="json", exclude={"sealed"}) | values
        return self.model_validate(data)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The sealed form, the only one on the wire: the sealed fields are inside `sealed`, which is required."""
        schema = super().model_json_schema(*args, **kwargs)
        props = schema.get("properties", {})
        for name in cls.sealed_fields:
            props.pop(name, None)
        props["sealed"] = {"$ref": "#/$defs/Encrypted", "description": (
            "Sealed with the client's sealing key (HKDF-SHA256 of the client's data key, info \"kim-reporting\"; "
            "AES-256-GCM, associated data \"kim-sealed\\0<client id>\\0<event type>\"): the JSON object of "
            + ", ".join(cls.sealed_fields) + ". Gone with the key when the client is erased; key_id \"shredded\": "
            "recorded after the erasure, never readable")}
        schema["required"] = sorted({*[r for r in schema.get("required", []) if r not in cls.sealed_fields],
                                     "sealed"})
        return _without_unused_defs(schema)


def _without_unused_defs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs", {})
    used: set[str] = set()
    text = json.dumps({k: v for k, v in schema.items() if k != "$defs"})
    while True:
        found = {name for name in defs if f'"#/$defs/{name}"' in text} - used
        if not found:
            break
        used |= found
        text += json.dumps([defs[name] for name in found])
    if defs:
        schema["$defs"] = {k: v for k, v in defs.items() if k in used}
    return schema
