"""Product cards: the Markdown of one shown item, with its click or buy marked (and, under a
click model where position matters, whether its position was examined)."""

from __future__ import annotations

import re
from typing import Literal

from simshop_ui.session import ShownItem

Status = Literal["bought", "clicked", "ignored"]

CATEGORY_EMOJI = {
    "Electronics": "📱",
    "Clothing": "👕",
    "Home": "🏠",
    "Sports": "⚽",
    "Beauty": "💄",
    "Books": "📚",
    "Toys": "🧸",
}
OTHER_EMOJI = "🛍️"

_BADGES: dict[Status, str] = {
    "bought": ":green-badge[🛒 bought]",
    "clicked": ":blue-badge[👆 clicked]",
    "ignored": ":gray-badge[not clicked]",
}
# Inline Markdown, Streamlit's `$…$` LaTeX and `:color[…]` directives would otherwise
# reinterpret catalog text (and plugin error messages).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#$~|:])")


def category_emoji(category: str) -> str:
    """The category's emoji (a shopping bag for a category the app does not know)."""
    return CATEGORY_EMOJI.get(category, OTHER_EMOJI)


def status(item: ShownItem) -> Status:
    if item.bought:
        return "bought"
    return "clicked" if item.clicked else "ignored"


def escape(text: str) -> str:
    """Text shown literally by ``st.markdown``."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def examination(probability: float) -> str:
    """The examination badge: examined, not examined, or examined with a probability (pbm)."""
    if probability >= 1.0:
        return ":violet-badge[👁 examined]"
    if probability <= 0.0:
        return ":gray-badge[not examined]"
    return f":violet-badge[👁 examined {probability:.0%}]"


def card_markdown(item: ShownItem, show_examination: bool = False) -> str:
    """The card's body: emoji, name, reaction (and examination), price, brand, colour,
    quality, release, exposures."""
    shown = "first time shown" if item.times_shown == 0 else f"shown {item.times_shown}× before"
    reaction = _BADGES[status(item)]
    if show_examination:
        reaction += " " + examination(item.examine_prob)
    return "  \n".join(
        [
            f"## {category_emoji(item.category)}",
            f"**{escape(item.name)}**",
            reaction,
            f"**\\${item.price:,.2f}** · {escape(item.brand)} · {escape(item.color)}",
            f"{escape(item.category)} › {escape(item.subcategory)}",
            f"quality {item.quality:.2f} · released {item.release_date}",
            f"{shown} · utility {item.utility:.2f}",
        ]
    )


__all__ = ["CATEGORY_EMOJI", "card_markdown", "category_emoji", "escape", "examination", "status"]
