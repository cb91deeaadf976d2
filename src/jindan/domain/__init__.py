"""Plain domain types shared by every port; no I/O here."""
