"""A station that cannot reach its PostgreSQL server says why in the sign-in dialog, in full
(issue 15): the sentence from nursestation.db.engine, not a traceback, and not cut off."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from nursestation.clinic import load_clinic_settings
from nursestation.config import resolve_config


def test_an_unreachable_server_is_named_in_the_sign_in_dialog(qtbot, tmp_path: Path) -> None:
    from nursestation.ui.login import LoginDialog
    from nursestation.ui.station import ContextLoader

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = resolve_config(str(tmp_path / "d"), f"postgresql+psycopg://app:pw@127.0.0.1:{port}/c")
    loader = ContextLoader(config, load_clinic_settings(config.clinic_file))
    loader.start()
    dlg = LoginDialog(loader, username="rn.ana")
    qtbot.addWidget(dlg)
    dlg.show()
    deadline = time.monotonic() + 30
    qtbot.waitUntil(lambda: bool(dlg.error.text()) or time.monotonic() > deadline, timeout=31_000)
    text = dlg.error.text()
    assert text.startswith("The station database could not be opened: The database server")
    assert f"port {port} refuses connections" in text and "Traceback" not in text
    qtbot.wait(50)  # the layout settles
    label = dlg.error
    assert label.height() >= label.heightForWidth(label.width()), "the sentence is cut off"
