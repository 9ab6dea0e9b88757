"""Invented people: names, birthdays, addresses and phone numbers drawn from a seeded random (no faker needed).

The same seed always gives the same people. Names are common given and family names of the countries most
clients of the KIM in Kreis Unna come from; combinations are random, so no real person is meant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from kim_cli.demo.data import Municipality


@dataclass(frozen=True)
class Origin:
    weight: int
    languages: tuple[str, ...]
    given: tuple[str, ...]
    family: tuple[str, ...]
    arrival_years: tuple[int, ...]


ORIGINS = (
    Origin(30, ("ar",), ("Ahmad", "Mohammed", "Omar", "Yusuf", "Khaled", "Rami", "Hassan", "Fatima", "Aisha",
                         "Layla", "Nour", "Rana", "Huda", "Mariam", "Samir", "Amal"),
           ("Al-Hassan", "Haddad", "Khalil", "Nasser", "Saleh", "Darwish", "Mansour", "Abboud", "Hamdan", "Qasim"),
           (2015, 2015, 2016, 2016, 2017, 2019, 2022, 2023, 2024)),
    Origin(22, ("uk", "ru"), ("Oleksandr", "Dmytro", "Andrii", "Serhii", "Olena", "Iryna", "Nataliia", "Kateryna",
                              "Yuliia", "Tetiana", "Mykola", "Oksana"),
           ("Kovalenko", "Shevchenko", "Bondarenko", "Tkachenko", "Melnyk", "Kravchenko", "Boiko", "Savchenko"),
           (2022, 2022, 2022, 2023, 2023, 2024)),
    Origin(18, ("prs", "ps"), ("Farid", "Habib", "Jawad", "Mustafa", "Zahra", "Parwana", "Farzana", "Shabnam",
                               "Nasir", "Hamid", "Marzia", "Sohrab"),
           ("Rahimi", "Ahmadi", "Karimi", "Sultani", "Hakimi", "Noori", "Popal", "Wardak"),
           (2015, 2016, 2018, 2021, 2022, 2023, 2024)),
    Origin(8, ("tr", "ku"), ("Mehmet", "Emre", "Baran", "Deniz", "Zeynep", "Elif", "Rojin", "Berfin", "Serhat"),
           ("Yılmaz", "Demir", "Kaya", "Aydın", "Çelik", "Doğan", "Arslan"), (2017, 2019, 2021, 2023, 2024)),
    Origin(8, ("fr",), ("Mamadou", "Ibrahima", "Alpha", "Aissatou", "Fatoumata", "Mariama", "Ousmane", "Kadiatou"),
           ("Diallo", "Bah", "Barry", "Sow", "Camara", "Condé", "Baldé"), (2016, 2018, 2019, 2022, 2023)),
    Origin(7, ("fa",), ("Reza", "Amir", "Sara", "Maryam", "Negar", "Arash", "Shirin"),
           ("Mohammadi", "Hosseini", "Rezaei", "Jafari", "Moradi"), (2016, 2019, 2022, 2023)),
    Origin(7, ("ti",), ("Tesfay", "Yonas", "Dawit", "Mulu", "Selam", "Helen", "Filmon", "Senait"),
           ("Tesfaye", "Kidane", "Berhane", "Gebremedhin", "Habte", "Tekle"), (2015, 2016, 2017, 2019, 2021)),
)
STREETS = ("Bahnhofstraße", "Hauptstraße", "Schulstraße", "Kirchstraße", "Gartenstraße", "Lindenweg", "Am Markt",
           "Friedrich-Ebert-Straße", "Mühlenweg", "Bergstraße", "Ringstraße", "Lessingstraße", "Am Bauhof")


@dataclass(frozen=True)
class Person:
    name: str
    date_of_birth: date
    address: str
    contact: str
    languages: tuple[str, ...]
    arrival_year: int

    def body(self) -> dict:
        """The body of POST /clients."""
        return {"name": self.name, "date_of_birth": self.date_of_birth.isoformat(), "address": self.address,
                "contact": self.contact, "languages": list(self.languages), "arrival_year": self.arrival_year}


def person(rnd: random.Random, home: Municipality, today: date) -> Person:
    origin = rnd.choices(ORIGINS, weights=[o.weight for o in ORIGINS])[0]
    arrival = min(rnd.choice(origin.arrival_years), today.year)
    age = rnd.choices((rnd.randint(18, 26), rnd.randint(27, 45), rnd.randint(46, 66)), weights=(3, 5, 2))[0]
    born = date(today.year - age, rnd.randint(1, 12), rnd.randint(1, 28))
    languages = origin.languages[:1] + tuple(x for x in origin.languages[1:] + ("en",) if rnd.random() < 0.3)
    return Person(
        name=f"{rnd.choice(origin.given)} {rnd.choice(origin.family)}",
        date_of_birth=born,
        address=f"{rnd.choice(STREETS)} {rnd.randint(1, 120)}, {home.postcode} {home.name}",
        contact=f"+49 15{rnd.randint(1, 7)} {rnd.randint(1000000, 9999999)}",
        languages=languages,
        arrival_year=arrival,
    )
