"""containers tests (a package: its helpers are imported package-relatively, conftest.py holds only fixtures)."""
