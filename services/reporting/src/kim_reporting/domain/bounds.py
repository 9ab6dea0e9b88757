"""Exact bounds of a hidden cell: the smallest and largest value it can take among the non-negative solutions of the
equations, given the published cells. A sparse two-phase simplex over the rationals with Bland's rule (it cannot
cycle); phase 1 is done once per system, each bound starts from its feasible basis.
"""

from __future__ import annotations

from fractions import Fraction

from .lattice import Key, Relation, order

Row = dict[int, Fraction]


class Polytope:
    """{x >= 0 : the equations hold}, x the hidden cells, the published ones constants."""

    def __init__(self, equations: list[Relation], known: dict[Key, Fraction], hidden: set[Key]):
        self.index = {k: i for i, k in enumerate(sorted(hidden, key=order))}
        n = len(self.index)
        rows: list[Row] = []
        rhs: list[Fraction] = []
        for eq in equations:
            row = {self.index[k]: Fraction(c) for k, c in eq.items() if k in self.index}
            if not row:
                continue
            b = -sum((Fraction(c) * known.get(k, 0) for k, c in eq.items() if k not in self.index), Fraction(0))
            sign = -1 if b < 0 else 1
            rows.append({j: sign * v for j, v in row.items()} | {n + len(rows): Fraction(1)})
            rhs.append(sign * b)
        self.rows, self.rhs, self.basis = rows, rhs, [n + i for i in range(len(rows))]
        cost: Row = {}
        for row in rows:
            for j, v in row.items():
                if j < n:
                    cost[j] = cost.get(j, 0) - v
        self._optimise(cost)
        if sum(self.rhs[i] for i, b in enumerate(self.basis) if b >= n):
            raise ValueError("the published cells contradict each other")
        self._drop_artificials(n)

    def interval(self, key: Key) -> tuple[Fraction, Fraction | None]:
        """(lowest, highest) value of the hidden cell; highest None when unbounded."""
        j = self.index[key]
        low = self._copy()._minimise(j, 1)
        high = self._copy()._minimise(j, -1)
        return low, None if high is None else -high

    def _copy(self) -> Polytope:
        twin = object.__new__(Polytope)
        twin.index, twin.rows, twin.rhs, twin.basis = self.index, [dict(r) for r in self.rows], list(self.rhs), \
            list(self.basis)
        return twin

    def _minimise(self, j: int, sign: int) -> Fraction | None:
        cost: Row = {j: Fraction(sign)}
        if j in self.basis:
            r = self.basis.index(j)
            cost = {c: -sign * v for c, v in self.rows[r].items() if c != j}
        if not self._optimise(cost):
            return None
        return sign * self.rhs[self.basis.index(j)] if j in self.basis else Fraction(0)

    def _optimise(self, cost: Row) -> bool:
        """Pivot until no reduced cost is negative; False when unbounded. Entering and leaving by Bland's rule."""
        while True:
            entering = min((c for c, v in cost.items() if v < 0), default=None)
            if entering is None:
                return True
            candidates = [(self.rhs[i] / row[entering], self.basis[i], i) for i, row in enumerate(self.rows)
                          if row.get(entering, 0) > 0]
            if not candidates:
                return False
            self._pivot(min(candidates)[2], entering, cost)

    def _pivot(self, r: int, c: int, cost: Row) -> None:
        pivot_row = self.rows[r]
        scale = pivot_row[c]
        pivot_row = {j: v / scale for j, v in pivot_row.items()}
        self.rows[r], self.rhs[r], self.basis[r] = pivot_row, self.rhs[r] / scale, c
        for i, row in enumerate(self.rows):
            if i != r and row.get(c):
                self.rhs[i] -= row[c] * self.rhs[r]
                _axpy(row, -row[c], pivot_row)
        if cost.get(c):
            _axpy(cost, -cost[c], pivot_row)

    def _drop_artificials(self, n: int) -> None:
        for r in range(len(self.rows) - 1, -1, -1):
            if self.basis[r] >= n:
                column = min((j for j in self.rows[r] if j < n), default=None)
                if column is None:  # a redundant equation
                    del self.rows[r], self.rhs[r], self.basis[r]
                    continue
                self._pivot(r, column, {})
        self.rows = [{j: v for j, v in row.items() if j < n} for row in self.rows]


def _axpy(row: Row, factor: Fraction, other: Row) -> None:
    for j, v in other.items():
        new = row.get(j, 0) + factor * v
        if new:
            row[j] = new
        else:
            row.pop(j, None)

