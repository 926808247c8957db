"""Read an admin form the way a browser submits it: from the rendered HTML, hidden inputs included.

Tests that post an admin change form use this instead of rebuilding the data from the form
object, so that what the page renders (the hidden initials a change form compares against, the
inline's management form) is exactly what comes back.
"""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: list[tuple[str, str]] = []
        self._select: tuple[str, bool] | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form" and attr.get("id") == self.form_id:
            self.inside = True
        if not self.inside or "disabled" in attr:
            return
        if tag == "input" and attr.get("name"):
            self._input(attr)
        elif tag == "select" and attr.get("name"):
            self._select, self._options = (attr["name"], "multiple" in attr), []
        elif tag == "option" and self._select is not None:
            self._options.append((attr.get("value", ""), "selected" in attr))
        elif tag == "textarea" and attr.get("name"):
            self._textarea, self._text = attr["name"], []

    def _input(self, attr: dict[str, str]) -> None:
        kind = attr.get("type", "text")
        if kind in ("submit", "button", "image", "reset", "file"):
            return
        if kind in ("checkbox", "radio"):
            if "checked" in attr:
                self.data.append((attr["name"], attr.get("value", "on")))
            return
        self.data.append((attr["name"], attr.get("value", "")))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self._select is not None:
            name, multiple = self._select
            chosen = [value for value, selected in self._options if selected]
            if not chosen and self._options and not multiple:
                chosen = [self._options[0][0]]
            self.data.extend((name, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.data.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None


def form_data(response, form_id: str | None = None) -> dict[str, str]:
    """The fields a browser would post from the admin form on ``response`` (its values as shown).

    ``form_id`` defaults to the admin's ``<model>_form``. Single values only, which is all the
    meeting and participant forms have.
    """
    if form_id is None:
        form_id = f"{response.context['opts'].model_name}_form"
    reader = _FormReader(form_id)
    reader.feed(response.content.decode())
    data = dict(reader.data)
    assert data, f"no form #{form_id} on the page"
    data.pop("csrfmiddlewaretoken", None)  # the test client does not check CSRF
    return data
