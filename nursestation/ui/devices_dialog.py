"""Monitor set-up: the serial ports this station sees, binding a monitor (protocol, port and
port settings) to a chair, and each chair's live data and link health."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nursestation.app import devices as device_service
from nursestation.app.devices import BAUDRATES, SERIAL_OPTIONS, BindingInfo, LinkHealth
from nursestation.devices.capture import RECEIVING, default_baud
from nursestation.devices.ports import PortInfo, list_ports
from nursestation.devices.registry import SPECS
from nursestation.errors import DomainError
from nursestation.ui.feedback import confirm, show_refusal
from nursestation.ui.station import MonitorCapture, Station
from nursestation.ui.style import clinic_zone
from nursestation.wording import hms


def protocol_label(protocol: str) -> str:
    """The registered protocol's own label (devices/registry.py), or its key when unknown."""
    spec = SPECS.get(protocol)
    return spec.label if spec is not None else protocol


PARITY_LABELS = {"N": "None", "E": "Even", "O": "Odd", "M": "Mark", "S": "Space"}
PORT_COLUMNS = (
    "Port",
    "Description",
    "USB ID",
    "Serial no.",
    "Manufacturer",
    "Product",
    "Location",
)
CHAIR_COLUMNS = ("Chair", "Monitor", "Port", "Settings", "Link", "Since", "Last frame", "Latest")


def settings_text(b: BindingInfo) -> str:
    """E.g. "9600 8N1" plus flow control."""
    o = b.options
    text = f"{b.baudrate} {o.get('bytesize', 8)}{o.get('parity', 'N')}{o.get('stopbits', 1):g}"
    if o.get("rtscts"):
        text += " RTS/CTS"
    if o.get("xonxoff"):
        text += " XON/XOFF"
    return text


def latest_text(health: LinkHealth | None) -> str:
    """The newest value of every parameter with its quality; marked stale when not receiving."""
    if health is None or not health.latest:
        return "—"
    text = " · ".join(v.text for v in health.latest)
    return text if health.state == RECEIVING else f"(stale) {text}"


class DevicesDialog(QDialog):
    """Ports, chair bindings and live link health; binding needs the bind_device permission."""

    def __init__(
        self,
        station: Station,
        parent: QWidget | None = None,
        *,
        port_lister: Callable[[], list[PortInfo]] = list_ports,
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.port_lister = port_lister
        self.setWindowTitle("Bedside monitors")
        self.resize(1000, 640)
        self._bindings: dict[str, BindingInfo] = {}

        # -- ports
        ports_box = QGroupBox("Serial ports on this station")
        self.ports_table = QTableWidget(0, len(PORT_COLUMNS))
        self.ports_table.setHorizontalHeaderLabels(PORT_COLUMNS)
        self._table_defaults(self.ports_table)
        self.ports_table.horizontalHeader().setStretchLastSection(True)
        self.ports_table.itemSelectionChanged.connect(self._port_picked)
        self.refresh_ports_button = QPushButton("Refresh ports")
        self.refresh_ports_button.clicked.connect(self.refresh_ports)
        self.ports_note = QLabel(
            "USB chip IDs (e.g. FTDI 0403:6001) are shared by many products: check the serial "
            "number and that live data arrives before relying on a binding."
        )
        self.ports_note.setWordWrap(True)
        lay = QVBoxLayout(ports_box)
        lay.addWidget(self.ports_table)
        row = QHBoxLayout()
        row.addWidget(self.ports_note, 1)
        row.addWidget(self.refresh_ports_button)
        lay.addLayout(row)

        # -- binding form
        form_box = QGroupBox("Bind a monitor to a chair")
        self.chair_combo = QComboBox()
        for chair in station.ctx.settings.get("general.chairs"):
            self.chair_combo.addItem(f"Chair {chair}", str(chair))
        self.protocol_combo = QComboBox()
        for spec in SPECS.values():  # every registered protocol, by its own label
            self.protocol_combo.addItem(spec.label, spec.key)
        self.protocol_combo.currentIndexChanged.connect(self._protocol_picked)
        self.port_combo = QComboBox()
        self.port_combo.setEditable(True)
        self.port_combo.setToolTip(
            "A port from the list, or a pyserial URL (socket://host:port, rfc2217://…)"
        )
        self.baud_combo = QComboBox()
        for b in BAUDRATES:
            self.baud_combo.addItem(str(b), b)
        self.bytesize_combo = QComboBox()
        for v in SERIAL_OPTIONS["bytesize"]:
            self.bytesize_combo.addItem(str(v), v)
        self.parity_combo = QComboBox()
        for v in SERIAL_OPTIONS["parity"]:
            self.parity_combo.addItem(PARITY_LABELS[v], v)
        self.stopbits_combo = QComboBox()
        for v in SERIAL_OPTIONS["stopbits"]:
            self.stopbits_combo.addItem(f"{v:g}", v)
        self.rtscts_check = QCheckBox("RTS/CTS hardware flow control")
        self.xonxoff_check = QCheckBox("XON/XOFF software flow control")
        self._reset_port_settings()
        form = QFormLayout()
        form.addRow("Chair", self.chair_combo)
        form.addRow("Protocol", self.protocol_combo)
        form.addRow("Port", self.port_combo)
        form.addRow("Baud rate", self.baud_combo)
        form.addRow("Data bits", self.bytesize_combo)
        form.addRow("Parity", self.parity_combo)
        form.addRow("Stop bits", self.stopbits_combo)
        form.addRow("", self.rtscts_check)
        form.addRow("", self.xonxoff_check)
        self.bind_button = QPushButton("Bind to chair")
        self.bind_button.clicked.connect(self.bind)
        self.unbind_button = QPushButton("Unbind chair")
        self.unbind_button.clicked.connect(self.unbind)
        self.message = QLabel()
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.bind_button)
        buttons.addWidget(self.unbind_button)
        buttons.addStretch(1)
        form_lay = QVBoxLayout(form_box)
        form_lay.addLayout(form)
        form_lay.addLayout(buttons)
        form_lay.addWidget(self.message)

        # -- chairs
        chairs_box = QGroupBox("Chairs: monitor, link health and live data")
        self.chairs_table = QTableWidget(0, len(CHAIR_COLUMNS))
        self.chairs_table.setHorizontalHeaderLabels(CHAIR_COLUMNS)
        self._table_defaults(self.chairs_table)
        self.chairs_table.horizontalHeader().setSectionResizeMode(
            len(CHAIR_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch
        )
        self.chairs_table.itemSelectionChanged.connect(self._chair_picked)
        QVBoxLayout(chairs_box).addWidget(self.chairs_table)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(ports_box, 3)
        top.addWidget(form_box, 2)
        main = QVBoxLayout(self)
        main.addLayout(top)
        main.addWidget(chairs_box, 1)
        main.addWidget(close)

        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh_status)
        self._timer.start(1000)
        station.changed.connect(self.refresh_status)
        station.actor_changed.connect(self._apply_permissions)
        self.refresh_ports()
        self.refresh_status()
        self._apply_permissions()

    @staticmethod
    def _table_defaults(table: QTableWidget) -> None:
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    # ------------------------------------------------------------ ports

    def refresh_ports(self) -> None:
        """Re-list the serial ports; the typed port is kept."""
        typed = self.port_combo.currentText()
        try:
            ports = self.port_lister()
        except Exception as exc:  # an OS without port enumeration must not break set-up
            ports = []
            self.message.setText(f"Could not list serial ports: {exc}")
        self.ports_table.setRowCount(len(ports))
        for i, p in enumerate(ports):
            cells = (
                p.device,
                p.description,
                p.usb_id or "",
                p.serial_number or "",
                p.manufacturer or "",
                p.product or "",
                p.location or "",
            )
            for j, text in enumerate(cells):
                self.ports_table.setItem(i, j, QTableWidgetItem(text))
        self.port_combo.blockSignals(True)
        self.port_combo.clear()
        for p in ports:
            self.port_combo.addItem(p.label(), p.device)
        self.port_combo.setEditText(typed)
        self.port_combo.blockSignals(False)
        if not ports:
            self.ports_note.setText(
                "No serial port found. Plug in the monitor's USB-serial cable and press Refresh, "
                "or type a port URL (socket://host:port for a serial-to-network converter)."
            )

    def _port_picked(self) -> None:
        row = self.ports_table.currentRow()
        item = self.ports_table.item(row, 0) if row >= 0 else None
        if item is not None:
            self.port_combo.setEditText(item.text())

    def port_url(self) -> str:
        """The chosen port: a listed device (its data) or what was typed."""
        text = self.port_combo.currentText().strip()
        idx = self.port_combo.findText(text)
        if idx >= 0 and self.port_combo.itemData(idx):
            return str(self.port_combo.itemData(idx))
        return text

    # ------------------------------------------------------------ form

    def _reset_port_settings(self) -> None:
        self._select(self.bytesize_combo, 8)
        self._select(self.parity_combo, "N")
        self._select(self.stopbits_combo, 1)
        self.rtscts_check.setChecked(False)
        self.xonxoff_check.setChecked(False)
        self._protocol_picked()

    def _protocol_picked(self) -> None:
        protocol = self.protocol_combo.currentData()
        self._select(self.baud_combo, default_baud(protocol))

    @staticmethod
    def _select(combo: QComboBox, value: object) -> None:
        idx = combo.findData(value)
        if idx >= 0:
            combo.setCurrentIndex(idx)

    def options(self) -> dict[str, object]:
        """The port settings as the form shows them."""
        return {
            "bytesize": self.bytesize_combo.currentData(),
            "parity": self.parity_combo.currentData(),
            "stopbits": self.stopbits_combo.currentData(),
            "rtscts": self.rtscts_check.isChecked(),
            "xonxoff": self.xonxoff_check.isChecked(),
        }

    def _chair_picked(self) -> None:
        row = self.chairs_table.currentRow()
        item = self.chairs_table.item(row, 0) if row >= 0 else None
        if item is None:
            return
        chair = item.data(Qt.ItemDataRole.UserRole)
        self._select(self.chair_combo, chair)
        b = self._bindings.get(chair)
        if b is None:
            return
        self._select(self.protocol_combo, b.protocol)
        self.port_combo.setEditText(b.url)
        self._select(self.baud_combo, b.baudrate)
        self._select(self.bytesize_combo, b.options.get("bytesize", 8))
        self._select(self.parity_combo, b.options.get("parity", "N"))
        self._select(self.stopbits_combo, b.options.get("stopbits", 1))
        self.rtscts_check.setChecked(bool(b.options.get("rtscts")))
        self.xonxoff_check.setChecked(bool(b.options.get("xonxoff")))

    def _apply_permissions(self) -> None:
        allowed = self.station.can("bind_device")
        self.bind_button.setEnabled(allowed)
        self.unbind_button.setEnabled(allowed)
        if not allowed:
            self.message.setText("Only a charge nurse or an administrator can bind monitors.")

    # ------------------------------------------------------------ actions

    def _bridge(self) -> MonitorCapture | None:
        return self.station.device_bridge

    def bind(self) -> None:
        """Bind the form's monitor to the chosen chair and (re)start its capture."""
        chair = self.chair_combo.currentData()
        protocol = self.protocol_combo.currentData()
        try:
            b = self.station.write(
                device_service.bind_device,
                chair,
                protocol,
                self.port_url(),
                int(self.baud_combo.currentData()),
                self.options(),
            )
        except DomainError as exc:
            self.message.setText(exc.message)
            show_refusal(self, exc, "Monitor not bound")
            return
        bridge = self._bridge()
        if bridge is not None:
            bridge.restart(chair)
            note = "capture started; watch the link column."
        else:
            note = "capture starts when the station's monitor capture runs."
        self.message.setText(f"Chair {chair}: {protocol_label(protocol)} on {b.url}; {note}")
        self.refresh_status()

    def unbind(self) -> None:
        """Remove the chosen chair's binding and stop its capture."""
        chair = self.chair_combo.currentData()
        if not confirm(
            self,
            "Unbind monitor",
            f"Stop capturing chair {chair}'s monitor? Its values will no longer be charted.",
        ):
            return
        try:
            self.station.write(device_service.unbind_device, chair)
        except DomainError as exc:
            self.message.setText(exc.message)
            show_refusal(self, exc, "Monitor not unbound")
            return
        bridge = self._bridge()
        if bridge is not None:
            bridge.restart(chair)
        self.message.setText(f"Chair {chair}: monitor unbound, capture stopped.")
        self.refresh_status()

    # ------------------------------------------------------------ status

    def refresh_status(self) -> None:
        """Re-read bindings and link health (every second and on every change)."""
        actor = self.station.signed_in
        if actor is None:
            return
        try:
            bindings = device_service.list_bindings(self.station.ctx, actor)
        except DomainError as exc:
            self.message.setText(exc.message)
            return
        self._bindings = {b.chair: b for b in bindings}
        bridge = self._bridge()
        running = bridge.running() if bridge is not None else {}
        chairs = [str(c) for c in self.station.ctx.settings.get("general.chairs")]
        tz = clinic_zone(self.station.ctx)
        selected = self.chairs_table.currentRow()
        self.chairs_table.blockSignals(True)
        self.chairs_table.setRowCount(len(chairs))
        for i, chair in enumerate(chairs):
            b = self._bindings.get(chair)
            health = device_service.link_health(self.station.ctx, chair)
            if b is None:
                cells = [f"Chair {chair}", "— none —", "", "", "", "", "", ""]
            else:
                if health is not None:
                    link = health.label
                elif not b.enabled:
                    link = "disabled"
                elif b.station is not None and b.station != self.station.ctx.config.station:
                    # Only the binding's station opens the port (app/devices.opens_port).
                    link = f"captured at station {b.station}"
                elif chair in running:
                    link = "starting"
                else:
                    link = "not running"
                cells = [
                    f"Chair {chair}",
                    protocol_label(b.protocol),
                    b.url,
                    settings_text(b),
                    link,
                    hms(health.since, tz) if health else "—",
                    hms(health.last_frame_at, tz) if health else "—",
                    latest_text(health),
                ]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 0:
                    item.setData(Qt.ItemDataRole.UserRole, chair)
                if j == 4 and health is not None:
                    item.setToolTip(health.detail)
                    if health.state != RECEIVING:
                        item.setForeground(Qt.GlobalColor.darkRed)
                self.chairs_table.setItem(i, j, item)
        if selected >= 0:
            self.chairs_table.selectRow(selected)
        self.chairs_table.blockSignals(False)

    def row_texts(self, chair: str) -> dict[str, str]:
        """What the chairs table shows for one chair, by column title (tests, diagnostics)."""
        for i in range(self.chairs_table.rowCount()):
            item = self.chairs_table.item(i, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == chair:
                return {
                    title: (
                        cell.text() if (cell := self.chairs_table.item(i, j)) is not None else ""
                    )
                    for j, title in enumerate(CHAIR_COLUMNS)
                }
        return {}

    def done(self, result: int) -> None:
        self._timer.stop()
        super().done(result)
