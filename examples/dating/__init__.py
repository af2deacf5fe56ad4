"""The dating example: private matching by set intersection, encrypted profiles (``specs/psi.md``)."""
