"""How the exercise engine shows things: one palette, one bordered box, rich and plain.

Every verdict, hint, solution and reset message is a `Shown` (or renders like one): a coloured
box in Jupyter, plain text in a terminal (learntools' one display family).
"""

from __future__ import annotations

import html

from .._display import highlighted, markdown_inline
from .model import Hint, Verdict

# Each verdict's mark and colour; the list's row shading; the other boxes' colours.
PALETTE = {
    Verdict.CORRECT: ("✔", "#1a7f37"),
    Verdict.INCORRECT: ("✘", "#cf222e"),
    Verdict.NOT_ATTEMPTED: ("○", "#6e7781"),
}
SHADE = {Verdict.CORRECT: "background:#dafbe1", Verdict.INCORRECT: "background:#ffebe9"}
INFO, WARNING, MUTED = "#0969da", "#9a6700", "#666"
SPOILER = "Spoiler: this is the full solution. Try the hints first; reading it ends the puzzle."


def box(html_body: str, colour: str = INFO) -> str:
    """The one bordered box: a coloured bar on the left of `html_body`."""
    style = f"border-left:5px solid {colour};padding:6px 10px;margin:4px 0"
    return f"<div style='{style}'>{html_body}</div>"


def small(html_body: str) -> str:
    return f"<div style='font-size:85%;color:{MUTED}'>{html_body}</div>"


class Shown:
    """Text that renders as a coloured box in Jupyter and as plain text in a terminal."""

    def __init__(self, text: str, html_body: str, colour: str = INFO) -> None:
        self.text, self.html_body, self.colour = text, html_body, colour

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return box(self.html_body, self.colour)


def hint(shown: Hint, how_to_solution: str) -> Shown:
    """A hint, its Markdown rendered; after the last one, where the solution is."""
    body = f"<b>{html.escape(shown.title)}</b>: {markdown_inline(shown.text)}"
    closing = shown.closing(how_to_solution)
    if closing:
        body += f"<br><i>{markdown_inline(closing)}</i>"
    return Shown(shown.plain(how_to_solution), body)


def solution_text(name: str, source: str) -> str:
    """The spoiler warning, the file's name, the file."""
    return f"{SPOILER}\n# {name}\n{source.rstrip()}"


def solution(name: str, source: str) -> Shown:
    body = (
        f"<b style='color:{WARNING}'>{html.escape(SPOILER)}</b>"
        f"{small(html.escape(name))}{highlighted(source)}"
    )
    return Shown(solution_text(name, source), body, colour=WARNING)


def note(text: str) -> Shown:
    """A plain sentence, boxed."""
    return Shown(text, html.escape(text))
