"""How plan hides the secrets the program started from inside the texts it writes (user data)."""

from __future__ import annotations

from hybrid_infra.offline.plan import SECRET, Redactor
from hybrid_infra.offline.simulate import Simulation

KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"


def redactor(*secrets: str) -> Redactor:
    return Redactor(Simulation("dev", False, []), show_secrets=False, config_secrets=secrets)


def test_every_occurrence_of_every_secret_is_hidden_line_by_line():
    text = f"token: abcdef.0123456789abcdef\nkey: |\n    {KEY.replace(chr(10), chr(10) + '    ')}again abcdef.0123456789abcdef"
    hidden = redactor("abcdef.0123456789abcdef", KEY).text(text)
    assert "0123456789abcdef" not in hidden and "MIIEvQ" not in hidden and "BEGIN PRIVATE KEY" not in hidden
    assert hidden.count(SECRET) == 2 + 4
    assert hidden.startswith(f"token: {SECRET}\nkey: |\n    {SECRET}\n    {SECRET}")


def test_overlapping_secrets_are_hidden_whole_behind_one_marker():
    # Hidden as one stretch, however the secrets overlap; adjacent ones keep a marker each.
    assert redactor("abcdefgh", "efghijkl").text("x abcdefghijkl y") == f"x {SECRET} y"
    assert redactor("abcdefgh", "cdefgh").text("abcdefgh") == SECRET
    assert redactor("abcdefgh", "ijklmnop").text("abcdefghijklmnop") == SECRET + SECRET


def test_short_values_are_not_secrets_to_hide_and_shown_secrets_stay():
    assert redactor("abc").text("abc abc") == "abc abc"
    assert redactor().text("nothing secret") == "nothing secret"
    shown = Redactor(Simulation("dev", False, []), show_secrets=True, config_secrets=["abcdefgh"])
    assert shown.text("abcdefgh") == "abcdefgh"
