"""The main window: the chair board, the session view, and the station toolbar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QStackedWidget, QToolBar, QWidget

from nursestation import __version__
from nursestation.app import access, sessions
from nursestation.errors import DomainError
from nursestation.permissions import ROLE_LABELS, ROLES
from nursestation.ui.board import ChairBoard
from nursestation.ui.checkin_dialog import CheckInDialog
from nursestation.ui.idle_lock import ScreenLocker
from nursestation.ui.login import LoginDialog
from nursestation.ui.refresh import ChangeListener
from nursestation.ui.session_view import SessionView
from nursestation.ui.station import Station

if TYPE_CHECKING:
    from nursestation.ui.alarm_sound import AudioSink
    from nursestation.ui.device_bridge import DemoMonitors


class MainWindow(QMainWindow):
    """One per station. Closing it never loses data: everything is committed as it is entered."""

    def __init__(
        self,
        station: Station,
        parent: QWidget | None = None,
        *,
        audio_sink: AudioSink | None = None,
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.setWindowTitle(f"NurseStation — {station.ctx.settings.get('general.clinic_name')}")
        self.resize(1280, 800)
        self.stack = QStackedWidget()
        self.board = ChairBoard(station)
        self.board.chair_clicked.connect(self.open_chair)
        self.session_view = SessionView(station)
        self.session_view.back.connect(self.show_board)
        self.session_view.prepare_panels()
        self.stack.addWidget(self.board)
        self.stack.addWidget(self.session_view)
        self.setCentralWidget(self.stack)
        self._toolbar()
        # Automatic lock after general.idle_lock_min; the board stays up without patient details.
        self.locker = ScreenLocker(station, self, stack=self.stack, board=self.board)
        from nursestation.ui.device_bridge import DeviceBridge

        self.device_bridge = DeviceBridge(station)  # declares itself as station.device_bridge
        self.demo_monitors: DemoMonitors | None = None  # set by launch.start_capture(demo=True)
        # Other stations' changes reach the views within a second (issue 15).
        self.change_listener = ChangeListener(station, self)
        station.actor_changed.connect(self._update_user)
        self._update_user()
        self._alarm_wiring(audio_sink)

    def _alarm_wiring(self, audio_sink: AudioSink | None) -> None:
        """The station's alarm sound (any chair, any screen) and its banner in the toolbar:
        escalations, audio pauses with their countdown, no audio device."""
        from nursestation.ui.alarm_sound import AlarmSound
        from nursestation.ui.alarm_strip import StationAlarmBanner
        from nursestation.ui.style import clinic_zone

        self.alarm_sound = AlarmSound(self.station, audio_sink)
        self.alarm_banner = StationAlarmBanner()
        # In the station toolbar's free width: no row of its own, so no view loses height and
        # nothing moves when it appears; shown only while it has something to say.
        toolbar = next(t for t in self.findChildren(QToolBar) if t.windowTitle() == "Station")
        self.alarm_banner_action = toolbar.addWidget(self.alarm_banner)
        zone = clinic_zone(self.station.ctx)

        def show() -> None:
            self.alarm_banner.show_state(self.alarm_sound.state, self.alarm_sound.problem(), zone)
            self.alarm_banner_action.setVisible(self.alarm_banner.has_content())

        self.alarm_sound.state_changed.connect(show)
        show()

    def _toolbar(self) -> None:
        tb = QToolBar("Station")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.board_action = QAction("Chair board", self)
        self.board_action.setShortcut(QKeySequence("Ctrl+B"))
        self.board_action.triggered.connect(self.show_board)
        tb.addAction(self.board_action)
        self.switch_action = QAction("Switch user", self)
        self.switch_action.triggered.connect(self.switch_user)
        tb.addAction(self.switch_action)
        self.lock_action = QAction("Lock", self)
        self.lock_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lock_action.triggered.connect(lambda: self.locker.lock("manual"))
        tb.addAction(self.lock_action)
        # Administrators only (shown by _update_user).
        self.users_action = QAction("Users", self)
        self.users_action.triggered.connect(self.open_users)
        tb.addAction(self.users_action)
        self.audit_action = QAction("Audit trail", self)
        self.audit_action.triggered.connect(self.open_audit)
        tb.addAction(self.audit_action)
        self.export_action = QAction("Export notes", self)
        self.export_action.triggered.connect(self.open_export)
        tb.addAction(self.export_action)
        # SPRAVATO REMS forms, the 7-day tracker (charge nurse and administrator).
        self.rems_action = QAction("REMS forms", self)
        self.rems_action.triggered.connect(self.open_rems_tracker)
        tb.addAction(self.rems_action)
        # The patient chart (issue 16): search, then demographics, course, weights, history.
        self.chart_action = QAction("Patient chart", self)
        self.chart_action.triggered.connect(self.open_chart)
        tb.addAction(self.chart_action)
        self.devices_action = QAction("Monitors", self)
        self.devices_action.triggered.connect(self.open_devices)
        tb.addAction(self.devices_action)
        # One shortcut from anywhere in a session: the vitals entry form.
        self.vitals_action = QAction("Enter vitals", self)
        self.vitals_action.setShortcut(QKeySequence("Ctrl+Shift+V"))
        self.vitals_action.triggered.connect(self.enter_vitals)
        self.addAction(self.vitals_action)
        self.extra_actions: list[QAction] = []
        # Alt+1 … Alt+9: open chair 1 … 9 from any screen (the board's order).
        self.chair_actions: list[QAction] = []
        for n in range(1, 10):
            act = QAction(f"Chair {n}", self)
            act.setShortcut(QKeySequence(f"Alt+{n}"))
            act.triggered.connect(lambda _=False, i=n - 1: self._open_nth_chair(i))
            self.addAction(act)
            self.chair_actions.append(act)
        tb.addSeparator()
        self.user_label = QLabel()
        self.user_label.setStyleSheet("padding: 0 12px; font-weight: bold;")
        tb.addWidget(self.user_label)
        self.statusBar().showMessage(
            f"NurseStation {__version__} · data in {self.station.ctx.config.data_dir}"
        )

    def _update_user(self) -> None:
        self.users_action.setVisible(self.station.can("manage_users"))
        self.audit_action.setVisible(self.station.can("view_audit"))
        self.export_action.setVisible(self.station.can("export_notes"))
        self.rems_action.setVisible(self.station.can("rems_tracker"))
        self.chart_action.setVisible(self.station.can("view_session"))
        actor = self.station.signed_in
        if actor is None:
            self.user_label.setText("Not signed in")
            return
        roles = ", ".join(ROLE_LABELS[r] for r in ROLES if r in actor.roles)
        self.user_label.setText(f"{actor.full_name} ({roles})")

    def show_board(self) -> None:
        """Back to the board."""
        self.stack.setCurrentWidget(self.board)
        self.board.refresh()
        # The keyboard lands on the chair last opened (or the first): arrows and Enter go on.
        chairs = self.board.chairs()
        last = self.session_view.summary.chair if self.session_view.summary else None
        if chairs:
            self.board.focus_chair(last if last in chairs else chairs[0])

    def _open_nth_chair(self, i: int) -> None:
        chairs = self.board.chairs()
        if 0 <= i < len(chairs) and self.station.signed_in is not None and not self.station.locked:
            self.open_chair(chairs[i])

    def open_chair(self, chair: str) -> None:
        """Open the chair's session, or offer check-in when the chair is empty."""
        try:
            session_id = sessions.session_id_for_chair(self.station.ctx, chair)
        except DomainError:
            if not self.station.can("check_in"):
                self._no_chart_access(chair, occupied=False)
                return
            dlg = CheckInDialog(self.station, chair, self)
            if not dlg.exec() or dlg.session_id is None:
                return
            session_id = dlg.session_id
        if not self.station.can("view_session"):
            self._no_chart_access(chair, occupied=True)
            return
        self.open_session(session_id)

    def _no_chart_access(self, chair: str, *, occupied: bool) -> None:
        """A user without a clinical role clicked a chair: say why nothing opens (issue 18: an
        administrator's click got no answer at all)."""
        from PySide6.QtWidgets import QMessageBox

        from nursestation.wording import no_chart_access_text

        if self.station.signed_in is None or self.station.locked:
            return
        text = no_chart_access_text(chair, occupied=occupied)
        self.statusBar().showMessage(text, 10000)
        QMessageBox.information(self, f"Chair {chair}", text)

    def open_session(self, session_id: int) -> None:
        """Show one session."""
        # On screen first: a view hidden in the window defers its refresh (ui/refresh.py).
        self.stack.setCurrentWidget(self.session_view)
        self.session_view.set_session(session_id)

    def switch_user(self) -> None:
        """Quick switch at a shared station: sign another user in without closing anything."""
        dlg = LoginDialog(self.station.ctx, self, title="Switch user")
        if dlg.exec() and dlg.actor is not None:
            access.record_switch(self.station.ctx, self.station.signed_in, dlg.actor)
            self.station.set_actor(dlg.actor)

    def open_users(self) -> None:
        """User administration (administrators)."""
        from nursestation.ui.users_dialog import UsersDialog

        UsersDialog(self.station, self).exec()

    def open_export(self) -> None:
        """Export signed notes (administrators)."""
        from nursestation.ui.export_dialog import ExportDialog

        ExportDialog(self.station, self).exec()

    def open_rems_tracker(self) -> None:
        """The SPRAVATO REMS Patient Monitoring Forms not yet submitted (7-day tracker)."""
        from nursestation.ui.rems_tracker import RemsTrackerDialog

        RemsTrackerDialog(self.station, self).exec()

    def open_chart(self) -> None:
        """The patient chart, opened on a search (nurses and charge nurses)."""
        from nursestation.ui.patient_chart import open_chart

        if self.station.can("view_session"):
            open_chart(self.station, None, self)

    def open_devices(self) -> None:
        """Bedside monitors: ports, chair bindings, link health."""
        from nursestation.ui.devices_dialog import DevicesDialog

        DevicesDialog(self.station, self).exec()
        self.device_bridge.start_all()

    def enter_vitals(self) -> None:
        """Ctrl+Shift+V: the vitals form for the session on screen."""
        from nursestation.ui.vitals_entry import open_vitals_entry

        sid = self.session_view.session_id
        if (
            self.stack.currentWidget() is self.session_view
            and sid is not None
            and self.station.can("record_vitals")
        ):
            open_vitals_entry(self.station, sid, self)

    def start_monitors(self) -> list[str]:
        """Capture from the monitors bound to chairs; returns the chairs started. Never starts a
        simulator: only `nursestation demo` does (ui/launch.py run_demo)."""
        return self.device_bridge.start_all()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop capture threads cleanly; every entry is already committed."""
        self.alarm_sound.stop()
        if self.demo_monitors is not None:
            self.demo_monitors.stop()
        self.device_bridge.stop_all()
        event.accept()

    def open_audit(self) -> None:
        """The audit trail viewer (administrators)."""
        from nursestation.ui.audit_viewer import AuditViewer

        AuditViewer(self.station, self).exec()
