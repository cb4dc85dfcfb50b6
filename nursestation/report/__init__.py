"""Session-note PDFs (reportlab), the clinic PKI and PAdES signing/verification (pyHanko).

Nothing heavy is imported here: reportlab, pyHanko and cryptography load only when a submodule
that needs them is imported, so app start-up stays fast.
"""
