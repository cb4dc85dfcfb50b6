"""NurseStation: nurse-station desktop app for IV ketamine infusion clinics."""

__version__ = "0.1.0"
