"""Log lines: a value quoted in a message cannot forge another line (log injection)."""

from __future__ import annotations

import io
import logging

from idp.logs import FORMAT, OneLineFormatter


def lines_of(*args, exc_info=None) -> list[str]:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(OneLineFormatter(FORMAT))
    logger = logging.getLogger("idp.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(*args, exc_info=exc_info)
    finally:
        logger.removeHandler(handler)
    return out.getvalue().splitlines()


def test_a_newline_in_a_value_stays_on_one_line():
    forged = "/lp-a/x\nWARNING idp.web: admin signed in\r\x1b[2J\u2028"
    [line] = lines_of("InvalidInput on %s: %s", forged, "détail")
    assert line.startswith("WARNING idp.test.logs: InvalidInput on /lp-a/x\\nWARNING")
    assert "\\r\\x1b[2J\\u2028" in line
    assert line.endswith(": détail")  # letters are not escaped


def test_a_traceback_keeps_its_lines():
    try:
        raise ValueError("boom")
    except ValueError as exc:
        lines = lines_of("failed on %s", "/a\nb", exc_info=exc)
    assert lines[0] == "WARNING idp.test.logs: failed on /a\\nb"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"


def test_no_email_address_in_full_in_either_format():
    import json

    from idp.logs import json_formatter

    address = "jean.dupont@exemple.fr"
    for is_json, formatter in ((False, OneLineFormatter(FORMAT)), (True, json_formatter())):
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        logger = logging.getLogger("idp.test.emails")
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.error("mail: SMTP refused 1 recipient(s): %s: 550 unknown", address)
            logger.error("refused <jérôme.mÿller@exemple.fr>")
            try:
                raise ValueError(f"<{address}>: Recipient address rejected")
            except ValueError:
                logger.exception("failed")
        finally:
            logger.removeHandler(handler)
        text = out.getvalue()
        assert address not in text and "dupont" not in text
        assert "j***@exemple.fr: 550 unknown" in text
        assert "<j***@exemple.fr>: Recipient address rejected" in text
        assert "mÿller" not in text and "m\\u00ffller" not in text
        if is_json:  # still one object a line
            assert len([json.loads(line) for line in text.splitlines()]) == 3
