"""Traffic policies: which model answers a request, and which one gets a shadow copy.

A small YAML file:

    routes:                         # weighted canary: each request goes to one of these
      - model: models:/fraud@champion
        weight: 90
      - model: models:/fraud@challenger
        weight: 10
    shadow:                         # optional: gets a copy of each request; answer logged, never returned
      model: models:/fraud/7
      fraction: 1.0                 # share of requests copied (default: all)
    seed: 42                        # optional: a fixed seed makes the split reproducible

One route with weight 100 (or ``-m`` on the command line) is plain serving. Weights are
relative: 9 and 1 is the same split as 90 and 10.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from runstone.errors import InvalidInput


@dataclass(frozen=True)
class Route:
    model: str
    weight: float


@dataclass(frozen=True)
class Shadow:
    model: str
    fraction: float = 1.0


@dataclass(frozen=True)
class TrafficPolicy:
    routes: tuple[Route, ...]
    shadow: Shadow | None = None
    seed: int | None = None

    @classmethod
    def single(cls, uri: str) -> TrafficPolicy:
        return cls((Route(uri, 100.0),))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"routes": [{"model": r.model, "weight": r.weight} for r in self.routes]}
        if self.shadow is not None:
            out["shadow"] = {"model": self.shadow.model, "fraction": self.shadow.fraction}
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    @classmethod
    def from_dict(cls, data: object, where: str = "the traffic policy") -> TrafficPolicy:
        if not isinstance(data, dict):
            raise InvalidInput(f"{where} must be a mapping with 'routes' (and optionally 'shadow', 'seed').")
        unknown = sorted(set(data) - {"routes", "shadow", "seed"})
        if unknown:
            raise InvalidInput(f"{where} has unknown keys {unknown}; it takes 'routes', 'shadow' and 'seed'.")
        raw_routes = data.get("routes")
        if not isinstance(raw_routes, list) or not raw_routes:
            raise InvalidInput(f"{where} needs 'routes': a list of {{model: <uri>, weight: <number>}}.")
        routes = []
        for i, item in enumerate(raw_routes):
            if not isinstance(item, dict) or not isinstance(item.get("model"), str) or not item["model"]:
                raise InvalidInput(f"Route {i + 1} of {where} needs 'model': a model URI.")
            weight = item.get("weight", 1)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise InvalidInput(f"Route {i + 1} of {where} has weight {weight!r}; weights are numbers >= 0.")
            routes.append(Route(item["model"], float(weight)))
        if len(routes) > 2:
            raise InvalidInput(f"{where} has {len(routes)} routes; a canary splits between one or two models.")
        if sum(r.weight for r in routes) <= 0:
            raise InvalidInput(f"The weights of {where} add up to 0; at least one route must get traffic.")
        if len({r.model for r in routes}) != len(routes):
            raise InvalidInput(f"{where} names the same model twice.")
        shadow = None
        if data.get("shadow") is not None:
            raw = data["shadow"]
            if not isinstance(raw, dict) or not isinstance(raw.get("model"), str) or not raw["model"]:
                raise InvalidInput(f"'shadow' of {where} needs 'model': a model URI.")
            fraction = raw.get("fraction", 1.0)
            if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
                raise InvalidInput(f"'shadow.fraction' of {where} must be a number from 0 to 1; got {fraction!r}.")
            shadow = Shadow(raw["model"], float(fraction))
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidInput(f"'seed' of {where} must be an integer.")
        return cls(tuple(routes), shadow, seed)

    @classmethod
    def load(cls, path: str | Path) -> TrafficPolicy:
        import yaml

        file = Path(path)
        try:
            data = yaml.safe_load(file.read_text())
        except OSError as exc:
            raise InvalidInput(f"Cannot read the traffic policy {file}: {exc.strerror}.") from None
        except yaml.YAMLError as exc:
            raise InvalidInput(f"The traffic policy {file} is not valid YAML: {exc}") from None
        return cls.from_dict(data, str(file))


@dataclass
class Splitter:
    """Picks the route of each request by weight (index into ``weights``), and whether the
    shadow gets a copy, from one seeded random stream."""

    weights: list[float]
    shadow_fraction: float = 0.0
    seed: int | None = None
    _rng: random.Random = field(init=False)
    _bounds: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        total = sum(self.weights)
        running = 0.0
        self._bounds = []
        for w in self.weights:
            running += w / total
            self._bounds.append(running)
        self._bounds[-1] = 1.0

    def choose(self) -> int:
        if len(self._bounds) == 1:
            return 0
        draw = self._rng.random()
        for i, bound in enumerate(self._bounds):
            if draw < bound:
                return i
        return len(self._bounds) - 1

    def copy_to_shadow(self) -> bool:
        if self.shadow_fraction >= 1.0:
            return True
        return self.shadow_fraction > 0 and self._rng.random() < self.shadow_fraction
