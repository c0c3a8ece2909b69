"""The view a student sees, as a link can carry it: seed, slider amounts, z edits, layer and tab.

    ?seed=12345&d3=2&z=7:1.5,42:-2&layer=generator.main.3&tab=explain&hide=raw_z,history

The page writes the link as the student works (demo/page.js); on load, view_from_query reads it back. A link with a
typo still opens: each part that does not read as a valid value falls back to its default on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypeVar

from gan_core.latent import bounded_number, format_z_edits, parse_z_edits, validate_seed

# the tabs' ids, as ?tab= names them; a tab inside another names its parent here
PARENT_TABS = {"ablate": "experiments", "real_or_fake": "experiments", "find_z": "experiments",
               "make_real": "experiments", "nearest": "experiments", "architecture": "build", "train": "build"}
TABS = ("steer", "explain", "overview", "interpolate", "history", "experiments", "build", *PARENT_TABS)
DEFAULT_TAB = "steer"
# What ?hide= may hide for a lesson (a teacher's link), as the CSS selectors page.js hides: advanced controls, and a
# whole tab as its button and its panel
HIDDEN_BY = {"raw_z": ["#raw-z"], "python": ["#python"], "tour": ["#tour"],
             "sliders": ["[id^='direction-']", "#reset-directions"],
             **{tab: [f"#tab-{tab}-button", f"#tab-{tab}"]
                for tab in ("interpolate", "history", "experiments", "build")}}
HIDEABLE = tuple(HIDDEN_BY)
MAX_QUERY_CHARS = 200  # of ?hide=: longer is not a list of the names above
T = TypeVar("T")


@dataclass(frozen=True)
class ViewState:
    seed: int
    amounts: tuple[float, ...]  # one per direction slider
    z_edits: str  # as the z-edits box shows them: "7=1.5, 42=-2"
    layer: str
    tab: str
    hidden: frozenset[str] = frozenset()  # of HIDEABLE

    def tab_path(self) -> tuple[str, str | None]:
        """The top-level tab to open and, when the tab sits inside it, the inner tab (else None)."""
        parent = PARENT_TABS.get(self.tab)
        return (parent, self.tab) if parent else (self.tab, None)


def view_from_query(query: Mapping[str, str], *, default_seed: int, directions: int, limit: float, nz: int,
                    layers: Collection[str], default_layer: str) -> ViewState:
    """The view a link's query parameters describe, each invalid or missing part replaced by its default."""
    return ViewState(
        seed=_or_default(lambda: validate_seed(query["seed"]), default_seed),
        amounts=tuple(
            _or_default(lambda k=k: bounded_number(query[f"d{k + 1}"], "direction", limit), 0.0)
            for k in range(directions)
        ),
        z_edits=_or_default(lambda: format_z_edits(parse_z_edits(query["z"].replace(":", "="), nz)), ""),
        layer=query.get("layer") if query.get("layer") in layers else default_layer,
        tab=query.get("tab") if query.get("tab") in TABS else DEFAULT_TAB,
        hidden=frozenset(name.strip() for name in str(query.get("hide", ""))[:MAX_QUERY_CHARS].split(",")
                         if name.strip() in HIDEABLE),
    )


def _or_default(read: Callable[[], T], default: T) -> T:
    """What read() returns, or default when the part is missing or invalid."""
    try:
        return read()
    except (KeyError, ValueError):
        return default
